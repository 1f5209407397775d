#!/bin/sh
# TAP: the shared library exports only evpool_* symbols, and every exported
# function has its man page (generated from include/evpool.h), and every
# export carries the version node of abi/libevpool.map.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
so=$(ls "$top_builddir"/lib/.libs/libevpool.so 2>/dev/null | head -1)
if [ -z "$so" ] || ! command -v nm >/dev/null 2>&1; then
	echo "1..0 # SKIP no shared library or no nm"
	exit 0
fi
# Names without their version (nm prints name@@LIBEVPOOL_0).
dyn=$(nm -D --defined-only "$so")
syms=$(printf '%s\n' "$dyn" | awk '$2 ~ /^[TDBRV]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)
echo "1..5"
n=$(printf '%s\n' "$syms" | grep -c '^evpool_')
[ "$n" -gt 50 ] && echo "ok 1 - the library exports $n evpool_ symbols" \
	|| echo "not ok 1 - the library exports only $n evpool_ symbols"
others=$(printf '%s\n' "$syms" | grep -v '^evpool_' | grep -v '^_\(init\|fini\|edata\|end\|_bss_start\)$' | grep -v '^$')
[ -z "$others" ] && echo "ok 2 - nothing else is exported" \
	|| { echo "not ok 2 - other symbols exported:"; printf '#   %s\n' $others; }
internal=$(printf '%s\n' "$syms" | grep '^evpool__')
[ -z "$internal" ] && echo "ok 3 - no internal evpool__ symbol is exported" \
	|| { echo "not ok 3 - internal symbols exported:"; printf '#   %s\n' $internal; }
missing=""
for f in $(printf '%s\n' "$dyn" | awk '$2 == "T" && $3 ~ /^evpool_[a-z]/ {sub(/@.*/, "", $3); print $3}'); do
	[ -f "$top_srcdir/man/$f.3" ] || missing="$missing $f"
done
[ -z "$missing" ] && echo "ok 4 - every exported function has a man page" \
	|| { echo "not ok 4 - no man page (run make man):"; printf '#   %s\n' $missing; }
unversioned=$(printf '%s\n' "$dyn" | awk '$2 ~ /^[TDBRV]$/ && $3 ~ /^evpool_/ && $3 !~ /@@LIBEVPOOL_0$/ {print $3}')
if [ -z "$unversioned" ]; then
	echo "ok 5 - every export has the version node LIBEVPOOL_0"
else
	echo "not ok 5 - exports without LIBEVPOOL_0:"; printf '#   %s\n' $unversioned
fi

#!/bin/sh
# TAP: the shared library exports only evpool_* symbols, and every exported
# function has its man page (generated from include/evpool.h).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
so=$(ls "$top_builddir"/lib/.libs/libevpool.so 2>/dev/null | head -1)
if [ -z "$so" ] || ! command -v nm >/dev/null 2>&1; then
	echo "1..0 # SKIP no shared library or no nm"
	exit 0
fi
syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRV]$/ {print $3}' | sort -u)
echo "1..4"
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
for f in $(nm -D --defined-only "$so" | awk '$2 == "T" && $3 ~ /^evpool_[a-z]/ {print $3}'); do
	[ -f "$top_srcdir/man/$f.3" ] || missing="$missing $f"
done
[ -z "$missing" ] && echo "ok 4 - every exported function has a man page" \
	|| { echo "not ok 4 - no man page (run make man):"; printf '#   %s\n' $missing; }

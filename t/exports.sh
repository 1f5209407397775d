#!/bin/sh
# TAP: the shared library exports exactly the functions the headers declare
# with EVPOOL_API (both ways), nothing else, every exported function has its
# man page (generated from include/evpool.h), and every export carries the
# version node of abi/libevpool.map.
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
echo "1..6"
# What the headers declare: every function declared with EVPOOL_API at the
# start of a line, in <evpool.h> and its parts (include/evpool/*.h).
headers="$top_srcdir/include/evpool.h"
for h in "$top_srcdir"/include/evpool/*.h; do [ -f "$h" ] && headers="$headers $h"; done
declared=$(perl -0777 -ne 'while (/^EVPOOL_API\b[^;(]*?\b(evpool_\w+)\s*\(/mg) { print "$1\n" }' $headers | sort -u)
exported=$(printf '%s\n' "$syms" | grep '^evpool_[a-z]' | sort -u)
nd=$(printf '%s\n' "$declared" | grep -c .)
extra=$(printf '%s\n' "$exported" | grep -vxF -e "$declared")
[ -z "$extra" ] && echo "ok 1 - every exported evpool_ symbol is declared with EVPOOL_API in the headers" \
	|| { echo "not ok 1 - exported but not declared with EVPOOL_API:"; printf '#   %s\n' $extra; }
absent=$(printf '%s\n' "$declared" | grep -vxF -e "$exported")
[ "$nd" -gt 0 ] && [ -z "$absent" ] && echo "ok 2 - each of the $nd EVPOOL_API declarations is exported" \
	|| { echo "not ok 2 - declared with EVPOOL_API but not exported ($nd declared):"; printf '#   %s\n' $absent; }
others=$(printf '%s\n' "$syms" | grep -v '^evpool_' | grep -v '^_\(init\|fini\|edata\|end\|_bss_start\)$' | grep -v '^$')
[ -z "$others" ] && echo "ok 3 - nothing else is exported" \
	|| { echo "not ok 3 - other symbols exported:"; printf '#   %s\n' $others; }
internal=$(printf '%s\n' "$syms" | grep '^evpool__')
[ -z "$internal" ] && echo "ok 4 - no internal evpool__ symbol is exported" \
	|| { echo "not ok 4 - internal symbols exported:"; printf '#   %s\n' $internal; }
missing=""
for f in $(printf '%s\n' "$dyn" | awk '$2 == "T" && $3 ~ /^evpool_[a-z]/ {sub(/@.*/, "", $3); print $3}'); do
	[ -f "$top_srcdir/man/$f.3" ] || missing="$missing $f"
done
[ -z "$missing" ] && echo "ok 5 - every exported function has a man page" \
	|| { echo "not ok 5 - no man page (run make man):"; printf '#   %s\n' $missing; }
unversioned=$(printf '%s\n' "$dyn" | awk '$2 ~ /^[TDBRV]$/ && $3 ~ /^evpool_/ && $3 !~ /@@LIBEVPOOL_0$/ {print $3}')
if [ -z "$unversioned" ]; then
	echo "ok 6 - every export has the version node LIBEVPOOL_0"
else
	echo "not ok 6 - exports without LIBEVPOOL_0:"; printf '#   %s\n' $unversioned
fi

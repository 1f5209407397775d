#!/bin/sh
# abi/check-abi.sh BASELINE LIBRARY HEADERS-DIR... — `make check-abi`.
# abidiff (abigail-tools) of the committed baseline against the library just
# built, public types only (those declared under HEADERS-DIR).  Fails on what
# breaks programs built against the baseline: a removed or re-versioned
# symbol, a change abidiff itself calls incompatible, a public type whose
# size changed.  Additions pass and are reported.  Rules: abi/README.md.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 BASELINE LIBRARY HEADERS-DIR..." >&2
	exit 2
fi
baseline=$1 lib=$2
shift 2
: "${ABIDIFF:=abidiff}"
if ! command -v "$ABIDIFF" >/dev/null 2>&1; then
	echo "check-abi: abidiff not found (Debian: abigail-tools)" >&2
	exit 2
fi
hd=
for d in "$@"; do hd="$hd --headers-dir2 $d"; done

report=$(mktemp "${TMPDIR:-/tmp}/evpool-abi.XXXXXX") || exit 2
trap 'rm -f "$report"' EXIT
# shellcheck disable=SC2086
"$ABIDIFF" --no-show-locs $hd "$baseline" "$lib" >"$report" 2>&1
rc=$?
cat "$report"
# abidiff's status is a bit mask: 1 error, 2 usage, 4 ABI change,
# 8 incompatible ABI change.
if [ $((rc & 3)) -ne 0 ]; then
	echo "check-abi: abidiff failed (status $rc)"
	exit 1
fi
why=
[ $((rc & 8)) -ne 0 ] && why="abidiff reports an incompatible change"
# Summary lines: "Functions changes summary: 1 Removed, 0 Changed, 2 Added ..."
if grep -Eq '(Functions|Variables) changes summary: [1-9][0-9]* Removed' "$report"; then
	why="${why:+$why; }a symbol was removed"
fi
if grep -Eq 'symbol(s)? (changed|with changed) version|version.*changed from' "$report"; then
	why="${why:+$why; }a symbol version changed"
fi
# A struct, union or enum whose size changed (an array's does not count:
# a reserved[] array shrinks when a new member takes its room).
if grep -Eq '^[[:space:]]*type size changed from' "$report"; then
	why="${why:+$why; }a public type changed size"
fi
# A member that moved, unless it is a reserved[] array giving up room.
moved=$(awk "
	/type of '[^']*' changed/ || /'[^']*' offset changed/ {
		m = \$0; sub(/^[^']*'/, \"\", m); sub(/'.*/, \"\", m) }
	/offset changed from/ && m !~ /reserved/ { print m }" "$report")
if [ -n "$moved" ]; then
	why="${why:+$why; }a public member moved: $(echo $moved)"
fi
if [ -n "$why" ]; then
	echo "check-abi: FAILED: $why (see abi/README.md)"
	exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
	echo "check-abi: ok, compatible changes only (additions)"
else
	echo "check-abi: ok, the ABI is the baseline's"
fi
exit 0

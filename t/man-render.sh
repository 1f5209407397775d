#!/bin/sh
# TAP: the man pages are pages a person reads (issue 18).  Every page of
# man/ is rendered with groff, as man(1) does, and checked:
#   1. it renders without a groff warning (plain ASCII roff, known macros);
#   2. no Doxygen markup is left in the text (@return, @param, @p, @see ...);
#   3. it has NAME, SYNOPSIS (section 3) or DESCRIPTION, and SEE ALSO;
#   4. every libevpool page its SEE ALSO names exists;
#   5. every public struct of the headers has its page (evpool_job_spec(3)
#      ...), which names each of its fields;
#   6. the evpool_ctx_* pages say they are called only inside the job, never
#      "from any thread";
#   7. the committed pages are what man/gen-man.py makes of the headers now
#      (`make man` was run after the last header change).
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
man=$top_srcdir/man
if ! command -v groff >/dev/null 2>&1; then
	echo "1..0 # SKIP groff is not installed (Debian: groff-base)"
	exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/evpool-man.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
n=0
# result OK-CONDITION-STATUS DESCRIPTION [DETAILS-FILE]
result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[ -n "${3:-}" ] && sed -n '1,30s/^/#   /p' "$3"
	fi
}
echo "1..7"

# Render every page once: one long line per paragraph, no hyphenation, no
# overstrike, so that names and phrases can be grepped whole.
pages=$(ls "$man"/*.[1-9] 2>/dev/null)
: >"$work/warnings"
for p in $pages; do
	b=$(basename "$p")
	groff -man -Tascii -rHY=0 -rLL=250n -P-cbou -ww "$p" \
		>"$work/$b.txt" 2>"$work/$b.err" || echo "$b: groff failed" >>"$work/warnings"
	sed "s|^|$b: |" "$work/$b.err" >>"$work/warnings"
done
count=$(echo $pages | wc -w)

[ -s "$work/warnings" ]
result $((!$?)) "all $count pages render without a groff warning" "$work/warnings"

# 2. Doxygen commands, \cmd or @cmd, anywhere in the rendered text.
: >"$work/doxygen"
for p in $pages; do
	b=$(basename "$p")
	grep -nE '(^|[^[:alnum:]_])[@\\](return|returns|retval|param|p|a|b|c|e|em|see|sa|ref|note|warning|brief|name|code|endcode|li|since|deprecated|pre|post|todo|ingroup|defgroup|file)([^[:alnum:]_]|$)' \
		"$work/$b.txt" | sed "s|^|$b:|" >>"$work/doxygen"
done
[ -s "$work/doxygen" ]
result $((!$?)) "no Doxygen markup in any rendered page" "$work/doxygen"

# 3. The sections a reader looks for.
: >"$work/sections"
for p in $pages; do
	b=$(basename "$p")
	want="NAME DESCRIPTION"
	case $b in *.3) want="NAME SYNOPSIS DESCRIPTION" ;; esac
	[ "$b" = evpool.3 ] || want="$want SEE ALSO"
	for s in $want; do
		[ "$s" = SEE ] && s="SEE ALSO"
		[ "$s" = ALSO ] && continue
		grep -q "^$s\$" "$work/$b.txt" || echo "$b: no $s" >>"$work/sections"
	done
done
[ -s "$work/sections" ]
result $((!$?)) "every page has NAME, SYNOPSIS, DESCRIPTION and SEE ALSO" "$work/sections"

# 4. SEE ALSO: name(N) entries of the section, evpool pages must exist.
: >"$work/links"
links=0
for p in $pages; do
	b=$(basename "$p")
	awk '/^SEE ALSO$/ { on = 1; next } /^[A-Z]/ { on = 0 } on' "$work/$b.txt" |
		grep -oE '[A-Za-z0-9_.-]+\([0-9][a-z]*\)' >"$work/$b.see"
	while read -r ref; do
		links=$((links + 1))
		name=${ref%%(*}
		sec=${ref#*(}; sec=${sec%)}
		case $name in
		evpool*) [ -f "$man/$name.$sec" ] || echo "$b: $ref does not exist" >>"$work/links" ;;
		esac
	done <"$work/$b.see"
done
[ -s "$work/links" ] || [ "$links" = 0 ]
result $((!$?)) "all $links SEE ALSO links of libevpool pages lead to a page" "$work/links"

# 5. Public structs: a page each, naming every field.
: >"$work/structs"
headers="$top_srcdir/include/evpool.h"
[ -d "$top_srcdir/include/evpool" ] && headers="$headers $(ls "$top_srcdir"/include/evpool/*.h)"
# "struct NAME {" ... "};" blocks; a field is the last identifier before
# ';' or '[' on a line (function-pointer fields: the name in "(*name)").
# shellcheck disable=SC2086
awk '
	/^struct evpool_[a-z_]+ \{/ { name = $2; next }
	name != "" && /^\};/ { name = ""; next }
	name != "" {
		line = $0
		sub(/\/\*.*/, "", line); sub(/\/\/.*/, "", line)
		if (line !~ /;/) next
		if (match(line, /\(\*[A-Za-z_][A-Za-z0-9_]*\)/))
			f = substr(line, RSTART + 2, RLENGTH - 3)
		else {
			sub(/(\[[^]]*\])*[[:space:]]*;.*/, "", line)
			n = split(line, w, /[^A-Za-z0-9_]+/); f = w[n]
		}
		if (f != "" && f !~ /^reserved/) print name, f
	}' $headers >"$work/fields"
nstructs=$(cut -d' ' -f1 "$work/fields" | sort -u | wc -l)
while read -r s f; do
	if [ ! -f "$work/$s.3.txt" ]; then
		echo "struct $s: no page man/$s.3" >>"$work/structs"
	elif ! grep -qw -- "$f" "$work/$s.3.txt"; then
		echo "struct $s: its page does not name the field $f" >>"$work/structs"
	fi
done <"$work/fields"
sort -u "$work/structs" -o "$work/structs"
[ -s "$work/structs" ] || [ "$nstructs" = 0 ]
result $((!$?)) "each of the $nstructs public structs has a page naming its $(wc -l <"$work/fields") fields" "$work/structs"

# 6. Thread notes of the calls made inside a job.
: >"$work/threads"
nctx=0
for t in "$work"/evpool_ctx_*.3.txt; do
	[ -f "$t" ] || continue
	nctx=$((nctx + 1))
	b=$(basename "$t" .txt)
	tr -s ' \n' '  ' <"$t" >"$t.flat"
	grep -qi 'from any thread' "$t.flat" && echo "$b: says callable from any thread" >>"$work/threads"
	grep -qi 'only inside the job' "$t.flat" || echo "$b: does not say: only inside the job" >>"$work/threads"
done
[ -s "$work/threads" ] || [ "$nctx" = 0 ]
result $((!$?)) "the $nctx evpool_ctx_* pages say: only inside the job" "$work/threads"

# 7. Up to date with the headers.
if ! command -v python3 >/dev/null 2>&1; then
	n=$((n + 1)); echo "ok $n # SKIP python3 is not installed"
else
	version=$(sed -n 's/^\.TH EVPOOL 3 "" "libevpool \([^"]*\)".*/\1/p' "$man/evpool.3")
	mkdir "$work/gen"
	(cd "$top_srcdir" && python3 man/gen-man.py include/evpool.h "$work/gen" "$version") >/dev/null
	: >"$work/stale"
	for g in "$work"/gen/*.[1-9] "$work"/gen/pages.mk; do
		b=$(basename "$g")
		cmp -s "$g" "$man/$b" || echo "man/$b differs from what gen-man.py makes (run make man)" >>"$work/stale"
	done
	[ -s "$work/stale" ]
	result $((!$?)) "the pages are what man/gen-man.py makes of the headers" "$work/stale"
fi

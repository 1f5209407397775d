#!/bin/sh
# TAP, run by `make installcheck` (and so by `make distcheck`) against the
# installed tree under $prefix: the README's example, cut out of README.md,
# builds with nothing but `pkg-config --cflags --libs libevpool`, and with
# CMake's find_package(libevpool) (t/cmake-consumer/), and both programs run.
#
# usage: t/installcheck.sh   with prefix, libdir, top_srcdir (and CC) set
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${CC:=cc}"
if [ -z "${prefix:-}" ] || [ -z "${libdir:-}" ]; then
	echo "Bail out! prefix and libdir must be set (run make installcheck)"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/evpool-installcheck.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
# show FILE: the first lines of a log as TAP comments.
show() { sed -n '1,25s/^/# /p' "$1"; }

echo "1..6"

# The first ```c block of the README is its example.
awk '/^```c$/ { on = 1; next } on && /^```$/ { exit } on' \
	"$top_srcdir/README.md" >"$work/readme.c"
if grep -q 'evpool_new' "$work/readme.c"; then
	ok "README.md has a C example ($(wc -l <"$work/readme.c") lines)"
else
	nok "README.md has a C example that calls evpool_new"
fi

# The example prints "<arg>: <result>" for its one job.
check_output() {
	if grep -q ': done$' "$1"; then ok "$2"; else nok "$2"; show "$1"; fi
}

# 1. pkg-config alone (libevent comes with it: Requires, not Requires.private).
PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
if flags=$(pkg-config --cflags --libs libevpool 2>"$work/pc.err") &&
   # shellcheck disable=SC2086
   $CC -o "$work/readme-pc" "$work/readme.c" $flags -Wl,-rpath,"$libdir" \
	>"$work/cc.log" 2>&1; then
	ok "the README example links with \`pkg-config --cflags --libs libevpool\` ($flags)"
	"$work/readme-pc" >"$work/pc.out" 2>&1
	check_output "$work/pc.out" "that program runs against $libdir"
else
	nok "the README example links with \`pkg-config --cflags --libs libevpool\`"
	cat "$work/pc.err" "$work/cc.log" | sed 's/^/# /'
	nok "that program runs (not built)"
fi

# 2. CMake: find_package(libevpool) and the imported target.
if ! command -v cmake >/dev/null 2>&1; then
	skip "cmake is not installed (Debian: cmake)"
	skip "cmake is not installed"
	skip "cmake is not installed"
else
	if cmake -S "$top_srcdir/t/cmake-consumer" -B "$work/cmake" \
		-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="${CC%% *}" \
		-DCMAKE_BUILD_RPATH="$libdir" -DREADME_EXAMPLE="$work/readme.c" \
		>"$work/cmake.log" 2>&1; then
		ok "find_package(libevpool) finds $(sed -n 's/^libevpool_DIR:PATH=//p' "$work/cmake/CMakeCache.txt")"
	else
		nok "find_package(libevpool) with CMAKE_PREFIX_PATH=$prefix"; show "$work/cmake.log"
	fi
	if cmake --build "$work/cmake" >"$work/cmake-build.log" 2>&1; then
		ok "the README example builds against libevpool::libevpool"
		"$work/cmake/readme-example" >"$work/cmake.out" 2>&1
		check_output "$work/cmake.out" "the CMake-built program runs"
	else
		nok "the README example builds against libevpool::libevpool"
		show "$work/cmake-build.log"
		nok "the CMake-built program runs (not built)"
	fi
fi

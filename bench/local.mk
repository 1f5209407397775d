# The benchmark (issue 6).  bench/evpool-bench is built by `make` and never
# installed; `make check` runs only its smoke pass (t/bench-smoke.sh, a few
# seconds).  bench/compare.sh puts it side by side with libuv, GLib and Python:
# `make bench-compare` from the build directory (ROUNDS=N, PEERS_DIR=...).
noinst_PROGRAMS += bench/evpool-bench
bench_evpool_bench_SOURCES = bench/evpool-bench.c
bench_evpool_bench_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) -O2
bench_evpool_bench_LDADD = $(EVPOOL_TEST_LDADD)
# A real executable in the build tree, not a libtool wrapper script, so that
# perf and valgrind can be pointed at it directly.
bench_evpool_bench_LDFLAGS = -no-install

TESTS += t/bench-smoke.sh
dist_check_SCRIPTS += t/bench-smoke.sh
# The peers compare.sh builds and runs (libuv, GLib, Python, the floor):
# written here, shipped in the tarball, never built by make.
EXTRA_DIST += bench/compare.sh \
	bench/peers/peers.h \
	bench/peers/uv-bench.c \
	bench/peers/glib-bench.c \
	bench/peers/py-bench.py \
	bench/peers/floor-bench.c

bench-compare: bench/evpool-bench$(EXEEXT)
	EVPOOL_BENCH='$(abs_top_builddir)/bench/evpool-bench$(EXEEXT)' \
	  $(SHELL) '$(abs_top_srcdir)/bench/compare.sh'
.PHONY: bench-compare

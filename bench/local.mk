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
	bench/peers/floor-bench.c \
	bench/peers/latency.h \
	bench/peers/uv-latency.c \
	bench/peers/glib-latency.c

bench-compare: bench/evpool-bench$(EXEEXT)
	EVPOOL_BENCH='$(abs_top_builddir)/bench/evpool-bench$(EXEEXT)' \
	  $(SHELL) '$(abs_top_srcdir)/bench/compare.sh'
.PHONY: bench-compare

# issue 16: payloads through a job (bench/payload.sh runs this peer in turn
# with evpool-bench's payload scenario).
if HAVE_LIBUV
noinst_PROGRAMS += bench/peers/uv-payload
bench_peers_uv_payload_SOURCES = bench/peers/uv-payload.c
bench_peers_uv_payload_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) -O2
bench_peers_uv_payload_LDADD = $(LIBUV_LIBS)
bench_peers_uv_payload_LDFLAGS = -no-install
endif
EXTRA_DIST += bench/payload.sh

bench-payload: bench/evpool-bench$(EXEEXT)
	EVPOOL_BENCH='$(abs_top_builddir)/bench/evpool-bench$(EXEEXT)' \
	  UV_PAYLOAD='$(abs_top_builddir)/bench/peers/uv-payload$(EXEEXT)' \
	  $(SHELL) '$(abs_top_srcdir)/bench/payload.sh'
.PHONY: bench-payload

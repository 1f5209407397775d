# Example programs: built by `make`, run by `make check`.
noinst_PROGRAMS += examples/hello
examples_hello_SOURCES = examples/hello.c
examples_hello_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_hello_LDADD = $(EVPOOL_TEST_LDADD)
TESTS += examples/hello

# The evhttp wiring to copy (issue 16): driven by curl in t/evhttp-offload.sh.
if HAVE_EVHTTP
noinst_PROGRAMS += examples/evhttp-offload
examples_evhttp_offload_SOURCES = examples/evhttp-offload.c
examples_evhttp_offload_CFLAGS = $(AM_CFLAGS) $(EVPOOL_WARN_CFLAGS) $(LIBEVENT_CFLAGS) $(EVHTTP_CFLAGS)
examples_evhttp_offload_LDADD = $(EVPOOL_TEST_LDADD) $(EVHTTP_LIBS)
endif
TESTS += t/evhttp-offload.sh
dist_check_SCRIPTS += t/evhttp-offload.sh

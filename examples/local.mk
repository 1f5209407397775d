# Example programs: built by `make`, run by `make check`.
noinst_PROGRAMS += examples/hello
examples_hello_SOURCES = examples/hello.c
examples_hello_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_hello_LDADD = $(EVPOOL_TEST_LDADD)
TESTS += examples/hello

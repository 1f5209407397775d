# Core TAP tests: one program per area, each with an exact plan, all run by
# automake's TAP driver.  They use libevpool only through <evpool.h> and
# share the small TAP library in t/tap.[ch].
EVPOOL_CORE_TESTS = \
	t/basic \
	t/errors

check_PROGRAMS += $(EVPOOL_CORE_TESTS)
TESTS += $(EVPOOL_CORE_TESTS)

EVPOOL_TAP_SOURCES = t/tap.c t/tap.h
EVPOOL_T_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)

t_basic_SOURCES = t/basic.c $(EVPOOL_TAP_SOURCES)
t_basic_CFLAGS = $(EVPOOL_T_CFLAGS)
t_basic_LDADD = $(EVPOOL_TEST_LDADD)

t_errors_SOURCES = t/errors.c $(EVPOOL_TAP_SOURCES)
t_errors_CFLAGS = $(EVPOOL_T_CFLAGS)
t_errors_LDADD = $(EVPOOL_TEST_LDADD)

# Reliability tests and maintainer targets (issue 7).
#   t/stress        chaos test of the exactly-once contract (make check runs
#                   a short pass; EVPOOL_STRESS_SECONDS=600 for a long one)
#   check-valgrind  the test programs under valgrind, 0 errors and 0 leaks
#   lint            cppcheck and clang-tidy over lib/
check_PROGRAMS += t/stress
t_stress_SOURCES = t/stress.c
t_stress_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
t_stress_LDADD = $(EVPOOL_TEST_LDADD)
TESTS += t/stress

# The fault-injection sweep: only in a --enable-fault-injection build (the
# hooks it drives are not in any other).
if FAULT_INJECTION
check_PROGRAMS += t/fault
t_fault_SOURCES = t/fault.c t/tap.c t/tap.h
t_fault_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
t_fault_LDADD = $(EVPOOL_TEST_LDADD)
TESTS += t/fault
endif
EXTRA_DIST += t/fault.c

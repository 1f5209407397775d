# Process mode tests (issue 4).  t/proc forks helpers and worker processes;
# it runs in well under a minute on two cores.
check_PROGRAMS += t/proc
TESTS += t/proc
t_proc_SOURCES = t/proc.c $(EVPOOL_TAP_SOURCES)
t_proc_CFLAGS = $(EVPOOL_T_CFLAGS)
t_proc_LDADD = $(EVPOOL_TEST_LDADD)

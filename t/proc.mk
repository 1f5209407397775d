# Process mode tests (issue 4).  t/proc forks helpers and worker processes;
# it runs in well under a minute on two cores.
check_PROGRAMS += t/proc
TESTS += t/proc
t_proc_SOURCES = t/proc.c $(EVPOOL_TAP_SOURCES)
t_proc_CFLAGS = $(EVPOOL_T_CFLAGS)
t_proc_LDADD = $(EVPOOL_TEST_LDADD)

# Hostile use (issues 21 and 15 item 7): a job's forked child, an fd
# squeeze, blocking calls from a job, a fork server killed.
check_PROGRAMS += t/hostile
TESTS += t/hostile
t_hostile_SOURCES = t/hostile.c $(EVPOOL_TAP_SOURCES)
t_hostile_CFLAGS = $(EVPOOL_T_CFLAGS)
t_hostile_LDADD = $(EVPOOL_TEST_LDADD)

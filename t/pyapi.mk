# TAP tests of the Python-style API (issue 3).  Each runs its checks once per
# mode (thread, process), skipping a mode the build refuses.  t/pyutil.h has
# the helpers they share: the mode loop and jobs that work in both modes.
EVPOOL_PY_TESTS = \
	t/apply \
	t/map \
	t/imap \
	t/queues \
	t/env \
	t/scoped \
	t/results \
	t/contract \
	t/port-libuv \
	t/port-cpython

check_PROGRAMS += $(EVPOOL_PY_TESTS)
TESTS += $(EVPOOL_PY_TESTS)
noinst_HEADERS += t/pyutil.h t/ignored.h

t_apply_SOURCES = t/apply.c $(EVPOOL_TAP_SOURCES)
t_apply_CFLAGS = $(EVPOOL_T_CFLAGS)
t_apply_LDADD = $(EVPOOL_TEST_LDADD)

t_map_SOURCES = t/map.c $(EVPOOL_TAP_SOURCES)
t_map_CFLAGS = $(EVPOOL_T_CFLAGS)
t_map_LDADD = $(EVPOOL_TEST_LDADD)

t_imap_SOURCES = t/imap.c $(EVPOOL_TAP_SOURCES)
t_imap_CFLAGS = $(EVPOOL_T_CFLAGS)
t_imap_LDADD = $(EVPOOL_TEST_LDADD)

t_queues_SOURCES = t/queues.c $(EVPOOL_TAP_SOURCES)
t_queues_CFLAGS = $(EVPOOL_T_CFLAGS)
t_queues_LDADD = $(EVPOOL_TEST_LDADD)

# env.c reads the configuration it filled: it looks inside the opaque
# struct through the library's private header.
t_env_SOURCES = t/env.c $(EVPOOL_TAP_SOURCES)
t_env_CFLAGS = $(EVPOOL_T_CFLAGS) -I$(top_srcdir)/lib
t_env_LDADD = $(EVPOOL_TEST_LDADD)

t_scoped_SOURCES = t/scoped.c $(EVPOOL_TAP_SOURCES)
t_scoped_CFLAGS = $(EVPOOL_T_CFLAGS)
t_scoped_LDADD = $(EVPOOL_TEST_LDADD)

t_results_SOURCES = t/results.c $(EVPOOL_TAP_SOURCES)
t_results_CFLAGS = $(EVPOOL_T_CFLAGS)
t_results_LDADD = $(EVPOOL_TEST_LDADD)

# Issue 15's contract points (waits before dispatch, duplicates,
# FIRST_EXCEPTION, NULL arg in process mode, failing initializers).
t_contract_SOURCES = t/contract.c $(EVPOOL_TAP_SOURCES)
t_contract_CFLAGS = $(EVPOOL_T_CFLAGS)
t_contract_LDADD = $(EVPOOL_TEST_LDADD)

# The peers' suites, ported (semantics only): libuv's test-threadpool*.c and
# CPython's pool and concurrent.futures tests, each check naming its source.
t_port_libuv_SOURCES = t/port-libuv.c $(EVPOOL_TAP_SOURCES)
t_port_libuv_CFLAGS = $(EVPOOL_T_CFLAGS)
t_port_libuv_LDADD = $(EVPOOL_TEST_LDADD)

t_port_cpython_SOURCES = t/port-cpython.c $(EVPOOL_TAP_SOURCES)
t_port_cpython_CFLAGS = $(EVPOOL_T_CFLAGS)
t_port_cpython_LDADD = $(EVPOOL_TEST_LDADD)

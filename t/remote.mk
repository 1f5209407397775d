# Remote mode tests (issue 19): t/remote and t/remote-map each start
# their own redis-server and evpool-worker processes serving t/remote-jobs.so (the demo's job
# functions as a --jobs object); they skip themselves without hiredis or
# redis-server.
check_LTLIBRARIES = t/remote-jobs.la
t_remote_jobs_la_SOURCES = examples/remote-jobs.c examples/remote-jobs.h
t_remote_jobs_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
t_remote_jobs_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
t_remote_jobs_la_LIBADD = lib/libevpool.la

check_PROGRAMS += t/remote
TESTS += t/remote
t_remote_SOURCES = t/remote.c t/remote-util.c t/remote-util.h \
	examples/remote-jobs.c examples/remote-jobs.h $(EVPOOL_TAP_SOURCES)
t_remote_CFLAGS = $(EVPOOL_T_CFLAGS)
t_remote_LDADD = $(EVPOOL_TEST_LDADD)

# The Redis plumbing's sockets against a fake Redis (conn.c built in).
if HAVE_HIREDIS
check_PROGRAMS += t/remote-conn
TESTS += t/remote-conn
t_remote_conn_SOURCES = t/remote-conn.c lib/remote/conn.c $(EVPOOL_TAP_SOURCES)
t_remote_conn_CFLAGS = $(EVPOOL_T_CFLAGS) -I$(top_srcdir)/lib $(HIREDIS_CFLAGS)
t_remote_conn_LDADD = $(HIREDIS_LIBS) $(LIBEVENT_LIBS)
endif

# The map family, evbuffer I/O and partial results over remote jobs.
check_PROGRAMS += t/remote-map
TESTS += t/remote-map
t_remote_map_SOURCES = t/remote-map.c t/remote-util.c t/remote-util.h \
	examples/remote-jobs.c examples/remote-jobs.h $(EVPOOL_TAP_SOURCES)
t_remote_map_CFLAGS = $(EVPOOL_T_CFLAGS)
t_remote_map_LDADD = $(EVPOOL_TEST_LDADD)

# The demo across two processes (t/remote-demo.sh drives examples/remote-demo).
noinst_PROGRAMS += examples/remote-demo
examples_remote_demo_SOURCES = examples/remote-demo.c examples/remote-jobs.c examples/remote-jobs.h \
	tools/worker-cli.c tools/worker-cli.h
examples_remote_demo_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
examples_remote_demo_LDADD = $(EVPOOL_TEST_LDADD) -ldl
dist_check_SCRIPTS += t/remote-demo.sh
TESTS += t/remote-demo.sh

# The benchmark against Celery and RQ (not a test; see docs/remote.md).
EXTRA_DIST += bench/remote-vs-celery.sh bench/peers/celery_app.py bench/peers/redis-floor.c \
	bench/peers/rq_jobs.py bench/peers/client.py docs/remote.md

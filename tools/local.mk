# evpool-worker (issue 19): serves a remote-mode queue with job functions
# from --jobs shared objects.  Built in every configuration; without
# hiredis it says so and exits 1.
bin_PROGRAMS += tools/evpool-worker
tools_evpool_worker_SOURCES = tools/evpool-worker.c tools/worker-cli.c tools/worker-cli.h
tools_evpool_worker_CFLAGS = $(AM_CFLAGS) $(EVPOOL_WARN_CFLAGS)
tools_evpool_worker_LDADD = lib/libevpool.la $(PTHREAD_LIBS) -ldl
dist_man_MANS += man/evpool-worker.1

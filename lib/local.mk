# The library.  Only evpool_* symbols are exported: everything is built with
# -fvisibility=hidden and public functions carry EVPOOL_API.
lib_LTLIBRARIES += lib/libevpool.la
include_HEADERS += include/evpool.h
nodist_include_HEADERS += include/evpool-version.h
noinst_HEADERS += lib/evpool-internal.h
lib_libevpool_la_SOURCES = \
	lib/error.c \
	lib/config.c \
	lib/pool.c \
	lib/queue.c \
	lib/worker.c \
	lib/job.c \
	lib/notify.c
lib_libevpool_la_CFLAGS = $(AM_CFLAGS) $(EVPOOL_WARN_CFLAGS) -fvisibility=hidden $(LIBEVENT_CFLAGS)
lib_libevpool_la_LIBADD = $(LIBEVENT_LIBS) $(PTHREAD_LIBS)
# CURRENT:REVISION:AGE — the bump rules are written in configure.ac.
lib_libevpool_la_LDFLAGS = -version-info $(EVPOOL_LT_VERSION) -no-undefined

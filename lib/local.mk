# The library.  Only evpool_* symbols are exported: everything is built with
# -fvisibility=hidden and public functions carry EVPOOL_API.
#   lib/core/     the thread pool: config, pool, queue, workers, jobs, notify
#   lib/process/  process mode (lib/proc.mk)
#   lib/pyapi/    the Python-style API (lib/pyapi.mk)
#   lib/config/   configuration from the environment and argv (lib/pyapi.mk)
#   lib/fault/    test-only fault injection (lib/fault.mk)
lib_LTLIBRARIES += lib/libevpool.la
include_HEADERS += include/evpool.h
evpoolincludedir = $(includedir)/evpool
evpoolinclude_HEADERS = \
	include/evpool/core.h \
	include/evpool/process.h \
	include/evpool/pyapi.h
nodist_include_HEADERS += include/evpool-version.h
noinst_HEADERS += lib/core/evpool-internal.h
# The hot path of a job, step by step, and the hand-off rules (INV-*).
EXTRA_DIST += lib/core/README.md
lib_libevpool_la_SOURCES = \
	lib/core/error.c \
	lib/core/config.c \
	lib/core/pool.c \
	lib/core/selfwait.c \
	lib/core/queue.c \
	lib/core/worker.c \
	lib/core/job.c \
	lib/core/job-memory.c \
	lib/core/notify.c
lib_libevpool_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/lib
lib_libevpool_la_CFLAGS = $(AM_CFLAGS) $(EVPOOL_WARN_CFLAGS) -fvisibility=hidden $(LIBEVENT_CFLAGS)
lib_libevpool_la_LIBADD = $(LIBEVENT_LIBS) $(PTHREAD_LIBS)
# CURRENT:REVISION:AGE — the bump rules are written in abi/README.md.
lib_libevpool_la_LDFLAGS = -version-info $(EVPOOL_LT_VERSION) -no-undefined
if HAVE_LD_VERSION_SCRIPT
lib_libevpool_la_LDFLAGS += -Wl,--version-script=$(top_srcdir)/abi/libevpool.map
EXTRA_lib_libevpool_la_DEPENDENCIES = $(top_srcdir)/abi/libevpool.map
endif

# Process mode (issue 4), in lib/process/: worker processes forked by a
# per-pool fork server, each driven by a proxy thread of the core.
#   setup.c         process-mode options, the pool-wide state
#   proxy.c         the proxy: its loop, shipping jobs, collecting results
#   proxy-worker.c  the proxy: the worker process's life, I/O, failures
#   child.c         the worker process's main loop
#   forkserver.c    the fork server;  fs-host.c  the host's side of it
#   wire.c          the frame format and rings
lib_libevpool_la_SOURCES += \
	lib/process/setup.c \
	lib/process/proxy.c \
	lib/process/proxy-worker.c \
	lib/process/child.c \
	lib/process/forkserver.c \
	lib/process/fs-host.c \
	lib/process/wire.c \
	lib/process/proc-internal.h \
	lib/process/proxy.h

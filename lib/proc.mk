# Process mode (issue 4): worker processes forked by a per-pool fork server,
# each driven by a proxy thread of the core (lib/proc.c), the frame format
# between them (lib/wire.c) and the fork server (lib/forkserver.c).
lib_libevpool_la_SOURCES += \
	lib/proc.c \
	lib/forkserver.c \
	lib/wire.c \
	lib/proc-internal.h

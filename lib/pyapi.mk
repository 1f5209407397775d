# The Python-style API (issue 3), in lib/pyapi/: the map family, futures,
# named queues, results collections, the scoped pool; and, in lib/config/,
# configuration from the environment and argv.
lib_libevpool_la_SOURCES += \
	lib/pyapi/chunk.c \
	lib/pyapi/map.c \
	lib/pyapi/imap.c \
	lib/pyapi/futures.c \
	lib/pyapi/named-queues.c \
	lib/pyapi/results.c \
	lib/pyapi/scoped.c \
	lib/config/env-argv.c
noinst_HEADERS += lib/pyapi/pyapi-internal.h

# The Python-style API (issue 3): map family, named queues, env/argv config.
lib_libevpool_la_SOURCES += \
	lib/map.c \
	lib/imap.c \
	lib/futures.c \
	lib/queues.c \
	lib/scoped.c \
	lib/config-env.c
noinst_HEADERS += lib/pyapi-internal.h

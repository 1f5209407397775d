# Remote mode (issue 19): jobs by function name through Redis Streams.
# The registry and the setters are in every build; the client, the worker
# and the Redis plumbing only with hiredis (configure --with-hiredis).
evpoolinclude_HEADERS += include/evpool/remote.h
noinst_HEADERS += lib/remote/remote-internal.h
lib_libevpool_la_SOURCES += lib/remote/registry.c
if HAVE_HIREDIS
lib_libevpool_la_SOURCES += \
	lib/remote/conn.c \
	lib/remote/client.c \
	lib/remote/worker.c
lib_libevpool_la_CFLAGS += $(HIREDIS_CFLAGS)
lib_libevpool_la_LIBADD += $(HIREDIS_LIBS)
endif

# Test-only fault injection (issue 7), compiled in by --enable-fault-injection.
# lib/fault.h is force-included into every library source, so the core's
# calls to malloc, pthread_create, eventfd/pipe, fork and write go through
# the wrappers of lib/fault.c; the core's own files are not edited.
noinst_HEADERS += lib/fault.h
EXTRA_DIST += lib/fault.c
if FAULT_INJECTION
lib_libevpool_la_SOURCES += lib/fault.c
lib_libevpool_la_CFLAGS += -include $(top_srcdir)/lib/fault.h
endif

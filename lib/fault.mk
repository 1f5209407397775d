# Test-only fault injection (issue 7), compiled in by --enable-fault-injection.
# lib/fault/fault.h is force-included into every library source, so the
# core's calls to malloc, pthread_create, eventfd/pipe, fork and write go
# through the wrappers of lib/fault/fault.c; the core's own files are not
# edited.
noinst_HEADERS += lib/fault/fault.h
EXTRA_DIST += lib/fault/fault.c
if FAULT_INJECTION
lib_libevpool_la_SOURCES += lib/fault/fault.c
lib_libevpool_la_CFLAGS += -include $(top_srcdir)/lib/fault/fault.h
endif

# Process mode (issue 4).  Until lib/proc.c lands, the core has no process ops.
lib_libevpool_la_SOURCES += lib/proc-none.c

# evpool_system.m4 — the system calls libevpool prefers.  -*- Autoconf -*-

# EVPOOL_SYSTEM_CHECKS
# --------------------
# eventfd(2) is the completion wakeup; a pipe is the fallback where it is
# missing (and can be forced at run time, see evpool_config_set_notify()).
# prctl() lets workers die with their parent; the rest are niceties.
AC_DEFUN([EVPOOL_SYSTEM_CHECKS], [
AC_CHECK_HEADERS([sys/eventfd.h sys/prctl.h])
AC_CHECK_FUNCS([eventfd pthread_setname_np pipe2 accept4])
])

# evpool_fault.m4 — test-only fault injection.  -*- Autoconf -*-

# EVPOOL_ARG_FAULT_INJECTION
# --------------------------
# --enable-fault-injection compiles the reliability tests' fault hooks into
# the library (EVPOOL_FAULT_INJECTION); never in a default build.
AC_DEFUN([EVPOOL_ARG_FAULT_INJECTION], [
AC_ARG_ENABLE([fault-injection],
  [AS_HELP_STRING([--enable-fault-injection], [compile test-only fault hooks into the library])],
  [], [enable_fault_injection=no])
AS_IF([test "x$enable_fault_injection" = xyes],
  [AC_DEFINE([EVPOOL_FAULT_INJECTION], [1], [Define to compile in test-only fault injection hooks])])
AM_CONDITIONAL([FAULT_INJECTION], [test "x$enable_fault_injection" = xyes])
])

# EVPOOL_ARG_DEBUG
# ----------------
# --enable-debug: caller bugs the library can see (a job handle unreferenced
# once too often) abort with a message, as GLib's criticals do
# (EVPOOL_DEBUG).  The fault-injection build checks the same.
AC_DEFUN([EVPOOL_ARG_DEBUG], [
AC_ARG_ENABLE([debug],
  [AS_HELP_STRING([--enable-debug], [abort with a message on API misuse the library can detect])],
  [], [enable_debug=no])
AS_IF([test "x$enable_debug" = xyes],
  [AC_DEFINE([EVPOOL_DEBUG], [1], [Define to abort on detectable API misuse])])
])

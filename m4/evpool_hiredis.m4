# EVPOOL_HIREDIS: remote mode (lib/remote/) needs hiredis, and Redis >= 6.2
# at run time.  --with-hiredis=auto (the default) builds it when pkg-config
# finds hiredis; --with-hiredis makes its absence an error; --without-hiredis
# leaves it out (the remote calls then fail with -ENOTSUP).
# Sets have_hiredis, HIREDIS_CFLAGS/LIBS, HAVE_HIREDIS (define, conditional).
AC_DEFUN([EVPOOL_HIREDIS], [
AC_ARG_WITH([hiredis],
  [AS_HELP_STRING([--with-hiredis], [build remote mode on Redis Streams (default: if found)])],
  [], [with_hiredis=auto])
have_hiredis=no
AS_IF([test "x$with_hiredis" != xno], [
  PKG_CHECK_MODULES([HIREDIS], [hiredis >= 0.14],
    [have_hiredis=yes
     AC_DEFINE([HAVE_HIREDIS], [1], [Define when remote mode is built (hiredis)])],
    [AS_IF([test "x$with_hiredis" = xyes],
           [AC_MSG_ERROR([--with-hiredis: $HIREDIS_PKG_ERRORS])])])
])
AM_CONDITIONAL([HAVE_HIREDIS], [test "x$have_hiredis" = xyes])
])

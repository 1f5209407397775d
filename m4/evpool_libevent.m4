# evpool_libevent.m4 — libevent, the library's one dependency.  -*- Autoconf -*-

# EVPOOL_LIBEVENT
# ---------------
# libevent_core and libevent_pthreads >= 2.1 (LIBEVENT_CFLAGS, LIBEVENT_LIBS).
AC_DEFUN([EVPOOL_LIBEVENT], [
PKG_CHECK_MODULES([LIBEVENT], [libevent_core >= 2.1 libevent_pthreads >= 2.1])
])

# EVPOOL_EXAMPLES_TLS
# -------------------
# --disable-examples-tls.  The example HTTPS server needs libevent_openssl
# and OpenSSL >= 1.1.1 (TLS 1.3), and http_parser; without them the library
# still builds and the example is skipped (HAVE_TLS, TLS_CFLAGS, TLS_LIBS,
# HTTP_PARSER_LIBS; $have_tls).
AC_DEFUN([EVPOOL_EXAMPLES_TLS], [
AC_ARG_ENABLE([examples-tls],
  [AS_HELP_STRING([--disable-examples-tls], [do not build the HTTPS example server])],
  [], [enable_examples_tls=auto])
have_tls=no
AS_IF([test "x$enable_examples_tls" != xno], [
  PKG_CHECK_MODULES([TLS], [libevent_openssl >= 2.1 openssl >= 1.1.1 libevent_extra >= 2.1],
    [have_tls=yes],
    [AS_IF([test "x$enable_examples_tls" = xyes],
           [AC_MSG_ERROR([--enable-examples-tls: $TLS_PKG_ERRORS])])])
])
dnl ... and Node's classic HTTP parser (libhttp-parser-dev) for strict request
dnl framing in front of evhttp (docs/https-server.md says why).
AS_IF([test "x$have_tls" = xyes], [
  AC_CHECK_HEADER([http_parser.h],
    [AC_CHECK_LIB([http_parser], [http_parser_execute],
      [HTTP_PARSER_LIBS=-lhttp_parser], [have_tls=no])], [have_tls=no])
  AS_IF([test "x$have_tls" != xyes && test "x$enable_examples_tls" = xyes],
        [AC_MSG_ERROR([--enable-examples-tls: http_parser (libhttp-parser-dev) not found])])
])
AC_SUBST([HTTP_PARSER_LIBS])
AM_CONDITIONAL([HAVE_TLS], [test "x$have_tls" = xyes])
])

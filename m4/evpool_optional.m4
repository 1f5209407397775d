# Optional libraries for programs outside the library itself.  Neither is
# ever required: without one, the programs that need it are not built and
# their tests are skipped.
#
# EVPOOL_EVHTTP: examples/evhttp-offload needs libevent's evhttp
# (libevent_extra).  Sets have_evhttp, EVHTTP_CFLAGS/LIBS, HAVE_EVHTTP
# (conditional).
AC_DEFUN([EVPOOL_EVHTTP], [
PKG_CHECK_MODULES([EVHTTP], [libevent_extra >= 2.1],
  [have_evhttp=yes], [have_evhttp=no])
AM_CONDITIONAL([HAVE_EVHTTP], [test "x$have_evhttp" = xyes])
])

# EVPOOL_LIBUV: bench/peers/uv-payload, the libuv side of the payload
# benchmark.  Sets have_libuv, LIBUV_CFLAGS/LIBS, HAVE_LIBUV (conditional).
AC_DEFUN([EVPOOL_LIBUV], [
PKG_CHECK_MODULES([LIBUV], [libuv >= 1.0],
  [have_libuv=yes], [have_libuv=no])
AM_CONDITIONAL([HAVE_LIBUV], [test "x$have_libuv" = xyes])
])

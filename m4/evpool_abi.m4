# evpool_abi.m4 — the exported interface and its guard.  -*- Autoconf -*-

# EVPOOL_ABI
# ----------
# HAVE_LD_VERSION_SCRIPT when the linker takes --version-script (GNU ld,
# gold, lld): the library then exports only abi/libevpool.map's symbols.
# ABIDW and ABIDIFF (Debian: abigail-tools) for `make check-abi`.
AC_DEFUN([EVPOOL_ABI], [
AC_CACHE_CHECK([whether the linker accepts --version-script],
  [evpool_cv_ld_version_script], [
  save_LDFLAGS=$LDFLAGS
  echo "EVPOOL_CONFTEST { global: main; local: *; };" >conftest.map
  LDFLAGS="$LDFLAGS -Wl,--version-script=conftest.map"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
    [evpool_cv_ld_version_script=yes], [evpool_cv_ld_version_script=no])
  LDFLAGS=$save_LDFLAGS
  rm -f conftest.map])
AM_CONDITIONAL([HAVE_LD_VERSION_SCRIPT], [test "x$evpool_cv_ld_version_script" = xyes])
AC_PATH_PROG([ABIDW], [abidw])
AC_PATH_PROG([ABIDIFF], [abidiff])
])

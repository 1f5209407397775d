# evpool_warnings.m4 — the warnings the library is kept clean of.  -*- Autoconf -*-

# EVPOOL_WARNINGS
# ---------------
# EVPOOL_WARN_CFLAGS for the library and the example server: -Wall -Wextra
# -Wshadow -Wconversion and friends, the set the README promises.
# --enable-werror turns them into errors (CI's plain build uses it, so the
# promise is enforced); off by default, a newer compiler's new warning must
# not break a user's build.
AC_DEFUN([EVPOOL_WARNINGS], [
AC_ARG_ENABLE([werror],
  [AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors (CI)])],
  [], [enable_werror=no])
EVPOOL_WARN_CFLAGS="-Wall -Wextra -Wshadow -Wconversion -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wformat=2"
AS_IF([test "x$enable_werror" = xyes],
  [EVPOOL_WARN_CFLAGS="$EVPOOL_WARN_CFLAGS -Werror"])
AC_SUBST([EVPOOL_WARN_CFLAGS])
])

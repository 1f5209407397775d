# evpool_version.m4 — libevpool's version numbers.  -*- Autoconf -*-

# EVPOOL_VERSION_NUMBERS
# ----------------------
# EVPOOL_VERSION_MAJOR, _MINOR and _PATCH from AC_PACKAGE_VERSION, for
# include/evpool-version.h and the CMake version file.
AC_DEFUN([EVPOOL_VERSION_NUMBERS], [
m4_define([evpool_ver], m4_split(AC_PACKAGE_VERSION, [\.]))
AC_SUBST([EVPOOL_VERSION_MAJOR], m4_argn(1, evpool_ver))
AC_SUBST([EVPOOL_VERSION_MINOR], m4_argn(2, evpool_ver))
AC_SUBST([EVPOOL_VERSION_PATCH], m4_argn(3, evpool_ver))
])

# EVPOOL_SET_LT_VERSION(CURRENT, REVISION, AGE)
# ---------------------------------------------
# The library's interface version, libtool's -version-info C:R:A, as
# EVPOOL_LT_VERSION.  The bump rules are written in abi/README.md; they are
# applied once per release, and `make check-abi` guards them.
AC_DEFUN([EVPOOL_SET_LT_VERSION], [
AC_SUBST([EVPOOL_LT_VERSION], ["$1:$2:$3"])
])

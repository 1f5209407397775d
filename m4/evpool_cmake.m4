# evpool_cmake.m4 — facts the installed CMake files need.  -*- Autoconf -*-

# EVPOOL_CMAKE_FILES
# ------------------
# SIZEOF_VOID_P: cmake/libevpoolConfigVersion.cmake refuses a consumer
# built for another pointer size.
AC_DEFUN([EVPOOL_CMAKE_FILES], [
AC_CHECK_SIZEOF([void *])
AC_SUBST([SIZEOF_VOID_P], [$ac_cv_sizeof_void_p])
])

# evpool_pthread.m4 — POSIX threads for everything built here.  -*- Autoconf -*-

# EVPOOL_PTHREAD
# --------------
# AX_PTHREAD (Debian's autoconf-archive) or an error; its flags go into
# CFLAGS, LIBS and CC for the whole build.
AC_DEFUN([EVPOOL_PTHREAD], [
AX_PTHREAD([], [AC_MSG_ERROR([libevpool needs POSIX threads])])
LIBS="$PTHREAD_LIBS $LIBS"
CFLAGS="$CFLAGS $PTHREAD_CFLAGS"
CC="$PTHREAD_CC"
])

/*
 * fault.h — test-only fault injection, force-included into every library
 * source by --enable-fault-injection (lib/fault.mk).  Never in a default
 * build, never installed.
 *
 * DESIGN: the library's calls to the functions that can fail for reasons
 * outside its control are redirected, by macros, to wrappers in fault.c:
 *   EVPOOL_FAULT_MALLOC  malloc, calloc, realloc,       (ENOMEM)
 *                        posix_memalign
 *   EVPOOL_FAULT_THREAD  pthread_create                 (EAGAIN)
 *   EVPOOL_FAULT_FD      eventfd, pipe, pipe2, socketpair (EMFILE)
 *   EVPOOL_FAULT_FORK    fork                           (EAGAIN)
 *   EVPOOL_FAULT_WRITE   write                          (EINTR, or as armed)
 * A test arms a set of kinds with evpool__fault_arm(kinds, n, err): from then
 * on, calls of those kinds are counted, and the n-th one fails (once) with
 * the kind's error (or @p err if nonzero).  evpool__fault_calls() says how
 * many calls were counted since arming, so a test can first count a path's
 * calls and then fail each of them in turn.  The environment variable
 * EVPOOL_FAULT="kinds:n[:errno]" (kinds as "malloc,thread,fd,fork,write" or
 * "all") arms at the first counted call, for use without code.
 *
 * The core's source is untouched: only the preprocessor sees this file, so
 * the logic under test is the logic that ships.  Only the library's own
 * calls are counted (libevent's and libc's internal allocations are not).
 */
#ifndef EVPOOL_FAULT_H
#define EVPOOL_FAULT_H

#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

#define EVPOOL_FAULT_MALLOC 0x01u
#define EVPOOL_FAULT_THREAD 0x02u
#define EVPOOL_FAULT_FD 0x04u
#define EVPOOL_FAULT_FORK 0x08u
#define EVPOOL_FAULT_WRITE 0x10u
#define EVPOOL_FAULT_ALL 0x1fu

/* Hidden like every evpool__ name: the library exports only its API
 * (t/exports.sh), and t/fault links the static library to reach these. */
#define EVPOOL__FAULT_API __attribute__((visibility("hidden")))

/** Count calls of @p kinds from now on; fail the @p nth (1-based; 0: none)
 *  with @p err (0: the kind's usual error).  Resets the counters. */
EVPOOL__FAULT_API void evpool__fault_arm(unsigned kinds, long nth, int err);
/** Stop injecting and counting. */
EVPOOL__FAULT_API void evpool__fault_disarm(void);
/** Calls of the armed kinds counted since evpool__fault_arm(). */
EVPOOL__FAULT_API long evpool__fault_calls(void);
/** The kind of call that was failed since arming, or 0 if none was. */
EVPOOL__FAULT_API unsigned evpool__fault_fired(void);

void *evpool__fault_malloc(size_t n);
void *evpool__fault_calloc(size_t n, size_t size);
void *evpool__fault_realloc(void *p, size_t n);
int evpool__fault_posix_memalign(void **p, size_t align, size_t n);
int evpool__fault_pthread_create(pthread_t *t, const pthread_attr_t *a,
				 void *(*fn)(void *), void *arg);
int evpool__fault_eventfd(unsigned initval, int flags);
int evpool__fault_pipe(int fds[2]);
int evpool__fault_pipe2(int fds[2], int flags);
int evpool__fault_socketpair(int domain, int type, int proto, int sv[2]);
pid_t evpool__fault_fork(void);
ssize_t evpool__fault_write(int fd, const void *buf, size_t n);

#ifndef EVPOOL_FAULT_IMPL
#define malloc(n) evpool__fault_malloc(n)
#define calloc(n, s) evpool__fault_calloc(n, s)
#define realloc(p, n) evpool__fault_realloc(p, n)
#define posix_memalign(p, a, n) evpool__fault_posix_memalign(p, a, n)
#define pthread_create(t, a, f, x) evpool__fault_pthread_create(t, a, f, x)
#define eventfd(v, f) evpool__fault_eventfd(v, f)
#define pipe(fds) evpool__fault_pipe(fds)
#define pipe2(fds, f) evpool__fault_pipe2(fds, f)
#define socketpair(d, t, p, sv) evpool__fault_socketpair(d, t, p, sv)
#define fork() evpool__fault_fork()
#define write(fd, b, n) evpool__fault_write(fd, b, n)
#endif

#endif /* EVPOOL_FAULT_H */

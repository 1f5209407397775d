/*
 * fault.c — the wrappers behind fault.h (test-only fault injection).
 *
 * DESIGN: one global counter of "counted" calls (those of the armed kinds)
 * and one target number; the call whose increment reaches the target fails.
 * Everything is a relaxed atomic: with several threads the n-th call is
 * whichever gets there n-th, which is what a sweep over n wants.  A failed
 * call sets errno as the real function would and leaves no side effect.
 */
#define EVPOOL_FAULT_IMPL 1
#include "fault/fault.h"

/* fault.h was force-included before the first line of this file, macros
 * and all: here the names must mean the real functions. */
#undef malloc
#undef calloc
#undef realloc
#undef posix_memalign
#undef pthread_create
#undef eventfd
#undef pipe
#undef pipe2
#undef socketpair
#undef fork
#undef write

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static atomic_uint armed_kinds;
static atomic_long target, counted;
static atomic_int inject_err;
static atomic_uint fired;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static unsigned
parse_kinds(const char *s, const char **end)
{
	static const struct {
		const char *name;
		unsigned kind;
	} names[] = {
		{ "malloc", EVPOOL_FAULT_MALLOC }, { "thread", EVPOOL_FAULT_THREAD },
		{ "fd", EVPOOL_FAULT_FD },	   { "fork", EVPOOL_FAULT_FORK },
		{ "write", EVPOOL_FAULT_WRITE },   { "all", EVPOOL_FAULT_ALL },
	};
	unsigned kinds = 0;

	while (*s && *s != ':') {
		size_t len = strcspn(s, ",:");
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == len &&
			    strncmp(s, names[i].name, len) == 0)
				kinds |= names[i].kind;
		s += len;
		if (*s == ',')
			s++;
	}
	*end = s;
	return kinds;
}

static void
env_arm(void)
{
	const char *e = getenv("EVPOOL_FAULT");
	const char *p;
	unsigned kinds;
	long nth;
	int err = 0;

	if (!e || !*e)
		return;
	kinds = parse_kinds(e, &p);
	if (*p != ':')
		return;
	nth = strtol(p + 1, (char **)&p, 10);
	if (*p == ':')
		err = (int)strtol(p + 1, NULL, 10);
	evpool__fault_arm(kinds, nth, err);
}

void
evpool__fault_arm(unsigned kinds, long nth, int err)
{
	atomic_store(&armed_kinds, 0);
	atomic_store(&counted, 0);
	atomic_store(&fired, 0);
	atomic_store(&target, nth);
	atomic_store(&inject_err, err);
	atomic_store(&armed_kinds, kinds & EVPOOL_FAULT_ALL);
}

void
evpool__fault_disarm(void)
{
	atomic_store(&armed_kinds, 0);
	atomic_store(&target, 0);
}

long
evpool__fault_calls(void)
{
	return atomic_load(&counted);
}

unsigned
evpool__fault_fired(void)
{
	return atomic_load(&fired);
}

/* Count a call of @p kind; true if this one must fail (errno is set). */
static bool
fail_now(unsigned kind, int usual)
{
	long n, t;
	int err;

	pthread_once(&env_once, env_arm);
	if (!(atomic_load_explicit(&armed_kinds, memory_order_relaxed) & kind))
		return false;
	n = atomic_fetch_add_explicit(&counted, 1, memory_order_relaxed) + 1;
	t = atomic_load_explicit(&target, memory_order_relaxed);
	if (t <= 0 || n != t)
		return false;
	atomic_fetch_or(&fired, kind);
	err = atomic_load(&inject_err);
	errno = err ? err : usual;
	return true;
}

void *
evpool__fault_malloc(size_t n)
{
	return fail_now(EVPOOL_FAULT_MALLOC, ENOMEM) ? NULL : malloc(n);
}

void *
evpool__fault_calloc(size_t n, size_t size)
{
	return fail_now(EVPOOL_FAULT_MALLOC, ENOMEM) ? NULL : calloc(n, size);
}

void *
evpool__fault_realloc(void *p, size_t n)
{
	return fail_now(EVPOOL_FAULT_MALLOC, ENOMEM) ? NULL : realloc(p, n);
}

int
evpool__fault_posix_memalign(void **p, size_t align, size_t n)
{
	return fail_now(EVPOOL_FAULT_MALLOC, ENOMEM) ? ENOMEM
						     : posix_memalign(p, align, n);
}

int
evpool__fault_pthread_create(pthread_t *t, const pthread_attr_t *a,
			     void *(*fn)(void *), void *arg)
{
	if (fail_now(EVPOOL_FAULT_THREAD, EAGAIN))
		return errno;
	return pthread_create(t, a, fn, arg);
}

int
evpool__fault_eventfd(unsigned initval, int flags)
{
#ifdef HAVE_SYS_EVENTFD_H
	if (fail_now(EVPOOL_FAULT_FD, EMFILE))
		return -1;
	return eventfd(initval, flags);
#else
	(void)initval;
	(void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

int
evpool__fault_pipe(int fds[2])
{
	return fail_now(EVPOOL_FAULT_FD, EMFILE) ? -1 : pipe(fds);
}

int
evpool__fault_pipe2(int fds[2], int flags)
{
	return fail_now(EVPOOL_FAULT_FD, EMFILE) ? -1 : pipe2(fds, flags);
}

int
evpool__fault_socketpair(int domain, int type, int proto, int sv[2])
{
	if (fail_now(EVPOOL_FAULT_FD, EMFILE))
		return -1;
	return socketpair(domain, type, proto, sv);
}

pid_t
evpool__fault_fork(void)
{
	return fail_now(EVPOOL_FAULT_FORK, EAGAIN) ? -1 : fork();
}

ssize_t
evpool__fault_write(int fd, const void *buf, size_t n)
{
	return fail_now(EVPOOL_FAULT_WRITE, EINTR) ? -1 : write(fd, buf, n);
}

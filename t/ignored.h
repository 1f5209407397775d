/*
 * ignored.h — "X(NULL) is ignored", asserted: the call reports nothing and
 * touches nothing the caller can see.  Before the call errno and the
 * thread's evpool_errmsg() are set to known values; after it both must be
 * unchanged (a call that failed, or that reported through errno or
 * evpool_errmsg(), fails the check; one that crashes ends the program).
 */
#ifndef EVPOOL_T_IGNORED_H
#define EVPOOL_T_IGNORED_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <evpool.h>

#include "tap.h"

/* Leave a known message in evpool_errmsg() (a refused setter). */
static __attribute__((unused)) void
ignored_arm(char *saved, size_t n)
{
	evpool_config_set_workers(NULL, 0, 0);
	snprintf(saved, n, "%s", evpool_errmsg());
	errno = EDOM;
}

static __attribute__((unused)) int
ignored_check(const char *saved, const char *what)
{
	int e = errno;

	return ok(e == EDOM && saved[0] && strcmp(saved, evpool_errmsg()) == 0,
		  "%s is ignored: errno and evpool_errmsg() untouched "
		  "(errno %d, \"%s\")", what, e, evpool_errmsg());
}

/* IGNORES(evpool_free(NULL), "evpool_free(NULL)"); one TAP check. */
#define IGNORES(call, what)                                                  \
	do {                                                                 \
		char ignored_saved_[256];                                    \
		ignored_arm(ignored_saved_, sizeof(ignored_saved_));         \
		call;                                                        \
		ignored_check(ignored_saved_, what);                         \
	} while (0)

#endif /* EVPOOL_T_IGNORED_H */

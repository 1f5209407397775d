/*
 * error.c — error codes, their names and descriptions, and the per-thread
 * detail message.
 *
 * DESIGN: one X-macro list names every code the library returns, so that
 * evpool_strerror() and evpool_err_name() cannot drift apart.  errno values
 * outside the list fall back to the C library's description.  The detail
 * message is thread-local and written only by failing calls (evpool__err()),
 * so the success path costs nothing.
 */
#include "core/evpool-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* X(code, name, description) */
#define EVPOOL__ERRORS(X)                                                      \
	X(0, "OK", "Success")                                                  \
	X(-EINVAL, "EINVAL", "Invalid argument")                               \
	X(-ENOMEM, "ENOMEM", "Out of memory")                                  \
	X(-EAGAIN, "EAGAIN", "Queue full, try again later")                    \
	X(-ESHUTDOWN, "ESHUTDOWN", "Pool is closed")                           \
	X(-ECANCELED, "ECANCELED", "Job cancelled")                            \
	X(-ETIMEDOUT, "ETIMEDOUT", "Timed out")                                \
	X(-EBUSY, "EBUSY", "Job is running")                                   \
	X(-EALREADY, "EALREADY", "Job already finished")                       \
	X(-ENOSYS, "ENOSYS", "Not supported on this system")                   \
	X(-EDEADLK, "EDEADLK", "Would deadlock")                               \
	X(-ENOENT, "ENOENT", "No such entry")                                  \
	X(-EEXIST, "EEXIST", "Entry exists")                                   \
	X(-ERANGE, "ERANGE", "Value out of range")                             \
	X(EVPOOL_ECRASHED, "EVPOOL_ECRASHED",                                  \
	  "Worker process died while running the job")                         \
	X(EVPOOL_EPROTO, "EVPOOL_EPROTO",                                      \
	  "Corrupt or truncated frame from a worker process")                  \
	X(EVPOOL_ENOTREADY, "EVPOOL_ENOTREADY", "Job has not finished yet")    \
	X(EVPOOL_ESPAWN, "EVPOOL_ESPAWN", "Worker could not be started")     \
	X(EVPOOL_ELOST, "EVPOOL_ELOST",                                        \
	  "Remote job lost: delivered the maximum number of times, no result") \
	X(EVPOOL_ENOFUNC, "EVPOOL_ENOFUNC",                                    \
	  "No job function of that name is registered on the worker")          \
	X(EVPOOL_EREDIS, "EVPOOL_EREDIS",                                      \
	  "Redis unreachable or refusing the command")

const char *
evpool_strerror(int code)
{
	switch (code) {
#define X(c, n, d) case c: return d;
	EVPOOL__ERRORS(X)
#undef X
	default:
		break;
	}
	if (code < 0 && code > EVPOOL_ERR_BASE) {
		const char *s = strerrordesc_np(-code);
		if (s)
			return s;
	}
	if (code > 0)
		return "Job failed with its own status";
	return "Unknown error";
}

const char *
evpool_err_name(int code)
{
	switch (code) {
#define X(c, n, d) case c: return n;
	EVPOOL__ERRORS(X)
#undef X
	default:
		break;
	}
	if (code < 0 && code > EVPOOL_ERR_BASE) {
		const char *s = strerrorname_np(-code);
		if (s)
			return s;
	}
	return "EVPOOL_EUNKNOWN";
}

static __thread char evpool__errbuf[256];

const char *
evpool_errmsg(void)
{
	return evpool__errbuf;
}

int
evpool__err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(evpool__errbuf, sizeof(evpool__errbuf), fmt, ap);
	va_end(ap);
	return code;
}

int
evpool__err_as(int code, const char *who)
{
	char msg[sizeof(evpool__errbuf)];
	const char *rest = evpool__errbuf;
	size_t n = strspn(rest, "abcdefghijklmnopqrstuvwxyz_");

	if (code >= 0)
		return code;
	if (n > 7 && strncmp(rest, "evpool_", 7) == 0 &&
	    strncmp(rest + n, ": ", 2) == 0)
		rest += n + 2;
	if (*rest == '\0')
		rest = evpool_strerror(code);
	if (snprintf(msg, sizeof(msg), "%s: %s", who, rest) >= (int)sizeof(msg))
		msg[sizeof(msg) - 1] = '\0'; /* a long message loses its tail */
	memcpy(evpool__errbuf, msg, sizeof(msg));
	return code;
}

const char *
evpool_version(void)
{
	return EVPOOL_VERSION_STRING;
}

unsigned
evpool_version_hex(void)
{
	return EVPOOL_VERSION_HEX;
}

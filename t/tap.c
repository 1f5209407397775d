/*
 * tap.c — the TAP library of libevpool's tests (see tap.h).
 *
 * State is a handful of counters.  The exit status is decided in an atexit
 * handler: a failure or a plan mismatch turns it into 1 (through _exit(), the
 * only way an atexit handler can change it).
 */
#define _GNU_SOURCE
#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long tap_planned;	/* 0: no plan yet */
static unsigned long tap_run;		/* tests run so far */
static unsigned long tap_failed;
static int tap_lazy;
static int tap_bailed;
static int tap_registered;
static pthread_mutex_t tap_mu = PTHREAD_MUTEX_INITIALIZER;

static void tap_finish(void)
{
	int bad = 0;

	if (tap_bailed)
		return;
	fflush(stderr);
	if (tap_lazy && tap_planned == 0) {
		printf("1..%lu\n", tap_run);
		tap_planned = tap_run;
	}
	if (tap_planned == 0) {
		printf("# no plan was printed\n");
		bad = 1;
	} else if (tap_run < tap_planned) {
		printf("# Looks like you planned %lu tests but only ran %lu\n",
		       tap_planned, tap_run);
		bad = 1;
	} else if (tap_run > tap_planned) {
		printf("# Looks like you planned %lu tests but ran %lu\n",
		       tap_planned, tap_run);
		bad = 1;
	}
	if (tap_failed > 0) {
		printf("# Looks like you failed %lu test%s of %lu\n", tap_failed,
		       tap_failed == 1 ? "" : "s", tap_run);
		bad = 1;
	}
	fflush(stdout);
	if (bad)
		_exit(1);
}

static void tap_start(void)
{
	/* Line-buffer stdout so TAP lines interleave sanely with stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!tap_registered) {
		tap_registered = 1;
		atexit(tap_finish);
	}
}

void plan(unsigned long n)
{
	tap_start();
	tap_planned = n;
	printf("1..%lu\n", n);
	fflush(stdout);
}

void plan_lazy(void)
{
	tap_start();
	tap_lazy = 1;
}

void skip_all(const char *fmt, ...)
{
	va_list ap;

	tap_start();
	tap_bailed = 1;	/* nothing to check at exit */
	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(0);
}

/* Print "ok N - name" or "not ok N - name"; the caller holds tap_mu. */
/* A description carrying a "# TODO" directive marks a known failure (TAP):
 * reported, not counted against the exit status. */
static void tap_result(int pass, const char *fmt, va_list ap)
{
	char desc[1024] = "";

	tap_run++;
	if (fmt != NULL && *fmt != '\0')
		vsnprintf(desc, sizeof(desc), fmt, ap);
	if (!pass && !strstr(desc, "# TODO"))
		tap_failed++;
	printf("%sok %lu", pass ? "" : "not ", tap_run);
	if (desc[0])
		printf(" - %s", desc);
	printf("\n");
}

int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&tap_mu);
	va_start(ap, fmt);
	tap_result(cond != 0, fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&tap_mu);
	return cond != 0;
}

int is_int(long long want, long long got, const char *fmt, ...)
{
	va_list ap;
	int pass = want == got;

	pthread_mutex_lock(&tap_mu);
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#     wanted: %lld\n#       seen: %lld\n", want, got);
	fflush(stdout);
	pthread_mutex_unlock(&tap_mu);
	return pass;
}

int is_string(const char *want, const char *got, const char *fmt, ...)
{
	va_list ap;
	int pass;

	if (want == NULL || got == NULL)
		pass = want == got;
	else
		pass = strcmp(want, got) == 0;
	pthread_mutex_lock(&tap_mu);
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#     wanted: %s%s%s\n#       seen: %s%s%s\n",
		       want ? "\"" : "", want ? want : "(null)", want ? "\"" : "",
		       got ? "\"" : "", got ? got : "(null)", got ? "\"" : "");
	fflush(stdout);
	pthread_mutex_unlock(&tap_mu);
	return pass;
}

void skip(unsigned long n, const char *fmt, ...)
{
	va_list ap;
	unsigned long i;

	pthread_mutex_lock(&tap_mu);
	for (i = 0; i < n; i++) {
		tap_run++;
		printf("ok %lu # skip ", tap_run);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
	pthread_mutex_unlock(&tap_mu);
}

int diag(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&tap_mu);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&tap_mu);
	return 1;
}

static void tap_vbail(const char *fmt, va_list ap, int err)
{
	tap_bailed = 1;
	fflush(stdout);
	printf("Bail out! ");
	vprintf(fmt, ap);
	if (err)
		printf(": %s", strerror(err));
	printf("\n");
	fflush(stdout);
	_exit(255);
}

void bail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vbail(fmt, ap, 0);
	va_end(ap);
	_exit(255);
}

void sysbail(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	tap_vbail(fmt, ap, err);
	va_end(ap);
	_exit(255);
}

unsigned long tap_failures(void)
{
	return tap_failed;
}

/* ---- timing support ------------------------------------------------------ */

double tap_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void tap_sleep_ms(double ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1e3);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TAP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TAP_SANITIZED 1
#endif
#endif

/* EVPOOL_TEST_SLOWDOWN=N (1..1000) says the run is N times slower than
 * usual (make check-valgrind sets 30, make check-loaded 3); the larger of it
 * and the sanitizers' own factor applies. */
unsigned tap_slowdown(void)
{
	const char *env = getenv("EVPOOL_TEST_SLOWDOWN");
	unsigned f = 1;

#ifdef TAP_SANITIZED
	f = 4;
#endif
	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);

		if (*end == '\0' && v >= 1 && v <= 1000 && v > f)
			f = (unsigned)v;
	}
	return f;
}

static const char *volatile tap_wd_what = "";
static unsigned tap_wd_secs;

static void tap_wd_put(const char *s)
{
	ssize_t r = write(STDOUT_FILENO, s, strlen(s));
	(void)r;
}

static void tap_wd_fire(int sig)
{
	char num[24];
	unsigned v = tap_wd_secs;
	int i = (int)sizeof(num) - 1;

	(void)sig;
	num[i] = '\0';
	do {
		num[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && i > 0);
	/* Only async-signal-safe calls from here on. */
	tap_wd_put("\nBail out! timed out after ");
	tap_wd_put(num + i);
	tap_wd_put(" s in: ");
	tap_wd_put(tap_wd_what);
	tap_wd_put("\n");
	_exit(254);
}

void tap_watchdog(unsigned secs, const char *what)
{
	static int installed;

	if (!installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = tap_wd_fire;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		installed = 1;
	}
	tap_wd_what = what != NULL ? what : "";
	tap_wd_secs = secs * tap_slowdown();
	alarm(tap_wd_secs);
}

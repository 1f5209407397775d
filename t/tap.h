/*
 * tap.h — a small TAP (Test Anything Protocol) library for libevpool's tests,
 * in the shape of rra's c-tap-harness.
 *
 * DESIGN
 *  A test program calls plan(n) (or plan_lazy()) once, then one assertion per
 *  check.  Each assertion prints "ok N - <name>" or "not ok N - <name>"; name
 *  every assertion so that the line reads as a sentence.  Diagnostics go to
 *  stdout as "# ..." lines (the automake driver runs with --merge anyway).
 *
 *  When the program exits, an atexit handler checks the plan: too few or too
 *  many tests, or any failure, prints a diagnostic and makes the exit status
 *  nonzero (1), so the harness sees the failure even without reading TAP.
 *  bail() prints "Bail out!" and exits at once with status 255.
 *
 *  tap_watchdog(secs, what) arms alarm(2): if the program is still running
 *  when it fires, it prints "Bail out! timed out ... in <what>" and exits, so
 *  a hung library call fails the test fast instead of stalling `make check`.
 *  Under a sanitizer the budget is multiplied (they slow code down 2-15x).
 *
 *  Not thread-safe: make assertions from one thread (the test's main thread)
 *  and pass what other threads saw back to it.
 */
#ifndef EVPOOL_TAP_H
#define EVPOOL_TAP_H

#include <stddef.h>

#if defined(__GNUC__)
#define TAP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define TAP_NORETURN __attribute__((noreturn))
#else
#define TAP_PRINTF(fmt, args)
#define TAP_NORETURN
#endif

/** Announce @p n tests ("1..n"). Call once, before the first assertion. */
void plan(unsigned long n);
/** Print the plan at exit instead, from the number of tests run. */
void plan_lazy(void);
/** Skip the whole program ("1..0 # SKIP reason") and exit 0. */
void skip_all(const char *fmt, ...) TAP_PRINTF(1, 2) TAP_NORETURN;

/** Pass if @p cond is true.  @return @p cond as 0/1. */
int ok(int cond, const char *fmt, ...) TAP_PRINTF(2, 3);
/** Pass if @p want == @p got; on failure print both. */
int is_int(long long want, long long got, const char *fmt, ...)
	TAP_PRINTF(3, 4);
/** Pass if the strings are equal (NULL equals only NULL). */
int is_string(const char *want, const char *got, const char *fmt, ...)
	TAP_PRINTF(3, 4);
/** Report @p n tests as skipped ("ok N # skip reason"). */
void skip(unsigned long n, const char *fmt, ...) TAP_PRINTF(2, 3);

/** A diagnostic line ("# ...").  @return 1, so it can sit in conditions. */
int diag(const char *fmt, ...) TAP_PRINTF(1, 2);
/** Abort the whole test run: "Bail out! ..." and exit 255. */
void bail(const char *fmt, ...) TAP_PRINTF(1, 2) TAP_NORETURN;
/** bail() with strerror(errno) appended. */
void sysbail(const char *fmt, ...) TAP_PRINTF(1, 2) TAP_NORETURN;

/** Number of failed assertions so far. */
unsigned long tap_failures(void);

/* ---- support for timing-dependent tests --------------------------------- */

/** Monotonic clock in milliseconds (fractional). */
double tap_now_ms(void);
/** Sleep @p ms milliseconds (restarts after signals). */
void tap_sleep_ms(double ms);
/**
 * (Re-)arm the watchdog: bail out if the program still runs @p secs seconds
 * from now (times the sanitizer factor).  @p what names the current step for
 * the message; it must be a string literal or otherwise outlive the alarm.
 * 0 disarms.
 */
void tap_watchdog(unsigned secs, const char *what);
/** The factor tap_watchdog() applies: 1, 4 under a sanitizer, or
 *  EVPOOL_TEST_SLOWDOWN when that is larger (valgrind, a loaded machine). */
unsigned tap_slowdown(void);

/**
 * Wait until @p cond becomes true, checking every millisecond, for at most
 * @p ms milliseconds.  Evaluates to 1 if it became true, else 0.
 */
#define tap_wait_until(cond, ms)                                           \
	__extension__({                                                    \
		double tap_deadline_ = tap_now_ms() + (double)(ms);        \
		int tap_ok_;                                               \
		while (!(tap_ok_ = !!(cond)) && tap_now_ms() < tap_deadline_) \
			tap_sleep_ms(1);                                   \
		tap_ok_;                                                   \
	})

#endif /* EVPOOL_TAP_H */

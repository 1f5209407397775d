/*
 * errors.c — error codes, their names and messages, and the bad-input table:
 * every public function called with NULL, zero, negative and huge arguments
 * returns the documented error and never crashes; a refused submit never
 * calls a callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"
#include "ignored.h"

struct code {
	int code;
	const char *name;
};

/* Every code the header says the library returns. */
static const struct code codes[] = {
	{ -EINVAL, "EINVAL" },
	{ -ENOMEM, "ENOMEM" },
	{ -EAGAIN, "EAGAIN" },
	{ -ESHUTDOWN, "ESHUTDOWN" },
	{ -ECANCELED, "ECANCELED" },
	{ -ETIMEDOUT, "ETIMEDOUT" },
	{ -EBUSY, "EBUSY" },
	{ -EALREADY, "EALREADY" },
	{ -ENOSYS, "ENOSYS" },
	{ EVPOOL_ECRASHED, "EVPOOL_ECRASHED" },
	{ EVPOOL_EPROTO, "EVPOOL_EPROTO" },
	{ EVPOOL_ENOTREADY, "EVPOOL_ENOTREADY" },
	{ EVPOOL_ESPAWN, "EVPOOL_ESPAWN" },
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static atomic_int job_runs, cb_calls;

static int job_count(struct evpool_ctx *ctx)
{
	(void)ctx;
	atomic_fetch_add(&job_runs, 1);
	return 0;
}

static void cb_count(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
	atomic_fetch_add(&cb_calls, 1);
}

static void worker_hook(void *arg)
{
	(void)arg;
}

/* What a job saw when it called the ctx functions with bad arguments. */
static int in_bytes_null, in_bytes_null0, in_emit_null, in_input_nolen;

static int job_bad_ctx(struct evpool_ctx *ctx)
{
	in_bytes_null = evpool_ctx_set_result_bytes(ctx, NULL, 5);
	in_bytes_null0 = evpool_ctx_set_result_bytes(ctx, NULL, 0);
	in_emit_null = evpool_ctx_emit(ctx, NULL, 5);
	evpool_ctx_input(ctx, NULL);
	in_input_nolen = 1;
	return 0;
}

/* errmsg is per thread: a thread's failure is its own. */
struct thr_msg {
	char before[256];
	char after[256];
};

static void *thread_errmsg(void *arg)
{
	struct thr_msg *m = arg;
	struct evpool_config *cfg = evpool_config_new();

	snprintf(m->before, sizeof(m->before), "%s", evpool_errmsg());
	evpool_config_set_name(cfg, "a/b");
	snprintf(m->after, sizeof(m->after), "%s", evpool_errmsg());
	evpool_config_free(cfg);
	return NULL;
}

/* A bad submit that was accepted anyway is a failure of its own assertion;
 * count it so that the checks after it still test what they say. */
#define BAD_SUBMIT(rc)                                                   \
	do {                                                             \
		if ((rc) == 0) {                                         \
			accepted++;                                      \
			if (job != sentinel)                             \
				evpool_job_unref(job);                   \
			job = sentinel;                                  \
		} else {                                                 \
			refused += job == sentinel;                      \
		}                                                        \
	} while (0)

int main(void)
{
	struct event_base *base;
	struct evpool_config *cfg;
	struct evpool *pool = NULL, *p2;
	struct evpool_job *job, *const sentinel = (struct evpool_job *)&job;
	struct evpool_job_spec spec;
	struct evpool_stats st;
	struct thr_msg tm;
	pthread_t thr;
	char msg1[256], msg2[256];
	const char *s1, *s2;
	unsigned ncpu;
	size_t i, j, len;
	int all, distinct, rc, refused, accepted;
	void *r;

	plan(2 * NCODES + 140);
	tap_watchdog(60, "errors");
	ncpu = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

	/* ---- strerror and err_name --------------------------------------- */
	is_string("Success", evpool_strerror(0), "evpool_strerror(0) is \"Success\"");
	ok(evpool_err_name(0) != NULL, "evpool_err_name(0) is not NULL");
	for (i = 0; i < NCODES; i++) {
		s1 = evpool_strerror(codes[i].code);
		ok(s1 != NULL && *s1 != '\0' && strcmp(s1, "Success") != 0,
		   "evpool_strerror(%s) describes it (\"%s\")", codes[i].name,
		   s1 ? s1 : "(null)");
		is_string(codes[i].name, evpool_err_name(codes[i].code),
			  "evpool_err_name() names %s", codes[i].name);
	}
	distinct = 1;
	for (i = 0; i < NCODES; i++)
		for (j = i + 1; j < NCODES; j++) {
			s1 = evpool_strerror(codes[i].code);
			s2 = evpool_strerror(codes[j].code);
			if (s1 && s2 && strcmp(s1, s2) == 0)
				distinct = 0;
		}
	ok(distinct, "every code has its own description");
	{
		static const int odd[] = { 1, 12345, -4095, INT_MIN, INT_MAX,
					   EVPOOL_ERR_BASE, EVPOOL_ERR_BASE - 999 };
		all = 1;
		for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
			if (evpool_strerror(odd[i]) == NULL ||
			    evpool_err_name(odd[i]) == NULL)
				all = 0;
		ok(all, "unknown codes (positive, INT_MIN, INT_MAX, beyond the library's) never give NULL");
	}
	ok(evpool_strerror(-EAGAIN) == evpool_strerror(-EAGAIN),
	   "evpool_strerror() returns a static string");

	/* ---- errmsg ------------------------------------------------------- */
	is_string("", evpool_errmsg(), "evpool_errmsg() is \"\" before any failure");
	cfg = evpool_config_new();
	if (cfg == NULL)
		bail("evpool_config_new failed");
	is_int(-EINVAL, evpool_config_set_workers(cfg, 3, 2),
	       "evpool_config_set_workers(min 3, max 2) is -EINVAL");
	snprintf(msg1, sizeof(msg1), "%s", evpool_errmsg());
	ok(msg1[0] != '\0', "and evpool_errmsg() says why: \"%s\"", msg1);
	is_int(0, evpool_config_set_workers(cfg, 1, 2),
	       "a valid evpool_config_set_workers() succeeds");
	is_string(msg1, evpool_errmsg(),
		  "and a success leaves evpool_errmsg() as it was");
	is_int(-EINVAL, evpool_config_set_emit_window(cfg, 0),
	       "evpool_config_set_emit_window(0) is -EINVAL");
	snprintf(msg2, sizeof(msg2), "%s", evpool_errmsg());
	ok(msg2[0] != '\0' && strcmp(msg1, msg2) != 0,
	   "and evpool_errmsg() describes that failure instead: \"%s\"", msg2);
	memset(&tm, 0, sizeof(tm));
	if (pthread_create(&thr, NULL, thread_errmsg, &tm) != 0)
		sysbail("pthread_create");
	pthread_join(thr, NULL);
	is_string("", tm.before, "evpool_errmsg() is per thread: a new thread sees \"\"");
	ok(tm.after[0] != '\0', "a failure in another thread sets that thread's message");
	is_string(msg2, evpool_errmsg(), "and leaves this thread's message alone");

	/* ---- config setters --------------------------------------------- */
	IGNORES(evpool_config_free(NULL), "evpool_config_free(NULL)");

	is_int(-EINVAL, evpool_config_set_mode(NULL, EVPOOL_MODE_THREAD),
	       "evpool_config_set_mode(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_config_set_mode(cfg, (enum evpool_mode)2),
	       "evpool_config_set_mode() rejects mode 2");
	is_int(-EINVAL, evpool_config_set_mode(cfg, (enum evpool_mode)-1),
	       "evpool_config_set_mode() rejects mode -1");
	is_int(0, evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS),
	       "evpool_config_set_mode() accepts EVPOOL_MODE_PROCESS");
	is_int(0, evpool_config_set_mode(cfg, EVPOOL_MODE_THREAD),
	       "evpool_config_set_mode() accepts EVPOOL_MODE_THREAD");

	is_int(-EINVAL, evpool_config_set_workers(NULL, 0, 1),
	       "evpool_config_set_workers(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_config_set_workers(cfg, 0, 4097),
	       "evpool_config_set_workers() rejects max 4097");
	is_int(-EINVAL, evpool_config_set_workers(cfg, 4097, 4097),
	       "evpool_config_set_workers() rejects min = max = 4097");
	is_int(-EINVAL, evpool_config_set_workers(cfg, UINT_MAX, UINT_MAX),
	       "evpool_config_set_workers() rejects UINT_MAX");
	is_int(-EINVAL, evpool_config_set_workers(cfg, ncpu + 1, 0),
	       "evpool_config_set_workers() rejects min > online CPUs with max 0 (= CPUs)");
	is_int(0, evpool_config_set_workers(cfg, ncpu, 0),
	       "evpool_config_set_workers() accepts min = online CPUs with max 0");
	is_int(0, evpool_config_set_workers(cfg, 0, 4096),
	       "evpool_config_set_workers() accepts max 4096");
	is_int(0, evpool_config_set_workers(cfg, 0, 0),
	       "evpool_config_set_workers() accepts 0, 0");

	is_int(-EINVAL, evpool_config_set_max_queued(NULL, 1),
	       "evpool_config_set_max_queued(NULL) is -EINVAL");
	is_int(0, evpool_config_set_max_queued(cfg, SIZE_MAX),
	       "evpool_config_set_max_queued() accepts SIZE_MAX");
	is_int(0, evpool_config_set_max_queued(cfg, 0),
	       "evpool_config_set_max_queued() accepts 0 (unbounded)");

	is_int(-EINVAL, evpool_config_set_idle_timeout(NULL, 10),
	       "evpool_config_set_idle_timeout(NULL) is -EINVAL");
	is_int(0, evpool_config_set_idle_timeout(cfg, 10),
	       "evpool_config_set_idle_timeout() accepts 10 ms");

	is_int(-EINVAL, evpool_config_set_name(NULL, "x"),
	       "evpool_config_set_name(NULL cfg) is -EINVAL");
	is_int(-EINVAL, evpool_config_set_name(cfg, NULL),
	       "evpool_config_set_name() rejects a NULL prefix");
	is_int(-EINVAL, evpool_config_set_name(cfg, ""),
	       "evpool_config_set_name() rejects an empty prefix");
	is_int(-EINVAL, evpool_config_set_name(cfg, "elevenchars"),
	       "evpool_config_set_name() rejects 11 characters");
	is_int(-EINVAL, evpool_config_set_name(cfg, "a/b"),
	       "evpool_config_set_name() rejects a '/'");
	ok(evpool_errmsg()[0] != '\0', "and evpool_errmsg() says why: \"%s\"",
	   evpool_errmsg());
	is_int(-EINVAL, evpool_config_set_name(cfg, "tab\there"),
	       "evpool_config_set_name() rejects a tab");
	is_int(-EINVAL, evpool_config_set_name(cfg, "nl\n"),
	       "evpool_config_set_name() rejects a newline");
	is_int(-EINVAL, evpool_config_set_name(cfg, "del\x7f"),
	       "evpool_config_set_name() rejects DEL");
	is_int(-EINVAL, evpool_config_set_name(cfg, "hi\xc3\xa9"),
	       "evpool_config_set_name() rejects non-ASCII bytes");
	is_int(0, evpool_config_set_name(cfg, "x"),
	       "evpool_config_set_name() accepts 1 character");
	is_int(0, evpool_config_set_name(cfg, "tenchars10"),
	       "evpool_config_set_name() accepts 10 characters");

	is_int(-EINVAL, evpool_config_set_notify(NULL, EVPOOL_NOTIFY_AUTO),
	       "evpool_config_set_notify(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_config_set_notify(cfg, (enum evpool_notify)3),
	       "evpool_config_set_notify() rejects 3");
	is_int(-EINVAL, evpool_config_set_notify(cfg, (enum evpool_notify)-1),
	       "evpool_config_set_notify() rejects -1");
	is_int(0, evpool_config_set_notify(cfg, EVPOOL_NOTIFY_PIPE),
	       "evpool_config_set_notify() accepts EVPOOL_NOTIFY_PIPE");
	is_int(0, evpool_config_set_notify(cfg, EVPOOL_NOTIFY_AUTO),
	       "evpool_config_set_notify() accepts EVPOOL_NOTIFY_AUTO");

	is_int(-EINVAL, evpool_config_set_callbacks(NULL, cb_count, cb_count, NULL),
	       "evpool_config_set_callbacks(NULL) is -EINVAL");
	is_int(0, evpool_config_set_callbacks(cfg, NULL, NULL, NULL),
	       "evpool_config_set_callbacks() accepts NULL callbacks");

	is_int(-EINVAL, evpool_config_set_job_timeout(NULL, 5),
	       "evpool_config_set_job_timeout(NULL) is -EINVAL");
	is_int(0, evpool_config_set_job_timeout(cfg, 0),
	       "evpool_config_set_job_timeout() accepts 0 (none)");

	is_int(-EINVAL, evpool_config_set_initializer(NULL, worker_hook, worker_hook, NULL),
	       "evpool_config_set_initializer(NULL) is -EINVAL");
	is_int(0, evpool_config_set_initializer(cfg, NULL, NULL, NULL),
	       "evpool_config_set_initializer() accepts NULL hooks");

	is_int(-EINVAL, evpool_config_set_default_fn(NULL, job_count),
	       "evpool_config_set_default_fn(NULL) is -EINVAL");
	is_int(0, evpool_config_set_default_fn(cfg, NULL),
	       "evpool_config_set_default_fn() accepts NULL (no default)");

	is_int(-EINVAL, evpool_config_set_emit_window(NULL, 4),
	       "evpool_config_set_emit_window(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_config_set_emit_window(cfg, 65537),
	       "evpool_config_set_emit_window() rejects 65537");
	is_int(-EINVAL, evpool_config_set_emit_window(cfg, UINT_MAX),
	       "evpool_config_set_emit_window() rejects UINT_MAX");
	is_int(0, evpool_config_set_emit_window(cfg, 1),
	       "evpool_config_set_emit_window() accepts 1");
	is_int(0, evpool_config_set_emit_window(cfg, 65536),
	       "evpool_config_set_emit_window() accepts 65536");

	/* A rejected setter leaves the configuration as it was. */
	is_int(0, evpool_config_set_workers(cfg, 0, 2),
	       "max_workers 2 is set");
	is_int(-EINVAL, evpool_config_set_workers(cfg, 5, 3),
	       "a bad evpool_config_set_workers() is refused");
	base = event_base_new();
	if (base == NULL)
		bail("event_base_new failed");
	is_int(0, evpool_new(&pool, base, cfg),
	       "a pool is made from the configuration");
	if (pool == NULL)
		bail("no pool");
	memset(&st, 0, sizeof(st));
	evpool_get_stats(pool, &st);
	is_int(2, st.max_workers,
	       "the refused setter left max_workers at 2");
	evpool_config_free(cfg);

	/* ---- evpool_new ------------------------------------------------- */
	is_int(-EINVAL, evpool_new(NULL, base, NULL),
	       "evpool_new(NULL poolp) is -EINVAL");
	p2 = NULL;
	is_int(0, evpool_new(&p2, NULL, NULL),
	       "evpool_new() accepts a NULL base");
	evpool_free(p2);

	/* ---- pool functions with NULL and out-of-range values ------------- */
	is_int(-EINVAL, evpool_close(NULL), "evpool_close(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_join(NULL, 0), "evpool_join(NULL, 0) is -EINVAL");
	is_int(-EINVAL, evpool_join(NULL, -1),
	       "evpool_join(NULL, -1) is -EINVAL and does not block");
	is_int(-EINVAL, evpool_terminate(NULL), "evpool_terminate(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_shutdown(NULL, 0), "evpool_shutdown(NULL, 0) is -EINVAL");
	is_int(-EINVAL, evpool_shutdown(NULL, -1),
	       "evpool_shutdown(NULL, -1) is -EINVAL and does not block");
	IGNORES(evpool_free(NULL), "evpool_free(NULL)");
	is_int(-EINVAL, evpool_set_max_workers(NULL, 1),
	       "evpool_set_max_workers(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_set_max_workers(pool, 0),
	       "evpool_set_max_workers(0) is -EINVAL");
	ok(evpool_errmsg()[0] != '\0', "and evpool_errmsg() says why: \"%s\"",
	   evpool_errmsg());
	is_int(-EINVAL, evpool_set_max_workers(pool, 4097),
	       "evpool_set_max_workers(4097) is -EINVAL");
	is_int(-EINVAL, evpool_set_max_workers(pool, UINT_MAX),
	       "evpool_set_max_workers(UINT_MAX) is -EINVAL");
	is_int(0, evpool_set_max_workers(pool, 4096),
	       "evpool_set_max_workers(4096) is accepted");
	is_int(0, evpool_set_max_workers(pool, 2),
	       "evpool_set_max_workers(2) is accepted");
	is_int(-EINVAL, evpool_cancel_all(NULL), "evpool_cancel_all(NULL) is -EINVAL");
	is_int(0, evpool_cancel_all(pool),
	       "evpool_cancel_all() of an idle pool cancels nothing");
	is_int(-EINVAL, evpool_fd(NULL), "evpool_fd(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_drain(NULL), "evpool_drain(NULL) is -EINVAL");
	is_int(0, evpool_drain(pool), "evpool_drain() with nothing pending runs nothing");
	is_int(-EINVAL, evpool_get_stats(NULL, &st),
	       "evpool_get_stats(NULL pool) is -EINVAL");
	is_int(-EINVAL, evpool_get_stats(pool, NULL),
	       "evpool_get_stats(NULL stats) is -EINVAL");
	is_int(-EINVAL, evpool_join(pool, 0),
	       "evpool_join() of a pool that is not closed is -EINVAL");

	/* ---- submits that must be refused ---------------------------------- */
	atomic_store(&job_runs, 0);
	atomic_store(&cb_calls, 0);
	refused = 0;
	accepted = 0;
	is_int(-EINVAL, evpool_submit(NULL, job_count, NULL, cb_count, NULL),
	       "evpool_submit(NULL pool) is -EINVAL");
	is_int(-EINVAL, evpool_submit(pool, NULL, NULL, cb_count, NULL),
	       "evpool_submit() without a function or a default function is -EINVAL");
	ok(evpool_errmsg()[0] != '\0', "and evpool_errmsg() says why: \"%s\"",
	   evpool_errmsg());
	job = sentinel;
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_count;
	spec.done = cb_count;
	rc = evpool_submit_job(NULL, &spec, &job);
	is_int(-EINVAL, rc, "evpool_submit_job(NULL pool) is -EINVAL");
	BAD_SUBMIT(rc);
	rc = evpool_submit_job(pool, NULL, &job);
	is_int(-EINVAL, rc, "evpool_submit_job(NULL spec) is -EINVAL");
	BAD_SUBMIT(rc);
	spec.fn = NULL;
	rc = evpool_submit_job(pool, &spec, &job);
	is_int(-EINVAL, rc, "a spec without a function (and no default) is -EINVAL");
	BAD_SUBMIT(rc);
	spec.fn = job_count;
	spec.input = NULL;
	spec.input_len = 5;
	rc = evpool_submit_job(pool, &spec, &job);
	is_int(-EINVAL, rc, "a spec with NULL input of length 5 is -EINVAL");
	BAD_SUBMIT(rc);
	spec.input_len = 0;
	spec.reserved[0] = &spec;
	rc = evpool_submit_job(pool, &spec, &job);
	is_int(-EINVAL, rc, "a spec whose reserved fields are not zero is -EINVAL");
	BAD_SUBMIT(rc);
	spec.reserved[0] = NULL;
	spec.flags = 1u << 30;
	rc = evpool_submit_job(pool, &spec, &job);
	is_int(-EINVAL, rc, "a spec with an unknown flag is -EINVAL");
	BAD_SUBMIT(rc);
	spec.flags = 0;
	spec.timeout_ms = -2;
	rc = evpool_submit_job(pool, &spec, &job);
	is_int(-EINVAL, rc, "a spec with timeout_ms -2 is -EINVAL");
	BAD_SUBMIT(rc);
	spec.timeout_ms = 0;
	spec.flags = EVPOOL_SUBMIT_BLOCK;
	spec.wait_ms = -2;
	rc = evpool_submit_job(pool, &spec, &job);
	is_int(-EINVAL, rc, "a blocking spec with wait_ms -2 is -EINVAL");
	BAD_SUBMIT(rc);
	is_int(8 - accepted, refused, "a refused evpool_submit_job() leaves *jobp untouched");
	memset(&st, 0, sizeof(st));
	evpool_get_stats(pool, &st);
	is_int(accepted, (long long)st.submitted, "refused submits are not counted as submitted");

	/* Extreme but valid values. */
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_count;
	spec.done = cb_count;
	spec.priority = INT_MAX;
	is_int(0, evpool_submit_job(pool, &spec, NULL),
	       "priority INT_MAX is accepted");
	spec.priority = INT_MIN;
	is_int(0, evpool_submit_job(pool, &spec, NULL),
	       "priority INT_MIN is accepted");
	spec.priority = 0;
	spec.timeout_ms = INT_MAX;
	is_int(0, evpool_submit_job(pool, &spec, NULL),
	       "timeout_ms INT_MAX is accepted");
	spec.timeout_ms = -1;
	spec.input = "x";
	spec.input_len = 0;
	is_int(0, evpool_submit_job(pool, &spec, NULL),
	       "timeout_ms -1 with a zero-length input is accepted");
	spec.input = NULL;
	spec.timeout_ms = 0;
	spec.fn = job_bad_ctx;
	is_int(0, evpool_submit_job(pool, &spec, NULL),
	       "a job that calls ctx functions with bad arguments is submitted");
	tap_watchdog(20, "dispatch after refused submits");
	event_base_dispatch(base);
	is_int(4 + accepted, atomic_load(&job_runs),
	       "only the accepted jobs ran (4 counting jobs)");
	is_int(5 + accepted, atomic_load(&cb_calls),
	       "only the accepted jobs' callbacks ran: no refused submit ever calls back");
	is_int(-EINVAL, in_bytes_null,
	       "evpool_ctx_set_result_bytes(NULL data, 5) is -EINVAL");
	is_int(0, in_bytes_null0,
	       "evpool_ctx_set_result_bytes(NULL data, 0) is accepted");
	is_int(-EINVAL, in_emit_null, "evpool_ctx_emit(NULL data, 5) is -EINVAL");
	ok(in_input_nolen, "evpool_ctx_input() accepts a NULL len");

	/* ---- huge timeouts ------------------------------------------------------ */
	{
		struct evpool *p3 = NULL;
		struct evpool_job *hj = NULL;

		memset(&spec, 0, sizeof(spec));
		spec.fn = job_count;
		if (evpool_new(&p3, NULL, NULL) != 0 || evpool_submit_job(p3, &spec, &hj) != 0)
			bail("cannot make a pool and a job");
		tap_watchdog(20, "errors: huge timeouts");
		is_int(0, evpool_job_wait(hj, INT_MAX), "evpool_job_wait(INT_MAX) waits for the job");
		is_int(0, evpool_job_get(hj, INT_MAX, NULL), "evpool_job_get(INT_MAX) too");
		evpool_close(p3);
		is_int(0, evpool_join(p3, INT_MAX), "evpool_join(INT_MAX) of a finished pool is 0");
		is_int(0, evpool_shutdown(p3, INT_MAX), "evpool_shutdown(INT_MAX) of it is 0");
		evpool_job_unref(hj);
		evpool_drain(p3);
		evpool_free(p3);
	}

	/* ---- job handle functions with NULL ---------------------------------- */
	ok(evpool_job_ref(NULL) == NULL, "evpool_job_ref(NULL) is NULL");
	IGNORES(evpool_job_unref(NULL), "evpool_job_unref(NULL)");
	is_int(0, evpool_job_ready(NULL), "evpool_job_ready(NULL) is 0");
	is_int(-EINVAL, evpool_job_successful(NULL), "evpool_job_successful(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_job_wait(NULL, 0), "evpool_job_wait(NULL, 0) is -EINVAL");
	is_int(-EINVAL, evpool_job_wait(NULL, -1),
	       "evpool_job_wait(NULL, -1) is -EINVAL and does not block");
	r = &r;
	is_int(-EINVAL, evpool_job_get(NULL, -1, &r),
	       "evpool_job_get(NULL, -1) is -EINVAL and does not block");
	is_int(-EINVAL, evpool_job_status(NULL), "evpool_job_status(NULL) is -EINVAL");
	ok(evpool_job_result(NULL) == NULL, "evpool_job_result(NULL) is NULL");
	len = 99;
	ok(evpool_job_result_bytes(NULL, &len) == NULL && len == 0,
	   "evpool_job_result_bytes(NULL) is NULL with length 0");
	ok(evpool_job_arg(NULL) == NULL, "evpool_job_arg(NULL) is NULL");
	is_int(-EINVAL, evpool_job_cancel(NULL), "evpool_job_cancel(NULL) is -EINVAL");
	ok(evpool_job_exit_status(NULL) < 0,
	   "evpool_job_exit_status(NULL) is negative (%d)", evpool_job_exit_status(NULL));

	/* ---- ctx functions with NULL ------------------------------------------ */
	ok(evpool_ctx_arg(NULL) == NULL, "evpool_ctx_arg(NULL) is NULL");
	len = 99;
	ok(evpool_ctx_input(NULL, &len) == NULL, "evpool_ctx_input(NULL) is NULL");
	rc = evpool_ctx_cancelled(NULL);
	ok(rc != 1, "evpool_ctx_cancelled(NULL) does not claim a cancel (%d)", rc);
	is_int(-EINVAL, evpool_ctx_set_result(NULL, &r),
	       "evpool_ctx_set_result(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_ctx_set_result_bytes(NULL, "x", 1),
	       "evpool_ctx_set_result_bytes(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_ctx_emit(NULL, "x", 1), "evpool_ctx_emit(NULL) is -EINVAL");
	ok(evpool_ctx_pool(NULL) == NULL, "evpool_ctx_pool(NULL) is NULL");

	tap_watchdog(20, "evpool_free");
	evpool_free(pool);
	event_base_free(base);
	return 0;
}

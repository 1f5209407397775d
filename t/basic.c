/*
 * basic.c — the core promise: a job runs on a worker thread and its result
 * comes back, exactly once, on the loop thread; event_base_dispatch() stays
 * in the loop while work is outstanding and returns once none is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

static pthread_t main_tid;

/* What a job and its callback saw, checked afterwards on the main thread. */
struct seen {
	atomic_int job_runs;
	atomic_int calls;
	atomic_int calls_off_loop;
	pthread_t job_tid;
	void *ctx_arg;
	struct evpool *ctx_pool;
	int ctx_cancelled;
	const void *ctx_input;
	size_t ctx_input_len;
	int set_result_rc;
	int set_bytes_rc;
	int input_matched;
	/* read in the callback */
	int status;
	int successful;
	int ready;
	void *result;
	void *arg;
	int exit_status;
	char bytes[64];
	size_t bytes_len;
	int bytes_null;
	int bytes_nolen_ok;
};

static int result_obj = 4242;

static int job_pointer(struct evpool_ctx *ctx)
{
	struct seen *s = evpool_ctx_arg(ctx);

	s->job_tid = pthread_self();
	s->ctx_arg = evpool_ctx_arg(ctx);
	s->ctx_pool = evpool_ctx_pool(ctx);
	s->ctx_cancelled = evpool_ctx_cancelled(ctx);
	s->ctx_input = evpool_ctx_input(ctx, &s->ctx_input_len);
	s->set_result_rc = evpool_ctx_set_result(ctx, &result_obj);
	atomic_fetch_add(&s->job_runs, 1);
	return 0;
}

static void cb_record(struct evpool_job *job, void *arg)
{
	struct seen *s = arg;
	const void *b;
	size_t len = 12345;

	if (!pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&s->calls_off_loop, 1);
	s->status = evpool_job_status(job);
	s->successful = evpool_job_successful(job);
	s->ready = evpool_job_ready(job);
	s->result = evpool_job_result(job);
	s->arg = evpool_job_arg(job);
	s->exit_status = evpool_job_exit_status(job);
	b = evpool_job_result_bytes(job, &len);
	s->bytes_null = b == NULL;
	s->bytes_len = len;
	if (b != NULL && len <= sizeof(s->bytes))
		memcpy(s->bytes, b, len);
	s->bytes_nolen_ok = evpool_job_result_bytes(job, NULL) == b;
	atomic_fetch_add(&s->calls, 1);
}

static const char input_text[] = "hello, input";

/* Upper-case the byte input; set a decoy result first to check that the
 * second evpool_ctx_set_result_bytes() replaces it. */
static int job_bytes(struct evpool_ctx *ctx)
{
	struct seen *s = evpool_ctx_arg(ctx);
	const char *in;
	size_t len = 0, i;
	char out[64];

	in = evpool_ctx_input(ctx, &len);
	s->input_matched = in != NULL && len == sizeof(input_text) &&
			   memcmp(in, input_text, len) == 0;
	if (in == NULL || len > sizeof(out))
		return -EINVAL;
	for (i = 0; i < len; i++)
		out[i] = (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 32)
							  : in[i];
	evpool_ctx_set_result_bytes(ctx, "decoy result that is longer", 27);
	s->set_bytes_rc = evpool_ctx_set_result_bytes(ctx, out, len);
	atomic_fetch_add(&s->job_runs, 1);
	return 0;
}

static int job_fail(struct evpool_ctx *ctx)
{
	struct seen *s = evpool_ctx_arg(ctx);

	atomic_fetch_add(&s->job_runs, 1);
	return -EIO;
}

static int job_sleep150(struct evpool_ctx *ctx)
{
	struct seen *s = evpool_ctx_arg(ctx);

	tap_sleep_ms(150);
	atomic_fetch_add(&s->job_runs, 1);
	return 0;
}

static int job_count(struct evpool_ctx *ctx)
{
	struct seen *s = evpool_ctx_arg(ctx);

	atomic_fetch_add(&s->job_runs, 1);
	return 0;
}

static void cb_count(struct evpool_job *job, void *arg)
{
	struct seen *s = arg;

	(void)job;
	if (!pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&s->calls_off_loop, 1);
	atomic_fetch_add(&s->calls, 1);
}

/* Chained submits: each callback submits the next job until 5 have run. */
struct chain {
	struct evpool *pool;
	struct seen s;
	int submit_fail;
};

static void cb_chain(struct evpool_job *job, void *arg)
{
	struct chain *c = arg;

	(void)job;
	if (!pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&c->s.calls_off_loop, 1);
	if (atomic_fetch_add(&c->s.calls, 1) + 1 < 5) {
		if (evpool_submit(c->pool, job_count, &c->s, cb_chain, c) != 0)
			c->submit_fail++;
	}
}

#define MANY 1000

int main(void)
{
	struct event_base *base;
	struct evpool *pool = NULL, *pool2 = NULL;
	struct evpool_config *cfg;
	struct evpool_job *job = NULL;
	struct evpool_job_spec spec;
	struct seen s;
	struct chain ch;
	char inbuf[sizeof(input_text)];
	double t0, el;
	int rc, i, failures;

	plan(56);
	tap_watchdog(60, "basic");
	main_tid = pthread_self();

	base = event_base_new();
	if (base == NULL)
		bail("event_base_new failed");

	/* ---- version --------------------------------------------------- */
	is_string(EVPOOL_VERSION_STRING, evpool_version(),
		  "evpool_version() matches EVPOOL_VERSION_STRING");
	is_int(EVPOOL_VERSION_HEX, evpool_version_hex(),
	       "evpool_version_hex() matches EVPOOL_VERSION_HEX");

	/* ---- new, and a loop with nothing to do ---------------------------- */
	is_int(0, evpool_new(&pool, base, NULL),
	       "evpool_new() with a NULL config makes a pool");
	if (pool == NULL)
		bail("no pool, cannot go on");
	t0 = tap_now_ms();
	rc = event_base_dispatch(base);
	el = tap_now_ms() - t0;
	is_int(1, rc, "event_base_dispatch() returns 1 (no events) when the pool has no work");
	ok(el < 2000, "and it returns at once (%.1f ms)", el);

	/* ---- one pointer job ------------------------------------------------ */
	memset(&s, 0, sizeof(s));
	is_int(0, evpool_submit(pool, job_pointer, &s, cb_record, &s),
	       "evpool_submit() of a pointer job succeeds");
	tap_wait_until(atomic_load(&s.job_runs) == 1, 5000);
	tap_sleep_ms(20);
	is_int(0, atomic_load(&s.calls),
	       "a finished job's callback waits for the loop (not run inside submit or by the worker)");
	tap_watchdog(20, "dispatch of one pointer job");
	rc = event_base_dispatch(base);
	is_int(1, rc, "event_base_dispatch() returns once the job is delivered");
	is_int(1, atomic_load(&s.calls), "the completion callback ran exactly once");
	is_int(0, atomic_load(&s.calls_off_loop),
	       "the completion callback ran on the loop thread");
	ok(!pthread_equal(s.job_tid, main_tid),
	   "the job ran on a worker thread, not on the loop thread");
	ok(s.ctx_arg == &s, "evpool_ctx_arg() gives the job the arg it was submitted with");
	ok(s.ctx_pool == pool, "evpool_ctx_pool() gives the job its pool");
	is_int(0, s.ctx_cancelled, "evpool_ctx_cancelled() is 0 for a job nobody cancelled");
	ok(s.ctx_input == NULL && s.ctx_input_len == 0,
	   "evpool_ctx_input() is NULL with length 0 when there is no byte input");
	is_int(0, s.set_result_rc, "evpool_ctx_set_result() succeeds in thread mode");
	is_int(0, s.status, "evpool_job_status() is 0 in the callback of a successful job");
	is_int(1, s.successful, "evpool_job_successful() is 1 in the callback");
	is_int(1, s.ready, "evpool_job_ready() is 1 in the callback");
	ok(s.result == &result_obj, "evpool_job_result() gives the pointer the job set");
	ok(s.arg == &s, "evpool_job_arg() gives the arg given at submit");
	ok(s.bytes_null && s.bytes_len == 0,
	   "evpool_job_result_bytes() is NULL with length 0 when the job set none");
	is_int(-1, s.exit_status, "evpool_job_exit_status() is -1 for a thread-mode job");

	/* ---- bytes in, bytes out, through evpool_submit_job() ------------- */
	memset(&s, 0, sizeof(s));
	memcpy(inbuf, input_text, sizeof(inbuf));
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_bytes;
	spec.arg = &s;
	spec.input = inbuf;
	spec.input_len = sizeof(inbuf);
	spec.done = cb_record;
	spec.done_arg = &s;
	is_int(0, evpool_submit_job(pool, &spec, &job),
	       "evpool_submit_job() with byte input succeeds");
	ok(job != NULL, "and gives a job handle through jobp");
	memset(inbuf, 'X', sizeof(inbuf));	/* the pool must have its own copy */
	tap_watchdog(20, "dispatch of a bytes job");
	event_base_dispatch(base);
	is_int(1, atomic_load(&s.calls), "the bytes job's callback ran exactly once");
	ok(s.input_matched,
	   "the job saw the input as it was at submit (copied), with its exact length");
	is_int(0, s.set_bytes_rc, "evpool_ctx_set_result_bytes() succeeds");
	is_int((long long)sizeof(input_text), (long long)s.bytes_len,
	       "the byte result has the length the job set last");
	ok(!s.bytes_null && s.bytes_len == sizeof(input_text) &&
		   memcmp(s.bytes, "HELLO, INPUT", sizeof(input_text)) == 0,
	   "the byte result has the job's last bytes (a second set replaces the first)");
	ok(s.bytes_nolen_ok, "evpool_job_result_bytes() accepts a NULL len");
	is_int(1, evpool_job_ready(job), "the handle is ready after the callback");
	ok(evpool_job_ref(job) == job, "evpool_job_ref() returns the same handle");
	evpool_job_unref(job);
	{
		size_t len = 0;
		const char *b = evpool_job_result_bytes(job, &len);

		ok(b != NULL && len == sizeof(input_text) &&
			   memcmp(b, "HELLO, INPUT", len) == 0,
		   "the byte result is still readable through the handle after the callback");
	}
	evpool_job_unref(job);
	job = NULL;

	/* ---- the job's own error ------------------------------------------- */
	memset(&s, 0, sizeof(s));
	is_int(0, evpool_submit(pool, job_fail, &s, cb_record, &s),
	       "a job that will fail is submitted");
	tap_watchdog(20, "dispatch of a failing job");
	event_base_dispatch(base);
	is_int(1, atomic_load(&s.calls), "a failing job's callback runs exactly once");
	is_int(-EIO, s.status, "its status is the job's own return value (-EIO)");
	is_int(0, s.successful, "evpool_job_successful() is 0 for it");

	/* ---- no callback at all -------------------------------------------- */
	memset(&s, 0, sizeof(s));
	is_int(0, evpool_submit(pool, job_count, &s, NULL, NULL),
	       "a job may be submitted without a completion callback");
	tap_watchdog(20, "dispatch of a callback-less job");
	event_base_dispatch(base);
	is_int(1, atomic_load(&s.job_runs),
	       "the callback-less job ran once and dispatch returned");

	/* ---- dispatch does not return while work is outstanding ------------ */
	memset(&s, 0, sizeof(s));
	failures = 0;
	for (i = 0; i < 4; i++)
		if (evpool_submit(pool, job_sleep150, &s, cb_count, &s) != 0)
			failures++;
	is_int(0, failures, "4 jobs of 150 ms each are submitted");
	tap_watchdog(20, "dispatch of 4 slow jobs");
	t0 = tap_now_ms();
	event_base_dispatch(base);
	el = tap_now_ms() - t0;
	is_int(4, atomic_load(&s.calls),
	       "event_base_dispatch() did not return before all 4 were delivered");
	ok(el >= 140, "so it stayed in the loop while they ran (%.0f ms)", el);

	/* ---- many jobs ------------------------------------------------------ */
	memset(&s, 0, sizeof(s));
	failures = 0;
	for (i = 0; i < MANY; i++)
		if (evpool_submit(pool, job_count, &s, cb_count, &s) != 0)
			failures++;
	is_int(0, failures, "%d jobs are submitted from the loop thread", MANY);
	tap_watchdog(30, "dispatch of many jobs");
	event_base_dispatch(base);
	is_int(MANY, atomic_load(&s.job_runs), "all %d ran", MANY);
	is_int(MANY, atomic_load(&s.calls), "all %d callbacks ran", MANY);
	is_int(0, atomic_load(&s.calls_off_loop), "all of them on the loop thread");

	/* ---- a job submitted from a callback keeps the loop alive ---------- */
	memset(&ch, 0, sizeof(ch));
	ch.pool = pool;
	is_int(0, evpool_submit(pool, job_count, &ch.s, cb_chain, &ch),
	       "the first of 5 chained jobs is submitted");
	tap_watchdog(20, "dispatch of chained jobs");
	event_base_dispatch(base);
	ok(atomic_load(&ch.s.calls) == 5 && ch.submit_fail == 0,
	   "jobs submitted from completion callbacks keep the loop running: 5 of 5 delivered");
	is_int(0, atomic_load(&ch.s.calls_off_loop),
	       "the chained callbacks ran on the loop thread");

	t0 = tap_now_ms();
	rc = event_base_dispatch(base);
	el = tap_now_ms() - t0;
	ok(rc == 1 && el < 2000,
	   "with all work delivered the pool leaves no event behind (dispatch returns %d at once)",
	   rc);

	/* ---- the default job function --------------------------------------- */
	cfg = evpool_config_new();
	ok(cfg != NULL, "evpool_config_new() makes a configuration");
	if (cfg == NULL)
		bail("no config");
	is_int(0, evpool_config_set_default_fn(cfg, job_count),
	       "evpool_config_set_default_fn() accepts a function");
	is_int(0, evpool_new(&pool2, base, cfg),
	       "a pool with a default function is made");
	evpool_config_free(cfg);
	memset(&s, 0, sizeof(s));
	is_int(0, evpool_submit(pool2, NULL, &s, cb_count, &s),
	       "evpool_submit() without a function uses the default function");
	tap_watchdog(20, "dispatch of a default-function job");
	event_base_dispatch(base);
	ok(atomic_load(&s.job_runs) == 1 && atomic_load(&s.calls) == 1,
	   "the default function ran once and its callback ran once");

	tap_watchdog(20, "evpool_free");
	evpool_free(pool2);
	evpool_free(pool);
	tap_watchdog(0, NULL);
	event_base_free(base);
	return 0;
}

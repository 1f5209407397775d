/*
 * resultfree.c — pointer results with a free function (GLib's
 * g_task_return_pointer(task, result, destroy) model, issue 15 item 2):
 * freed exactly once for every result not handed to the user — a timeout
 * after the result was set, a cancel while running, a result nobody read
 * (also when the pool is freed before the loop ever ran), an evbuffer
 * emission nobody reads — and never for a result that was read.
 * evpool_ctx_set_result() says -ECANCELED when the result would be
 * discarded, and the caller keeps it.  Runs clean under valgrind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

static atomic_int nfreed, npool_freed, nset_refused, ncleanup;
static atomic_int gate;

static void
count_free(void *p)
{
	atomic_fetch_add(&nfreed, 1);
	free(p);
}

static void
count_pool_free(void *p)
{
	atomic_fetch_add(&npool_freed, 1);
	free(p);
}

static void
wait_gate_or_cancel(struct evpool_ctx *ctx)
{
	double end = tap_now_ms() + 10000;

	while (!atomic_load(&gate) && !evpool_ctx_cancelled(ctx) &&
	       tap_now_ms() < end)
		tap_sleep_ms(1);
}

/* Sets its result first, then runs past its 50 ms timeout. */
static int
job_set_then_late(struct evpool_ctx *ctx)
{
	double end = tap_now_ms() + 200;

	if (evpool_ctx_set_result_full(ctx, strdup("early"), count_free) < 0)
		return -EIO;
	while (tap_now_ms() < end)
		tap_sleep_ms(1);
	return 0;
}

/* Runs past its timeout, then tries to set a result: refused. */
static int
job_late_then_set(struct evpool_ctx *ctx)
{
	char *s = strdup("late");

	wait_gate_or_cancel(ctx);
	if (evpool_ctx_set_result_full(ctx, s, count_free) == -ECANCELED) {
		atomic_fetch_add(&nset_refused, 1);
		free(s); /* still ours */
	}
	return 0;
}

/* Sets its result, then waits for a cancel and gives up. */
static int
job_set_then_cancelled(struct evpool_ctx *ctx)
{
	evpool_ctx_set_result_full(ctx, strdup("cancelled"), count_free);
	wait_gate_or_cancel(ctx);
	return evpool_ctx_cancelled(ctx) ? -ECANCELED : 0;
}

static int
job_result(struct evpool_ctx *ctx)
{
	char *s = strdup("ok");
	int r = evpool_ctx_set_result_full(ctx, s, count_free);

	if (r < 0)
		free(s); /* refused: still ours */
	return r;
}

static int
job_result_pool_default(struct evpool_ctx *ctx)
{
	return evpool_ctx_set_result(ctx, strdup("pool"));
}

static void
cleanup_count(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(void)arg;
	atomic_fetch_add(&ncleanup, 1);
}

static char emitted[64];

/* An evbuffer emission with nobody reading it. */
static int
job_emit_unread(struct evpool_ctx *ctx)
{
	struct evbuffer *b = evbuffer_new();
	int r;

	evbuffer_add_reference(b, emitted, sizeof(emitted), cleanup_count, NULL);
	r = evpool_ctx_emit_evbuffer(ctx, b);
	evbuffer_free(b);
	return r;
}

/* The last reference to a job may be the worker's, dropped just after
 * the completion was delivered: wait (2 s at most) for a count. */
static int
settle(atomic_int *count, int want)
{
	for (int i = 0; i < 2000 * (int)tap_slowdown() &&
			atomic_load(count) < want; i++)
		tap_sleep_ms(1);
	return atomic_load(count);
}

static int nread;
static void *taken;

static void
on_done_ignore(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
}

static void
on_done_read(struct evpool_job *job, void *arg)
{
	(void)arg;
	taken = evpool_job_result(job);
	if (taken)
		nread++;
}

static int
submit(struct evpool *pool, evpool_fn fn, int timeout_ms, evpool_done_cb done,
       struct evpool_job **jobp)
{
	struct evpool_job_spec spec = { .fn = fn, .timeout_ms = timeout_ms,
					.done = done };
	return evpool_submit_job(pool, &spec, jobp);
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_job *job;
	void *res = NULL;

	plan(15);
	tap_watchdog(60, "t/resultfree");
	evpool_config_set_workers(cfg, 0, 2);
	evpool_config_set_result_free(cfg, count_pool_free);
	if (evpool_new(&pool, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());

	/* timeout after the result was set: the late result is freed */
	atomic_store(&nfreed, 0);
	submit(pool, job_set_then_late, 50, on_done_read, &job);
	event_base_dispatch(base);
	evpool_job_wait(job, -1);
	is_int(-ETIMEDOUT, evpool_job_status(job), "a job past its timeout ends -ETIMEDOUT");
	evpool_job_unref(job);
	/* the worker discards it when it returns */
	is_int(1, settle(&nfreed, 1), "its late result was freed exactly once");
	is_int(0, nread, "and nobody was handed it");

	/* set after the timeout: -ECANCELED, the caller keeps it */
	atomic_store(&gate, 0);
	submit(pool, job_late_then_set, 50, on_done_ignore, NULL);
	event_base_dispatch(base);
	for (int i = 0; i < 2000 && atomic_load(&nset_refused) == 0; i++)
		tap_sleep_ms(1);
	is_int(1, atomic_load(&nset_refused),
	       "evpool_ctx_set_result() after the timeout says -ECANCELED");
	is_int(1, atomic_load(&nfreed), "and the library freed nothing of it");

	/* cancel while running: the job gives up, the result is not read */
	atomic_store(&nfreed, 0);
	submit(pool, job_set_then_cancelled, 0, on_done_ignore, &job);
	tap_sleep_ms(30);
	is_int(-EBUSY, evpool_job_cancel(job), "a running thread job is flagged");
	event_base_dispatch(base);
	evpool_job_unref(job);
	is_int(1, settle(&nfreed, 1), "the result of a job cancelled while running is freed once");
	tap_sleep_ms(20);

	/* read: never freed by the library */
	atomic_store(&nfreed, 0);
	nread = 0;
	submit(pool, job_result, 0, on_done_read, NULL);
	event_base_dispatch(base);
	ok(nread == 1 && taken && !strcmp(taken, "ok"), "a result read in the callback is handed over");
	is_int(0, atomic_load(&nfreed), "and never freed by the library");
	free(taken);

	/* evpool_job_get() hands it over too */
	submit(pool, job_result, 0, NULL, &job);
	evpool_job_get(job, -1, &res);
	event_base_dispatch(base);
	evpool_job_unref(job);
	ok(res && atomic_load(&nfreed) == 0, "evpool_job_get() hands the result over");
	free(res);

	/* nobody reads it */
	submit(pool, job_result, 0, on_done_ignore, NULL);
	submit(pool, job_result, 0, NULL, NULL);
	event_base_dispatch(base);
	is_int(2, settle(&nfreed, 2), "a result nobody read is freed once with its job");

	/* the pool's default free function */
	submit(pool, job_result_pool_default, 0, on_done_ignore, NULL);
	event_base_dispatch(base);
	is_int(1, settle(&npool_freed, 1),
	       "evpool_config_set_result_free() frees evpool_ctx_set_result() results");

	/* an evbuffer emission nobody reads */
	submit(pool, job_emit_unread, 0, on_done_ignore, NULL);
	event_base_dispatch(base);
	is_int(1, settle(&ncleanup, 1), "an evbuffer emission nobody reads is freed");

	/* the pool freed before its loop delivered anything */
	atomic_store(&nfreed, 0);
	atomic_store(&gate, 1);
	{
		struct evpool_stats st0, st;

		evpool_get_stats(pool, &st0);
		for (int i = 0; i < 4; i++)
			submit(pool, job_result, 0, i % 2 ? on_done_ignore : NULL,
			       NULL);
		/* finished, not delivered: the loop does not run */
		for (int i = 0; i < 5000; i++) {
			evpool_get_stats(pool, &st);
			if (st.completed - st0.completed == 4)
				break;
			tap_sleep_ms(1);
		}
	}
	evpool_free(pool);
	is_int(4, settle(&nfreed, 4), "results of jobs delivered by evpool_free() are freed once");

	/* process mode: no pointer results at all */
	{
		struct evpool *pp;
		evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
		if (evpool_new(&pp, base, cfg) < 0)
			bail("evpool_new: %s", evpool_errmsg());
		atomic_store(&nfreed, 0);
		submit(pp, job_result, 0, on_done_ignore, &job);
		event_base_dispatch(base);
		ok(evpool_job_status(job) == -EINVAL && evpool_job_result(job) == NULL,
		   "process mode: evpool_ctx_set_result_full() is -EINVAL");
		evpool_job_unref(job);
		evpool_free(pp);
	}
	evpool_config_free(cfg);
	event_base_free(base);
	return tap_failures() != 0;
}

/*
 * emit.c — streaming jobs: evpool_ctx_emit() partial results reach the emit
 * callback on the loop thread, in order, before the completion; two jobs
 * stream at once; a full emit window blocks the job (backpressure) instead of
 * buffering without bound, and a cancel releases a blocked emitter.
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

struct stream {
	int n;			/* items to emit */
	size_t big;		/* if set: one item of this many bytes */
	atomic_int emitted;	/* emits that returned 0 */
	atomic_int bad_rc;	/* emits that returned anything else */
	atomic_int last_rc;
	atomic_int returned;
	atomic_int started;
	/* loop side */
	int delivered;
	int out_of_order;
	int bad_data;
	int off_loop;
	int bad_arg;
	int max_in_flight;	/* emitted - delivered, seen in the callback */
	int delivered_at_completion;
	int completions;
	int status;
};

static int job_stream(struct evpool_ctx *ctx)
{
	struct stream *s = evpool_ctx_arg(ctx);
	char buf[64];
	int i, rc;

	atomic_store(&s->started, 1);
	if (s->big) {
		unsigned char *p = malloc(s->big);
		size_t k;

		for (k = 0; k < s->big; k++)
			p[k] = (unsigned char)(k * 7 + 3);
		rc = evpool_ctx_emit(ctx, p, s->big);
		free(p);
		if (rc == 0)
			atomic_fetch_add(&s->emitted, 1);
		else
			atomic_fetch_add(&s->bad_rc, 1);
		atomic_store(&s->returned, 1);
		return 0;
	}
	for (i = 0; i < s->n; i++) {
		int len = snprintf(buf, sizeof(buf), "part %d", i);

		rc = evpool_ctx_emit(ctx, buf, (size_t)len + 1);
		atomic_store(&s->last_rc, rc);
		if (rc != 0) {
			atomic_fetch_add(&s->bad_rc, 1);
			break;
		}
		atomic_fetch_add(&s->emitted, 1);
	}
	atomic_store(&s->returned, 1);
	return 0;
}

/* Waits for its timeout, then tries to emit. */
static int job_emit_late(struct evpool_ctx *ctx)
{
	struct stream *s = evpool_ctx_arg(ctx);
	double deadline = tap_now_ms() + 10000;

	atomic_store(&s->started, 1);
	while (!evpool_ctx_cancelled(ctx) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	atomic_store(&s->last_rc, evpool_ctx_emit(ctx, "late", 5));
	atomic_store(&s->returned, 1);
	return 0;
}

static void cb_emit(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	struct stream *s = arg;
	int in_flight;

	if (!pthread_equal(pthread_self(), main_tid))
		s->off_loop++;
	if (evpool_job_arg(job) != s)
		s->bad_arg++;
	if (s->big) {
		const unsigned char *p = data;
		size_t k;

		if (len != s->big)
			s->bad_data++;
		else
			for (k = 0; k < len; k++)
				if (p[k] != (unsigned char)(k * 7 + 3)) {
					s->bad_data++;
					break;
				}
	} else {
		char want[64];
		int wl = snprintf(want, sizeof(want), "part %d", s->delivered);

		if (len != (size_t)wl + 1 || memcmp(data, want, len) != 0)
			s->out_of_order++;
	}
	/* Emissions the job has made that the loop has not finished with. */
	in_flight = atomic_load(&s->emitted) - s->delivered;
	if (in_flight > s->max_in_flight)
		s->max_in_flight = in_flight;
	s->delivered++;
}

static void cb_done(struct evpool_job *job, void *arg)
{
	struct stream *s = arg;

	if (!pthread_equal(pthread_self(), main_tid))
		s->off_loop++;
	s->status = evpool_job_status(job);
	s->delivered_at_completion = s->delivered;
	s->completions++;
}

static int submit(struct evpool *pool, struct stream *s, int with_emit,
		  struct evpool_job **jobp)
{
	struct evpool_job_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.fn = job_stream;
	spec.arg = s;
	spec.done = cb_done;
	spec.emit = with_emit ? cb_emit : NULL;
	spec.done_arg = s;
	return evpool_submit_job(pool, &spec, jobp);
}

#define WINDOW 4

int main(void)
{
	struct event_base *base;
	struct evpool_config *cfg;
	struct evpool *pool = NULL, *wpool = NULL;
	struct evpool_job *job = NULL;
	struct stream s, s2;
	int iters, first_batch;

	plan(41);
	tap_watchdog(60, "emit");
	main_tid = pthread_self();
	if (!(base = event_base_new()))
		bail("event_base_new failed");
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 2);
	is_int(0, evpool_new(&pool, base, cfg), "a pool with 2 workers is made");
	if (pool == NULL)
		bail("no pool");

	/* ---- in order, before the completion -------------------------------- */
	memset(&s, 0, sizeof(s));
	s.n = 100;
	is_int(0, submit(pool, &s, 1, NULL), "a job emitting 100 partial results is submitted");
	tap_watchdog(30, "emit: one stream");
	event_base_dispatch(base);
	is_int(100, atomic_load(&s.emitted), "every evpool_ctx_emit() returned 0");
	is_int(100, s.delivered, "all 100 reached the emit callback");
	is_int(0, s.out_of_order, "in order, with their bytes and lengths");
	is_int(0, s.off_loop, "on the loop thread");
	is_int(0, s.bad_arg, "with the job's handle and done_arg");
	is_int(1, s.completions, "the completion callback ran once");
	is_int(100, s.delivered_at_completion, "after all 100 partial results");
	is_int(0, s.status, "with status 0");

	/* ---- two at once ---------------------------------------------------- */
	memset(&s, 0, sizeof(s));
	memset(&s2, 0, sizeof(s2));
	s.n = 300;
	s2.n = 300;
	ok(submit(pool, &s, 1, NULL) == 0 && submit(pool, &s2, 1, NULL) == 0,
	   "two streaming jobs are submitted to the 2 workers");
	tap_watchdog(30, "emit: two streams");
	event_base_dispatch(base);
	ok(s.delivered == 300 && s2.delivered == 300, "each delivered its 300 partial results");
	ok(s.out_of_order == 0 && s2.out_of_order == 0, "each stream in its own order");
	ok(s.delivered_at_completion == 300 && s2.delivered_at_completion == 300 &&
		   s.completions == 1 && s2.completions == 1,
	   "each completed once, after its own stream");

	/* ---- no emit callback; a big item -------------------------------------- */
	memset(&s, 0, sizeof(s));
	s.n = 50;
	is_int(0, submit(pool, &s, 0, NULL), "a streaming job without an emit callback is submitted");
	event_base_dispatch(base);
	ok(atomic_load(&s.emitted) == 50 && s.delivered == 0 && s.completions == 1,
	   "its emits return 0, the data is dropped, and it completes once");
	memset(&s, 0, sizeof(s));
	s.big = 256 * 1024;
	is_int(0, submit(pool, &s, 1, NULL), "a job emitting one 256 KiB item is submitted");
	event_base_dispatch(base);
	ok(s.delivered == 1 && s.bad_data == 0, "the item arrives intact");
	evpool_free(pool);
	pool = NULL;

	/* ---- backpressure ------------------------------------------------------- */
	is_int(0, evpool_config_set_emit_window(cfg, WINDOW), "the emit window is set to %d", WINDOW);
	is_int(0, evpool_new(&wpool, base, cfg), "a pool with it is made");
	if (wpool == NULL)
		bail("no pool");
	memset(&s, 0, sizeof(s));
	s.n = 10 * WINDOW;
	is_int(0, submit(wpool, &s, 1, &job), "a job emitting %d items is submitted", 10 * WINDOW);
	tap_wait_until(atomic_load(&s.started), 10000);
	tap_sleep_ms(300);	/* the loop does not run */
	is_int(WINDOW, atomic_load(&s.emitted),
	       "with the loop not draining, the job got exactly %d emits through", WINDOW);
	is_int(0, atomic_load(&s.returned), "and is blocked in the next one");
	is_int(0, evpool_job_ready(job), "so it has not finished");
	tap_watchdog(30, "emit: draining");
	event_base_loop(base, EVLOOP_ONCE);
	first_batch = s.delivered;
	ok(first_batch >= 1, "the loop's first wakeup delivers partial results (%d)", first_batch);
	for (iters = 0; s.completions == 0 && iters < 100000; iters++)
		event_base_loop(base, EVLOOP_ONCE);
	is_int(10 * WINDOW, s.delivered, "then the stream flows: all %d delivered", 10 * WINDOW);
	is_int(0, s.out_of_order, "in order");
	ok(s.max_in_flight <= WINDOW,
	   "never more than %d were waiting for the loop (at most %d seen)", WINDOW,
	   s.max_in_flight);
	ok(s.completions == 1 && s.delivered_at_completion == 10 * WINDOW,
	   "the completion came once, after the whole stream");
	evpool_job_unref(job);
	job = NULL;

	/* ---- a cancel releases a blocked emitter ---------------------------- */
	memset(&s, 0, sizeof(s));
	s.n = 10 * WINDOW;
	is_int(0, submit(wpool, &s, 1, &job), "another long stream is submitted");
	tap_wait_until(atomic_load(&s.emitted) == WINDOW, 10000);
	tap_sleep_ms(100);
	is_int(0, atomic_load(&s.returned), "it blocks on the full window");
	is_int(-EBUSY, evpool_job_cancel(job), "evpool_job_cancel() of it is -EBUSY");
	ok(tap_wait_until(atomic_load(&s.returned), 10000),
	   "the blocked evpool_ctx_emit() returns");
	is_int(-ECANCELED, atomic_load(&s.last_rc), "with -ECANCELED");
	tap_watchdog(30, "emit: after cancel");
	event_base_dispatch(base);
	is_int(WINDOW, s.delivered, "the %d partial results it did emit are still delivered", WINDOW);
	ok(s.completions == 1 && s.delivered_at_completion == WINDOW,
	   "before its one completion");
	is_int(0, s.out_of_order, "in order");
	evpool_job_unref(job);

	/* ---- emitting after the timeout ------------------------------------- */
	{
		struct evpool_job_spec spec;

		memset(&s, 0, sizeof(s));
		memset(&spec, 0, sizeof(spec));
		spec.fn = job_emit_late;
		spec.arg = &s;
		spec.done = cb_done;
		spec.emit = cb_emit;
		spec.done_arg = &s;
		spec.timeout_ms = 100;
		is_int(0, evpool_submit_job(wpool, &spec, NULL),
		       "a job that emits after its 100 ms timeout is submitted");
		tap_watchdog(30, "emit: after timeout");
		event_base_dispatch(base);
		ok(tap_wait_until(atomic_load(&s.returned), 10000), "it ran into its timeout");
		is_int(-ECANCELED, atomic_load(&s.last_rc),
		       "evpool_ctx_emit() after the timeout is -ECANCELED");
		ok(s.completions == 1 && s.status == -ETIMEDOUT && s.delivered == 0,
		   "the job completed once with -ETIMEDOUT and nothing was emitted");
	}

	tap_watchdog(20, "emit: evpool_free");
	evpool_free(wpool);
	evpool_config_free(cfg);
	event_base_free(base);
	return 0;
}

/*
 * deadline.c — deadlines that count from the submit, queue time included
 * (spec.deadline_ms, evpool_config_set_job_deadline()), beside the job
 * timeout that counts from the start, in thread and process mode: a job
 * still queued at its deadline completes -ETIMEDOUT without running (one
 * callback; stats: timed_out and expired), a running one is timed out as
 * today (thread: flagged, process: killed), a job in time succeeds, and
 * whichever limit passes first ends the job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

/* Shared with worker processes (mapped before any pool exists). */
static atomic_int *ran_p;
#define ran (*ran_p)

static int
job_sleep(struct evpool_ctx *ctx)
{
	size_t len;
	const int *ms = evpool_ctx_input(ctx, &len);
	double end = tap_now_ms() + *ms;

	atomic_fetch_add(&ran, 1);
	while (tap_now_ms() < end && !evpool_ctx_cancelled(ctx))
		tap_sleep_ms(1);
	return evpool_ctx_cancelled(ctx) ? -ECANCELED : 0;
}

#define MAXJ 8
static struct {
	int status;
	double at;
	int calls;
} res[MAXJ];
static double t0;

static void
on_done(struct evpool_job *job, void *arg)
{
	int i = (int)(intptr_t)arg;

	res[i].status = evpool_job_status(job);
	res[i].at = tap_now_ms() - t0;
	res[i].calls++;
}

static int
submit(struct evpool *pool, int i, int run_ms, int deadline_ms, int timeout_ms)
{
	struct evpool_job_spec spec = {
		.fn = job_sleep, .input = &run_ms, .input_len = sizeof(run_ms),
		.done = on_done, .done_arg = (void *)(intptr_t)i,
		.deadline_ms = deadline_ms, .timeout_ms = timeout_ms,
	};
	return evpool_submit_job(pool, &spec, NULL);
}

/* The counters move just after a completion is handed over: wait (1 s at
 * most) until they show what the callbacks saw. */
static void
stats_settle(struct evpool *pool, struct evpool_stats *st, uint64_t timed_out,
	     uint64_t completed)
{
	for (int i = 0; i < 1000; i++) {
		evpool_get_stats(pool, st);
		if (st->timed_out >= timed_out && st->completed >= completed)
			break;
		tap_sleep_ms(1);
	}
}

static void
run_mode(struct event_base *base, enum evpool_mode mode)
{
	const char *m = mode == EVPOOL_MODE_PROCESS ? "process" : "thread";
	unsigned slow = tap_slowdown();
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_stats st;

	evpool_config_set_mode(cfg, mode);
	evpool_config_set_workers(cfg, 1, 1);
	if (evpool_new(&pool, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());
	memset(res, 0, sizeof(res));
	atomic_store(&ran, 0);

	/* 0: a blocker of 400 ms; 1: queued behind it, 60 ms budget;
	 * 2: queued, budget long enough; 3: -1 (none) */
	t0 = tap_now_ms();
	is_int(0, submit(pool, 0, 400 * (int)slow, 0, 0), "%s: blocker submitted", m);
	tap_sleep_ms(20); /* it has started */
	submit(pool, 1, 10, 60, 0);
	submit(pool, 2, 10, 5000 * (int)slow, 0);
	submit(pool, 3, 10, -1, 0);
	event_base_dispatch(base);
	is_int(-ETIMEDOUT, res[1].status,
	       "%s: a job still queued at its deadline completes -ETIMEDOUT", m);
	ok(res[1].at < 300 * slow,
	   "%s: ... at its deadline, not when the blocker ends (%.0f ms)", m, res[1].at);
	is_int(3, atomic_load(&ran), "%s: it never ran (3 jobs of 4 ran)", m);
	ok(res[0].calls == 1 && res[1].calls == 1 && res[2].calls == 1 &&
		   res[3].calls == 1,
	   "%s: one completion callback each", m);
	ok(res[2].status == 0 && res[3].status == 0,
	   "%s: jobs within their deadline (or with none) succeed", m);
	stats_settle(pool, &st, 1, 3);
	ok(st.timed_out == 1 && st.expired == 1,
	   "%s: stats count it in timed_out and expired", m);

	/* a running job past its deadline: timed out as today */
	memset(res, 0, sizeof(res));
	t0 = tap_now_ms();
	submit(pool, 4, 3000, 80, 0);
	event_base_dispatch(base);
	is_int(-ETIMEDOUT, res[4].status,
	       "%s: a job running at its deadline completes -ETIMEDOUT", m);
	ok(res[4].at < 1500, "%s: ... near its deadline (%.0f ms)", m, res[4].at);
	stats_settle(pool, &st, 2, 3);
	if (st.timed_out != 2 || st.expired != 1) diag("timed_out %llu expired %llu ran %d", (unsigned long long)st.timed_out, (unsigned long long)st.expired, atomic_load(&ran));
	ok(st.timed_out == 2 && st.expired == 1,
	   "%s: counted in timed_out, not expired", m);

	/* both limits: the earlier one ends the job */
	memset(res, 0, sizeof(res));
	t0 = tap_now_ms();
	submit(pool, 5, 3000, 80, 2500);
	event_base_dispatch(base);
	ok(res[5].status == -ETIMEDOUT && res[5].at < 1500,
	   "%s: deadline 80 ms before timeout 2500 ms: the deadline ends it (%.0f ms)",
	   m, res[5].at);
	memset(res, 0, sizeof(res));
	t0 = tap_now_ms();
	submit(pool, 6, 3000, 2500, 80);
	event_base_dispatch(base);
	ok(res[6].status == -ETIMEDOUT && res[6].at < 1500,
	   "%s: timeout 80 ms before deadline 2500 ms: the timeout ends it (%.0f ms)",
	   m, res[6].at);

	is_int(-EINVAL, submit(pool, 7, 1, -2, 0), "%s: deadline_ms -2 is -EINVAL", m);
	evpool_free(pool);

	/* the pool default */
	evpool_config_set_job_deadline(cfg, 60);
	if (evpool_new(&pool, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());
	memset(res, 0, sizeof(res));
	t0 = tap_now_ms();
	submit(pool, 0, 400, -1, 0); /* no deadline: runs out its 400 ms */
	tap_sleep_ms(20);
	submit(pool, 1, 10, 0, 0);   /* the pool's 60 ms */
	event_base_dispatch(base);
	ok(res[0].status == 0 && res[1].status == -ETIMEDOUT && res[1].at < 300 * slow,
	   "%s: evpool_config_set_job_deadline() is the default, -1 opts out", m);
	evpool_free(pool);
	evpool_config_free(cfg);
}

int
main(void)
{
	struct event_base *base;
	struct evpool_config *cfg;

	plan(2 * 14 + 2);
	tap_watchdog(120, "t/deadline");
	ran_p = mmap(NULL, sizeof(*ran_p), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ran_p == MAP_FAILED)
		sysbail("mmap");
	base = event_base_new();
	run_mode(base, EVPOOL_MODE_PROCESS);
	run_mode(base, EVPOOL_MODE_THREAD);

	cfg = evpool_config_new();
	is_int(-EINVAL, evpool_config_set_job_deadline(cfg, 1u << 31),
	       "a deadline over 2^31 - 1 ms is -EINVAL");
	is_int(0, evpool_config_set_job_deadline(cfg, 0), "0 (none) is fine");
	evpool_config_free(cfg);
	event_base_free(base);
	return tap_failures() != 0;
}

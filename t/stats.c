/*
 * stats.c — evpool_get_stats(): the counters move as jobs succeed, fail, are
 * cancelled or time out, and balance (submitted = completed + failed +
 * cancelled + timed_out + crashed + unfinished); queued, running, peak_queued,
 * idle and busy workers are what the pool is doing; the call is cheap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

static atomic_int gate, started;

static int job_gated(struct evpool_ctx *ctx)
{
	double deadline = tap_now_ms() + 20000;

	atomic_fetch_add(&started, 1);
	while (!atomic_load(&gate) && !evpool_ctx_cancelled(ctx) &&
	       tap_now_ms() < deadline)
		tap_sleep_ms(1);
	return 0;
}

static int job_ok(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static int job_fail(struct evpool_ctx *ctx)
{
	(void)ctx;
	return -EIO;
}

static int job_libcode(struct evpool_ctx *ctx)
{
	(void)ctx;
	return EVPOOL_ECRASHED;
}

/* Runs until its timeout flags it. */
static int job_until_cancelled(struct evpool_ctx *ctx)
{
	double deadline = tap_now_ms() + 10000;

	while (!evpool_ctx_cancelled(ctx) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	return 0;
}

static int libcode_status;

static void cb_libcode(struct evpool_job *job, void *arg)
{
	(void)arg;
	libcode_status = evpool_job_status(job);
}

static struct evpool_stats get(struct evpool *p)
{
	struct evpool_stats st;

	memset(&st, 0xa5, sizeof(st));
	if (evpool_get_stats(p, &st) != 0)
		diag("evpool_get_stats failed");
	return st;
}

static long long finished(const struct evpool_stats *st)
{
	return (long long)(st->completed + st->failed + st->cancelled +
			   st->timed_out + st->crashed + st->lib_errors);
}


static int balances(const struct evpool_stats *st)
{
	long long rhs = finished(st) + (long long)(st->queued + st->running);

	if ((long long)st->submitted != rhs)
		diag("submitted %llu != finished %lld + queued %llu + running %llu",
		     (unsigned long long)st->submitted, finished(st),
		     (unsigned long long)st->queued, (unsigned long long)st->running);
	return (long long)st->submitted == rhs;
}

/* Nothing queued or running and every job counted.  A job is counted just
 * after its completion is handed to the loop, and a worker leaves `running`
 * after that, so right after the last callback the stats may lag a little. */
static int settled(struct evpool *p)
{
	struct evpool_stats st = get(p);

	return st.queued == 0 && st.running == 0 &&
	       (long long)st.submitted == finished(&st);
}

static int submit(struct evpool *p, evpool_fn fn, int timeout_ms, evpool_done_cb done,
		  struct evpool_job **jobp)
{
	struct evpool_job_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.fn = fn;
	spec.done = done;
	spec.timeout_ms = timeout_ms;
	return evpool_submit_job(p, &spec, jobp);
}

static void init_exit(void *arg)
{
	(void)arg;
	_exit(3);
}

/* Submits refused by a full queue are counted (rejected), and a pool's
 * verdict that a job could not run (EVPOOL_ESPAWN) is kept apart from the
 * jobs' own errors (lib_errors, not failed). */
static void service_stats(struct event_base *base)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *p;
	struct evpool_stats st;
	int r1, r2, r3;

	atomic_store(&gate, 0);
	atomic_store(&started, 0);
	evpool_config_set_workers(cfg, 0, 1);
	evpool_config_set_max_queued(cfg, 1);
	if (evpool_new(&p, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());
	r1 = submit(p, job_gated, 0, NULL, NULL);
	tap_wait_until(atomic_load(&started) > 0, 5000);
	r2 = submit(p, job_gated, 0, NULL, NULL);
	r3 = submit(p, job_gated, 0, NULL, NULL);
	st = get(p);
	if (r3 != -EAGAIN || st.rejected != 1)
		diag("r %d %d %d rejected %llu submitted %llu", r1, r2, r3,
		     (unsigned long long)st.rejected, (unsigned long long)st.submitted);
	ok(r1 == 0 && r2 == 0 && r3 == -EAGAIN && st.rejected == 1 &&
		   st.submitted == 2,
	   "a submit refused by a full queue counts in rejected, not submitted");
	atomic_store(&gate, 1);
	event_base_dispatch(base);
	evpool_free(p);

	evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
	evpool_config_set_max_queued(cfg, 0);
	evpool_config_set_initializer(cfg, init_exit, NULL, NULL);
	if (evpool_new(&p, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());
	r1 = evpool_submit_job(p, &(struct evpool_job_spec){ .fn = job_fail },
			       NULL);
	event_base_dispatch(base);
	tap_wait_until(settled(p), 5000);
	st = get(p);
	ok(r1 == 0 && st.lib_errors == 1 && st.failed == 0 && balances(&st),
	   "a job no worker could start counts in lib_errors, not failed (%llu, %llu)",
	   (unsigned long long)st.lib_errors, (unsigned long long)st.failed);
	evpool_free(p);
	evpool_config_free(cfg);
}

int main(void)
{
	struct event_base *base;
	struct evpool_config *cfg;
	struct evpool *pool = NULL, *p2 = NULL;
	struct evpool_stats st;
	struct evpool_job *c1 = NULL, *c2 = NULL;
	int i, rc;
	double t0, el;

	plan(40);
	tap_watchdog(60, "stats");
	if (!(base = event_base_new()))
		bail("event_base_new failed");
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 1);
	is_int(0, evpool_new(&pool, base, cfg), "a pool with one worker is made");
	evpool_config_free(cfg);
	if (pool == NULL)
		bail("no pool");

	/* ---- a fresh pool ------------------------------------------------------ */
	st = get(pool);
	ok(st.submitted == 0 && st.completed == 0 && st.failed == 0 && st.cancelled == 0 &&
		   st.timed_out == 0 && st.crashed == 0 && st.respawns == 0,
	   "a new pool's counters are all 0");
	ok(st.queued == 0 && st.running == 0 && st.peak_queued == 0,
	   "nothing is queued or running, and nothing ever was");
	ok(st.workers == 0 && st.idle_workers == 0 && st.busy_workers == 0,
	   "it has no workers yet");
	is_int(1, st.max_workers, "max_workers is 1");
	ok(st.reserved[0] == 0 && st.reserved[3] == 0 && st.rejected == 0 &&
		   st.lib_errors == 0 && st.expired == 0,
	   "the new and the reserved fields are zeroed");

	/* ---- while work waits ------------------------------------------------- */
	rc = submit(pool, job_gated, 0, NULL, NULL);
	ok(rc == 0 && tap_wait_until(atomic_load(&started) == 1, 10000),
	   "a blocking job runs");
	rc = 0;
	for (i = 0; i < 5; i++)
		rc |= submit(pool, job_ok, 0, NULL, NULL);
	is_int(0, rc, "5 jobs are queued behind it");
	st = get(pool);
	is_int(6, (long long)st.submitted, "submitted is 6");
	is_int(5, (long long)st.queued, "queued is 5");
	is_int(1, (long long)st.running, "running is 1");
	is_int(5, (long long)st.peak_queued, "peak_queued is 5");
	ok(st.workers == 1 && st.busy_workers == 1 && st.idle_workers == 0,
	   "1 worker, busy, none idle");
	ok(balances(&st), "the counters balance with 6 unfinished");
	atomic_store(&gate, 1);
	tap_watchdog(20, "stats: dispatch");
	event_base_dispatch(base);
	tap_wait_until(settled(pool), 10000);
	st = get(pool);
	is_int(6, (long long)st.completed, "afterwards completed is 6");
	ok(st.queued == 0 && st.running == 0, "nothing is queued or running");
	is_int(5, (long long)st.peak_queued, "peak_queued still remembers 5");
	ok(tap_wait_until((st = get(pool), st.idle_workers == st.workers &&
						   st.busy_workers == 0),
			  5000),
	   "the worker is counted idle again");
	ok(balances(&st), "the counters balance");

	/* ---- every kind of end -------------------------------------------------- */
	atomic_store(&gate, 0);
	atomic_store(&started, 0);
	rc = submit(pool, job_gated, 0, NULL, NULL);
	tap_wait_until(atomic_load(&started) == 1, 10000);
	for (i = 0; i < 4; i++)
		rc |= submit(pool, job_ok, 0, NULL, NULL);
	for (i = 0; i < 3; i++)
		rc |= submit(pool, job_fail, 0, NULL, NULL);
	rc |= submit(pool, job_ok, 0, NULL, &c1);
	rc |= submit(pool, job_ok, 0, NULL, &c2);
	rc |= submit(pool, job_until_cancelled, 50, NULL, NULL);
	rc |= submit(pool, job_libcode, 0, cb_libcode, NULL);
	is_int(0, rc, "a blocker, 4 good, 3 failing, 2 to cancel, 1 to time out and 1 odd job are submitted");
	ok(evpool_job_cancel(c1) == 0 && evpool_job_cancel(c2) == 0, "2 queued jobs are cancelled");
	evpool_job_unref(c1);
	evpool_job_unref(c2);
	atomic_store(&gate, 1);
	tap_watchdog(20, "stats: dispatch 2");
	event_base_dispatch(base);
	/* The timed-out job's thread may still be running it: wait for it. */
	tap_wait_until(settled(pool), 10000);
	st = get(pool);
	is_int(18, (long long)st.submitted, "submitted is 18");
	is_int(6 + 5, (long long)st.completed, "completed is 11 (the blocker and 4 good jobs more)");
	is_int(4, (long long)st.failed, "failed is 4: the 3 failing jobs and the one returning a library code");
	is_int(EVPOOL_ECRASHED, libcode_status,
	       "a thread job returning EVPOOL_ECRASHED fails with that code");
	is_int(2, (long long)st.cancelled, "cancelled is 2");
	is_int(1, (long long)st.timed_out, "timed_out is 1");
	is_int(0, (long long)st.crashed, "crashed is 0 (no worker process died)");
	is_int(0, (long long)st.respawns, "respawns is 0");
	ok(balances(&st), "submitted = completed + failed + cancelled + timed_out + crashed");
	is_int(11, (long long)st.peak_queued, "peak_queued is 11, the most that waited at once");

	/* ---- idle and busy with two workers -------------------------------------- */
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 2, 2);
	is_int(0, evpool_new(&p2, base, cfg), "a pool with 2 fixed workers is made");
	evpool_config_free(cfg);
	ok(tap_wait_until((st = get(p2), st.workers == 2 && st.idle_workers == 2 &&
						 st.busy_workers == 0),
			  5000),
	   "2 workers, both idle");
	atomic_store(&gate, 0);
	atomic_store(&started, 0);
	submit(p2, job_gated, 0, NULL, NULL);
	tap_wait_until(atomic_load(&started) == 1, 10000);
	st = get(p2);
	ok(st.busy_workers == 1 && st.idle_workers == 1 && st.running == 1,
	   "one job: 1 busy, 1 idle");
	submit(p2, job_gated, 0, NULL, NULL);
	tap_wait_until(atomic_load(&started) == 2, 10000);
	st = get(p2);
	ok(st.busy_workers == 2 && st.idle_workers == 0 && st.running == 2,
	   "two jobs: 2 busy, none idle");
	atomic_store(&gate, 1);
	event_base_dispatch(base);

	/* ---- cheap ------------------------------------------------------------- */
	t0 = tap_now_ms();
	for (i = 0; i < 100000; i++)
		evpool_get_stats(p2, &st);
	el = tap_now_ms() - t0;
	ok(el < 1000.0 * tap_slowdown(), "100 000 evpool_get_stats() calls took %.0f ms", el);

	/* ---- after a burst ----------------------------------------------------- */
	rc = 0;
	for (i = 0; i < 20000; i++)
		rc |= submit(p2, job_ok, 0, NULL, NULL);
	is_int(0, rc, "a burst of 20 000 jobs is submitted");
	tap_watchdog(30, "stats: burst");
	event_base_dispatch(base);
	tap_wait_until(settled(p2), 10000);
	st = get(p2);
	ok(st.submitted == 20002 && st.completed == 20002 && balances(&st),
	   "after it all 20 002 jobs are counted completed and the counters balance");

	tap_watchdog(20, "stats: evpool_free");
	evpool_free(p2);
	evpool_free(pool);
	tap_watchdog(30, "stats: service");
	service_stats(base);
	event_base_free(base);
	return 0;
}

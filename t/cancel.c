/*
 * cancel.c — cancellation and job timeouts in thread mode: a queued job
 * cancelled completes with -ECANCELED (once, without running); a running one
 * gets -EBUSY and sees its cancelled flag; a finished one gives -EALREADY;
 * evpool_cancel_all() counts; a job over its timeout completes with
 * -ETIMEDOUT at the deadline, sees its flag, and its late result is dropped.
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
static atomic_int gate, blocker_started;

struct rec {
	atomic_int ran, started, saw_cancel, returned;
	atomic_int calls, calls_off_loop;
	int status;		/* in the callback */
	int returned_at_callback;
	void *result;
	int has_bytes;
	int run_ms;		/* how long a slow job runs */
};

static int late_obj;

static int job_blocker(struct evpool_ctx *ctx)
{
	double deadline = tap_now_ms() + 20000;

	(void)ctx;
	atomic_store(&blocker_started, 1);
	while (!atomic_load(&gate) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	return 0;
}

static int job_mark(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);

	atomic_fetch_add(&r->ran, 1);
	evpool_ctx_set_result(ctx, &late_obj);
	return 0;
}

/* Runs until cancelled (up to 10 s); the job decides: -EINTR. */
static int job_cooperative(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);
	double deadline = tap_now_ms() + 10000;

	atomic_store(&r->started, 1);
	while (!evpool_ctx_cancelled(ctx) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	atomic_store(&r->saw_cancel, evpool_ctx_cancelled(ctx));
	atomic_store(&r->returned, 1);
	return atomic_load(&r->saw_cancel) ? -EINTR : 0;
}

/* Ignores cancellation for run_ms, then sets a (late) result. */
static int job_stubborn(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);
	double t0 = tap_now_ms();

	atomic_store(&r->started, 1);
	while (tap_now_ms() - t0 < r->run_ms) {
		if (evpool_ctx_cancelled(ctx))
			atomic_store(&r->saw_cancel, 1);
		tap_sleep_ms(2);
	}
	if (evpool_ctx_cancelled(ctx))
		atomic_store(&r->saw_cancel, 1);
	evpool_ctx_set_result(ctx, &late_obj);
	evpool_ctx_set_result_bytes(ctx, "late", 4);
	atomic_store(&r->returned, 1);
	return 0;
}

/* ---- cancel and timeout racing with the worker -------------------------- */
#define NRACE 3000
struct racer {
	atomic_int ran, calls;
	int status;
	int cancel_rc;		/* 1: not cancelled */
	int timeout_ms;
};
static struct racer racers[NRACE];

static int job_race(struct evpool_ctx *ctx)
{
	struct racer *r = evpool_ctx_arg(ctx);
	int i = (int)(r - racers);

	atomic_fetch_add(&r->ran, 1);
	if (i % 4)
		tap_sleep_ms(0.5 * (i % 4));
	return 0;
}

static void cb_race(struct evpool_job *job, void *arg)
{
	struct racer *r = arg;

	r->status = evpool_job_status(job);
	atomic_fetch_add(&r->calls, 1);
}

static void cb_rec(struct evpool_job *job, void *arg)
{
	struct rec *r = arg;

	if (!pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&r->calls_off_loop, 1);
	r->status = evpool_job_status(job);
	r->returned_at_callback = atomic_load(&r->returned);
	r->result = evpool_job_result(job);
	r->has_bytes = evpool_job_result_bytes(job, NULL) != NULL;
	atomic_fetch_add(&r->calls, 1);
}

static struct evpool *pool;
static struct event_base *base;

static int block(void)
{
	atomic_store(&gate, 0);
	atomic_store(&blocker_started, 0);
	if (evpool_submit(pool, job_blocker, NULL, NULL, NULL) != 0)
		return 0;
	return tap_wait_until(atomic_load(&blocker_started), 10000);
}

static int submit(struct evpool *p, evpool_fn fn, struct rec *r, int timeout_ms,
		  struct evpool_job **jobp)
{
	struct evpool_job_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.fn = fn;
	spec.arg = r;
	spec.done = cb_rec;
	spec.done_arg = r;
	spec.timeout_ms = timeout_ms;
	return evpool_submit_job(p, &spec, jobp);
}

static void dispatch(const char *what)
{
	tap_watchdog(30, what);
	event_base_dispatch(base);
}

static struct evpool_stats stats(struct evpool *p)
{
	struct evpool_stats st;

	memset(&st, 0, sizeof(st));
	evpool_get_stats(p, &st);
	return st;
}

int main(void)
{
	struct evpool_config *cfg;
	struct evpool *tpool = NULL;
	struct evpool_job *job = NULL;
	struct rec r, many[5];
	int i, rc, fails, all;

	plan(51);
	tap_watchdog(60, "cancel");
	main_tid = pthread_self();
	if (!(base = event_base_new()))
		bail("event_base_new failed");
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 1);
	is_int(0, evpool_new(&pool, base, cfg), "a pool with one worker is made");
	if (pool == NULL)
		bail("no pool");

	/* ---- a queued job ------------------------------------------------- */
	ok(block(), "a blocker holds the worker");
	memset(&r, 0, sizeof(r));
	is_int(0, submit(pool, job_mark, &r, 0, &job), "a job is queued behind it");
	is_int(0, evpool_job_cancel(job), "evpool_job_cancel() of the queued job is 0");
	is_int(-ECANCELED, evpool_job_get(job, 10000, NULL),
	       "the handle reports -ECANCELED without the worker");
	is_int(-EALREADY, evpool_job_cancel(job), "cancelling it again is -EALREADY");
	atomic_store(&gate, 1);
	dispatch("cancel: queued");
	is_int(1, atomic_load(&r.calls), "its completion callback ran exactly once");
	is_int(-ECANCELED, r.status, "with status -ECANCELED");
	is_int(0, atomic_load(&r.calls_off_loop), "on the loop thread");
	is_int(0, atomic_load(&r.ran), "the cancelled job never ran");
	is_int(0, evpool_job_successful(job), "evpool_job_successful() is 0");
	is_int(1, (long long)stats(pool).cancelled, "stats count 1 cancelled");
	evpool_job_unref(job);

	/* ---- a running job ------------------------------------------------ */
	memset(&r, 0, sizeof(r));
	is_int(0, submit(pool, job_cooperative, &r, 0, &job), "a cooperative job is submitted");
	ok(tap_wait_until(atomic_load(&r.started), 10000), "it runs");
	is_int(-EBUSY, evpool_job_cancel(job), "evpool_job_cancel() of the running job is -EBUSY");
	ok(tap_wait_until(atomic_load(&r.returned), 10000), "the job returned early");
	is_int(1, atomic_load(&r.saw_cancel), "because evpool_ctx_cancelled() became 1");
	dispatch("cancel: running");
	is_int(1, atomic_load(&r.calls), "its callback ran exactly once");
	is_int(-EINTR, r.status, "with the status the job chose (-EINTR)");
	is_int(-EALREADY, evpool_job_cancel(job), "cancelling it now is -EALREADY");
	evpool_job_unref(job);

	/* ---- finished but not yet delivered -------------------------------- */
	memset(&r, 0, sizeof(r));
	is_int(0, submit(pool, job_mark, &r, 0, &job), "a quick job is submitted");
	tap_wait_until(evpool_job_ready(job), 10000);
	is_int(-EALREADY, evpool_job_cancel(job),
	       "once it has finished (before delivery) a cancel is -EALREADY");
	dispatch("cancel: finished");
	ok(atomic_load(&r.calls) == 1 && r.status == 0 && r.result == &late_obj,
	   "and its completion still reports success with its result");
	evpool_job_unref(job);

	/* ---- cancel all -------------------------------------------------------- */
	ok(block(), "the worker is blocked again");
	memset(many, 0, sizeof(many));
	fails = 0;
	for (i = 0; i < 5; i++)
		fails += submit(pool, job_mark, &many[i], 0, NULL) != 0;
	is_int(0, fails, "5 jobs are queued");
	is_int(5, evpool_cancel_all(pool), "evpool_cancel_all() cancels the 5");
	is_int(0, evpool_cancel_all(pool), "a second evpool_cancel_all() finds none");
	atomic_store(&gate, 1);
	dispatch("cancel: cancel_all");
	all = 1;
	for (i = 0; i < 5; i++)
		if (atomic_load(&many[i].calls) != 1 || many[i].status != -ECANCELED ||
		    atomic_load(&many[i].ran) != 0)
			all = 0;
	ok(all, "each called back exactly once with -ECANCELED, without running");
	is_int(6, (long long)stats(pool).cancelled, "stats count 6 cancelled in all");

	/* ---- timeouts ----------------------------------------------------------- */
	memset(&r, 0, sizeof(r));
	r.run_ms = 600;
	is_int(0, submit(pool, job_stubborn, &r, 100, &job),
	       "a 600 ms job with a 100 ms timeout is submitted");
	dispatch("cancel: timeout");
	is_int(1, atomic_load(&r.calls), "its callback ran exactly once");
	is_int(-ETIMEDOUT, r.status, "with status -ETIMEDOUT");
	is_int(0, r.returned_at_callback,
	       "at the deadline, while the job was still running");
	ok(tap_wait_until(atomic_load(&r.returned), 10000), "the job ran to its end");
	is_int(1, atomic_load(&r.saw_cancel), "and saw its cancelled flag set");
	tap_sleep_ms(50);
	ok(evpool_job_result(job) == NULL && evpool_job_result_bytes(job, NULL) == NULL,
	   "its late result was discarded");
	is_int(-ETIMEDOUT, evpool_job_status(job), "and its status stays -ETIMEDOUT");
	tap_wait_until(stats(pool).timed_out >= 1, 5000);
	is_int(1, (long long)stats(pool).timed_out, "stats count 1 timed out");
	evpool_job_unref(job);
	job = NULL;

	/* The pool-wide default, and -1 to opt out of it. */
	evpool_config_set_job_timeout(cfg, 100);
	evpool_config_set_workers(cfg, 0, 2);
	is_int(0, evpool_new(&tpool, base, cfg), "a pool with a 100 ms job timeout is made");
	if (tpool == NULL)
		bail("no pool");
	memset(&r, 0, sizeof(r));
	r.run_ms = 400;
	is_int(0, submit(tpool, job_stubborn, &r, 0, NULL), "a 400 ms job is submitted to it");
	dispatch("cancel: pool timeout");
	ok(atomic_load(&r.calls) == 1 && r.status == -ETIMEDOUT,
	   "the pool's default timeout applies: -ETIMEDOUT, once");
	ok(tap_wait_until(atomic_load(&r.returned), 10000), "(the job ran out its time)");
	memset(&r, 0, sizeof(r));
	r.run_ms = 300;
	is_int(0, submit(tpool, job_stubborn, &r, -1, NULL),
	       "a 300 ms job with timeout_ms -1 is submitted to it");
	dispatch("cancel: no timeout");
	ok(atomic_load(&r.calls) == 1 && r.status == 0 && r.result == &late_obj &&
		   r.has_bytes && !atomic_load(&r.saw_cancel),
	   "timeout_ms -1 opts out: it completes with status 0 and its result");
	memset(&r, 0, sizeof(r));
	r.run_ms = 10;
	rc = submit(tpool, job_stubborn, &r, 5000, NULL);
	dispatch("cancel: in time");
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.status == 0 && r.result == &late_obj,
	   "a job that ends before its timeout keeps status 0 and its result");

	/* ---- races: cancels and 1 ms timeouts against running jobs ------------- */
	{
		struct evpool_job **h = calloc(NRACE, sizeof(*h));
		struct evpool_job_spec spec;
		struct evpool_stats st;
		int once = 0, bad_status = 0, bad_cancel = 0, ran_twice = 0;
		int n_queued = 0, n_busy = 0, n_already = 0, n_timedout = 0;

		if (h == NULL)
			bail("out of memory");
		fails = 0;
		for (i = 0; i < NRACE; i++) {
			memset(&spec, 0, sizeof(spec));
			spec.fn = job_race;
			spec.arg = &racers[i];
			spec.done = cb_race;
			spec.done_arg = &racers[i];
			racers[i].timeout_ms = (i % 3 == 1) ? 1 : -1;
			spec.timeout_ms = racers[i].timeout_ms;
			racers[i].cancel_rc = 1;
			fails += evpool_submit_job(tpool, &spec, &h[i]) != 0;
			/* Cancel jobs as workers pick them up, run them, finish. */
			if (i >= 2 && i % 4 == 0)
				racers[i - 1].cancel_rc = evpool_job_cancel(h[i - 1]);
			if (i >= 2 && i % 4 == 2)
				racers[i - 2].cancel_rc = evpool_job_cancel(h[i - 2]);
			if (i % 10 == 9)	/* keep the queue short */
				tap_wait_until(stats(tpool).queued <= 2, 2000);
		}
		is_int(0, fails, "%d jobs are submitted while earlier ones are cancelled, some with 1 ms timeouts",
		       NRACE);
		tap_watchdog(60, "cancel: races");
		event_base_dispatch(base);
		for (i = 0; i < NRACE; i++) {
			struct racer *r = &racers[i];
			int c = r->cancel_rc;

			n_queued += c == 0;
			n_busy += c == -EBUSY;
			n_already += c == -EALREADY;
			n_timedout += r->status == -ETIMEDOUT;
			once += atomic_load(&r->calls) == 1;
			ran_twice += atomic_load(&r->ran) > 1;
			if (c != 1 && c != 0 && c != -EBUSY && c != -EALREADY)
				bad_cancel++;
			if (c == 0 && (r->status != -ECANCELED || atomic_load(&r->ran) != 0))
				bad_status++;	/* cancelled while queued: never runs */
			else if (c != 0 && r->timeout_ms < 0 && r->status != 0)
				bad_status++;	/* no timeout, not cancelled in time */
			else if (c != 0 && r->timeout_ms > 0 && r->status != 0 &&
				 r->status != -ETIMEDOUT)
				bad_status++;
			evpool_job_unref(h[i]);
		}
		free(h);
		diag("cancels: %d queued, %d running, %d finished; %d timed out", n_queued,
		     n_busy, n_already, n_timedout);
		is_int(NRACE, once, "every one of them called back exactly once");
		is_int(0, ran_twice, "none ran twice");
		is_int(0, bad_cancel, "every cancel answered 0, -EBUSY or -EALREADY");
		is_int(0, bad_status,
		       "every status fits what happened (-ECANCELED without running, -ETIMEDOUT, or 0)");
		tap_wait_until((st = stats(tpool), st.running == 0 &&
				st.submitted == st.completed + st.failed + st.cancelled +
							st.timed_out + st.crashed),
			       10000);
		ok(st.submitted == st.completed + st.failed + st.cancelled + st.timed_out + st.crashed,
		   "the counters balance (submitted %llu)", (unsigned long long)st.submitted);
	}

	tap_watchdog(20, "cancel: evpool_free");
	evpool_free(tpool);
	evpool_free(pool);
	evpool_config_free(cfg);
	event_base_free(base);
	return 0;
}

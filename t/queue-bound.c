/*
 * queue-bound.c — max_queued: a submit that would overfill the queue fails at
 * once with -EAGAIN (and never calls back); with EVPOOL_SUBMIT_BLOCK a thread
 * that is not the loop's waits for room, or gives up with -ETIMEDOUT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"

#define MAXQ 3

static atomic_int gate, blocker_started, runs;
static atomic_int calls_ok, calls_refused;

static int job_blocker(struct evpool_ctx *ctx)
{
	double deadline = tap_now_ms() + 20000;

	(void)ctx;
	atomic_store(&blocker_started, 1);
	while (!atomic_load(&gate) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	atomic_fetch_add(&runs, 1);
	return 0;
}

static int job_count(struct evpool_ctx *ctx)
{
	(void)ctx;
	atomic_fetch_add(&runs, 1);
	return 0;
}

/* done_arg tells whether the submit was expected to succeed */
static void cb_done(struct evpool_job *job, void *arg)
{
	(void)job;
	if (arg != NULL)
		atomic_fetch_add(&calls_refused, 1);
	else
		atomic_fetch_add(&calls_ok, 1);
}

static struct evpool *pool;
static struct event_base *base;

static int submit(unsigned flags, int wait_ms, void *refused_marker)
{
	struct evpool_job_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.fn = job_count;
	spec.done = cb_done;
	spec.done_arg = refused_marker;
	spec.flags = flags;
	spec.wait_ms = wait_ms;
	return evpool_submit_job(pool, &spec, NULL);
}

struct blocked {
	int wait_ms;
	int rc;
	double ms;
	atomic_int done;
};

static void *thread_submit(void *arg)
{
	struct blocked *b = arg;
	double t0 = tap_now_ms();

	b->rc = submit(EVPOOL_SUBMIT_BLOCK, b->wait_ms, NULL);
	b->ms = tap_now_ms() - t0;
	atomic_store(&b->done, 1);
	return NULL;
}

/* Occupy the only worker and fill the queue. */
static int fill(void)
{
	int i, fails = 0;

	atomic_store(&gate, 0);
	atomic_store(&blocker_started, 0);
	if (evpool_submit(pool, job_blocker, NULL, cb_done, NULL) != 0)
		return 0;
	if (!tap_wait_until(atomic_load(&blocker_started), 10000))
		return 0;
	for (i = 0; i < MAXQ; i++)
		fails += submit(0, 0, NULL) != 0;
	return fails == 0;
}

int main(void)
{
	struct evpool_config *cfg;
	struct evpool_stats st;
	struct blocked b;
	pthread_t thr;
	int marker, rc;
	double t0, el;

	plan(29);
	tap_watchdog(60, "queue-bound");
	if (evthread_use_pthreads() != 0)
		bail("evthread_use_pthreads failed");
	if (!(base = event_base_new()))
		bail("event_base_new failed");
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 1);
	is_int(0, evpool_config_set_max_queued(cfg, MAXQ), "max_queued %d is set", MAXQ);
	is_int(0, evpool_new(&pool, base, cfg), "a pool with one worker is made");
	evpool_config_free(cfg);
	if (pool == NULL)
		bail("no pool");

	/* ---- try-submit -------------------------------------------------- */
	ok(fill(), "a blocker runs and %d jobs fill the queue", MAXQ);
	memset(&st, 0, sizeof(st));
	evpool_get_stats(pool, &st);
	is_int(MAXQ, (long long)st.queued, "stats show %d queued", MAXQ);
	t0 = tap_now_ms();
	rc = submit(0, 0, &marker);
	el = tap_now_ms() - t0;
	is_int(-EAGAIN, rc, "one more submit fails with -EAGAIN");
	ok(el < 1000, "at once (%.1f ms)", el);
	ok(evpool_errmsg()[0] != '\0', "evpool_errmsg() says why: \"%s\"", evpool_errmsg());
	is_int(-EAGAIN, evpool_submit(pool, job_count, NULL, cb_done, &marker),
	       "so does evpool_submit()");
	t0 = tap_now_ms();
	rc = submit(EVPOOL_SUBMIT_BLOCK, 0, &marker);
	el = tap_now_ms() - t0;
	ok(rc == -ETIMEDOUT || rc == -EAGAIN,
	   "a blocking submit with wait_ms 0 does not wait either (%s)", evpool_err_name(rc));
	ok(el < 1000, "it returned at once (%.1f ms)", el);

	/* ---- blocking submit that times out ------------------------------ */
	memset(&b, 0, sizeof(b));
	b.wait_ms = 150;
	pthread_create(&thr, NULL, thread_submit, &b);
	pthread_join(thr, NULL);
	is_int(-ETIMEDOUT, b.rc, "a blocking submit with wait_ms 150 on a full queue gives -ETIMEDOUT");
	ok(b.ms >= 140, "after waiting its 150 ms (%.0f ms)", b.ms);
	ok(b.ms < 5000, "and not much longer");

	/* ---- blocking submit that gets room ------------------------------- */
	memset(&b, 0, sizeof(b));
	b.wait_ms = -1;
	pthread_create(&thr, NULL, thread_submit, &b);
	tap_sleep_ms(200);
	is_int(0, atomic_load(&b.done), "a blocking submit without a timeout waits while the queue is full");
	atomic_store(&gate, 1);
	ok(tap_wait_until(atomic_load(&b.done), 10000),
	   "it returns once the worker takes a job and makes room");
	pthread_join(thr, NULL);
	is_int(0, b.rc, "and it succeeded");
	tap_watchdog(20, "queue-bound: dispatch");
	event_base_dispatch(base);
	is_int(1 + MAXQ + 1, atomic_load(&runs), "the blocker, the %d queued jobs and the waiting one ran", MAXQ);
	is_int(1 + MAXQ + 1, atomic_load(&calls_ok), "each of them called back");
	is_int(0, atomic_load(&calls_refused), "no refused submit ever called back");

	/* ---- a blocking submit with room does not wait ------------------- */
	memset(&b, 0, sizeof(b));
	b.wait_ms = 10000;
	pthread_create(&thr, NULL, thread_submit, &b);
	pthread_join(thr, NULL);
	ok(b.rc == 0 && b.ms < 1000,
	   "with room in the queue a blocking submit returns 0 at once (%.1f ms)", b.ms);
	event_base_dispatch(base);

	/* ---- the bound counts queued jobs only ----------------------------- */
	memset(&st, 0, sizeof(st));
	evpool_get_stats(pool, &st);
	is_int(MAXQ, (long long)st.peak_queued, "peak_queued never went above %d", MAXQ);
	ok(fill(), "with the worker busy the queue takes %d jobs again", MAXQ);
	is_int(-EAGAIN, submit(0, 0, &marker), "and refuses one more");
	atomic_store(&gate, 1);
	tap_watchdog(20, "queue-bound: dispatch 2");
	event_base_dispatch(base);
	is_int(0, atomic_load(&calls_refused), "still no refused submit called back");
	/* The worker leaves `running` just after handing over its completion. */
	tap_wait_until((evpool_get_stats(pool, &st), st.running == 0 && st.queued == 0), 10000);
	memset(&st, 0, sizeof(st));
	evpool_get_stats(pool, &st);
	is_int(2 * (1 + MAXQ) + 2, (long long)st.submitted,
	       "stats count only the accepted submits");
	ok(st.queued == 0 && st.running == 0, "the queue is empty again");

	/* ---- a blocked submit when the pool closes ----------------------------- */
	ok(fill(), "the queue is full once more");
	atomic_store(&calls_ok, 0);
	memset(&b, 0, sizeof(b));
	b.wait_ms = -1;
	pthread_create(&thr, NULL, thread_submit, &b);
	tap_sleep_ms(100);
	evpool_close(pool);
	tap_sleep_ms(50);
	atomic_store(&gate, 1);
	tap_watchdog(20, "queue-bound: blocked submit at close");
	pthread_join(thr, NULL);
	event_base_dispatch(base);
	ok(b.rc == -ESHUTDOWN || b.rc == 0,
	   "a submit blocked when the pool closes returns -ESHUTDOWN or 0 (%s)",
	   evpool_err_name(b.rc));
	is_int(1 + MAXQ + (b.rc == 0), atomic_load(&calls_ok),
	       "and it calls back once if it returned 0, never if it failed");

	tap_watchdog(20, "queue-bound: evpool_free");
	evpool_free(pool);
	event_base_free(base);
	return 0;
}

/*
 * future.c — job handles as futures: ready / successful / status before and
 * after the job finishes, wait and get with timeouts, use from other threads,
 * reference counting (a handle outlives its callback and its pool), and
 * waiting on the loop thread, which must deliver that loop's completions
 * instead of deadlocking.
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
#include "ignored.h"

static pthread_t main_tid;
static int result_obj = 7;

struct gated {
	atomic_int gate, started;
	atomic_int calls;
	atomic_int calls_off_loop;
};

static int job_gated(struct evpool_ctx *ctx)
{
	struct gated *g = evpool_ctx_arg(ctx);
	double deadline = tap_now_ms() + 20000;

	atomic_store(&g->started, 1);
	while (!atomic_load(&g->gate) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	evpool_ctx_set_result(ctx, &result_obj);
	evpool_ctx_set_result_bytes(ctx, "kept", 5);
	return 0;
}

static int job_fail(struct evpool_ctx *ctx)
{
	(void)ctx;
	return -EIO;
}

static void cb_count(struct evpool_job *job, void *arg)
{
	struct gated *g = arg;

	(void)job;
	if (!pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&g->calls_off_loop, 1);
	atomic_fetch_add(&g->calls, 1);
}

/* Another thread waits on the handle. */
struct waiter {
	struct evpool_job *job;
	int timeout_ms;
	int rc;
	void *result;
	atomic_int done;
};

static void *thread_get(void *arg)
{
	struct waiter *w = arg;

	w->rc = evpool_job_get(w->job, w->timeout_ms, &w->result);
	atomic_store(&w->done, 1);
	return NULL;
}

/* A callback that keeps its handle. */
static struct evpool_job *kept;

static void cb_keep(struct evpool_job *job, void *arg)
{
	(void)arg;
	kept = evpool_job_ref(job);
}

/* The deadlock trap: job C waits (on its worker) until the completion of
 * job D has been delivered, which only the loop thread can do.  Whoever
 * waits for C on the loop thread must deliver D meanwhile. */
struct trap {
	struct evpool *pool;
	atomic_int d_delivered;
	atomic_int d_off_loop;
	int submit_rc;
	int wait_rc;
	int d_during;		/* D delivered by the time the wait returned */
	double wait_ms;
};

static void cb_d(struct evpool_job *job, void *arg)
{
	struct trap *t = arg;

	(void)job;
	if (!pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&t->d_off_loop, 1);
	atomic_store(&t->d_delivered, 1);
}

static int job_nop(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static int job_wait_for_d(struct evpool_ctx *ctx)
{
	struct trap *t = evpool_ctx_arg(ctx);
	double deadline = tap_now_ms() + 3000;

	while (!atomic_load(&t->d_delivered) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	return atomic_load(&t->d_delivered) ? 0 : -ETIMEDOUT;
}

/* Submit D and C, then wait for C here. */
static void spring_trap(struct trap *t)
{
	struct evpool_job_spec spec;
	struct evpool_job *c = NULL;
	double t0;

	t->submit_rc = evpool_submit(t->pool, job_nop, NULL, cb_d, t);
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_wait_for_d;
	spec.arg = t;
	if (t->submit_rc == 0)
		t->submit_rc = evpool_submit_job(t->pool, &spec, &c);
	if (t->submit_rc != 0)
		return;
	t0 = tap_now_ms();
	t->wait_rc = evpool_job_get(c, 15000, NULL);
	t->wait_ms = tap_now_ms() - t0;
	t->d_during = atomic_load(&t->d_delivered);
	evpool_job_unref(c);
}

static void cb_spring(struct evpool_job *job, void *arg)
{
	(void)job;
	spring_trap(arg);
}

/* The same from a libevent timer callback on the loop thread. */
static void on_timer_spring(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	spring_trap(arg);
}

int main(void)
{
	struct event_base *base;
	struct evpool *pool = NULL;
	struct evpool_job *job = NULL, *fjob = NULL;
	struct evpool_job_spec spec;
	struct gated g;
	struct waiter w, w2;
	struct trap t;
	pthread_t thr, thr2;
	void *r;
	const char *b;
	size_t len;
	double t0, el;

	plan(54);
	tap_watchdog(60, "future");
	main_tid = pthread_self();
	if (!(base = event_base_new()))
		bail("event_base_new failed");
	is_int(0, evpool_new(&pool, base, NULL), "a pool is made");
	if (pool == NULL)
		bail("no pool");

	/* ---- before the job finishes ----------------------------------------- */
	memset(&g, 0, sizeof(g));
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_gated;
	spec.arg = &g;
	spec.done = cb_count;
	spec.done_arg = &g;
	is_int(0, evpool_submit_job(pool, &spec, &job), "a blocked job is submitted with a handle");
	if (job == NULL)
		bail("no handle");
	tap_wait_until(atomic_load(&g.started), 10000);
	is_int(0, evpool_job_ready(job), "evpool_job_ready() is 0 while it runs");
	is_int(EVPOOL_ENOTREADY, evpool_job_successful(job),
	       "evpool_job_successful() is EVPOOL_ENOTREADY before it is ready");
	is_int(EVPOOL_ENOTREADY, evpool_job_status(job),
	       "evpool_job_status() is EVPOOL_ENOTREADY before it is ready");
	is_int(-ETIMEDOUT, evpool_job_wait(job, 0), "evpool_job_wait(0) polls: -ETIMEDOUT");
	t0 = tap_now_ms();
	is_int(-ETIMEDOUT, evpool_job_wait(job, 100), "evpool_job_wait(100) times out: -ETIMEDOUT");
	el = tap_now_ms() - t0;
	ok(el >= 90, "after waiting its 100 ms (%.0f ms)", el);
	r = &r;
	t0 = tap_now_ms();
	is_int(EVPOOL_ENOTREADY, evpool_job_get(job, 100, &r),
	       "evpool_job_get(100) gives EVPOOL_ENOTREADY when the wait times out");
	el = tap_now_ms() - t0;
	ok(el >= 90, "after waiting its 100 ms (%.0f ms)", el);

	memset(&w, 0, sizeof(w));
	w.job = job;
	w.timeout_ms = 50;
	pthread_create(&thr, NULL, thread_get, &w);
	pthread_join(thr, NULL);
	is_int(EVPOOL_ENOTREADY, w.rc, "another thread's evpool_job_get(50) also times out");

	/* A thread waits for ever; the loop does not run meanwhile. */
	memset(&w2, 0, sizeof(w2));
	w2.job = job;
	w2.timeout_ms = -1;
	pthread_create(&thr2, NULL, thread_get, &w2);
	tap_sleep_ms(100);
	is_int(0, atomic_load(&w2.done), "a thread's evpool_job_get(-1) blocks while the job runs");
	atomic_store(&g.gate, 1);
	ok(tap_wait_until(atomic_load(&w2.done), 10000),
	   "and returns when the job finishes, without the loop running");
	pthread_join(thr2, NULL);
	is_int(0, w2.rc, "with the job's status (0)");
	ok(w2.result == &result_obj, "and its pointer result");

	/* ---- after ---------------------------------------------------------- */
	r = NULL;
	is_int(0, evpool_job_get(job, -1, &r), "evpool_job_get(-1) on this thread gives status 0");
	ok(r == &result_obj, "and the pointer result");
	is_int(0, evpool_job_get(job, 0, NULL), "evpool_job_get() accepts a NULL result pointer");
	is_int(1, evpool_job_ready(job), "evpool_job_ready() is 1");
	is_int(1, evpool_job_successful(job), "evpool_job_successful() is 1");
	is_int(0, evpool_job_status(job), "evpool_job_status() is 0");
	is_int(0, evpool_job_wait(job, 0), "evpool_job_wait(0) is 0 once it is ready");
	tap_watchdog(20, "future: dispatch");
	event_base_dispatch(base);
	is_int(1, atomic_load(&g.calls), "the completion callback ran once, on the loop");
	is_int(0, atomic_load(&g.calls_off_loop), "on the loop thread");
	ok(evpool_job_result(job) == &result_obj,
	   "the handle outlives the callback: the result is still there");
	len = 0;
	b = evpool_job_result_bytes(job, &len);
	ok(b != NULL && len == 5 && memcmp(b, "kept", 5) == 0,
	   "and so are the result bytes");
	is_int(-EALREADY, evpool_job_cancel(job), "cancelling the finished job is -EALREADY");
	evpool_job_unref(job);
	job = NULL;

	/* ---- a failed job through the future ---------------------------------- */
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_fail;
	is_int(0, evpool_submit_job(pool, &spec, &fjob), "a failing job is submitted");
	is_int(-EIO, evpool_job_get(fjob, 10000, NULL), "evpool_job_get() gives its error (-EIO)");
	is_int(0, evpool_job_successful(fjob), "evpool_job_successful() is 0");
	is_int(-EIO, evpool_job_status(fjob), "evpool_job_status() is -EIO");
	event_base_dispatch(base);
	evpool_job_unref(fjob);

	/* ---- a reference taken in the callback --------------------------------- */
	memset(&g, 0, sizeof(g));
	g.gate = 1;
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_gated;
	spec.arg = &g;
	spec.done = cb_keep;
	is_int(0, evpool_submit_job(pool, &spec, NULL), "a job without a caller handle is submitted");
	event_base_dispatch(base);
	ok(kept != NULL, "its callback took a reference with evpool_job_ref()");
	ok(kept && evpool_job_status(kept) == 0 && evpool_job_result(kept) == &result_obj,
	   "which is still valid after the callback returned");

	/* ---- waiting on the loop thread does not deadlock ---------------------- */
	memset(&t, 0, sizeof(t));
	t.pool = pool;
	is_int(0, evpool_submit(pool, job_nop, NULL, cb_spring, &t),
	       "a job whose callback waits for another job is submitted");
	tap_watchdog(30, "future: waiting inside a callback");
	event_base_dispatch(base);
	is_int(0, t.submit_rc, "the callback submitted both jobs");
	is_int(0, t.wait_rc,
	       "evpool_job_get() inside a callback returned the job that needed the loop");
	ok(t.d_during && atomic_load(&t.d_off_loop) == 0,
	   "because the wait delivered that loop's completion, on the loop thread");
	ok(t.wait_ms < 2500, "promptly (%.0f ms), not by the job's own timeout", t.wait_ms);

	memset(&t, 0, sizeof(t));
	t.pool = pool;
	tap_watchdog(30, "future: waiting on the loop thread");
	spring_trap(&t);
	is_int(0, t.submit_rc, "outside a callback, on the loop thread, both jobs are submitted");
	is_int(0, t.wait_rc,
	       "evpool_job_get() on the loop thread returned the job that needed the loop");
	ok(t.d_during && atomic_load(&t.d_off_loop) == 0,
	   "because it delivered the loop's completion meanwhile");
	event_base_dispatch(base);

	/* A fresh pool that has never delivered on this base, waited on from a
	 * timer callback: the thread runs the pool's base all the same. */
	{
		struct evpool *p2 = NULL;
		struct event *tev;
		struct timeval ms1 = { 0, 1000 };

		is_int(0, evpool_new(&p2, base, NULL), "a second pool on the same base is made");
		memset(&t, 0, sizeof(t));
		t.pool = p2;
		tev = evtimer_new(base, on_timer_spring, &t);
		evtimer_add(tev, &ms1);
		tap_watchdog(30, "future: waiting in a timer callback");
		event_base_dispatch(base);
		is_int(0, t.wait_rc,
		       "evpool_job_get() in a timer callback of the loop returned the job that "
		       "needed the loop (the pool had delivered nothing there before)");
		ok(t.d_during && atomic_load(&t.d_off_loop) == 0,
		   "because it delivered the loop's completion meanwhile, on the loop thread");
		event_free(tev);
		tap_watchdog(20, "future: evpool_free of the second pool");
		evpool_free(p2);
	}

	/* ---- a handle outlives its pool ------------------------------------ */
	memset(&g, 0, sizeof(g));
	g.gate = 1;
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_gated;
	spec.arg = &g;
	is_int(0, evpool_submit_job(pool, &spec, &job), "a last job is submitted with a handle");
	event_base_dispatch(base);
	tap_watchdog(20, "future: evpool_free");
	evpool_free(pool);
	is_int(0, evpool_job_status(job), "after evpool_free() the held handle still has its status");
	len = 0;
	b = evpool_job_result_bytes(job, &len);
	ok(b != NULL && len == 5 && memcmp(b, "kept", 5) == 0,
	   "and its result bytes");
	is_int(1, evpool_job_ready(job), "and is ready");
	{
		/* The handles pin what the future calls touch: the memory of a
		 * freed pool (ASan: no use after free). */
		struct evpool_job *both[2] = { job, kept };
		struct evpool_as_completed *ac = NULL;
		struct evpool_job *got;
		int n = 0;

		is_int(2, evpool_wait(both, 2, EVPOOL_ALL_COMPLETED, 0),
		       "evpool_wait() on handles that outlived their pool counts both");
		is_int(0, evpool_as_completed(both, 2, &ac),
		       "evpool_as_completed() on them works");
		while (ac && evpool_as_completed_next(ac, 0, &got) == 1)
			n++;
		is_int(2, n, "and yields both");
		evpool_as_completed_free(ac);
	}
	/* The last handles pin the freed pool's memory: dropping one leaves
	 * the other readable (ASan/valgrind would see a use after free). */
	evpool_job_unref(kept);
	len = 0;
	b = evpool_job_result_bytes(job, &len);
	ok(evpool_job_status(job) == 0 && b && len == 5 &&
	   memcmp(b, "kept", 5) == 0,
	   "after one held handle is released, the other still reads its status and bytes");
	IGNORES(evpool_job_unref(job),
		"releasing the last handle after the pool is gone");

	event_base_free(base);
	tap_watchdog(0, NULL);
	return 0;
}

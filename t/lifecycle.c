/*
 * lifecycle.c — close, join, terminate, shutdown and free, and whatever path
 * a pool takes to its end, every accepted job calls back exactly once.  Also
 * the pool-wide done/failed callbacks and submitting from inside a job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"

static pthread_t main_tid;
static struct event_base *base;

struct rec {
	atomic_int ran, started, saw_cancel;
	atomic_int calls;
	atomic_int off_thread;		/* callbacks not on expect_tid */
	atomic_int on_main;		/* callbacks on the main thread */
	pthread_t expect_tid;
	int status;
	atomic_int stage;		/* 1 after the job's own callback */
	atomic_int pool_cb_early;	/* pool callback before the job's */
};

#define NREC 32
static struct rec recs[NREC];

static void recs_reset(pthread_t expect)
{
	int i;

	memset(recs, 0, sizeof(recs));
	for (i = 0; i < NREC; i++)
		recs[i].expect_tid = expect;
}

static atomic_int gate;

/* Waits for the gate (or a cancel), up to 20 s. */
static int job_gated(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);
	double deadline = tap_now_ms() + 20000;

	atomic_store(&r->started, 1);
	while (!atomic_load(&gate) && !evpool_ctx_cancelled(ctx) &&
	       tap_now_ms() < deadline)
		tap_sleep_ms(1);
	atomic_store(&r->saw_cancel, evpool_ctx_cancelled(ctx));
	atomic_fetch_add(&r->ran, 1);
	return atomic_load(&r->saw_cancel) ? -EINTR : 0;
}

static int job_quick(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);

	atomic_store(&r->started, 1);
	atomic_fetch_add(&r->ran, 1);
	return 0;
}

static int job_sleep30(struct evpool_ctx *ctx)
{
	tap_sleep_ms(30);
	return job_quick(ctx);
}

static int job_fail(struct evpool_ctx *ctx)
{
	job_quick(ctx);
	return -EIO;
}

static void cb_rec(struct evpool_job *job, void *arg)
{
	struct rec *r = arg;

	if (!pthread_equal(pthread_self(), r->expect_tid))
		atomic_fetch_add(&r->off_thread, 1);
	if (pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&r->on_main, 1);
	r->status = evpool_job_status(job);
	atomic_store(&r->stage, 1);
	atomic_fetch_add(&r->calls, 1);
}

static int submit(struct evpool *p, evpool_fn fn, struct rec *r, struct evpool_job **jobp)
{
	struct evpool_job_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.fn = fn;
	spec.arg = r;
	spec.done = cb_rec;
	spec.done_arg = r;
	return evpool_submit_job(p, &spec, jobp);
}

static struct evpool *new_pool(unsigned max_workers)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *p = NULL;

	evpool_config_set_workers(cfg, 0, max_workers);
	if (evpool_new(&p, base, cfg) != 0 || p == NULL)
		bail("evpool_new failed");
	evpool_config_free(cfg);
	return p;
}

/* recs[0] gated (running), recs[1..n] queued behind it */
static int gated_plus_queued(struct evpool *p, int n)
{
	int i, fails = 0;

	atomic_store(&gate, 0);
	if (submit(p, job_gated, &recs[0], NULL) != 0)
		return 0;
	if (!tap_wait_until(atomic_load(&recs[0].started), 10000))
		return 0;
	for (i = 1; i <= n; i++)
		fails += submit(p, job_quick, &recs[i], NULL) != 0;
	return fails == 0;
}

/* Exactly once each, on the expected thread, for recs[from..to]. */
static int all_once(int from, int to)
{
	int i, never = 0, more = 0, elsewhere = 0, on_main = 0;

	for (i = from; i <= to; i++) {
		never += atomic_load(&recs[i].calls) == 0;
		more += atomic_load(&recs[i].calls) > 1;
		elsewhere += atomic_load(&recs[i].off_thread) != 0;
		on_main += atomic_load(&recs[i].on_main) != 0;
	}
	if (never + more + elsewhere)
		diag("of %d callbacks %d never ran, %d ran more than once, %d ran on "
		     "another thread (%d on the main thread)", to - from + 1, never,
		     more, elsewhere, on_main);
	return never + more + elsewhere == 0;
}

static int all_status(int from, int to, int status)
{
	int i, bad = 0;

	for (i = from; i <= to; i++)
		if (recs[i].status != status)
			bad++;
	return bad == 0;
}

static void dispatch(const char *what)
{
	tap_watchdog(30, what);
	event_base_dispatch(base);
}

/* ---- pool-wide callbacks -------------------------------------------------- */
static int pcb_marker;
static atomic_int pdone_n, pfailed_n, pcb_bad;

static void pool_done(struct evpool_job *job, void *arg)
{
	struct rec *r = evpool_job_arg(job);

	if (arg != &pcb_marker || evpool_job_status(job) != 0 ||
	    !pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&pcb_bad, 1);
	if (r && atomic_load(&r->stage) != 1)
		atomic_fetch_add(&r->pool_cb_early, 1);
	atomic_fetch_add(&pdone_n, 1);
}

static void pool_failed(struct evpool_job *job, void *arg)
{
	struct rec *r = evpool_job_arg(job);

	if (arg != &pcb_marker || evpool_job_status(job) == 0 ||
	    !pthread_equal(pthread_self(), main_tid))
		atomic_fetch_add(&pcb_bad, 1);
	if (r && atomic_load(&r->stage) != 1)
		atomic_fetch_add(&r->pool_cb_early, 1);
	atomic_fetch_add(&pfailed_n, 1);
}

/* ---- evpool_free() from a callback ---------------------------------------- */
static struct evpool *free_me;

static void cb_free_pool(struct evpool_job *job, void *arg)
{
	cb_rec(job, arg);
	if (free_me != NULL) {
		struct evpool *p = free_me;

		free_me = NULL;
		evpool_free(p);
	}
}

/* ---- blocking calls on the loop thread ---------------------------------- */
/* Job C waits (on its worker) until job D's completion has been delivered,
 * which only the loop thread can do.  A blocking call made on the loop
 * thread that waits for C must deliver D meanwhile, or it deadlocks. */
struct trap {
	struct evpool *pool;
	int use_terminate;
	atomic_int d_delivered;
	atomic_int c_started, c_saw_d;
	int submit_rc, call_rc;
	double call_ms;
};

static void cb_d(struct evpool_job *job, void *arg)
{
	struct trap *t = arg;

	(void)job;
	if (pthread_equal(pthread_self(), main_tid))
		atomic_store(&t->d_delivered, 1);
}

static int job_c(struct evpool_ctx *ctx)
{
	struct trap *t = evpool_ctx_arg(ctx);
	double deadline = tap_now_ms() + 8000;

	atomic_store(&t->c_started, 1);
	while (!atomic_load(&t->d_delivered) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	atomic_store(&t->c_saw_d, atomic_load(&t->d_delivered));
	return 0;
}

static void cb_spring(struct evpool_job *job, void *arg)
{
	struct trap *t = arg;
	double t0;

	(void)job;
	t->submit_rc = evpool_submit(t->pool, job_quick, &recs[30], cb_d, t);
	if (t->submit_rc == 0)
		t->submit_rc = evpool_submit(t->pool, job_c, t, NULL, NULL);
	if (t->submit_rc != 0)
		return;
	/* C must be running, or terminate would just cancel it. */
	tap_wait_until(atomic_load(&t->c_started), 5000);
	t0 = tap_now_ms();
	if (t->use_terminate) {
		t->call_rc = evpool_terminate(t->pool);
	} else {
		evpool_close(t->pool);
		t->call_rc = evpool_join(t->pool, 15000);
	}
	t->call_ms = tap_now_ms() - t0;
}

/* ---- a job that submits a job ------------------------------------------- */
static atomic_int nested_rc = 1;

static int job_nest(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);
	struct evpool *p = evpool_ctx_pool(ctx);

	atomic_store(&nested_rc, evpool_submit(p, job_sleep30, r + 1, cb_rec, r + 1));
	return job_quick(ctx);
}

/* ---- a loop run by another thread ----------------------------------------- */
struct loopthr {
	struct event_base *base;
	struct event *keepalive;
	pthread_t tid;
};

static void cb_noop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void cb_flag(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	atomic_store((atomic_int *)arg, 1);
}

/* Keeps the loop thread busy in a callback for 300 ms. */
static atomic_int busy_started;

static void cb_busy(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	atomic_store(&busy_started, 1);
	tap_sleep_ms(300);
}

static void *loop_main(void *arg)
{
	struct loopthr *l = arg;

	event_base_dispatch(l->base);
	return NULL;
}

int main(void)
{
	struct evpool *pool;
	struct evpool_config *cfg;
	struct evpool_job *job, *const sentinel = (struct evpool_job *)&job;
	struct evpool_job *handles[4];
	struct loopthr lt;
	struct timeval hour = { 3600, 0 };
	int i, rc, all;
	double t0, el;

	plan(80);
	tap_watchdog(60, "lifecycle");
	main_tid = pthread_self();
	if (evthread_use_pthreads() != 0)
		bail("evthread_use_pthreads failed");
	if (!(base = event_base_new()))
		bail("event_base_new failed");

	/* ---- close ---------------------------------------------------------- */
	pool = new_pool(1);
	recs_reset(main_tid);
	ok(gated_plus_queued(pool, 3), "a running job and 3 queued ones are submitted");
	is_int(0, evpool_close(pool), "evpool_close() succeeds");
	is_int(0, evpool_close(pool), "and is idempotent");
	is_int(-ESHUTDOWN, submit(pool, job_quick, &recs[10], NULL),
	       "evpool_submit_job() after close is -ESHUTDOWN");
	job = sentinel;
	is_int(-ESHUTDOWN, submit(pool, job_quick, &recs[11], &job),
	       "with a handle too");
	ok(job == sentinel, "and *jobp is left untouched");
	is_int(-ESHUTDOWN, evpool_submit(pool, job_quick, &recs[12], cb_rec, &recs[12]),
	       "evpool_submit() after close is -ESHUTDOWN");
	atomic_store(&gate, 1);
	dispatch("lifecycle: close");
	ok(all_once(0, 3), "the running and the 3 queued jobs still ran and called back once");
	ok(all_status(0, 3, 0), "all with status 0");
	ok(atomic_load(&recs[10].calls) + atomic_load(&recs[11].calls) +
			   atomic_load(&recs[12].calls) == 0 &&
		   atomic_load(&recs[10].ran) + atomic_load(&recs[11].ran) +
			   atomic_load(&recs[12].ran) == 0,
	   "the refused jobs never ran nor called back");
	/* (The last job counts as finished just after its completion is handed
	 * over, so do not poll with 0 here.) */
	is_int(0, evpool_join(pool, 5000), "evpool_join() of the drained, closed pool returns 0");
	evpool_free(pool);

	/* ---- join ------------------------------------------------------------- */
	pool = new_pool(1);
	recs_reset(main_tid);
	atomic_store(&gate, 0);
	rc = submit(pool, job_gated, &recs[0], &handles[0]);
	rc |= submit(pool, job_quick, &recs[1], &handles[1]);
	rc |= submit(pool, job_quick, &recs[2], &handles[2]);
	is_int(0, rc, "a blocked job and 2 more are submitted");
	is_int(-EINVAL, evpool_join(pool, 0), "evpool_join() before evpool_close() is -EINVAL");
	is_int(-EINVAL, evpool_join(pool, -1), "also when it would wait for ever");
	evpool_close(pool);
	t0 = tap_now_ms();
	is_int(-ETIMEDOUT, evpool_join(pool, 100), "evpool_join(100) times out while a job runs");
	el = tap_now_ms() - t0;
	ok(el >= 90, "after its 100 ms (%.0f ms)", el);
	atomic_store(&gate, 1);
	tap_watchdog(20, "lifecycle: join");
	is_int(0, evpool_join(pool, -1), "evpool_join(-1) returns 0 once all have finished");
	ok(evpool_job_ready(handles[0]) && evpool_job_ready(handles[1]) &&
		   evpool_job_ready(handles[2]),
	   "and then every job is ready");
	dispatch("lifecycle: after join");
	ok(all_once(0, 2), "each calls back once on the loop");
	for (i = 0; i < 3; i++)
		evpool_job_unref(handles[i]);
	evpool_free(pool);

	/* ---- terminate -------------------------------------------------------- */
	pool = new_pool(1);
	recs_reset(main_tid);
	ok(gated_plus_queued(pool, 3), "a running job and 3 queued ones are submitted");
	tap_watchdog(20, "lifecycle: terminate");
	is_int(0, evpool_terminate(pool), "evpool_terminate() returns 0");
	ok(atomic_load(&recs[0].ran) == 1 && atomic_load(&recs[0].saw_cancel) == 1,
	   "the running job saw its cancelled flag and finished before it returned");
	is_int(-ESHUTDOWN, submit(pool, job_quick, &recs[10], NULL),
	       "submits are refused after terminate");
	is_int(0, evpool_join(pool, 0), "evpool_join() after terminate is 0 at once");
	dispatch("lifecycle: after terminate");
	ok(all_once(0, 3), "all 4 call back exactly once");
	ok(all_status(1, 3, -ECANCELED), "the queued ones with -ECANCELED");
	is_int(0, atomic_load(&recs[1].ran) + atomic_load(&recs[2].ran) +
			  atomic_load(&recs[3].ran),
	       "without running");
	is_int(-EINTR, recs[0].status, "the running one with the status it chose");
	evpool_free(pool);

	/* ---- shutdown in time ------------------------------------------------ */
	pool = new_pool(2);
	recs_reset(main_tid);
	rc = 0;
	for (i = 0; i < 3; i++)
		rc |= submit(pool, job_sleep30, &recs[i], NULL);
	is_int(0, rc, "3 jobs of 30 ms are submitted");
	tap_watchdog(20, "lifecycle: shutdown");
	is_int(0, evpool_shutdown(pool, 10000), "evpool_shutdown(10 s) returns 0: all finished in time");
	is_int(3, atomic_load(&recs[0].ran) + atomic_load(&recs[1].ran) +
			  atomic_load(&recs[2].ran),
	       "all 3 ran");
	is_int(-ESHUTDOWN, submit(pool, job_quick, &recs[10], NULL), "the pool is closed");
	dispatch("lifecycle: after shutdown");
	ok(all_once(0, 2) && all_status(0, 2, 0), "each calls back once with status 0");
	evpool_free(pool);

	/* ---- shutdown out of time ------------------------------------------- */
	pool = new_pool(1);
	recs_reset(main_tid);
	ok(gated_plus_queued(pool, 3), "a running job and 3 queued ones are submitted");
	tap_watchdog(20, "lifecycle: shutdown timeout");
	t0 = tap_now_ms();
	is_int(-ETIMEDOUT, evpool_shutdown(pool, 100),
	       "evpool_shutdown(100) gives -ETIMEDOUT when the jobs do not finish in time");
	el = tap_now_ms() - t0;
	ok(el >= 90 && el < 5000, "after about its 100 ms (%.0f ms)", el);
	ok(tap_wait_until(atomic_load(&recs[0].ran) == 1, 10000) &&
		   atomic_load(&recs[0].saw_cancel) == 1,
	   "the running job was flagged cancelled");
	dispatch("lifecycle: after shutdown timeout");
	ok(all_once(0, 3), "all 4 call back exactly once");
	ok(all_status(1, 3, -ECANCELED), "the queued ones with -ECANCELED");
	evpool_free(pool);

	/* ---- free with work outstanding, loop never ran ---------------------- */
	pool = new_pool(1);
	recs_reset(main_tid);
	ok(gated_plus_queued(pool, 10), "a running job and 10 queued ones are submitted");
	tap_watchdog(20, "lifecycle: free with queued jobs");
	evpool_free(pool);
	ok(all_once(0, 10),
	   "evpool_free() delivered all 11 callbacks exactly once, in this thread");
	ok(all_status(1, 10, -ECANCELED), "the queued ones with -ECANCELED");
	is_int(0, atomic_load(&recs[5].ran), "without running them");
	t0 = tap_now_ms();
	rc = event_base_dispatch(base);
	el = tap_now_ms() - t0;
	ok(rc == 1 && el < 2000, "the freed pool left no event on the base");

	/* A base-less pool with completions nobody drained. */
	{
		struct evpool *dp = NULL;

		recs_reset(main_tid);
		is_int(0, evpool_new(&dp, NULL, NULL), "a base-less pool is made");
		rc = 0;
		for (i = 0; i < 5; i++) {
			handles[0] = NULL;
			rc |= submit(dp, job_quick, &recs[i], &handles[0]);
			evpool_job_wait(handles[0], 10000);
			evpool_job_unref(handles[0]);
		}
		is_int(0, rc, "5 jobs ran there and nobody drained their completions");
		tap_watchdog(20, "lifecycle: free of a base-less pool");
		evpool_free(dp);
		ok(all_once(0, 4), "evpool_free() delivered all 5 exactly once, in this thread");
	}

	/* ---- free from inside a completion callback -------------------------- */
	pool = new_pool(1);
	recs_reset(main_tid);
	atomic_store(&gate, 0);
	free_me = pool;
	rc = evpool_submit(pool, job_quick, &recs[0], cb_free_pool, &recs[0]);
	for (i = 1; i < 5; i++)
		rc |= submit(pool, job_gated, &recs[i], NULL);
	is_int(0, rc, "a job whose callback frees the pool is submitted, 4 more behind it");
	dispatch("lifecycle: free from a callback");
	ok(free_me == NULL, "the callback called evpool_free()");
	ok(all_once(0, 4), "every one of the 5 called back exactly once");
	atomic_store(&gate, 1);

	/* ---- free while another thread runs the loop -------------------------- */
	memset(&lt, 0, sizeof(lt));
	if (!(lt.base = event_base_new()))
		bail("event_base_new failed");
	lt.keepalive = event_new(lt.base, -1, 0, cb_noop, NULL);
	event_add(lt.keepalive, &hour);
	if (pthread_create(&lt.tid, NULL, loop_main, &lt) != 0)
		sysbail("pthread_create");
	pool = NULL;
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 2);
	is_int(0, evpool_new(&pool, lt.base, cfg), "a pool on a base run by another thread is made");
	evpool_config_free(cfg);
	{
		/* Until that loop has run once, the pool cannot know it is
		 * the loop's thread and evpool_free() delivers here (as
		 * documented); so let it run once first. */
		static atomic_int looped;

		event_base_once(lt.base, -1, EV_TIMEOUT, cb_flag, &looped, NULL);
		if (!tap_wait_until(atomic_load(&looped), 10000))
			bail("the loop thread never ran");
	}
	recs_reset(lt.tid);
	rc = 0;
	for (i = 0; i < 20; i++)
		rc |= submit(pool, job_sleep30, &recs[i], NULL);
	is_int(0, rc, "20 jobs are submitted to it from this thread");
	tap_watchdog(30, "lifecycle: free with a foreign loop");
	evpool_free(pool);
	ok(all_once(0, 19),
	   "evpool_free() returned after that loop delivered all 20 exactly once, on its thread");

	/* Again, while that loop is busy in a callback of its own: the pool
	 * has never delivered there yet, but the loop runs all the same. */
	{
		struct event *busy = event_new(lt.base, -1, 0, cb_busy, NULL);

		pool = NULL;
		is_int(0, evpool_new(&pool, lt.base, NULL),
		       "another pool on that base is made");
		recs_reset(lt.tid);
		atomic_store(&busy_started, 0);
		event_active(busy, 0, 0);
		tap_wait_until(atomic_load(&busy_started), 5000);
		rc = 0;
		for (i = 0; i < 5; i++)
			rc |= submit(pool, job_quick, &recs[i], NULL);
		tap_watchdog(30, "lifecycle: free with a busy foreign loop");
		evpool_free(pool);
		ok(rc == 0 && all_once(0, 4),
		   "evpool_free() of 5 jobs while that loop is busy waits for it: each "
		   "called back once, on the loop's thread");
		event_free(busy);
	}
	event_del(lt.keepalive);
	event_base_loopbreak(lt.base);
	pthread_join(lt.tid, NULL);
	event_free(lt.keepalive);
	event_base_free(lt.base);

	/* ---- pool-wide done / failed callbacks -------------------------------- */
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 1);
	is_int(0, evpool_config_set_callbacks(cfg, pool_done, pool_failed, &pcb_marker),
	       "pool-wide done and failed callbacks are set");
	pool = NULL;
	is_int(0, evpool_new(&pool, base, cfg), "a pool with them is made");
	evpool_config_free(cfg);
	recs_reset(main_tid);
	ok(gated_plus_queued(pool, 3), "a blocked job and 3 quick ones are submitted");
	rc = submit(pool, job_fail, &recs[4], NULL);
	rc |= submit(pool, job_fail, &recs[5], NULL);
	rc |= submit(pool, job_quick, &recs[6], &job);
	rc |= evpool_submit(pool, job_quick, &recs[7], NULL, NULL);
	is_int(0, rc, "2 failing jobs, 1 to cancel and 1 without a callback are submitted");
	is_int(0, evpool_job_cancel(job), "the last one is cancelled while queued");
	evpool_job_unref(job);
	atomic_store(&gate, 1);
	dispatch("lifecycle: pool callbacks");
	ok(all_once(0, 6), "all 7 jobs called back exactly once");
	is_int(5, atomic_load(&pdone_n),
	       "the pool's done callback ran for the 5 successes (one without its own callback)");
	is_int(3, atomic_load(&pfailed_n),
	       "its failed callback ran for the 2 failures and the cancelled one");
	is_int(0, atomic_load(&pcb_bad),
	       "with the pool's arg, the right status, on the loop thread");
	all = 0;
	for (i = 0; i <= 6; i++)
		all += atomic_load(&recs[i].pool_cb_early);
	is_int(0, all, "each after the job's own callback");
	evpool_free(pool);

	/* ---- join and terminate on the loop thread do not deadlock ---------- */
	for (i = 0; i < 2; i++) {
		struct trap t;
		const char *call = i ? "evpool_terminate()" : "evpool_join()";

		memset(&t, 0, sizeof(t));
		t.pool = new_pool(2);
		t.use_terminate = i;
		recs_reset(main_tid);
		is_int(0, evpool_submit(t.pool, job_quick, &recs[0], cb_spring, &t),
		       "a job whose callback calls %s is submitted", call);
		dispatch("lifecycle: blocking call on the loop thread");
		is_int(0, t.submit_rc, "the callback submitted a job that needs the loop");
		is_int(0, t.call_rc, "%s in the callback returned 0", call);
		ok(atomic_load(&t.c_saw_d) && t.call_ms < 7000,
		   "%s delivered the loop's completion while it waited (%.0f ms)", call,
		   t.call_ms);
		evpool_free(t.pool);
	}

	/* ---- a job that submits a job ---------------------------------------- */
	pool = new_pool(2);
	recs_reset(main_tid);
	is_int(0, submit(pool, job_nest, &recs[0], NULL), "a job that submits another is submitted");
	dispatch("lifecycle: nested submit");
	is_int(0, atomic_load(&nested_rc), "the submit from inside the job succeeded");
	ok(all_once(0, 1), "both called back exactly once on the loop thread");
	is_int(1, atomic_load(&recs[1].ran),
	       "the loop did not return before the inner job was delivered");
	evpool_free(pool);

	/* ---- host fork() while a thread pool works --------------------------- */
	pool = new_pool(1);
	recs_reset(main_tid);
	atomic_store(&gate, 0);
	ok(gated_plus_queued(pool, 2), "a running job and 2 queued ones are submitted");
	{
		pid_t pid = fork();
		int st = -1;
		bool reaped;

		if (pid == 0) {
			/* The pool's worker and its locks are the parent's:
			 * every call must refuse at once, none may block. */
			alarm(10);
			if (submit(pool, job_quick, &recs[9], NULL) != -ESHUTDOWN)
				_exit(2);
			if (evpool_close(pool) != -ESHUTDOWN ||
			    evpool_join(pool, -1) != -ESHUTDOWN ||
			    evpool_shutdown(pool, -1) != -ESHUTDOWN ||
			    evpool_cancel_all(pool) != -ESHUTDOWN)
				_exit(3);
			evpool_free(pool);
			_exit(0);
		}
		reaped = pid > 0 && waitpid(pid, &st, 0) == pid;
		ok(reaped && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "in a fork()ed child the inherited thread pool refuses submit,"
		   " close, join, shutdown, cancel_all with -ESHUTDOWN and"
		   " evpool_free() returns at once (status 0x%x)", (unsigned)st);
	}
	atomic_store(&gate, 1);
	dispatch("lifecycle: after a host fork");
	ok(all_once(0, 2), "... while in the parent all 3 jobs ran and were called back once");
	evpool_free(pool);

	event_base_free(base);
	tap_watchdog(0, NULL);
	return 0;
}

/*
 * multi.c — one pool serving two event_bases run by two threads, fed by four
 * submitting threads: 100 000 jobs all complete exactly once, each on the
 * thread of the base it was submitted for, and both loops return by
 * themselves once their work is done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"

#define NJOBS 100000
#define NSUBMITTERS 4
#define NBASES 2

struct loop {
	struct event_base *base;
	pthread_t tid;
	struct event *keepalive;	/* holds the loop until submitters end */
	struct event *release;		/* activated from main: drop keepalive */
	atomic_int delivered;
	int dispatch_rc;
	atomic_int returned;
};

struct rec {
	atomic_int calls;
	atomic_int ran;
	int base;		/* index of the base it was submitted for */
};

static struct loop loops[NBASES];
static struct rec *recs;
static struct evpool *pool;
static atomic_int wrong_thread, job_on_loop, bad_result, submit_fail;
static pthread_t submitter_tids[NSUBMITTERS];

static int job_mark(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);
	int i;

	for (i = 0; i < NBASES; i++)
		if (pthread_equal(pthread_self(), loops[i].tid))
			atomic_fetch_add(&job_on_loop, 1);
	atomic_fetch_add(&r->ran, 1);
	evpool_ctx_set_result(ctx, r);
	return 0;
}

static void cb_done(struct evpool_job *job, void *arg)
{
	struct rec *r = arg;

	if (!pthread_equal(pthread_self(), loops[r->base].tid))
		atomic_fetch_add(&wrong_thread, 1);
	if (evpool_job_status(job) != 0 || evpool_job_result(job) != r)
		atomic_fetch_add(&bad_result, 1);
	atomic_fetch_add(&r->calls, 1);
	atomic_fetch_add(&loops[r->base].delivered, 1);
}

static void cb_noop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void cb_release(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	event_del(l->keepalive);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;

	l->dispatch_rc = event_base_dispatch(l->base);
	atomic_store(&l->returned, 1);
	return NULL;
}

static void *submitter(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct evpool_job_spec spec;
	int i;

	for (i = id; i < NJOBS; i += NSUBMITTERS) {
		memset(&spec, 0, sizeof(spec));
		spec.fn = job_mark;
		spec.arg = &recs[i];
		spec.done = cb_done;
		spec.done_arg = &recs[i];
		spec.base = loops[recs[i].base].base;
		if (evpool_submit_job(pool, &spec, NULL) != 0)
			atomic_fetch_add(&submit_fail, 1);
	}
	return NULL;
}

int main(void)
{
	struct evpool_stats st;
	struct timeval hour = { 3600, 0 };
	int i, once, never, twice, ran_once;
	double t0;

	plan(15);
	tap_watchdog(120, "multi");

	if (evthread_use_pthreads() != 0)
		bail("evthread_use_pthreads failed");
	recs = calloc(NJOBS, sizeof(*recs));
	if (recs == NULL)
		bail("out of memory");
	for (i = 0; i < NJOBS; i++)
		recs[i].base = (i / 7) % NBASES;	/* mixed, not alternating */

	for (i = 0; i < NBASES; i++) {
		loops[i].base = event_base_new();
		if (loops[i].base == NULL)
			bail("event_base_new failed");
		loops[i].keepalive = event_new(loops[i].base, -1, 0, cb_noop, NULL);
		loops[i].release = event_new(loops[i].base, -1, 0, cb_release, &loops[i]);
		event_add(loops[i].keepalive, &hour);
	}
	is_int(0, evpool_new(&pool, NULL, NULL),
	       "one pool (without a default base) is made for both bases");
	if (pool == NULL)
		bail("no pool");

	for (i = 0; i < NBASES; i++)
		if (pthread_create(&loops[i].tid, NULL, loop_main, &loops[i]) != 0)
			sysbail("pthread_create");

	t0 = tap_now_ms();
	for (i = 0; i < NSUBMITTERS; i++)
		if (pthread_create(&submitter_tids[i], NULL, submitter,
				   (void *)(intptr_t)i) != 0)
			sysbail("pthread_create");
	for (i = 0; i < NSUBMITTERS; i++)
		pthread_join(submitter_tids[i], NULL);
	is_int(0, atomic_load(&submit_fail),
	       "%d threads submitted %d jobs without an error", NSUBMITTERS, NJOBS);

	/* Let the loops go: from now on only the pool keeps them running. */
	for (i = 0; i < NBASES; i++)
		event_active(loops[i].release, 0, 0);
	ok(tap_wait_until(atomic_load(&loops[0].returned) &&
				  atomic_load(&loops[1].returned),
			  60000 * tap_slowdown()),
	   "both loops returned by themselves once their work was done");
	for (i = 0; i < NBASES; i++)
		pthread_join(loops[i].tid, NULL);
	diag("%d jobs through 2 bases in %.0f ms", NJOBS, tap_now_ms() - t0);

	once = never = twice = ran_once = 0;
	for (i = 0; i < NJOBS; i++) {
		int c = atomic_load(&recs[i].calls);

		once += c == 1;
		never += c == 0;
		twice += c > 1;
		ran_once += atomic_load(&recs[i].ran) == 1;
	}
	is_int(NJOBS, once, "every one of the %d callbacks ran exactly once", NJOBS);
	is_int(0, never, "no callback was lost");
	is_int(0, twice, "no callback ran twice");
	is_int(NJOBS, ran_once, "every job ran exactly once");
	is_int(0, atomic_load(&wrong_thread),
	       "every callback ran on the thread of the base its job was submitted for");
	is_int(0, atomic_load(&job_on_loop), "no job ran on a loop thread");
	is_int(0, atomic_load(&bad_result), "every callback saw status 0 and its own result");
	{
		int want[NBASES] = { 0 };

		for (i = 0; i < NJOBS; i++)
			want[recs[i].base]++;
		is_int(want[0], atomic_load(&loops[0].delivered),
		       "base 1 delivered its %d jobs", want[0]);
		is_int(want[1], atomic_load(&loops[1].delivered),
		       "base 2 delivered its %d jobs", want[1]);
	}
	/* Workers count themselves out of `running` just after handing over
	 * a completion: give the last ones a moment. */
	tap_wait_until((evpool_get_stats(pool, &st), st.running == 0 && st.completed == NJOBS),
		       10000);
	memset(&st, 0, sizeof(st));
	evpool_get_stats(pool, &st);
	is_int(NJOBS, (long long)st.submitted, "stats count %d submitted", NJOBS);
	is_int(NJOBS, (long long)st.completed, "and %d completed", NJOBS);
	ok(st.queued == 0 && st.running == 0, "with nothing queued or running");

	tap_watchdog(30, "multi: evpool_free");
	evpool_free(pool);
	for (i = 0; i < NBASES; i++) {
		event_free(loops[i].keepalive);
		event_free(loops[i].release);
		event_base_free(loops[i].base);
	}
	free(recs);
	tap_watchdog(0, NULL);
	return 0;
}

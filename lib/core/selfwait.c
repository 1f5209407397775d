/*
 * selfwait.c — blocking calls made from a job of the same pool.
 *
 * DESIGN: a thread-mode job that calls a blocking call of its own pool can
 * wait for itself: evpool_free(), evpool_join(), evpool_terminate() and
 * evpool_shutdown() wait for every job, the job's own included; a wait on
 * its own job never ends; a wait on a job queued on its own queue never
 * ends when no worker is left to take it.  Each worker thread knows what it
 * is (evpool__tls_worker, set by worker_main()) and, in thread mode, the
 * job it runs (evpool__tls_job, set by thread_run()); a worker blocked in a
 * wait for a job still queued on its own queue counts in that queue's
 * nblocked (evpool__self_wait()): when every worker of a queue that cannot
 * grow waits so, nobody will ever run what they wait for.  (Other waits do
 * not count: what they wait for may end, and free their worker.)
 * evpool__self_deadlock() tells from those whether a wait could ever end;
 * the callers refuse with -EDEADLK (evpool_free() returns nothing: it does
 * nothing) and evpool_errmsg() says why.  Refusing, not deferring: a
 * deferred free would outlive the caller's idea of the pool, and a wait
 * that cannot end has no later to defer to.  Process-mode jobs run in
 * worker processes, where the pool is inherited and every call on it is
 * -ESHUTDOWN already.
 */
#include "core/evpool-internal.h"

#include <errno.h>

__thread struct evpool__worker *evpool__tls_worker;
__thread struct evpool_job *evpool__tls_job;

bool
evpool__self_deadlock(struct evpool *pool, struct evpool_job *job,
		      const char *fn)
{
	struct evpool__worker *w = evpool__tls_worker;
	struct evpool_queue *q;
	bool stuck;

	if (evpool__likely(!w) || w->q->pool != pool)
		return false;
	if (!job) {
		evpool__err(-EDEADLK,
			    "%s: called from a job of this pool, it would wait for that job itself; call it from the loop thread",
			    fn);
		return true;
	}
	if (job == evpool__tls_job) {
		evpool__err(-EDEADLK, "%s: a job cannot wait for itself", fn);
		return true;
	}
	q = evpool__job_queue(job);
	if (q != w->q)
		return false;
	pthread_mutex_lock(&q->mu);
	stuck = evpool__job_state(job, memory_order_acquire) == EVPOOL__QUEUED &&
		q->nworkers >= q->max_workers &&
		atomic_load(&q->nblocked) + 1 >= q->nworkers;
	pthread_mutex_unlock(&q->mu);
	if (stuck)
		evpool__err(-EDEADLK,
			    "%s: called from a job of this pool, it waits for a job queued behind it that no worker can take (all %u of the queue's workers wait)",
			    fn, q->max_workers);
	return stuck;
}

int
evpool__self_wait(struct evpool *pool, struct evpool_job *job,
		  const char *fn, bool (*done)(void *), void *arg,
		  int timeout_ms)
{
	struct evpool__worker *w = evpool__tls_worker;
	bool counted;
	int r;

	if (evpool__likely(!w) || w->q->pool != pool || !job)
		return evpool__pool_wait(pool, done, arg, timeout_ms);
	if (evpool__self_deadlock(pool, job, fn))
		return -EDEADLK;
	counted = job && evpool__job_queue(job) == w->q &&
		  evpool__job_state(job, memory_order_acquire) == EVPOOL__QUEUED;
	if (counted)
		atomic_fetch_add(&w->q->nblocked, 1);
	r = evpool__pool_wait(pool, done, arg, timeout_ms);
	if (counted)
		atomic_fetch_sub(&w->q->nblocked, 1);
	return r;
}

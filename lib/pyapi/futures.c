/*
 * futures.c — evpool_wait() and evpool_as_completed(): waiting on a set
 * of job handles, for one, all or the first failure, or taking them in the
 * order they finish.
 *
 * DESIGN: both are predicates over the jobs' states, waited for through the
 * pool's own wait (evpool__pool_wait(): woken by every job that finishes,
 * delivering the loop's completions meanwhile when called on a loop
 * thread).  No hook in the core is needed, so any job handle works: one
 * from evpool_submit_job(), evpool_apply_async(), evpool_results_submit().
 * The cost is a scan of the handles per wakeup, fine for the handfuls that
 * these calls are used with.  as_completed yields the jobs in the order it
 * sees them finish: those already finished first, in array order.  The
 * jobs must belong to one pool, whose wakeups we wait on.
 */
#include "pyapi/pyapi-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
check_jobs(const char *who, struct evpool_job *const *jobs, size_t n,
	   struct evpool **poolp)
{
	struct evpool *pool = NULL;

	if (n && !jobs)
		return evpool__err(-EINVAL, "%s: NULL jobs", who);
	for (size_t i = 0; i < n; i++) {
		if (!jobs[i])
			return evpool__err(-EINVAL, "%s: job %zu is NULL", who, i);
		if (pool && evpool__job_pool(jobs[i]) != pool)
			return evpool__err(-EINVAL,
					   "%s: the jobs belong to different pools",
					   who);
		pool = evpool__job_pool(jobs[i]);
	}
	*poolp = pool;
	return 0;
}

struct wait_for {
	struct evpool_job *const *jobs;
	size_t n;
	enum evpool_wait_for how;
	size_t done;
};

static bool
wait_met(void *arg)
{
	struct wait_for *w = arg;
	bool failed = false;

	w->done = 0;
	for (size_t i = 0; i < w->n; i++) {
		int st = evpool_job_status(w->jobs[i]);

		if (st == EVPOOL_ENOTREADY)
			continue;
		w->done++;
		if (st != 0)
			failed = true;
	}
	switch (w->how) {
	case EVPOOL_FIRST_COMPLETED:
		return w->done > 0 || w->n == 0;
	case EVPOOL_FIRST_EXCEPTION:
		return failed || w->done == w->n;
	default:
		return w->done == w->n;
	}
}

int
evpool_wait(struct evpool_job *const *jobs, size_t n, enum evpool_wait_for how,
	    int timeout_ms)
{
	struct wait_for w = { jobs, n, how, 0 };
	struct evpool *pool;
	int r;

	if (how != EVPOOL_FIRST_COMPLETED && how != EVPOOL_FIRST_EXCEPTION &&
	    how != EVPOOL_ALL_COMPLETED)
		return evpool__err(-EINVAL, "evpool_wait: unknown condition %d",
				   (int)how);
	if (timeout_ms < -1)
		return evpool__err(-EINVAL, "evpool_wait: timeout %d (use -1 for none)",
				   timeout_ms);
	r = check_jobs("evpool_wait", jobs, n, &pool);
	if (r < 0)
		return r;
	if (!wait_met(&w) && timeout_ms != 0)
		evpool__pool_wait(pool, wait_met, &w, timeout_ms);
	wait_met(&w);
	return (int)(w.done > INT32_MAX ? INT32_MAX : w.done);
}

/* ---- as_completed ------------------------------------------------------- */

struct evpool_as_completed {
	struct evpool *pool;		/* pinned; NULL if no job */
	size_t n, left;			/* jobs[0..left) not yielded yet */
	struct evpool_job *jobs[];	/* references */
};

int
evpool_as_completed(struct evpool_job *const *jobs, size_t n,
		    struct evpool_as_completed **acp)
{
	struct evpool_as_completed *ac;
	struct evpool *pool;
	int r;

	if (!acp)
		return evpool__err(-EINVAL, "evpool_as_completed: NULL iterator pointer");
	r = check_jobs("evpool_as_completed", jobs, n, &pool);
	if (r < 0)
		return r;
	if (n > (SIZE_MAX - sizeof(*ac)) / sizeof(ac->jobs[0]))
		return evpool__err(-ENOMEM, "evpool_as_completed: too many jobs");
	ac = malloc(sizeof(*ac) + n * sizeof(ac->jobs[0]));
	if (!ac)
		return evpool__err(-ENOMEM, "evpool_as_completed: out of memory");
	ac->pool = pool;
	ac->n = ac->left = n;
	for (size_t i = 0; i < n; i++)
		ac->jobs[i] = evpool__job_ref(jobs[i]);
	if (pool)
		evpool__pool_pin(pool);
	*acp = ac;
	return 0;
}

static bool
ac_any(void *arg)
{
	struct evpool_as_completed *ac = arg;

	for (size_t i = 0; i < ac->left; i++)
		if (evpool_job_ready(ac->jobs[i]))
			return true;
	return false;
}

int
evpool_as_completed_next(struct evpool_as_completed *ac, int timeout_ms,
			 struct evpool_job **jobp)
{
	uint64_t deadline;

	if (!ac || !jobp)
		return evpool__err(-EINVAL, "evpool_as_completed_next: NULL %s",
				   ac ? "job pointer" : "iterator");
	deadline = evpool__deadline_ns(timeout_ms);
	for (;;) {
		uint64_t now;

		if (ac->left == 0)
			return 0;
		for (size_t i = 0; i < ac->left; i++) {
			struct evpool_job *job = ac->jobs[i];

			if (!evpool_job_ready(job))
				continue;
			/* Move it behind the unyielded ones, keeping their
			 * order. */
			memmove(&ac->jobs[i], &ac->jobs[i + 1],
				(ac->left - i - 1) * sizeof(ac->jobs[0]));
			ac->jobs[--ac->left] = job;
			*jobp = job;
			return 1;
		}
		now = evpool__now_ns();
		if (timeout_ms == 0 || now >= deadline)
			return -ETIMEDOUT;
		evpool__pool_wait(ac->pool, ac_any, ac,
				  deadline == UINT64_MAX ? -1
				  : (int)((deadline - now + 999999) / 1000000));
	}
}

void
evpool_as_completed_free(struct evpool_as_completed *ac)
{
	if (!ac)
		return;
	for (size_t i = 0; i < ac->n; i++)
		evpool_job_unref(ac->jobs[i]);
	if (ac->pool)
		evpool__pool_unpin(ac->pool);
	free(ac);
}

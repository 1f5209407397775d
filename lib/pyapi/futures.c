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
 * jobs must belong to one pool, whose wakeups we wait on.  A job given
 * twice counts once (Python's sets; bpo-20367): both calls work on the
 * distinct jobs, in the order of their first appearance.  FIRST_EXCEPTION
 * ignores cancelled jobs, as CPython's does.
 */
#include "pyapi/pyapi-internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
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

struct job_pos {
	struct evpool_job *job;
	size_t i;
};

static int
job_pos_cmp(const void *a, const void *b)
{
	const struct job_pos *x = a, *y = b;
	uintptr_t p = (uintptr_t)x->job, q = (uintptr_t)y->job;

	if (p != q)
		return p < q ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The distinct jobs of @p jobs, in the order of their first appearance.
 * *@p outp is @p jobs itself when none repeats, else an array to free().
 * @return the number of distinct jobs, or -ENOMEM. */
static ptrdiff_t
distinct_jobs(const char *who, struct evpool_job *const *jobs, size_t n,
	      struct evpool_job *const **outp)
{
	struct evpool_job **out;
	struct job_pos *pos;
	bool *keep;
	size_t m = 0;

	*outp = jobs;
	if (n < 2)
		return (ptrdiff_t)n;
	if (n <= 32) {
		/* Few: compare pairs, no allocation unless one repeats. */
		bool dup = false;

		for (size_t i = 1; i < n && !dup; i++)
			for (size_t j = 0; j < i && !dup; j++)
				dup = jobs[i] == jobs[j];
		if (!dup)
			return (ptrdiff_t)n;
	}
	pos = malloc(n * sizeof(*pos));
	keep = calloc(n, sizeof(*keep));
	out = malloc(n * sizeof(*out));
	if (!pos || !keep || !out) {
		free(pos);
		free(keep);
		free(out);
		return evpool__err(-ENOMEM, "%s: out of memory", who);
	}
	for (size_t i = 0; i < n; i++)
		pos[i] = (struct job_pos){ jobs[i], i };
	qsort(pos, n, sizeof(*pos), job_pos_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || pos[i].job != pos[i - 1].job)
			keep[pos[i].i] = true;
	free(pos);
	for (size_t i = 0; i < n; i++)
		if (keep[i])
			out[m++] = jobs[i];
	free(keep);
	if (m == n) {
		free(out);
		return (ptrdiff_t)n;
	}
	*outp = out;
	return (ptrdiff_t)m;
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
		/* Python's FIRST_EXCEPTION: a cancelled future is not an
		 * exception.  A timeout is (the job did not give its result:
		 * pebble's futures raise TimeoutError). */
		if (st != 0 && st != -ECANCELED)
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
	struct evpool_job *const *uniq;
	struct evpool *pool;
	ptrdiff_t m;
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
	m = distinct_jobs("evpool_wait", jobs, n, &uniq);
	if (m < 0)
		return (int)m;
	w.jobs = uniq;
	w.n = (size_t)m;
	/* Even when the condition already holds (or with a zero timeout),
	 * on a base's thread this drains its mailbox once, so the callbacks of
	 * jobs already finished run before we return. */
	if (pool)	/* no jobs, no pool: nothing to wait for */
		evpool__pool_wait(pool, wait_met, &w, timeout_ms);
	wait_met(&w);
	if (uniq != jobs)
		free((void *)uniq);
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
	struct evpool_job *const *uniq;
	struct evpool *pool;
	ptrdiff_t m;
	int r;

	if (!acp)
		return evpool__err(-EINVAL, "evpool_as_completed: NULL iterator pointer");
	r = check_jobs("evpool_as_completed", jobs, n, &pool);
	if (r < 0)
		return r;
	if (n > (SIZE_MAX - sizeof(*ac)) / sizeof(ac->jobs[0]))
		return evpool__err(-ENOMEM, "evpool_as_completed: too many jobs");
	m = distinct_jobs("evpool_as_completed", jobs, n, &uniq);
	if (m < 0)
		return (int)m;
	ac = malloc(sizeof(*ac) + (size_t)m * sizeof(ac->jobs[0]));
	if (!ac) {
		if (uniq != jobs)
			free((void *)uniq);
		return evpool__err(-ENOMEM, "evpool_as_completed: out of memory");
	}
	ac->pool = pool;
	ac->n = ac->left = (size_t)m;
	for (size_t i = 0; i < (size_t)m; i++)
		ac->jobs[i] = evpool__job_ref(uniq[i]);
	if (uniq != jobs)
		free((void *)uniq);
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

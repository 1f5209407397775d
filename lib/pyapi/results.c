/*
 * results.c — results collections: finished results kept without
 * callbacks, in a done list and a failed list (evpool_results_*()).
 *
 * DESIGN: a results collection is two FIFO lists (done, failed) under one
 * mutex, plus a count of results still to come.  Its jobs are submitted
 * with a sink that moves the job's outcome into a node allocated at submit
 * time (the sink never allocates), so it works without a loop and from any
 * thread.  get() waits through the pool's wait (woken by every finished
 * job); a global sequence number keeps EVPOOL_RESULTS_ANY in finishing
 * order across the two lists.
 *
 * Lifetime: the user and every pending job hold a reference; the
 * collection pins the pool's memory, so it may outlive evpool_free().
 */
#include "pyapi/pyapi-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- results collections ------------------------------------------------ */

struct rc_node {
	struct rc_node *next;
	struct evpool_results *rc;	/* while pending: a reference */
	uint64_t seq;			/* finishing order */
	struct evpool_result r;
};

struct rc_list {
	struct rc_node *head, *tail;
	size_t n;
};

struct evpool_results {
	struct evpool *pool;		/* pinned */
	atomic_uint refs;
	pthread_mutex_t mu;
	struct rc_list done, failed;
	size_t pending;			/* results still to come */
	size_t next_index;		/* submission numbers */
	uint64_t next_seq;
	bool closed;			/* freed by its owner */
};

int
evpool_results_new(struct evpool *pool, struct evpool_results **rcp)
{
	struct evpool_results *rc;

	if (!pool || !rcp)
		return evpool__err(-EINVAL, "evpool_results_new: NULL %s",
				   pool ? "collection pointer" : "pool");
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return evpool__err(-ENOMEM, "evpool_results_new: out of memory");
	rc->pool = pool;
	atomic_init(&rc->refs, 1);
	pthread_mutex_init(&rc->mu, NULL);
	evpool__pool_pin(pool);
	*rcp = rc;
	return 0;
}

struct evpool *
evpool__results_pool(struct evpool_results *rc)
{
	return rc->pool;
}

void
evpool__results_ref(struct evpool_results *rc)
{
	atomic_fetch_add_explicit(&rc->refs, 1, memory_order_relaxed);
}

static void
list_free(struct rc_list *l)
{
	struct rc_node *n;

	while ((n = l->head) != NULL) {
		l->head = n->next;
		evpool_result_release(&n->r);
		free(n);
	}
	l->tail = NULL;
	l->n = 0;
}

void
evpool__results_unref(struct evpool_results *rc)
{
	struct evpool *pool;

	if (atomic_fetch_sub_explicit(&rc->refs, 1, memory_order_acq_rel) != 1)
		return;
	pool = rc->pool;
	list_free(&rc->done);
	list_free(&rc->failed);
	pthread_mutex_destroy(&rc->mu);
	free(rc);
	evpool__pool_unpin(pool);
}

void
evpool__results_expect(struct evpool_results *rc, size_t n)
{
	pthread_mutex_lock(&rc->mu);
	rc->pending += n;
	pthread_mutex_unlock(&rc->mu);
}

void
evpool__results_unexpect(struct evpool_results *rc, size_t n)
{
	pthread_mutex_lock(&rc->mu);
	rc->pending -= n;
	pthread_mutex_unlock(&rc->mu);
	evpool__pool_wake(rc->pool); /* a get() may now see -ESHUTDOWN */
}

/* Link @p n (its .r filled); the node's memory passes to the list. */
static void
rc_link(struct evpool_results *rc, struct rc_node *n)
{
	struct rc_list *l;

	pthread_mutex_lock(&rc->mu);
	rc->pending--;
	if (rc->closed) {
		pthread_mutex_unlock(&rc->mu);
		evpool_result_release(&n->r);
		free(n);
		return;
	}
	l = n->r.status == 0 ? &rc->done : &rc->failed;
	n->next = NULL;
	n->seq = rc->next_seq++;
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
	l->n++;
	pthread_mutex_unlock(&rc->mu);
}

void
evpool__results_add(struct evpool_results *rc, struct evpool_result *res)
{
	struct rc_node *n = malloc(sizeof(*n));

	if (!n) { /* the result is lost; say so in the count at least */
		evpool_result_release(res);
		pthread_mutex_lock(&rc->mu);
		rc->pending--;
		pthread_mutex_unlock(&rc->mu);
		return;
	}
	n->rc = rc;
	n->r = *res;
	rc_link(rc, n);
}

/* The sink of a job submitted into a collection: done_arg is its node. */
static void
rc_sink(struct evpool_job *job)
{
	struct rc_node *n = job->done_arg;
	struct evpool_results *rc = n->rc;

	memset(&n->r, 0, sizeof(n->r));
	evpool__result_take(&n->r, job); /* an internal handle reads nothing */
	n->r.index = (size_t)n->seq; /* the submission number, see below */
	rc_link(rc, n);
	evpool__sink_release(job);
	evpool__results_unref(rc);
}

/* Submit @p spec into @p rc.  The node carries the submission number in
 * .seq until the sink moves it to .index. */
int
evpool__results_submit_spec(struct evpool_results *rc,
			    const struct evpool_job_spec *spec,
			    struct evpool_job **jobp)
{
	struct evpool_job_spec s = *spec;
	struct rc_node *n = malloc(sizeof(*n));
	int r;

	if (!n)
		return evpool__err(-ENOMEM, "results: out of memory");
	n->rc = rc;
	pthread_mutex_lock(&rc->mu);
	n->seq = rc->next_index++;
	rc->pending++;
	pthread_mutex_unlock(&rc->mu);
	evpool__results_ref(rc);
	s.done_arg = n;
	r = evpool__submit(rc->pool, &s, rc_sink, jobp);
	if (r < 0) {
		pthread_mutex_lock(&rc->mu);
		if (rc->next_index == n->seq + 1)
			rc->next_index--; /* a refused job takes no number */
		pthread_mutex_unlock(&rc->mu);
		free(n);
		evpool__results_unexpect(rc, 1);
		evpool__results_unref(rc);
	}
	return r;
}

int
evpool_results_submit(struct evpool_results *rc,
		      const struct evpool_job_spec *spec,
		      struct evpool_job **jobp)
{
	if (!rc || !spec)
		return evpool__err(-EINVAL, "evpool_results_submit: NULL %s",
				   rc ? "spec" : "collection");
	if (spec->done || spec->emit)
		return evpool__err(-EINVAL,
				   "evpool_results_submit: a job of a results collection takes no callback");
	return evpool__err_as(evpool__results_submit_spec(rc, spec, jobp),
			      "evpool_results_submit");
}

/* Pop the oldest result of kind @p which (rc->mu held). */
static bool
rc_take(struct evpool_results *rc, unsigned which, struct evpool_result *res)
{
	struct rc_list *l;
	struct rc_node *n;

	if (which == EVPOOL_RESULTS_DONE)
		l = &rc->done;
	else if (which == EVPOOL_RESULTS_FAILED)
		l = &rc->failed;
	else if (!rc->done.head)
		l = &rc->failed;
	else if (!rc->failed.head)
		l = &rc->done;
	else
		l = rc->done.head->seq < rc->failed.head->seq ? &rc->done
							      : &rc->failed;
	n = l->head;
	if (!n)
		return false;
	l->head = n->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	*res = n->r;
	free(n);
	return true;
}

static bool
rc_has(struct evpool_results *rc, unsigned which)
{
	return ((which & EVPOOL_RESULTS_DONE) && rc->done.head) ||
	       ((which & EVPOOL_RESULTS_FAILED) && rc->failed.head);
}

struct rc_wait {
	struct evpool_results *rc;
	unsigned which;
};

/* Something to take, or nothing can ever come. */
static bool
rc_wait_pred(void *arg)
{
	struct rc_wait *w = arg;
	bool r;

	pthread_mutex_lock(&w->rc->mu);
	r = rc_has(w->rc, w->which) ||
	    (w->rc->pending == 0 && atomic_load(&w->rc->pool->closed));
	pthread_mutex_unlock(&w->rc->mu);
	return r;
}

int
evpool_results_get(struct evpool_results *rc, unsigned which, int timeout_ms,
		   struct evpool_result *res)
{
	struct rc_wait w = { rc, which };
	uint64_t deadline;

	if (!rc || !res)
		return evpool__err(-EINVAL, "evpool_results_get: NULL %s",
				   rc ? "result" : "collection");
	if (which < EVPOOL_RESULTS_DONE || which > EVPOOL_RESULTS_ANY)
		return evpool__err(-EINVAL, "evpool_results_get: unknown kind %u",
				   which);
	if (timeout_ms < -1)
		return evpool__err(-EINVAL, "evpool_results_get: timeout %d (use -1 for none)",
				   timeout_ms);
	memset(res, 0, sizeof(*res));
	deadline = evpool__deadline_ns(timeout_ms);
	for (;;) {
		bool none_can_come;
		uint64_t now;

		pthread_mutex_lock(&rc->mu);
		if (rc_take(rc, which, res)) {
			pthread_mutex_unlock(&rc->mu);
			return 0;
		}
		none_can_come = rc->pending == 0 && atomic_load(&rc->pool->closed);
		pthread_mutex_unlock(&rc->mu);
		if (none_can_come)
			return evpool__err(-ESHUTDOWN,
					   "evpool_results_get: nothing there, nothing pending, and the pool is closed");
		if (timeout_ms == 0)
			return -EAGAIN;
		now = evpool__now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		evpool__pool_wait(rc->pool, rc_wait_pred, &w,
				  deadline == UINT64_MAX ? -1
				  : (int)((deadline - now + 999999) / 1000000));
	}
}

size_t
evpool_results_count(const struct evpool_results *rc, unsigned which)
{
	struct evpool_results *m = (struct evpool_results *)rc;
	size_t n = 0;

	if (!rc)
		return 0;
	pthread_mutex_lock(&m->mu);
	if (which & EVPOOL_RESULTS_DONE)
		n += m->done.n;
	if (which & EVPOOL_RESULTS_FAILED)
		n += m->failed.n;
	pthread_mutex_unlock(&m->mu);
	return n;
}

size_t
evpool_results_pending(const struct evpool_results *rc)
{
	struct evpool_results *m = (struct evpool_results *)rc;
	size_t n;

	if (!rc)
		return 0;
	pthread_mutex_lock(&m->mu);
	n = m->pending;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void
evpool_results_free(struct evpool_results *rc)
{
	if (!rc)
		return;
	pthread_mutex_lock(&rc->mu);
	rc->closed = true;
	list_free(&rc->done);
	list_free(&rc->failed);
	pthread_mutex_unlock(&rc->mu);
	evpool__results_unref(rc);
}

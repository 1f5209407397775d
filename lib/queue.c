/*
 * queue.c — a queue of jobs waiting for a worker, with priorities.
 *
 * DESIGN: a queue keeps one FIFO list per priority value in use, in an array
 * sorted from the highest priority down.  Most programs use one or two
 * priorities, so push and pop are O(1) in practice (a short scan of the
 * array) and FIFO order among equal priorities holds by construction — no
 * sequence numbers, no heap.  Lists are singly linked (a job is 64 bytes,
 * see evpool-internal.h): a cancelled job stays in its list, no longer
 * counted as queued and holding a reference, until a pop drops it, so a
 * cancel is O(1) too.  Every queue has its own mutex, its own workers and its own
 * limits: the pool's default queue is one, named queues are more, and a
 * queue whose jobs all block cannot hold up another queue's jobs.
 */
#include "evpool-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
evpool__queue_new(struct evpool *pool, const char *name, unsigned min_workers,
		  unsigned max_workers, struct evpool_queue **qp)
{
	struct evpool_queue *q = evpool__zalloc_lines(sizeof(*q));

	if (!q)
		return evpool__err(-ENOMEM, "queue: out of memory");
	q->pool = pool;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->min_workers = min_workers;
	q->max_workers = max_workers;
	q->max_queued = pool->cfg.max_queued;
	q->idle_timeout_ms = pool->cfg.idle_timeout_ms;
	q->default_fn = pool->cfg.default_fn;
	q->caplevels = 4;
	q->levels = calloc(q->caplevels, sizeof(*q->levels));
	if (!q->levels) {
		free(q);
		return evpool__err(-ENOMEM, "queue: out of memory");
	}
	evpool__mutex_init_hot(&q->mu);
	evpool__cond_init(&q->work_cv);
	evpool__cond_init(&q->room_cv);
	*qp = q;
	return 0;
}

void
evpool__queue_free(struct evpool_queue *q)
{
	evpool__queue_results_free(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->work_cv);
	pthread_cond_destroy(&q->room_cv);
	free(q->levels);
	free(q);
}

/* The level for @p prio, made if missing.  NULL: out of memory. */
static struct evpool__level *
level_get(struct evpool_queue *q, int prio)
{
	unsigned i;

	for (i = 0; i < q->nlevels; i++) {
		if (q->levels[i].prio == prio)
			return &q->levels[i];
		if (q->levels[i].prio < prio)
			break;
	}
	if (q->nlevels == q->caplevels) {
		unsigned cap = q->caplevels * 2;
		struct evpool__level *l = realloc(q->levels, cap * sizeof(*l));
		if (!l)
			return NULL;
		q->levels = l;
		q->caplevels = cap;
	}
	memmove(&q->levels[i + 1], &q->levels[i],
		(q->nlevels - i) * sizeof(*q->levels));
	q->nlevels++;
	q->levels[i].prio = prio;
	q->levels[i].head = q->levels[i].tail = NULL;
	return &q->levels[i];
}

/* Drop an empty level, keeping one so the common case never reallocates. */
static bool
level_trim(struct evpool_queue *q, struct evpool__level *l)
{
	unsigned i = (unsigned)(l - q->levels);

	if (l->head || q->nlevels == 1)
		return false;
	memmove(&q->levels[i], &q->levels[i + 1],
		(q->nlevels - i - 1) * sizeof(*q->levels));
	q->nlevels--;
	return true;
}

void
evpool__queue_note_peak(struct evpool_queue *q)
{
	struct evpool *pool = q->pool;
	size_t n = evpool__queue_len(q);
	uint_fast64_t peak;

	/* A submit that finds the queue full counts itself in nin for a
	 * moment before it backs out: never report more than the limit. */
	if (q->max_queued && n > q->max_queued)
		n = q->max_queued;
	peak = atomic_load_explicit(&pool->peak_queued, memory_order_relaxed);
	while (n > peak && !atomic_compare_exchange_weak_explicit(
			       &pool->peak_queued, &peak, n,
			       memory_order_relaxed, memory_order_relaxed))
		;
}

/* Take a place in nin if the queue has room.  Only a bounded queue reads
 * the workers' nout: an unbounded one writes its own line alone. */
static bool
reserve_once(struct evpool_queue *q)
{
	size_t in = atomic_fetch_add_explicit(&q->nin, 1, memory_order_relaxed);

	if (evpool__likely(!q->max_queued) ||
	    in - atomic_load_explicit(&q->nout, memory_order_acquire) <
		    q->max_queued)
		return true;
	atomic_fetch_sub_explicit(&q->nin, 1, memory_order_relaxed);
	return false;
}

int
evpool__queue_reserve(struct evpool_queue *q, unsigned flags, int wait_ms)
{
	struct evpool *pool = q->pool;
	uint64_t deadline;
	int r = 0;

	if (evpool__likely(reserve_once(q)))
		return 0;
	if (!(flags & EVPOOL_SUBMIT_BLOCK))
		return evpool__err(-EAGAIN, "evpool_submit: queue '%s' is full (%zu jobs)",
				   q->name, q->max_queued);
	deadline = evpool__deadline_ns(wait_ms);
	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (reserve_once(q))
			break;
		if (atomic_load(&pool->closed)) {
			r = evpool__err(-ESHUTDOWN,
					"evpool_submit: the pool was closed while waiting");
			break;
		}
		q->nroom_waiters++;
		r = evpool__cond_wait(&q->room_cv, &q->mu, deadline);
		q->nroom_waiters--;
		if (r == ETIMEDOUT) {
			if (reserve_once(q)) {
				r = 0;
				break;
			}
			r = evpool__err(-ETIMEDOUT,
					"evpool_submit: queue '%s' stayed full for %d ms",
					q->name, wait_ms);
			break;
		}
		r = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return r;
}

void
evpool__queue_push(struct evpool_queue *q, struct evpool_job *job)
{
	struct evpool_job *old;

	old = atomic_load_explicit(&q->intake, memory_order_relaxed);
	do
		job->qnext = old;
	while (!atomic_compare_exchange_weak_explicit(
		&q->intake, &old, job, memory_order_seq_cst,
		memory_order_relaxed));
}

int
evpool__queue_wake(struct evpool_queue *q)
{
	unsigned nw;
	int r;

	/* seq_cst pairs with the worker's nsleeping++ then intake check.  A
	 * sleeper with a signal already on its way needs no other: the lock
	 * is taken only when some sleeper has none (else a submit would take
	 * it every time while a signalled worker waits for a CPU). */
	unsigned nsl = atomic_load_explicit(&q->nsleeping, memory_order_seq_cst);

	if (evpool__likely(!nsl || atomic_load_explicit(&q->nwakeups,
							memory_order_seq_cst) >= nsl)) {
		nw = atomic_load_explicit(&q->nworkers, memory_order_relaxed);
		if (nw >= atomic_load_explicit(&q->max_workers,
					       memory_order_relaxed) ||
		    evpool__queue_len(q) <=
			    nw - atomic_load_explicit(&q->nrunning,
						      memory_order_relaxed))
			return 0;
	}
	pthread_mutex_lock(&q->mu);
	r = evpool__queue_kick(q);
	pthread_mutex_unlock(&q->mu);
	return r;
}

/* Link a job at the tail of its level (q->mu held).  A queued job keeps
 * its priority in the status field. */
static int
level_append(struct evpool_queue *q, struct evpool_job *job)
{
	struct evpool__level *l = level_get(q, job->status);

	if (!l)
		return evpool__err(-ENOMEM, "queue: out of memory");
	job->qnext = NULL;
	if (l->tail)
		l->tail->qnext = job;
	else
		l->head = job;
	l->tail = job;
	return 0;
}

int
evpool__queue_flush(struct evpool_queue *q)
{
	struct evpool_job *n, *fifo = NULL;

	if (!atomic_load_explicit(&q->intake, memory_order_relaxed))
		return 0;
	n = atomic_exchange_explicit(&q->intake, NULL, memory_order_acquire);
	while (n) {			/* LIFO -> FIFO */
		struct evpool_job *next = n->qnext;
		n->qnext = fifo;
		fifo = n;
		n = next;
	}
	while (fifo) {
		struct evpool_job *next = fifo->qnext;
		if (level_append(q, fifo) < 0) {
			/* Out of memory for a new level: put the rest back,
			 * in order, to be placed later. */
			struct evpool_job *rest = NULL;
			for (n = fifo; n; n = next) {
				next = n->qnext;
				n->qnext = rest;
				rest = n;
			}
			while (rest) {
				struct evpool_job *r = rest, *old;
				rest = r->qnext;
				old = atomic_load(&q->intake);
				do
					r->qnext = old;
				while (!atomic_compare_exchange_weak(&q->intake,
								     &old, r));
			}
			return -ENOMEM;
		}
		fifo = next;
	}
	return 0;
}

/* A job stops counting as queued (q->mu held, so nout has one writer). */
static void
job_leaves(struct evpool_queue *q)
{
	evpool__queue_note_peak(q);
	atomic_store_explicit(&q->nout,
			      atomic_load_explicit(&q->nout,
						   memory_order_relaxed) + 1,
			      memory_order_release);
}

void
evpool__queue_forget(struct evpool_queue *q)
{
	job_leaves(q);		/* the queue's ref stays: the pop drops it */
	if (q->nroom_waiters)
		pthread_cond_signal(&q->room_cv);
}

struct evpool_job *
evpool__queue_pop(struct evpool_queue *q)
{
	evpool__queue_flush(q);
	for (unsigned i = 0; i < q->nlevels; i++) {
		struct evpool__level *l = &q->levels[i];
		struct evpool_job *job;

		while ((job = l->head) != NULL) {
			l->head = job->qnext;
			if (!l->head)
				l->tail = NULL;
			job->qnext = NULL;
			if (evpool__job_state(job, memory_order_acquire) ==
			    EVPOOL__QUEUED) {
				job_leaves(q);
				level_trim(q, l);
				if (q->nroom_waiters)
					pthread_cond_signal(&q->room_cv);
				return job;
			}
			evpool_job_unref(job); /* forgotten: the queue's ref */
		}
		if (level_trim(q, l))
			i--; /* the next level moved here */
	}
	return NULL;
}

int
evpool__queue_cancel_all(struct evpool_queue *q)
{
	struct evpool_job *list = NULL, *job;
	int n = 0;

	pthread_mutex_lock(&q->mu);
	while ((job = evpool__queue_pop(q)) != NULL) {
		evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
		evpool__job_claim(job, EVPOOL__QUEUED);
		job->qnext = list;
		list = job;
		n++;
	}
	pthread_mutex_unlock(&q->mu);
	/* Complete in submission order (the list is reversed twice). */
	{
		struct evpool_job *fifo = NULL;
		while (list) {
			job = list;
			list = job->qnext;
			job->qnext = fifo;
			fifo = job;
		}
		while (fifo) {
			job = fifo;
			fifo = job->qnext;
			job->qnext = NULL;
			evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
			evpool_job_unref(job); /* the queue's, from the pop */
		}
	}
	return n;
}

void
evpool__queue_flag_running(struct evpool_queue *q)
{
	pthread_mutex_lock(&q->mu);
	for (struct evpool__worker *w = q->workers; w; w = w->next) {
		struct evpool_job *job = w->current;
		if (!job)
			continue;
		evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
		if (q->pool->ops->kill_all)
			q->pool->ops->kill_all(w);
		else if (q->pool->ops->kill)
			q->pool->ops->kill(w, job);
	}
	pthread_mutex_unlock(&q->mu);
	evpool__pool_wake(q->pool);
}

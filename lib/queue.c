/*
 * queue.c — a queue of jobs waiting for a worker, with priorities.
 *
 * DESIGN: a queue keeps one FIFO list per priority value in use, in an array
 * sorted from the highest priority down.  Most programs use one or two
 * priorities, so push and pop are O(1) in practice (a short scan of the
 * array) and FIFO order among equal priorities holds by construction — no
 * sequence numbers, no heap.  Lists are doubly linked so a cancel unlinks a
 * job in O(1).  Every queue has its own mutex, its own workers and its own
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
	struct evpool_queue *q = calloc(1, sizeof(*q));

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
	pthread_mutex_init(&q->mu, NULL);
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
static void
level_trim(struct evpool_queue *q, struct evpool__level *l)
{
	unsigned i = (unsigned)(l - q->levels);

	if (l->head || q->nlevels == 1)
		return;
	memmove(&q->levels[i], &q->levels[i + 1],
		(q->nlevels - i - 1) * sizeof(*q->levels));
	q->nlevels--;
}

int
evpool__queue_push(struct evpool_queue *q, struct evpool_job *job)
{
	struct evpool__level *l = level_get(q, job->priority);
	size_t n;

	if (!l)
		return evpool__err(-ENOMEM, "queue: out of memory");
	job->qnext = NULL;
	job->qprev = l->tail;
	if (l->tail)
		l->tail->qnext = job;
	else
		l->head = job;
	l->tail = job;
	n = atomic_load_explicit(&q->nqueued, memory_order_relaxed) + 1;
	atomic_store_explicit(&q->nqueued, n, memory_order_relaxed);
	if (n > atomic_load_explicit(&q->pool->peak_queued,
				     memory_order_relaxed))
		atomic_store_explicit(&q->pool->peak_queued, n,
				      memory_order_relaxed);
	return 0;
}

static struct evpool__level *
level_of(struct evpool_queue *q, int prio)
{
	for (unsigned i = 0; i < q->nlevels; i++)
		if (q->levels[i].prio == prio)
			return &q->levels[i];
	return NULL;
}

void
evpool__queue_unlink(struct evpool_queue *q, struct evpool_job *job)
{
	struct evpool__level *l = level_of(q, job->priority);

	if (job->qprev)
		job->qprev->qnext = job->qnext;
	else
		l->head = job->qnext;
	if (job->qnext)
		job->qnext->qprev = job->qprev;
	else
		l->tail = job->qprev;
	job->qnext = job->qprev = NULL;
	atomic_store_explicit(&q->nqueued,
			      atomic_load_explicit(&q->nqueued,
						   memory_order_relaxed) - 1,
			      memory_order_relaxed);
	level_trim(q, l);
	if (q->nroom_waiters)
		pthread_cond_signal(&q->room_cv);
}

struct evpool_job *
evpool__queue_pop(struct evpool_queue *q)
{
	for (unsigned i = 0; i < q->nlevels; i++) {
		struct evpool_job *job = q->levels[i].head;
		if (job) {
			evpool__queue_unlink(q, job);
			return job;
		}
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
		atomic_store(&job->cancelled, 1);
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
		atomic_store(&job->cancelled, 1);
		if (q->pool->ops->kill_all)
			q->pool->ops->kill_all(w);
		else if (q->pool->ops->kill)
			q->pool->ops->kill(w, job);
	}
	pthread_mutex_unlock(&q->mu);
	evpool__pool_wake(q->pool);
}

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
 * cancel is O(1) too.  Every queue has its own mutex, its own workers and
 * its own limits: the pool's default queue is one, named queues are more,
 * and a queue whose jobs all block cannot hold up another queue's jobs.
 *
 * Submitters do not take the mutex to queue a job: they push it on the
 * queue's lock-free intake (a LIFO stack, evpool__queue_push()), and
 * whoever next holds the mutex to take jobs moves the intake into the
 * levels in submission order (evpool__queue_flush()).
 *
 * Batches (thread mode): a worker takes up to EVPOOL__BATCH_MAX waiting jobs
 * in one lock hold and then starts them one by one without the lock, so a
 * stream of short jobs costs one lock and one pass of bookkeeping per batch
 * instead of per job.  Nothing a user sees changes, because the jobs of a
 * batch stay QUEUED, and count as queued, until they are claimed:
 *  - a claim is a compare-and-swap of the batch's range (next, end) and
 *    then of the job's state, QUEUED -> RUNNING; a cancel that wins the
 *    state first makes the claim skip the job (and counted it out itself);
 *  - the batch holds a reference to each job until its owner ends it under
 *    q->mu, and batches are listed on the queue, so evpool_job_cancel(),
 *    cancel_all and terminate find and cancel (or flag) their jobs;
 *  - a worker, before it takes anything from the queue, claims the oldest
 *    job that waits in another worker's batch: a long job never holds the
 *    jobs behind it while a worker is free, and FIFO order holds across
 *    workers (batches list oldest first, each claims from its front, and a
 *    batch is taken only when no batch holds a job not started, so batched
 *    jobs are always older than queued ones; t/order checks it);
 *  - no batch is taken from a bounded queue (its blocked submitters are
 *    signalled under the lock as jobs leave), and none once the queue has
 *    seen a priority other than 0: the batch that is running then gives
 *    the jobs it has not started back to the front of the queue, so that
 *    priority order holds from the first prioritised job on;
 *  - a timed job is never batched: its deadline counts from its start.
 */
#include "core/evpool-internal.h"

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
	q->batches_tail = &q->batches;
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

/* Take a place in nin if the bounded queue has room.  Only a bounded
 * queue reads the workers' nout: an unbounded one writes its own line
 * alone (evpool__queue_reserve()). */
static bool
reserve_once(struct evpool_queue *q)
{
	size_t in = atomic_fetch_add_explicit(&q->nin, 1, memory_order_relaxed);

	if (in - atomic_load_explicit(&q->nout, memory_order_acquire) <
	    q->max_queued)
		return true;
	atomic_fetch_sub_explicit(&q->nin, 1, memory_order_relaxed);
	return false;
}

int
evpool__queue_reserve_bounded(struct evpool_queue *q, unsigned flags,
			      int wait_ms)
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

/* INV-WAKE, the submitter's side (lib/core/README.md): publish the job
 * (seq_cst), then evpool__queue_wake() looks for sleepers. */
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
	bool sig = false;
	int r;

	/* INV-WAKE: seq_cst pairs with the worker's nsleeping++ then intake
	 * check (worker.c worker_idle()).  A
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
	r = evpool__queue_kick_later(q, &sig);
	pthread_mutex_unlock(&q->mu);
	/* Outside the lock: a sleeper counted in nwakeups that left meanwhile
	 * (idle timeout, stop) looks at the queue before it goes. */
	if (sig)
		pthread_cond_signal(&q->work_cv);
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
	/* The length only grows by submits, which land here, so its peak is
	 * seen when they are taken in (and when stats are read). */
	evpool__queue_note_peak(q);
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

/* A job stops counting as queued.  Pops and cancels do it under q->mu,
 * batch claims without it. */
static void
job_leaves(struct evpool_queue *q)
{
	atomic_fetch_add_explicit(&q->nout, 1, memory_order_release);
}

void
evpool__queue_forget(struct evpool_queue *q)
{
	job_leaves(q);		/* the queue's ref stays: the pop drops it */
	if (q->nroom_waiters)
		pthread_cond_signal(&q->room_cv);
}

/* Unlink the head of @p l (q->mu held). */
static struct evpool_job *
level_shift(struct evpool__level *l)
{
	struct evpool_job *job = l->head;

	l->head = job->qnext;
	if (!l->head)
		l->tail = NULL;
	job->qnext = NULL;
	return job;
}

/* Can a job wait in a batch?  Not a timed one: its deadline counts from
 * its start, which a batch could delay behind its neighbours. */
static bool
batchable(const struct evpool_job *job)
{
	const struct evpool__job_ext *x = evpool__job_ext(job);

	return !x || x->timeout_ms <= 0;
}

unsigned
evpool__queue_take(struct evpool_queue *q, struct evpool__batch *b,
		   unsigned want, struct evpool_job **single)
{
	unsigned n = 0;

	*single = NULL;
	evpool__queue_flush(q);
	for (unsigned i = 0; i < q->nlevels && n < want; i++) {
		struct evpool__level *l = &q->levels[i];
		struct evpool_job *job;

		while (n < want && (job = l->head) != NULL) {
			if (evpool__job_state(job, memory_order_acquire) !=
			    EVPOOL__QUEUED) {
				level_shift(l);
				evpool_job_unref(job); /* forgotten */
				continue;
			}
			if (n && !batchable(job))
				goto out;
			b->jobs[n++] = level_shift(l);
			if (!batchable(job))
				goto out;
		}
		if (level_trim(q, l))
			i--; /* the next level moved here */
	}
out:
	if (n == 1) {
		/* One job is a plain pop. */
		*single = b->jobs[0];
		job_leaves(q);
		if (q->nroom_waiters)
			pthread_cond_signal(&q->room_cv);
		return 1;
	}
	if (n) {
		b->n = n;
		atomic_store_explicit(&b->range, (uint32_t)n << 16,
				      memory_order_relaxed);
		b->next = NULL;
		b->prev = q->batches_tail;
		*q->batches_tail = b;
		q->batches_tail = &b->next;
	}
	return n;
}

struct evpool_job *
evpool__queue_steal(struct evpool_queue *q)
{
	/* The oldest batch first: batches hold jobs in queue order, so this
	 * starts the oldest job still waiting (FIFO holds across workers). */
	for (struct evpool__batch *b = q->batches; b; b = b->next) {
		struct evpool_job *job = evpool__batch_claim(q, b);

		/* Its batch may end as soon as we drop the lock: our own
		 * reference, dropped when we are done with the job. */
		if (job)
			return evpool__job_ref(job);
	}
	return NULL;
}

struct evpool_job *
evpool__batch_claim(struct evpool_queue *q, struct evpool__batch *b)
{
	uint32_t r = atomic_load_explicit(&b->range, memory_order_relaxed);

	for (;;) {
		unsigned next = r & 0xffffu, end = r >> 16;
		struct evpool_job *job;

		if (next >= end)
			return NULL;
		if (!atomic_compare_exchange_weak_explicit(
			    &b->range, &r, r + 1, memory_order_relaxed,
			    memory_order_relaxed))
			continue;
		r++;
		job = b->jobs[next];
		/* A cancel may have taken it first (and counted it). */
		if (evpool__job_start(job)) {
			job_leaves(q);
			return job;
		}
	}
}

/* Link a job at the head of its level (q->mu held).  @return 0 or
 * -ENOMEM. */
static int
level_unshift(struct evpool_queue *q, struct evpool_job *job)
{
	struct evpool__level *l = level_get(q, job->status);

	if (!l)
		return -ENOMEM;
	job->qnext = l->head;
	l->head = job;
	if (!l->tail)
		l->tail = job;
	return 0;
}

int
evpool__queue_unpop_room(struct evpool_queue *q, const struct evpool_job *job)
{
	return level_get(q, job->status) ? 0 : -ENOMEM;
}

void
evpool__queue_unpop(struct evpool_queue *q, struct evpool_job *job)
{
	/* (The room was made sure of; were it not there, the intake takes
	 * the job, at the back.) */
	if (level_unshift(q, job))
		evpool__queue_push(q, job);
	/* It counts as queued again. */
	atomic_fetch_sub_explicit(&q->nout, 1, memory_order_release);
}

void
evpool__queue_batch_unclaim(struct evpool_queue *q, struct evpool__batch *b)
{
	uint32_t r = atomic_load_explicit(&b->range, memory_order_relaxed);
	unsigned next = r & 0xffffu, end = r >> 16;

	/* Under q->mu only the owner (us) claims: the range is ours to set.
	 * From the last job back, each to the front of its level, so they
	 * keep their order ahead of the jobs that came after them. */
	while (end > next) {
		struct evpool_job *job = b->jobs[end - 1];

		if (evpool__job_state(job, memory_order_acquire) ==
		    EVPOOL__QUEUED) {
			if (level_unshift(q, job))
				break;	/* out of memory: the rest stay ours */
			b->jobs[end - 1] = NULL; /* the level has its ref now */
		}
		end--;	/* (a cancelled one keeps its ref in the batch) */
	}
	atomic_store_explicit(&b->range, ((uint32_t)end << 16) | next,
			      memory_order_relaxed);
}

void
evpool__queue_batch_end(struct evpool_queue *q, struct evpool__batch *b)
{
	*b->prev = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		q->batches_tail = b->prev;
	/* Unlinked first: cancel and terminate no longer look at these. */
	for (unsigned i = 0; i < b->n; i++)
		if (b->jobs[i])
			evpool_job_unref(b->jobs[i]);
	b->n = 0;
}

struct evpool_job *
evpool__queue_pop(struct evpool_queue *q)
{
	evpool__queue_flush(q);
	for (unsigned i = 0; i < q->nlevels; i++) {
		struct evpool__level *l = &q->levels[i];
		struct evpool_job *job;

		while ((job = l->head) != NULL) {
			level_shift(l);
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
	/* Jobs waiting in workers' batches first (they were queued before
	 * the rest).  A batch keeps the queue's reference until it ends, so
	 * take one for the completion below; its owner's claim now fails. */
	for (struct evpool__batch *b = q->batches; b; b = b->next)
		for (unsigned i = 0; i < b->n; i++) {
			job = b->jobs[i];
			if (!job || !evpool__job_claim(job, EVPOOL__QUEUED))
				continue;
			evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
			evpool__queue_forget(q);
			job->qnext = list;
			list = evpool__job_ref(job);
			n++;
		}
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
	/* Batches hold their jobs until they end (under q->mu): those that
	 * have started are running (flagging a finished one is harmless). */
	for (struct evpool__batch *b = q->batches; b; b = b->next)
		for (unsigned i = 0; i < b->n; i++)
			if (b->jobs[i] &&
			    evpool__job_state(b->jobs[i], memory_order_acquire) ==
				    EVPOOL__RUNNING)
				evpool__job_set_flag(b->jobs[i],
						     EVPOOL__JF_CANCELLED);
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

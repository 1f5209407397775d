/*
 * job.c — job handles: references, the finish race, delivery, the future
 * API (ready / successful / wait / get) and the in-job ctx API.  Job memory
 * (slabs, the per-thread cache) is in job-memory.c.
 *
 * DESIGN: a job's state moves QUEUED -> RUNNING -> FINISHING -> DONE, or
 * straight QUEUED -> FINISHING when cancelled.  Whoever wins the
 * compare-and-swap into FINISHING (worker, canceller, timeout thread, crash
 * detector) writes the outcome, publishes DONE with release order, and hands
 * the job to its mailbox; everyone else discards what they hold.  That single
 * CAS is what makes "exactly one completion" hold under every race.
 *
 * References: the library holds one from submit until the completion
 * callback has returned; the queue holds one from submit until a pop hands
 * it to the worker that runs the job (or to the canceller), who drops it
 * when done touching the job; the timeout heap holds one while it may touch
 * the job; the submitter holds one if it asked for the handle.  Job structs
 * come from a per-thread cache, so a warm thread submits without a lock or
 * malloc.  A job with an extension pins the pool's memory past
 * evpool_free() (evpool__pool_pin()), and so does a plain job once the user
 * holds a handle to it (evpool__job_ref_handle()); a plain job only the
 * library holds is finished by evpool_free() and needs no pin.  So a user
 * may keep any finished job past the pool.
 */
#include "core/evpool-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct evpool_job *
evpool__job_ref(struct evpool_job *job)
{
	if (job)
		atomic_fetch_add_explicit(&job->node.word, EVPOOL__JREF_ONE,
					  memory_order_relaxed);
	return job;
}

struct evpool_job *
evpool__job_ref_handle(struct evpool_job *job)
{
	if (!job)
		return NULL;
	/* The pool is alive here: the caller holds the job, and a job the
	 * user can reach has not been freed by evpool_free() yet. */
	if (!evpool__job_flag(job, EVPOOL__JF_EXT) &&
	    !(atomic_fetch_or_explicit(&job->node.word, EVPOOL__JF_PINNED,
				       memory_order_relaxed) &
	      EVPOOL__JF_PINNED))
		evpool__pool_pin(evpool__job_pool(job));
	return evpool__job_ref(job);
}

struct evpool_job *
evpool_job_ref(struct evpool_job *job)
{
	return evpool__job_ref_handle(job);
}

void
evpool_job_unref(struct evpool_job *job)
{
	uint32_t refs;

	if (!job)
		return;
	refs = atomic_fetch_sub_explicit(&job->node.word, EVPOOL__JREF_ONE,
					 memory_order_acq_rel) >>
	       EVPOOL__JREF_SHIFT;
#if defined(EVPOOL_DEBUG) || defined(EVPOOL_FAULT_INJECTION)
	/* A handle unreferenced once too often: its memory waits in a job
	 * cache with no reference left (unless a new job has it already —
	 * then a later unref drops that job's reference: not seen). */
	if (evpool__unlikely(refs == 0)) {
		fprintf(stderr,
			"libevpool: evpool_job_unref(%p): the job has no reference left (unreferenced twice, or after it was freed)\n",
			(void *)job);
		abort();
	}
#endif
	if (refs == 1)
		evpool__job_free(job);
}

void
evpool__job_set_state(struct evpool_job *job, unsigned from, unsigned to)
{
	/* Only the state bits change: other threads may move the refs and
	 * flags meanwhile, hence the add. */
	atomic_fetch_add_explicit(&job->node.word,
				  (to - from) << EVPOOL__JS_SHIFT,
				  memory_order_release);
}

bool
evpool__job_start(struct evpool_job *job)
{
	uint32_t w = atomic_load_explicit(&job->node.word, memory_order_relaxed);

	while (((w & EVPOOL__JS_MASK) >> EVPOOL__JS_SHIFT) == EVPOOL__QUEUED)
		if (atomic_compare_exchange_weak_explicit(
			    &job->node.word, &w,
			    w + (EVPOOL__RUNNING << EVPOOL__JS_SHIFT),
			    memory_order_acquire, memory_order_relaxed))
			return true;
	return false;
}

/* INV-ONCE (lib/core/README.md): the one CAS into FINISHING; its winner
 * writes the outcome and completes the job, everyone else lets go. */
bool
evpool__job_claim(struct evpool_job *job, unsigned from)
{
	uint32_t w = atomic_load_explicit(&job->node.word, memory_order_relaxed);

	while (((w & EVPOOL__JS_MASK) >> EVPOOL__JS_SHIFT) == from)
		if (atomic_compare_exchange_weak_explicit(
			    &job->node.word, &w,
			    (w & ~EVPOOL__JS_MASK) |
				    (EVPOOL__FINISHING << EVPOOL__JS_SHIFT),
			    memory_order_acq_rel, memory_order_relaxed))
			return true;
	return false;
}

int
evpool__job_set_output(struct evpool_job *job, void *result, void *rbytes,
		       size_t rlen)
{
	struct evpool__job_ext *x = evpool__job_ext(job);
	struct evpool__rbox *box;

	if (x) {
		job->result = result;
		x->rbytes = rbytes;
		x->rlen = rlen;
		return 0;
	}
	if (!rbytes) {
		job->result = result;
		return 0;
	}
	box = malloc(sizeof(*box));
	if (!box) {
		free(rbytes);
		job->result = result;
		return -ENOMEM;
	}
	box->result = result;
	box->rbytes = rbytes;
	box->rlen = rlen;
	job->result = box;
	evpool__job_set_flag(job, EVPOOL__JF_RBOX);
	return 0;
}

void *
evpool__job_rbytes(struct evpool_job *job, size_t *len, bool take)
{
	struct evpool__job_ext *x = evpool__job_ext(job);
	void **bytes = NULL;
	size_t *lenp = NULL;
	void *b;

	if (x) {
		bytes = &x->rbytes;
		lenp = &x->rlen;
	} else if (evpool__job_flag(job, EVPOOL__JF_RBOX)) {
		struct evpool__rbox *box = job->result;
		bytes = &box->rbytes;
		lenp = &box->rlen;
	}
	if (!bytes) {
		if (len)
			*len = 0;
		return NULL;
	}
	b = *bytes;
	if (len)
		*len = *lenp;
	if (take) {
		*bytes = NULL;
		*lenp = 0;
	}
	return b;
}

void *
evpool__job_result(const struct evpool_job *job)
{
	if (evpool__job_flag(job, EVPOOL__JF_RBOX))
		return ((struct evpool__rbox *)job->result)->result;
	return job->result;
}

struct evpool_queue *
evpool__job_queue(const struct evpool_job *job)
{
	struct evpool__job_ext *x = evpool__job_ext(job);

	return x ? x->q : evpool__job_pool(job)->dq;
}

static void job_finish(struct evpool_job *job, enum evpool__finish why,
		       int status, unsigned from);

void
evpool__job_complete(struct evpool_job *job, enum evpool__finish why,
		     int status)
{
	job_finish(job, why, status, EVPOOL__FINISHING);
}

void
evpool__job_complete_ran(struct evpool_job *job, int status)
{
	job_finish(job, EVPOOL__FIN_RAN, status, EVPOOL__RUNNING);
}

static void
job_finish(struct evpool_job *job, enum evpool__finish why, int status,
	   unsigned from)
{
	struct evpool *pool = evpool__job_pool(job);
	struct evpool__job_ext *x = evpool__job_ext(job);
	atomic_uint_fast64_t *counter;

	switch (why) {
	case EVPOOL__FIN_CANCEL:
		status = -ECANCELED;
		counter = &pool->n_cancelled;
		break;
	case EVPOOL__FIN_TIMEOUT:
		status = -ETIMEDOUT;
		counter = &pool->n_timed_out;
		break;
	case EVPOOL__FIN_CRASH:
		status = EVPOOL_ECRASHED;
		counter = &pool->n_crashed;
		break;
	default:
		if (status == 0)
			counter = &pool->n_completed;
		else if (status == -ECANCELED &&
			 evpool__job_flag(job, EVPOOL__JF_CANCELLED))
			counter = &pool->n_cancelled;
		else
			counter = &pool->n_failed;
		break;
	}
	/* fn and result share a field: a job that did not run to the end
	 * (or set no output) has no result. */
	if (why != EVPOOL__FIN_RAN)
		job->result = NULL;
	job->status = status;
	evpool__job_set_state(job, from, EVPOOL__DONE);
	/* INV-JOIN: hand the job over before it counts as finished, so
	 * join() cannot return while its completion is still on the way.  The job may be
	 * delivered and freed from here on: only the pool is touched. */
	if (x && x->sink)
		x->sink(job);
	else
		evpool__mailbox_push(job->mb, &job->node);
	atomic_fetch_add_explicit(counter, 1, memory_order_release);
	evpool__pool_wake(pool);
}

void
evpool__job_deliver(struct evpool_job *job)
{
	struct evpool *pool = evpool__job_pool(job);

	if (evpool__job_ext(job)) /* only emissions look at it */
		atomic_fetch_or_explicit(&job->node.word, EVPOOL__JF_DELIVERED,
					 memory_order_relaxed);
	if (job->done)
		job->done(job, job->done_arg);
	if (job->status == 0) {
		if (pool->cfg.done_cb)
			pool->cfg.done_cb(job, pool->cfg.cb_arg);
	} else if (pool->cfg.failed_cb) {
		pool->cfg.failed_cb(job, pool->cfg.cb_arg);
	}
	evpool_job_unref(job);
}

void
evpool__job_discard_ctx(struct evpool_ctx *ctx)
{
	free(ctx->rbytes);
	ctx->rbytes = NULL;
	ctx->rlen = 0;
}

/* ---- futures ------------------------------------------------------------ */

static bool
job_is_done(const struct evpool_job *job)
{
	return evpool__job_state(job, memory_order_acquire) == EVPOOL__DONE;
}

int
evpool_job_ready(const struct evpool_job *job)
{
	return job && job_is_done(job);
}

int
evpool_job_successful(const struct evpool_job *job)
{
	if (!job)
		return evpool__err(-EINVAL, "evpool_job_successful: NULL job");
	if (!job_is_done(job))
		return evpool__err(EVPOOL_ENOTREADY,
				   "evpool_job_successful: the job has not finished");
	return job->status == 0;
}

static bool
wait_pred(void *arg)
{
	return job_is_done(arg);
}

int
evpool_job_wait(struct evpool_job *job, int timeout_ms)
{
	if (!job)
		return evpool__err(-EINVAL, "evpool_job_wait: NULL job");
	if (job_is_done(job))
		return 0;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	return evpool__self_wait(evpool__job_pool(job), job, "evpool_job_wait",
				 wait_pred, job, timeout_ms);
}

int
evpool_job_get(struct evpool_job *job, int timeout_ms, void **result)
{
	int r;

	if (!job)
		return evpool__err(-EINVAL, "evpool_job_get: NULL job");
	r = evpool_job_wait(job, timeout_ms);
	if (r == -EDEADLK)
		return r;
	if (r == -ETIMEDOUT)
		return evpool__err(EVPOOL_ENOTREADY,
				   "evpool_job_get: not finished within %d ms",
				   timeout_ms);
	if (result)
		*result = evpool__job_result(job);
	return job->status;
}

int
evpool_job_status(const struct evpool_job *job)
{
	if (!job)
		return evpool__err(-EINVAL, "evpool_job_status: NULL job");
	if (!job_is_done(job))
		return EVPOOL_ENOTREADY;
	return job->status;
}

void *
evpool_job_result(const struct evpool_job *job)
{
	return job && job_is_done(job) ? evpool__job_result(job) : NULL;
}

const void *
evpool_job_result_bytes(const struct evpool_job *job, size_t *len)
{
	if (!job || !job_is_done(job)) {
		if (len)
			*len = 0;
		return NULL;
	}
	return evpool__job_rbytes((struct evpool_job *)job, len, false);
}

void *
evpool_job_arg(const struct evpool_job *job)
{
	return job ? job->arg : NULL;
}

int
evpool_job_exit_status(const struct evpool_job *job)
{
	if (!job || !job_is_done(job) || job->status != EVPOOL_ECRASHED ||
	    !evpool__job_ext(job))
		return -1;
	return EVPOOL__EXT(job)->exit_status;
}

int
evpool_job_cancel(struct evpool_job *job)
{
	struct evpool_queue *q;
	unsigned st;

	if (!job)
		return evpool__err(-EINVAL, "evpool_job_cancel: NULL job");
	/* A finished job may outlive its pool and queue: answer without
	 * touching them (DONE is final). */
	if (job_is_done(job))
		return -EALREADY;
	q = evpool__job_queue(job);
	pthread_mutex_lock(&q->mu);
	st = evpool__job_state(job, memory_order_acquire);
	if (st == EVPOOL__QUEUED) {
		/* Placed first, so that the priority (kept in the status
		 * field until then) is read before the outcome is written. */
		if (evpool__queue_flush(q) < 0) {
			pthread_mutex_unlock(&q->mu);
			return evpool__err(-ENOMEM,
					   "evpool_job_cancel: out of memory, try again");
		}
		evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
		/* A job in a worker's batch may be claimed meanwhile, without
		 * the lock: then it runs, flagged, as a running one does. */
		if (evpool__job_claim(job, EVPOOL__QUEUED)) {
			evpool__queue_forget(q);
			pthread_mutex_unlock(&q->mu);
			evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
			return 0;
		}
		st = evpool__job_state(job, memory_order_acquire);
	}
	if (st == EVPOOL__RUNNING) {
		struct evpool__worker *w;
		bool killed = false, stoppable;

		evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
		/* the worker running it (process mode: it may hold several
		 * jobs at once) */
		w = evpool__job_ext(job) ? EVPOOL__EXT(job)->worker : NULL;
		stoppable = evpool__job_pool(job)->ops->kill != NULL;
		if (w && stoppable)
			killed = evpool__job_pool(job)->ops->kill(w, job);
		pthread_mutex_unlock(&q->mu);
		evpool__pool_wake(evpool__job_pool(job)); /* an emitter may be waiting */
		/* A process-mode kill fails only when another party (its
		 * proxy delivering the result, the timeout, a cancel before
		 * us) claimed the job first: it is finishing, not running
		 * on — -EBUSY is for thread pools, whose job decides. */
		return killed ? 0 : stoppable ? -EALREADY : -EBUSY;
	}
	pthread_mutex_unlock(&q->mu);
	return -EALREADY;
}

/* ---- inside a job ------------------------------------------------------- */

void *
evpool_ctx_arg(struct evpool_ctx *ctx)
{
	return ctx ? ctx->arg : NULL;
}

const void *
evpool_ctx_input(struct evpool_ctx *ctx, size_t *len)
{
	if (len)
		*len = ctx ? ctx->input_len : 0;
	return ctx ? ctx->input : NULL;
}

int
evpool_ctx_cancelled(struct evpool_ctx *ctx)
{
	if (!ctx || !ctx->job)
		return 0;
	return evpool__job_flag(ctx->job, EVPOOL__JF_CANCELLED);
}

int
evpool_ctx_set_result(struct evpool_ctx *ctx, void *result)
{
	if (!ctx)
		return evpool__err(-EINVAL, "evpool_ctx_set_result: NULL ctx");
	if (ctx->process)
		return evpool__err(-EINVAL,
				   "evpool_ctx_set_result: a pointer cannot leave a worker process; use evpool_ctx_set_result_bytes()");
	ctx->result = result;
	return 0;
}

int
evpool_ctx_set_result_bytes(struct evpool_ctx *ctx, const void *data,
			    size_t len)
{
	void *copy = NULL;

	if (!ctx || (!data && len))
		return evpool__err(-EINVAL,
				   "evpool_ctx_set_result_bytes: NULL %s",
				   ctx ? "data" : "ctx");
	if (len) {
		copy = malloc(len);
		if (!copy)
			return evpool__err(-ENOMEM,
					   "evpool_ctx_set_result_bytes: out of memory (%zu bytes)",
					   len);
		memcpy(copy, data, len);
	}
	free(ctx->rbytes);
	ctx->rbytes = copy;
	ctx->rlen = len;
	return 0;
}

struct emit_wait {
	struct evpool_job *job;
	atomic_int *stop;
};

static bool
emit_room(void *arg)
{
	struct emit_wait *ew = arg;

	return evpool__emit_has_room(ew->job, ew->stop);
}

bool
evpool__emit_has_room(struct evpool_job *job, atomic_int *stop)
{
	return atomic_load(&EVPOOL__EXT(job)->emit_pending) <
		       evpool__job_pool(job)->cfg.emit_window ||
	       evpool__job_flag(job, EVPOOL__JF_CANCELLED) ||
	       (stop && atomic_load(stop));
}

int
evpool__emit_wait(struct evpool_job *job, atomic_int *stop, int timeout_ms)
{
	struct emit_wait ew = { job, stop };

	if (emit_room(&ew))
		return 0;
	return evpool__pool_wait(evpool__job_pool(job), emit_room, &ew, timeout_ms);
}

int
evpool__emit_push(struct evpool_job *job, const void *data, size_t len)
{
	struct evpool__emit *e = malloc(sizeof(*e) + len);

	if (!e)
		return -ENOMEM;
	evpool__node_init(&e->node, EVPOOL__NODE_EMIT);
	e->job = evpool__job_ref(job);
	e->len = len;
	if (len)
		memcpy(e->data, data, len);
	atomic_fetch_add(&EVPOOL__EXT(job)->emit_pending, 1);
	evpool__mailbox_push(job->mb, &e->node);
	return 0;
}

int
evpool_ctx_emit(struct evpool_ctx *ctx, const void *data, size_t len)
{
	struct evpool_job *job;
	struct evpool__job_ext *x;

	if (!ctx || (!data && len))
		return evpool__err(-EINVAL, "evpool_ctx_emit: NULL %s",
				   ctx ? "data" : "ctx");
	if (ctx->emit)
		return ctx->emit(ctx, data, len);
	job = ctx->job;
	if (evpool__job_flag(job, EVPOOL__JF_CANCELLED))
		return -ECANCELED;
	x = evpool__job_ext(job);
	if (!x || !x->emit || x->sink)
		return 0;
	if (atomic_load(&x->emit_pending) >= evpool__job_pool(job)->cfg.emit_window) {
		evpool__emit_wait(job, NULL, -1);
		if (evpool__job_flag(job, EVPOOL__JF_CANCELLED))
			return -ECANCELED;
	}
	if (evpool__emit_push(job, data, len) < 0)
		return evpool__err(-ENOMEM, "evpool_ctx_emit: out of memory");
	return 0;
}

struct evpool *
evpool_ctx_pool(struct evpool_ctx *ctx)
{
	return ctx ? ctx->pool : NULL;
}

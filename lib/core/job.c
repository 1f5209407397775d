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

#include <event2/buffer.h>

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

static struct evbuffer **outbuf_slot(struct evpool_job *job, bool make);

static int
set_output(struct evpool_job *job, void *result, evpool_free_fn free_fn,
	   void *rbytes, size_t rlen, struct evbuffer *outbuf)
{
	struct evpool__job_ext *x = evpool__job_ext(job);
	struct evpool__rbox *box;

	if (x) {
		job->result = result;
		x->result_free = result ? free_fn : NULL;
		x->rbytes = rbytes;
		x->rlen = rlen;
		x->outbuf = outbuf;
		return 0;
	}
	if (!rbytes && !outbuf && !(result && free_fn)) {
		job->result = result;
		return 0;
	}
	box = malloc(sizeof(*box));
	if (!box) {
		free(rbytes);
		if (outbuf)
			evbuffer_free(outbuf);
		if (result && free_fn)
			free_fn(result); /* nobody can get it now */
		job->result = NULL;
		return -ENOMEM;
	}
	box->result = result;
	box->result_free = result ? free_fn : NULL;
	atomic_init(&box->result_taken, false);
	box->rbytes = rbytes;
	box->rlen = rlen;
	box->outbuf = outbuf;
	job->result = box;
	evpool__job_set_flag(job, EVPOOL__JF_RBOX);
	return 0;
}

int
evpool__job_set_output(struct evpool_job *job, void *result, void *rbytes,
		       size_t rlen)
{
	return set_output(job, result, NULL, rbytes, rlen, NULL);
}

int
evpool__job_set_output_ctx(struct evpool_job *job, struct evpool_ctx *ctx)
{
	struct evbuffer *out = ctx->out;

	evpool__ctx_release_input(ctx);
	/* An empty output evbuffer is no result: keep the common job plain. */
	if (out && evbuffer_get_length(out) == 0) {
		evbuffer_free(out);
		out = NULL;
	}
	ctx->out = NULL;
	return set_output(job, ctx->result, ctx->result_free, ctx->rbytes,
			  ctx->rlen, out);
}

void
evpool__ctx_release_input(struct evpool_ctx *ctx)
{
	if (ctx->inbuf && ctx->inbuf_own)
		evbuffer_free(ctx->inbuf);
	ctx->inbuf = NULL;
	ctx->inbuf_own = false;
}

int
evpool__ctx_flatten(struct evpool_ctx *ctx)
{
	size_t len;
	void *copy;

	if (!ctx->out)
		return 0;
	len = evbuffer_get_length(ctx->out);
	copy = len ? malloc(len) : NULL;
	if (len && !copy)
		return -ENOMEM;
	if (len)
		evbuffer_remove(ctx->out, copy, len);
	evbuffer_free(ctx->out);
	ctx->out = NULL;
	free(ctx->rbytes);
	ctx->rbytes = copy;
	ctx->rlen = len;
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
	if (!*bytes) {
		struct evbuffer **ob = outbuf_slot(job, false);

		if (ob && *ob && evbuffer_get_length(*ob)) {
			size_t n = evbuffer_get_length(*ob);
			void *p;

			if (!take) {
				if (len)
					*len = n;
				return evbuffer_pullup(*ob, -1);
			}
			/* a struct evpool_result owns plain bytes */
			p = malloc(n);
			if (!p) {
				if (len)
					*len = 0;
				return NULL;
			}
			evbuffer_remove(*ob, p, n);
			if (len)
				*len = n;
			return p;
		}
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
	const struct evpool__job_ext *x = evpool__job_ext(job);

	if (evpool__job_flag(job, EVPOOL__JF_RBOX))
		return ((struct evpool__rbox *)job->result)->result;
	return x && x->no_result ? NULL : job->result;
}

void *
evpool__job_take_result(struct evpool_job *job)
{
	struct evpool__job_ext *x = evpool__job_ext(job);

	if (x)
		atomic_store_explicit(&x->result_taken, true,
				      memory_order_release);
	else if (evpool__job_flag(job, EVPOOL__JF_RBOX))
		atomic_store_explicit(
			&((struct evpool__rbox *)job->result)->result_taken,
			true, memory_order_release);
	return evpool__job_result(job);
}

/* The slot of the job's output evbuffer; NULL for a plain job without a
 * box (@p make: give it one). */
static struct evbuffer **
outbuf_slot(struct evpool_job *job, bool make)
{
	struct evpool__job_ext *x = evpool__job_ext(job);

	if (x)
		return &x->outbuf;
	if (!evpool__job_flag(job, EVPOOL__JF_RBOX) &&
	    (!make || set_output(job, job->result, NULL, NULL, 0,
				 evbuffer_new()) < 0 ||
	     !evpool__job_flag(job, EVPOOL__JF_RBOX)))
		return NULL;
	return &((struct evpool__rbox *)job->result)->outbuf;
}

static void
cleanup_free(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	free(arg);
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
	case EVPOOL__FIN_EXPIRE:
		status = -ETIMEDOUT;
		counter = &pool->n_timed_out;
		atomic_fetch_add_explicit(&pool->n_expired, 1,
					  memory_order_relaxed);
		break;
	case EVPOOL__FIN_ERROR:
		counter = &pool->n_lib_errors;
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
	 * (or set no output) has no result.  A job with an extension is only
	 * marked: its worker may still be about to read fn (a deadline from
	 * submit can end a job the instant it starts). */
	if (why != EVPOOL__FIN_RAN) {
		if (x)
			x->no_result = true;
		else
			job->result = NULL;
	}
	job->status = status;
	/* A deadline from submit still in the timer heap: out now, so the
	 * heap holds no finished job (and its reference) until then. */
	if (x && x->expire_ns)
		evpool__timer_disarm(pool, job);
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
	evpool__ctx_release_input(ctx);
	free(ctx->rbytes);
	ctx->rbytes = NULL;
	ctx->rlen = 0;
	if (ctx->out)
		evbuffer_free(ctx->out);
	ctx->out = NULL;
	/* a late pointer result nobody will ever see */
	if (ctx->result && ctx->result_free)
		ctx->result_free(ctx->result);
	ctx->result = NULL;
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

/* Done, and on the thread that delivers it, its callback called (for a job
 * with an extension, which records that; a plain job's completion is
 * delivered by the wait's last drain). */
static bool
wait_pred(void *arg)
{
	struct evpool_job *job = arg;

	return job_is_done(job) &&
	       (!job->done || !evpool__job_ext(job) ||
		evpool__job_flag(job, EVPOOL__JF_DELIVERED) ||
		!evpool__mailbox_may_deliver_here(job->mb));
}

int
evpool_job_wait(struct evpool_job *job, int timeout_ms)
{
	if (!job)
		return evpool__err(-EINVAL, "evpool_job_wait: NULL job");
	if (wait_pred(job))
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
		*result = evpool__job_take_result(job);
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
	return job && job_is_done(job)
		       ? evpool__job_take_result((struct evpool_job *)job)
		       : NULL;
}

struct evbuffer *
evpool_job_result_evbuffer(struct evpool_job *job)
{
	struct evbuffer **ob;
	void *bytes;
	size_t len;

	if (!job || !job_is_done(job))
		return NULL;
	ob = outbuf_slot(job, true);
	if (!ob)
		return NULL;
	if (!*ob && !(*ob = evbuffer_new()))
		return NULL;
	/* Bytes (evpool_ctx_set_result_bytes(), or a process-mode result)
	 * join by reference: the evbuffer frees them when done. */
	bytes = evbuffer_get_length(*ob) ? NULL
					  : evpool__job_rbytes(job, &len, false);
	if (bytes) {
		if (evbuffer_add_reference(*ob, bytes, len, cleanup_free,
					   bytes) < 0)
			return NULL;
		(void)evpool__job_rbytes(job, NULL, true);
	}
	return *ob;
}

/* Give an emission's data to an evbuffer by reference: the evbuffer frees
 * the emission once its chain is gone, wherever the user moved it. */
/* The emission being delivered by this (loop) thread, during its emit
 * callback: evpool_job_emit_evbuffer() hands it out. */
static __thread struct evpool__emit *tls_cur_emit;

static void
emit_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	free(arg);
}

struct evbuffer *
evpool_job_emit_evbuffer(struct evpool_job *job)
{
	struct evpool__emit *e;

	if (!job || !evpool__job_ext(job) || !(e = tls_cur_emit) ||
	    e->job != job)
		return NULL;
	if (!e->buf) {
		e->buf = evbuffer_new();
		if (!e->buf)
			return NULL;
		if (e->len && evbuffer_add_reference(e->buf, e->data, e->len,
						     emit_cleanup, e) < 0) {
			evbuffer_free(e->buf);
			e->buf = NULL;
			return NULL;
		}
		/* from now on the evbuffer's chain owns the node's memory */
		e->len = e->len ? (size_t)-1 : 0;
	}
	return e->buf;
}

void
evpool__emit_free(struct evpool__emit *e)
{
	struct evbuffer *buf = e->buf;
	bool referenced = e->len == (size_t)-1;

	if (buf)
		evbuffer_free(buf); /* frees e too when it referenced it */
	if (!referenced)
		free(e);
}

void
evpool__emit_deliver(struct evpool__emit *e)
{
	struct evpool_job *job = e->job;
	struct evpool__job_ext *x = EVPOOL__EXT(job);

	/* An emission that lost the race with a timeout comes after the
	 * completion: drop it, emissions never follow completion. */
	if (x->emit && !evpool__job_flag(job, EVPOOL__JF_DELIVERED)) {
		tls_cur_emit = e;
		if (e->buf)
			x->emit(job, NULL, evbuffer_get_length(e->buf),
				job->done_arg);
		else
			x->emit(job, e->data, e->len, job->done_arg);
		tls_cur_emit = NULL;
	}
	evpool__emit_free(e);
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
	if (ctx && ctx->inbuf) {
		/* an evbuffer input, or the bytes handed to one */
		if (len)
			*len = evbuffer_get_length(ctx->inbuf);
		return evbuffer_get_length(ctx->inbuf)
			       ? evbuffer_pullup(ctx->inbuf, -1)
			       : NULL;
	}
	if (len)
		*len = ctx ? ctx->input_len : 0;
	return ctx ? ctx->input : NULL;
}

struct evbuffer *
evpool_ctx_input_evbuffer(struct evpool_ctx *ctx)
{
	struct evbuffer *b;

	if (!ctx) {
		evpool__err(-EINVAL, "evpool_ctx_input_evbuffer: NULL ctx");
		return NULL;
	}
	if (ctx->inbuf)
		return ctx->inbuf;
	b = evbuffer_new();
	if (!b) {
		evpool__err(-ENOMEM, "evpool_ctx_input_evbuffer: out of memory");
		return NULL;
	}
	/* Byte input, referenced, not copied.  Thread mode: the job's copy
	 * changes owner (the evbuffer frees it), for its chain may move on
	 * into the result and outlive the job.  Process mode (and a map's
	 * items): the frame outlives every evbuffer of the run. */
	struct evpool__job_ext *x = ctx->job ? evpool__job_ext(ctx->job) : NULL;
	bool own = x && x->input && x->input == ctx->input &&
		   x->input != x->input_inline;

	if (ctx->input_len &&
	    evbuffer_add_reference(b, ctx->input, ctx->input_len,
				   own ? cleanup_free : NULL,
				   own ? x->input : NULL) < 0) {
		evbuffer_free(b);
		evpool__err(-ENOMEM, "evpool_ctx_input_evbuffer: out of memory");
		return NULL;
	}
	if (own && ctx->input_len)
		x->input = NULL; /* the evbuffer's now */
	ctx->inbuf = b;
	ctx->inbuf_own = true;
	return b;
}

struct evbuffer *
evpool_ctx_output(struct evpool_ctx *ctx)
{
	if (!ctx) {
		evpool__err(-EINVAL, "evpool_ctx_output: NULL ctx");
		return NULL;
	}
	if (ctx->out)
		return ctx->out;
	ctx->out = evbuffer_new();
	if (!ctx->out) {
		evpool__err(-ENOMEM, "evpool_ctx_output: out of memory");
		return NULL;
	}
	/* Bytes set before become its first chain, by reference. */
	if (ctx->rbytes) {
		if (evbuffer_add_reference(ctx->out, ctx->rbytes, ctx->rlen,
					   cleanup_free, ctx->rbytes) < 0) {
			evbuffer_free(ctx->out);
			ctx->out = NULL;
			evpool__err(-ENOMEM, "evpool_ctx_output: out of memory");
			return NULL;
		}
		ctx->rbytes = NULL;
		ctx->rlen = 0;
	}
	return ctx->out;
}

int
evpool_ctx_cancelled(struct evpool_ctx *ctx)
{
	if (!ctx || !ctx->job)
		return 0;
	return evpool__job_flag(ctx->job, EVPOOL__JF_CANCELLED);
}

int
evpool_ctx_set_result_full(struct evpool_ctx *ctx, void *result,
			   evpool_free_fn free_fn)
{
	if (!ctx)
		return evpool__err(-EINVAL, "evpool_ctx_set_result: NULL ctx");
	if (ctx->process)
		return evpool__err(-EINVAL,
				   "evpool_ctx_set_result: a pointer cannot leave a worker process; use evpool_ctx_set_result_bytes()");
	/* Discarded for sure once someone else has finished the job (the
	 * timeout thread): said now, the caller keeps it.  A job only
	 * flagged by a cancel still delivers what it returns.  After this
	 * call, a timeout discards it through free_fn
	 * (evpool__job_discard_ctx()). */
	if (ctx->job && evpool__job_state(ctx->job, memory_order_acquire) !=
				EVPOOL__RUNNING)
		return evpool__err(-ECANCELED,
				   "evpool_ctx_set_result: the job was cancelled or timed out; the result stays yours");
	ctx->result = result;
	ctx->result_free = free_fn ? free_fn
			   : ctx->pool ? ctx->pool->cfg.result_free
				       : NULL;
	return 0;
}

int
evpool_ctx_set_result(struct evpool_ctx *ctx, void *result)
{
	return evpool_ctx_set_result_full(ctx, result, NULL);
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
	if (ctx->out) {
		/* replaces the output evbuffer's content */
		evbuffer_drain(ctx->out, evbuffer_get_length(ctx->out));
		if (len && evbuffer_add_reference(ctx->out, copy, len,
						  cleanup_free, copy) < 0) {
			free(copy);
			return evpool__err(-ENOMEM,
					   "evpool_ctx_set_result_bytes: out of memory");
		}
		return 0;
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

/* Thread mode: wait for room in the emit window.  @return 0, 1 (nobody
 * reads emissions: drop it) or -ECANCELED. */
static int
emit_begin(struct evpool_job *job)
{
	struct evpool__job_ext *x;

	if (evpool__job_flag(job, EVPOOL__JF_CANCELLED))
		return -ECANCELED;
	x = evpool__job_ext(job);
	if (!x || !x->emit || x->sink)
		return 1;
	if (atomic_load(&x->emit_pending) >= evpool__job_pool(job)->cfg.emit_window) {
		evpool__emit_wait(job, NULL, -1);
		if (evpool__job_flag(job, EVPOOL__JF_CANCELLED))
			return -ECANCELED;
	}
	return 0;
}

static void
emit_push(struct evpool_job *job, struct evpool__emit *e)
{
	evpool__node_init(&e->node, EVPOOL__NODE_EMIT);
	e->job = evpool__job_ref(job);
	atomic_fetch_add(&EVPOOL__EXT(job)->emit_pending, 1);
	evpool__mailbox_push(job->mb, &e->node);
}

int
evpool__emit_push(struct evpool_job *job, const void *data, size_t len)
{
	struct evpool__emit *e = malloc(sizeof(*e) + len);

	if (!e)
		return -ENOMEM;
	e->buf = NULL;
	e->len = len;
	if (len)
		memcpy(e->data, data, len);
	emit_push(job, e);
	return 0;
}

int
evpool_ctx_emit(struct evpool_ctx *ctx, const void *data, size_t len)
{
	int r;

	if (!ctx || (!data && len))
		return evpool__err(-EINVAL, "evpool_ctx_emit: NULL %s",
				   ctx ? "data" : "ctx");
	if (ctx->emit)
		return ctx->emit(ctx, data, len);
	r = emit_begin(ctx->job);
	if (r)
		return r < 0 ? r : 0;
	if (evpool__emit_push(ctx->job, data, len) < 0)
		return evpool__err(-ENOMEM, "evpool_ctx_emit: out of memory");
	return 0;
}

int
evpool_ctx_emit_evbuffer(struct evpool_ctx *ctx, struct evbuffer *buf)
{
	struct evpool__emit *e;
	int r;

	if (!ctx || !buf)
		return evpool__err(-EINVAL, "evpool_ctx_emit_evbuffer: NULL %s",
				   ctx ? "buf" : "ctx");
	if (ctx->emit) {
		/* process mode: the bytes cross (copied once, in the worker) */
		size_t len = evbuffer_get_length(buf);
		const void *p = len ? evbuffer_pullup(buf, -1) : NULL;

		if (len && !p)
			return evpool__err(-ENOMEM, "evpool_ctx_emit_evbuffer: out of memory");
		r = ctx->emit(ctx, p, len);
		if (r == 0)
			evbuffer_drain(buf, len);
		return r;
	}
	r = emit_begin(ctx->job);
	if (r < 0)
		return r;
	if (r > 0) {
		/* nobody reads emissions: the bytes are dropped, as the
		 * bytes of evpool_ctx_emit() are */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e || !(e->buf = evbuffer_new())) {
		free(e);
		return evpool__err(-ENOMEM, "evpool_ctx_emit_evbuffer: out of memory");
	}
	e->len = 0;
	if (evbuffer_add_buffer(e->buf, buf) < 0) {
		evbuffer_free(e->buf);
		free(e);
		return evpool__err(-EINVAL,
				   "evpool_ctx_emit_evbuffer: the evbuffer is frozen");
	}
	emit_push(ctx->job, e);
	return 0;
}

struct evpool *
evpool_ctx_pool(struct evpool_ctx *ctx)
{
	return ctx ? ctx->pool : NULL;
}

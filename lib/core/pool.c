/*
 * pool.c — the pool: creation, submission, lifecycle, waiting, statistics.
 *
 * DESIGN: a pool owns its queues (the default one and any named ones), its
 * mailboxes (one per event_base it has served, plus the detached one behind
 * evpool_fd()) and, in thread mode, a timeout thread; job memory belongs to
 * no pool (job-memory.c).  n_submitted less the outcome counters is the
 * number of jobs not yet finished; join() waits for it to reach zero.
 * Every blocking call waits through evpool__pool_wait(), which on a loop
 * thread of this pool delivers that loop's completions while it waits (so
 * waiting on the loop cannot deadlock) — a base whose loop has not run for
 * EVPOOL__ADOPT_GRACE_NS counts as the loop of the thread that made its
 * mailbox — and elsewhere sleeps on the pool's wait condvar.  Teardown
 * order in evpool_free(): close, cancel the queues, flag running jobs, join
 * the workers (every job is now finished and
 * pushed), stop the timer, then deliver what is owed and free.
 */
#include "core/evpool-internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

void *
evpool__zalloc_lines(size_t size)
{
	void *p;

	if (posix_memalign(&p, 64, size) != 0)
		return NULL;
	return memset(p, 0, size);
}

/* ---- waiting ------------------------------------------------------------ */

void
evpool__pool_wake(struct evpool *pool)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&pool->nwaiters, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&pool->wait_mu);
	pthread_cond_broadcast(&pool->wait_cv);
	pthread_mutex_unlock(&pool->wait_mu);
}

#define WAIT_MAX_LOOPS 16

/* The mailboxes whose completions a wait in this thread delivers now;
 * *@p later: some it may deliver once their grace has passed. */
static unsigned
mailboxes_here(struct evpool *pool, struct evpool__mailbox **mine, bool *later)
{
	struct evpool__mailbox *mb;
	unsigned n = 0;

	*later = false;
	pthread_mutex_lock(&pool->mu);
	for (mb = pool->mailboxes; mb && n < WAIT_MAX_LOOPS; mb = mb->next) {
		if (evpool__mailbox_delivers_here(mb))
			mine[n++] = mb;
		else if (evpool__mailbox_may_deliver_here(mb))
			*later = true;
	}
	pthread_mutex_unlock(&pool->mu);
	return n;
}

int
evpool__pool_wait(struct evpool *pool, bool (*done)(void *), void *arg,
		  int timeout_ms)
{
	struct evpool__mailbox *mine[WAIT_MAX_LOOPS];
	struct pollfd pfd[WAIT_MAX_LOOPS];
	uint64_t deadline = evpool__deadline_ns(timeout_ms);
	bool later;
	unsigned n;
	int r = 0;

	if (evpool__inherited(pool))
		return evpool__err(-ESHUTDOWN,
				   "the pool was inherited across fork()");
	n = mailboxes_here(pool, mine, &later);
	if (n == 0 && !later) {
		pthread_mutex_lock(&pool->wait_mu);
		atomic_fetch_add(&pool->nwaiters, 1);
		while (!done(arg)) {
			if (evpool__cond_wait(&pool->wait_cv, &pool->wait_mu,
					      deadline) == ETIMEDOUT &&
			    !done(arg)) {
				r = -ETIMEDOUT;
				break;
			}
		}
		atomic_fetch_sub(&pool->nwaiters, 1);
		pthread_mutex_unlock(&pool->wait_mu);
		return r;
	}
	/* On a loop thread, or the thread of a base whose loop has never
	 * run: deliver its completions while we wait, so a wait returns with
	 * the callbacks of what it waited for run.  The set is looked at
	 * again each round: a loop that starts on another thread takes its
	 * base over. */
	for (;;) {
		uint64_t now;
		int ms;

		for (unsigned i = 0; i < n; i++)
			evpool__mailbox_drain(mine[i]);
		if (done(arg)) {
			/* A completion counts as done a moment before it is
			 * pushed: take what has landed since. */
			for (unsigned i = 0; i < n; i++)
				evpool__mailbox_drain(mine[i]);
			return 0;
		}
		now = evpool__now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Short naps: a job of another base does not wake our fds. */
		ms = deadline == UINT64_MAX ? 5
		     : (int)((deadline - now + 999999) / 1000000);
		if (ms > 5)
			ms = 5;
		for (unsigned i = 0; i < n; i++) {
			pfd[i].fd = mine[i]->rfd;
			pfd[i].events = POLLIN;
		}
		poll(pfd, n, ms);
		n = mailboxes_here(pool, mine, &later);
	}
}

/* ---- mailboxes ---------------------------------------------------------- */

static int
mailbox_for(struct evpool *pool, struct event_base *base,
	    struct evpool__mailbox **mbp)
{
	struct evpool__mailbox *mb;
	int r = 0;

	if (!base) {
		*mbp = pool->detached;
		return 0;
	}
	mb = atomic_load_explicit(&pool->mb_cache, memory_order_acquire);
	if (evpool__likely(mb && mb->base == base)) {
		*mbp = mb;
		return 0;
	}
	pthread_mutex_lock(&pool->mu);
	for (mb = pool->mailboxes; mb; mb = mb->next)
		if (mb->base == base)
			break;
	if (!mb) {
		r = evpool__mailbox_new(pool, base, &mb);
		if (r == 0) {
			mb->next = pool->mailboxes;
			pool->mailboxes = mb;
		}
	}
	if (r == 0) {
		atomic_store_explicit(&pool->mb_cache, mb, memory_order_release);
		*mbp = mb;
	}
	pthread_mutex_unlock(&pool->mu);
	return r;
}

int
evpool__pool_mailbox(struct evpool *pool, struct event_base *base,
		     struct evpool__mailbox **mbp)
{
	return mailbox_for(pool, base ? base : pool->base, mbp);
}

/* ---- creation ----------------------------------------------------------- */

static const struct evpool__mode_ops *
mode_ops(enum evpool_mode mode)
{
	if (mode == EVPOOL_MODE_THREAD)
		return &evpool__thread_ops;
	if (mode == EVPOOL_MODE_REMOTE)
		return evpool__remote_ops;
	return evpool__process_ops;
}

atomic_uint evpool__fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void
fork_child(void)
{
	atomic_fetch_add_explicit(&evpool__fork_gen, 1, memory_order_relaxed);
}

static void
fork_init(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

int
evpool_new(struct evpool **poolp, struct event_base *base,
	   const struct evpool_config *cfg)
{
	struct evpool *pool;
	struct evpool_queue *q;
	int r;

	if (!poolp)
		return evpool__err(-EINVAL, "evpool_new: NULL pool pointer");
	evpool__spin_init();
	pthread_once(&fork_once, fork_init);
	pool = evpool__zalloc_lines(sizeof(*pool));
	if (!pool)
		return evpool__err(-ENOMEM, "evpool_new: out of memory");
	pool->fork_gen = atomic_load(&evpool__fork_gen);
	if (cfg)
		pool->cfg = *cfg;
	else
		evpool__config_defaults(&pool->cfg);
	if (!pool->cfg.max_workers)
		pool->cfg.max_workers = evpool__online_cpus();
	if (pool->cfg.min_workers > pool->cfg.max_workers) {
		r = evpool__err(-EINVAL,
				"evpool_new: min_workers (%u) exceeds max_workers (%u)",
				pool->cfg.min_workers, pool->cfg.max_workers);
		free(pool);
		return r;
	}
	pool->ops = mode_ops(pool->cfg.mode);
	if (pool->ops)
		pool->submit_direct = pool->ops->submit_direct;
	if (!pool->ops) {
		bool remote = pool->cfg.mode == EVPOOL_MODE_REMOTE;

		free(pool);
		return remote
			       ? evpool__err(-ENOTSUP,
					     "evpool_new: this build has no remote mode (no hiredis)")
			       : evpool__err(-EINVAL,
					     "evpool_new: this build has no process mode");
	}
	pool->base = base;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_mutex_init(&pool->wait_mu, NULL);
	pthread_mutex_init(&pool->timer_mu, NULL);
	evpool__cond_init(&pool->wait_cv);
	evpool__cond_init(&pool->timer_cv);

	r = evpool__mailbox_new(pool, NULL, &pool->detached);
	if (r < 0)
		goto fail;
	pool->mailboxes = pool->mb_main = pool->detached;
	if (base) {
		r = mailbox_for(pool, base, &pool->mb_main);
		if (r < 0)
			goto fail;
	}
	r = evpool__queue_new(pool, "default", pool->cfg.min_workers,
			      pool->cfg.max_workers, &q);
	if (r < 0)
		goto fail;
	pool->dq = pool->queues = q;
	if (pool->ops->pool_start) {
		r = pool->ops->pool_start(pool);
		if (r < 0)
			goto fail;
	}
	pthread_mutex_lock(&q->mu);
	for (unsigned i = 0; i < q->min_workers && r == 0; i++)
		r = evpool__worker_spawn(q);
	pthread_mutex_unlock(&q->mu);
	if (r < 0) {
		evpool_free(pool);
		return evpool__err(-EAGAIN, "evpool_new: could not start min_workers");
	}
	*poolp = pool;
	return 0;
fail:
	if (pool->dq)
		evpool__queue_free(pool->dq);
	evpool__pool_release(pool);
	return r;
}

/* ---- submission --------------------------------------------------------- */

#define SUBMIT_FLAGS (EVPOOL_SUBMIT_BLOCK)

static inline int submit_commit(struct evpool *pool, struct evpool_queue *q,
				struct evpool__mailbox *mb,
				struct evpool_job *job, unsigned flags,
				int wait_ms, struct evpool_job **jobp);

int
evpool__submit(struct evpool *pool, const struct evpool_job_spec *spec,
	       evpool__sink_fn sink, struct evpool_job **jobp)
{
	struct evpool__mailbox *mb = NULL;
	struct evpool_queue *q;
	struct evpool_job *job;
	evpool_fn fn;
	int timeout, deadline, r;

	if (evpool__unlikely(!pool || !spec))
		return evpool__err(-EINVAL, "evpool_submit: NULL %s",
				   pool ? "spec" : "pool");
	if (evpool__unlikely(atomic_load_explicit(&pool->closed,
						  memory_order_relaxed) ||
			     evpool__inherited(pool)))
		return evpool__err(-ESHUTDOWN, "evpool_submit: the pool is %s",
				   atomic_load(&pool->closed)
					   ? "closed"
					   : "inherited across fork()");
	q = spec->queue ? spec->queue : pool->dq;
	fn = spec->fn ? spec->fn : q->default_fn;
	if (evpool__unlikely(!fn))
		return evpool__err(-EINVAL,
				   "evpool_submit: no job function and no default function");
	if (evpool__unlikely(q->pool != pool))
		return evpool__err(-EINVAL,
				   "evpool_submit: the queue belongs to another pool");
	if (evpool__unlikely(!spec->input && spec->input_len))
		return evpool__err(-EINVAL, "evpool_submit: NULL input of %zu bytes",
				   spec->input_len);
	if (evpool__unlikely(spec->flags & ~(unsigned)SUBMIT_FLAGS))
		return evpool__err(-EINVAL, "evpool_submit: unknown flags 0x%x",
				   spec->flags & ~(unsigned)SUBMIT_FLAGS);
	if (evpool__unlikely((spec->flags & EVPOOL_SUBMIT_BLOCK) &&
			     spec->wait_ms < -1))
		return evpool__err(-EINVAL, "evpool_submit: wait_ms %d (use -1 to wait for ever)",
				   spec->wait_ms);
	if (evpool__unlikely(spec->timeout_ms < -1))
		return evpool__err(-EINVAL, "evpool_submit: timeout_ms %d (use -1 for none)",
				   spec->timeout_ms);
	if (evpool__unlikely(spec->reserved[0] || spec->reserved[1]))
		return evpool__err(-EINVAL, "evpool_submit: reserved fields must be zero");
	if (evpool__unlikely(spec->input_evbuffer &&
			     (spec->input || spec->input_len)))
		return evpool__err(-EINVAL,
				   "evpool_submit: give input or input_evbuffer, not both");
	if (evpool__unlikely(spec->deadline_ms < -1))
		return evpool__err(-EINVAL, "evpool_submit: deadline_ms %d (use -1 for none)",
				   spec->deadline_ms);
	if (evpool__unlikely(pool->cfg.mode == EVPOOL_MODE_PROCESS && spec->arg))
		return evpool__err(-EINVAL,
				   "evpool_submit: process-mode pools take byte input (spec.input), not a pointer");
	if (evpool__unlikely(pool->cfg.mode == EVPOOL_MODE_REMOTE) &&
	    (r = evpool__remote_check(pool, spec)) < 0)
		return r;
	timeout = spec->timeout_ms == 0 ? (int)pool->cfg.job_timeout_ms
		  : spec->timeout_ms < 0 ? 0 : spec->timeout_ms;
	deadline = spec->deadline_ms == 0 ? (int)pool->cfg.job_deadline_ms
		   : spec->deadline_ms < 0 ? 0 : spec->deadline_ms;

	if (sink) {
		mb = pool->detached;	/* the sink delivers: hold no loop */
	} else {
		r = mailbox_for(pool, spec->base ? spec->base : pool->base, &mb);
		if (evpool__unlikely(r < 0))
			return r;
	}
	{
		bool ext = spec->input_len || spec->emit || sink || timeout ||
			   deadline || spec->input_evbuffer ||
			   q != pool->dq ||
			   pool->cfg.mode != EVPOOL_MODE_THREAD;

		job = evpool__job_alloc(mb, ext);
	}
	if (evpool__unlikely(!job))
		return evpool__err(-ENOMEM, "evpool_submit: out of memory");
	if (evpool__job_ext(job)) {
		struct evpool__job_ext *x = EVPOOL__EXT(job);

		if (spec->input_len && spec->input_len <= EVPOOL__INPUT_INLINE &&
		    pool->cfg.mode == EVPOOL_MODE_PROCESS) {
			/* Only the proxy reads it, while the job lives (in
			 * thread mode the bytes may move on into an evbuffer
			 * that outlives the job: evpool_ctx_input_evbuffer()) */
			x->input = x->input_inline;
			memcpy(x->input, spec->input, spec->input_len);
			x->input_len = spec->input_len;
		} else if (spec->input_len) {
			x->input = malloc(spec->input_len);
			if (!x->input) {
				evpool_job_unref(job); /* the queue's */
				evpool_job_unref(job);
				return evpool__err(-ENOMEM,
						   "evpool_submit: out of memory copying %zu input bytes",
						   spec->input_len);
			}
			memcpy(x->input, spec->input, spec->input_len);
			x->input_len = spec->input_len;
		}
		if (spec->input_evbuffer) {
			/* Moved, not copied: the chains change owner.  Done
			 * last, so that a failure leaves the caller's
			 * evbuffer as it was. */
			x->inbuf = evbuffer_new();
			if (!x->inbuf ||
			    evbuffer_add_buffer(x->inbuf, spec->input_evbuffer) < 0) {
				evpool_job_unref(job); /* the queue's */
				evpool_job_unref(job);
				return x->inbuf ? evpool__err(-EINVAL,
							      "evpool_submit: input_evbuffer is frozen (evbuffer_freeze())")
						: evpool__err(-ENOMEM,
							      "evpool_submit: out of memory");
			}
			x->input_len = evbuffer_get_length(x->inbuf);
		}
		if (deadline)
			x->expire_ns = evpool__now_ns() +
				       (uint64_t)deadline * 1000000u;
		x->emit = spec->emit;
		x->q = q;
		x->sink = sink;
		x->timeout_ms = timeout;
	}
	job->fn = fn;
	job->arg = spec->arg;
	job->done = spec->done;
	job->done_arg = spec->done_arg;
	job->status = spec->priority;	/* until it is placed */
	if (evpool__unlikely(spec->priority) &&
	    !atomic_load_explicit(&q->prio_used, memory_order_relaxed))
		atomic_store_explicit(&q->prio_used, true, memory_order_relaxed);
	if (evpool__likely(!evpool__job_ext(job) ||
			   (!EVPOOL__EXT(job)->inbuf && !EVPOOL__EXT(job)->expire_ns)))
		return submit_commit(pool, q, mb, job, spec->flags,
				     spec->wait_ms, jobp);
	/* Keep the job past the commit: a failed submit gives the moved
	 * chains back, a queued job gets its deadline armed. */
	evpool__job_ref(job);
	r = submit_commit(pool, q, mb, job, spec->flags, spec->wait_ms, jobp);
	if (r < 0 && EVPOOL__EXT(job)->inbuf)
		evbuffer_add_buffer(spec->input_evbuffer, EVPOOL__EXT(job)->inbuf);
	if (r == 0 && EVPOOL__EXT(job)->expire_ns &&
	    evpool__timer_arm_expire(pool, job) < 0) {
		/* No room in the timer heap: the deadline cannot be kept, and
		 * the submit cannot fail any more.  Cancel the job if it is
		 * still queued, so that the caller learns it at once. */
		(void)evpool_job_cancel(job);
	}
	evpool_job_unref(job);
	return r;
}

/* Every submit ends here, its job made and filled in: count it, queue it,
 * get a worker to it.  On failure the job is taken back and freed. */
static inline __attribute__((always_inline)) int
submit_commit(struct evpool *pool, struct evpool_queue *q,
	      struct evpool__mailbox *mb, struct evpool_job *job,
	      unsigned flags, int wait_ms, struct evpool_job **jobp)
{
	int r;

	/* Count the job before a worker can see it: it may finish at once
	 * (INV-HOLD). */
	evpool__mailbox_hold(mb);
	atomic_fetch_add_explicit(&pool->n_submitted, 1, memory_order_relaxed);
	/* The caller's reference too: once queued, the job may run, be
	 * delivered and be recycled before we get back here. */
	if (jobp)
		evpool__job_ref_handle(job);

	if (evpool__unlikely(pool->submit_direct != NULL) &&
	    pool->submit_direct(pool, q, job)) {
		if (jobp)
			*jobp = job;
		return 0;
	}
	r = evpool__queue_reserve(q, flags, wait_ms);
	if (evpool__unlikely(r < 0)) {
		if (r == -EAGAIN || r == -ETIMEDOUT)
			atomic_fetch_add_explicit(&pool->n_rejected, 1,
						  memory_order_relaxed);
		evpool_job_unref(job); /* never queued: the queue's ref */
		goto fail;
	}
	evpool__queue_push(q, job);
	r = evpool__queue_wake(q);
	if (evpool__unlikely(r < 0)) {
		/* No worker exists and none could be started: take the job
		 * back (nobody else can have it) and fail the submit. */
		pthread_mutex_lock(&q->mu);
		if (evpool__queue_flush(q) == 0 &&
		    evpool__job_claim(job, EVPOOL__QUEUED)) {
			evpool__queue_forget(q); /* keeps the queue's ref */
			pthread_mutex_unlock(&q->mu);
			r = evpool__err(-EAGAIN,
					"evpool_submit: no worker could be started: %s",
					evpool_strerror(r));
			goto fail;
		}
		pthread_mutex_unlock(&q->mu); /* stays queued; runs later */
	}
	if (jobp)
		*jobp = job;
	return 0;

fail:
	if (jobp)
		evpool_job_unref(job);
	atomic_fetch_sub(&pool->n_submitted, 1);
	evpool__mailbox_unhold(mb, 1);
	evpool_job_unref(job);
	evpool__pool_wake(pool);
	return r;
}

int
evpool_submit_job(struct evpool *pool, const struct evpool_job_spec *spec,
		  struct evpool_job **jobp)
{
	return evpool__err_as(evpool__submit(pool, spec, NULL, jobp),
			      "evpool_submit_job");
}

int
evpool_submit(struct evpool *pool, evpool_fn fn, void *arg, evpool_done_cb done,
	      void *done_arg)
{
	struct evpool_job *job;

	/* The common job, straight: a plain job (no extension) on the
	 * default queue and the pool's own base.  Anything else, and every
	 * error, goes the long way, which says what is wrong. */
	if (evpool__likely(pool && pool->cfg.mode == EVPOOL_MODE_THREAD &&
			   !pool->cfg.job_timeout_ms && !pool->cfg.job_deadline_ms && (fn || pool->dq->default_fn) &&
			   !atomic_load_explicit(&pool->closed,
						 memory_order_relaxed) &&
			   !evpool__inherited(pool)) &&
	    (job = evpool__job_alloc_plain(pool->mb_main)) != NULL) {
		job->fn = fn ? fn : pool->dq->default_fn;
		job->arg = arg;
		job->done = done;
		job->done_arg = done_arg;
		return submit_commit(pool, pool->dq, pool->mb_main, job, 0, 0,
				     NULL);
	}
	/* A process pool takes no pointer; with none, nothing crosses. */
	if (pool && pool->cfg.mode == EVPOOL_MODE_PROCESS && arg)
		return evpool__err(-EINVAL,
				   "evpool_submit: process-mode pools take byte input, not a pointer; use evpool_submit_job() with spec.input");
	return evpool__submit(pool, &(struct evpool_job_spec){
					    .fn = fn,
					    .arg = arg,
					    .done = done,
					    .done_arg = done_arg,
				    },
			      NULL, NULL);
}

/* ---- lifecycle ---------------------------------------------------------- */

#define CHECK_POOL(fn)                                                         \
	do {                                                                   \
		if (!pool)                                                     \
			return evpool__err(-EINVAL, fn ": NULL pool");         \
		if (evpool__inherited(pool))                                   \
			return evpool__err(-ESHUTDOWN, fn ": the pool was "    \
					   "inherited across fork()");         \
	} while (0)

static void
wake_room_waiters(struct evpool *pool)
{
	pthread_mutex_lock(&pool->mu);
	for (struct evpool_queue *q = pool->queues; q; q = q->next) {
		pthread_mutex_lock(&q->mu);
		pthread_cond_broadcast(&q->room_cv);
		pthread_mutex_unlock(&q->mu);
	}
	pthread_mutex_unlock(&pool->mu);
}

int
evpool_close(struct evpool *pool)
{
	CHECK_POOL("evpool_close");
	atomic_store(&pool->closed, true);
	wake_room_waiters(pool);
	return 0;
}

uint64_t
evpool__pool_unfinished(struct evpool *pool)
{
	/* Outcomes first: a job counted in both can only make it smaller. */
	uint64_t done = atomic_load(&pool->n_completed) +
			atomic_load(&pool->n_failed) +
			atomic_load(&pool->n_cancelled) +
			atomic_load(&pool->n_timed_out) +
			atomic_load(&pool->n_lib_errors) +
			atomic_load(&pool->n_crashed);

	return atomic_load(&pool->n_submitted) - done;
}

static bool
all_finished(void *arg)
{
	return evpool__pool_unfinished(arg) == 0;
}

int
evpool_join(struct evpool *pool, int timeout_ms)
{
	CHECK_POOL("evpool_join");
	if (evpool__self_deadlock(pool, NULL, "evpool_join"))
		return -EDEADLK;
	if (!atomic_load(&pool->closed))
		return evpool__err(-EINVAL,
				   "evpool_join: the pool is still open (call evpool_close() or evpool_terminate() first)");
	if (all_finished(pool))
		return 0;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	return evpool__pool_wait(pool, all_finished, pool, timeout_ms);
}

int
evpool_cancel_all(struct evpool *pool)
{
	int n = 0;

	CHECK_POOL("evpool_cancel_all");
	pthread_mutex_lock(&pool->mu);
	for (struct evpool_queue *q = pool->queues; q; q = q->next)
		n += evpool__queue_cancel_all(q);
	pthread_mutex_unlock(&pool->mu);
	return n;
}

static void
flag_running(struct evpool *pool)
{
	pthread_mutex_lock(&pool->mu);
	for (struct evpool_queue *q = pool->queues; q; q = q->next)
		evpool__queue_flag_running(q);
	pthread_mutex_unlock(&pool->mu);
}

int
evpool_terminate(struct evpool *pool)
{
	CHECK_POOL("evpool_terminate");
	if (evpool__self_deadlock(pool, NULL, "evpool_terminate"))
		return -EDEADLK;
	evpool_close(pool);
	evpool_cancel_all(pool);
	flag_running(pool);
	return evpool_join(pool, -1);
}

/* Finished, and no worker still runs a job: a thread-mode job completed
 * by its timeout (or a cancel it ignores) may run on. */
static bool
all_returned(void *arg)
{
	struct evpool *pool = arg;
	bool idle = all_finished(pool);

	if (!idle)
		return false;
	pthread_mutex_lock(&pool->mu);
	for (struct evpool_queue *q = pool->queues; q && idle; q = q->next)
		idle = atomic_load(&q->nrunning) == 0;
	pthread_mutex_unlock(&pool->mu);
	return idle;
}

int
evpool_shutdown(struct evpool *pool, int timeout_ms)
{
	uint64_t deadline;
	int r;

	CHECK_POOL("evpool_shutdown");
	if (evpool__self_deadlock(pool, NULL, "evpool_shutdown"))
		return -EDEADLK;
	evpool_close(pool);
	deadline = evpool__deadline_ns(timeout_ms);
	r = all_finished(pool) ? 0
	    : timeout_ms == 0 ? -ETIMEDOUT
	    : evpool__pool_wait(pool, all_finished, pool, timeout_ms);
	/* A job may still run after its completion (thread mode: past its
	 * timeout, or a cancel it ignores); nothing signals its return, so
	 * look every millisecond until the deadline. */
	while (r == 0 && !all_returned(pool)) {
		if (evpool__now_ns() >= deadline) {
			r = evpool__err(-ETIMEDOUT,
					"evpool_shutdown: a job still runs after its completion (a thread cannot be stopped)");
			break;
		}
		poll(NULL, 0, 1);
	}
	if (r == -ETIMEDOUT) {
		evpool_cancel_all(pool);
		flag_running(pool);
	}
	return r;
}

void
evpool__pool_pin(struct evpool *pool)
{
	atomic_fetch_add_explicit(&pool->live_jobs, 1, memory_order_relaxed);
}

void
evpool__pool_unpin(struct evpool *pool)
{
	/* evpool_free() sets dead while it holds a pin of its own, so the
	 * pin that brings the count to 0 after that sees dead. */
	if (atomic_fetch_sub_explicit(&pool->live_jobs, 1,
				      memory_order_acq_rel) == 1 &&
	    atomic_load(&pool->dead))
		evpool__pool_release(pool);
}

void
evpool__pool_release(struct evpool *pool)
{
	struct evpool__mailbox *mb;

	while ((mb = pool->mailboxes) != NULL) {
		pool->mailboxes = mb->next;
		evpool__mailbox_free(mb);
	}
	pthread_mutex_destroy(&pool->mu);
	pthread_mutex_destroy(&pool->wait_mu);
	pthread_mutex_destroy(&pool->timer_mu);
	pthread_cond_destroy(&pool->wait_cv);
	pthread_cond_destroy(&pool->timer_cv);
	free(pool);
}

static bool
mailbox_settled(void *arg)
{
	struct evpool__mailbox *mb = arg;

	return atomic_load(&mb->outstanding) == 0;
}

void
evpool_free(struct evpool *pool)
{
	struct evpool__mailbox *mb;
	struct evpool_queue *q;

	/* An inherited pool: its threads are the parent's; leave it be (exit
	 * or exec reclaims the memory). */
	if (!pool || evpool__inherited(pool) || atomic_load(&pool->dead))
		return;
	/* From one of its jobs: it would wait for that job.  Refused. */
	if (evpool__self_deadlock(pool, NULL, "evpool_free"))
		return;
	if (evpool__tls_delivering == pool) {
		/* Inside one of our callbacks: finish the batch first. */
		evpool__tls_free_deferred = pool;
		return;
	}
	/* No re-entry from callbacks below; and hold the memory ourselves, so
	 * that the last job delivered below cannot release it under us. */
	evpool__pool_pin(pool);
	atomic_store(&pool->dead, true);
	evpool_close(pool);
	evpool_cancel_all(pool);
	flag_running(pool);
	for (q = pool->queues; q; q = q->next)
		evpool__queue_stop_workers(q);
	evpool__timer_stop(pool);
	if (pool->ops->pool_stop)
		pool->ops->pool_stop(pool);

	/* Every job is finished and pushed: deliver what is owed. */
	for (mb = pool->mailboxes; mb; mb = mb->next) {
		if (evpool__mailbox_unowned(mb) || evpool__mailbox_is_mine(mb)) {
			while (atomic_load(&mb->outstanding) > 0)
				evpool__mailbox_drain(mb);
		} else {
			/* Its own loop thread delivers; wait for it. */
			while (!mailbox_settled(mb)) {
				struct pollfd none;
				poll(&none, 0, 1);
			}
		}
	}
	/* Their memory stays until the pool's does: a job the user still
	 * holds reaches the pool through its mailbox. */
	for (mb = pool->mailboxes; mb; mb = mb->next)
		evpool__mailbox_close(mb);
	while ((q = pool->queues) != NULL) {
		pool->queues = q->next;
		evpool__queue_free(q);
	}
	evpool__pool_unpin(pool);
}

/* ---- run-time settings and inspection ----------------------------------- */

int
evpool_set_max_workers(struct evpool *pool, unsigned max_workers)
{
	struct evpool_queue *q;

	CHECK_POOL("evpool_set_max_workers");
	if (max_workers < 1 || max_workers > EVPOOL__MAX_WORKERS)
		return evpool__err(-EINVAL, "max_workers must be 1..%d, got %u",
				   EVPOOL__MAX_WORKERS, max_workers);
	q = pool->dq;
	pthread_mutex_lock(&q->mu);
	if (max_workers < q->min_workers)
		q->min_workers = max_workers;
	q->max_workers = max_workers;
	pool->cfg.max_workers = max_workers;
	/* Grow into queued work now; surplus workers leave when idle. */
	while (evpool__queue_len(q) > q->nworkers - q->nrunning &&
	       q->nworkers < q->max_workers)
		if (evpool__worker_spawn(q) < 0)
			break;
	pthread_cond_broadcast(&q->work_cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

int
evpool_get_stats(struct evpool *pool, struct evpool_stats *st)
{
	CHECK_POOL("evpool_get_stats");
	if (!st)
		return evpool__err(-EINVAL, "evpool_get_stats: NULL stats");
	memset(st, 0, sizeof(*st));
	st->submitted = atomic_load_explicit(&pool->n_submitted, memory_order_relaxed);
	st->completed = atomic_load_explicit(&pool->n_completed, memory_order_relaxed);
	st->failed = atomic_load_explicit(&pool->n_failed, memory_order_relaxed);
	st->cancelled = atomic_load_explicit(&pool->n_cancelled, memory_order_relaxed);
	st->timed_out = atomic_load_explicit(&pool->n_timed_out, memory_order_relaxed);
	st->rejected = atomic_load_explicit(&pool->n_rejected, memory_order_relaxed);
	st->lib_errors = atomic_load_explicit(&pool->n_lib_errors, memory_order_relaxed);
	st->expired = atomic_load_explicit(&pool->n_expired, memory_order_relaxed);
	st->crashed = atomic_load_explicit(&pool->n_crashed, memory_order_relaxed);
	st->respawns = atomic_load_explicit(&pool->n_respawns, memory_order_relaxed);
	pthread_mutex_lock(&pool->mu);
	for (struct evpool_queue *q = pool->queues; q; q = q->next) {
		pthread_mutex_lock(&q->mu);
		evpool__queue_note_peak(q); /* the peak may be now */
		st->queued += evpool__queue_len(q);
		st->running += q->nrunning;
		st->workers += q->nworkers;
		st->busy_workers += q->nrunning;
		st->idle_workers += q->nworkers - q->nrunning;
		pthread_mutex_unlock(&q->mu);
	}
	st->max_workers = pool->dq->max_workers;
	pthread_mutex_unlock(&pool->mu);
	st->peak_queued = atomic_load_explicit(&pool->peak_queued, memory_order_relaxed);
	if (pool->ops->stats)
		pool->ops->stats(pool, st);
	return 0;
}

int
evpool_fd(struct evpool *pool)
{
	CHECK_POOL("evpool_fd");
	return pool->detached->rfd;
}

int
evpool_drain(struct evpool *pool)
{
	CHECK_POOL("evpool_drain");
	return evpool__mailbox_drain(pool->detached);
}

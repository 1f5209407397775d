/*
 * worker.c — worker threads, and the timeout thread of thread mode.
 *
 * DESIGN: a worker belongs to one queue.  worker_main() claims the oldest
 * job left in another worker's batch if there is one (FIFO among equals
 * across workers), else takes a job or a batch, runs it through the pool's
 * mode ops (thread mode: call the function here; process mode: a proxy for
 * a worker process) and accounts for it; worker_idle() is what it does when
 * there is nothing: spin, or sleep on the queue's work_cv (INV-WAKE,
 * lib/core/README.md).  Workers start on demand: submitters push on the
 * queue's lock-free intake and take the queue mutex only to signal a
 * sleeping worker, and only if no wakeup is already on its way to every
 * sleeper (q->nwakeups < q->nsleeping, so no thundering herd), or to start
 * a new worker when the queue holds more jobs than there are workers not
 * busy with a job; a worker stops counting as busy just before its job's
 * completion is published, so a submit made in answer to it reuses that
 * worker instead of starting another.  An idle worker spins briefly before
 * it sleeps, while spinning pays (the budget adapts to how soon jobs came
 * after its recent spins), so a busy pool's submitters rarely take the
 * mutex at all and a lightly loaded one burns no CPU waiting.  Workers above
 * min_workers exit after the idle timeout; an exiting worker parks itself on q->exited and is joined by the
 * next spawner or by the pool's stop, so no thread is ever left unjoined.
 * Workers block every signal: the host's signals go to the host's threads.
 *
 * Thread-mode timeouts: a single "<prefix>/timer" thread, started with the
 * first job that has a timeout, keeps a min-heap of running jobs by deadline.
 * At a deadline it sets the job's cancelled flag and tries to finish it with
 * -ETIMEDOUT; if the worker finishes first, the job leaves the heap instead.
 */
#include "core/evpool-internal.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- time --------------------------------------------------------------- */

uint64_t
evpool__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
evpool__deadline_ns(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return evpool__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

void
evpool__mutex_init_hot(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
#ifdef PTHREAD_MUTEX_ADAPTIVE_NP
	/* Held for a few hundred ns at a time by workers on other CPUs: spin
	 * a little before sleeping, since a futex wait and wake cost two
	 * system calls (several microseconds on a virtual machine). */
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
}

int
evpool__cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int r;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	r = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return -r;
}

int
evpool__cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline)
{
	struct timespec ts;

	if (deadline == UINT64_MAX)
		return pthread_cond_wait(cv, mu);
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);
	return pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- thread mode -------------------------------------------------------- */

static int
thread_worker_start(struct evpool__worker *w)
{
	/* A worker whose initializer failed stays, and fails the jobs it
	 * takes with EVPOOL_ESPAWN (trying the initializer again first), as
	 * a process worker that cannot be started does: jobs are not left
	 * queued for a worker that will never come. */
	w->init_failed = evpool__run_initializer(&w->q->pool->cfg) != 0;
	return 0;
}

static void
thread_worker_stop(struct evpool__worker *w)
{
	struct evpool_config *cfg = &w->q->pool->cfg;

	if (cfg->fini && !w->init_failed)
		cfg->fini(cfg->init_arg);
}

static void
thread_run(struct evpool__worker *w, struct evpool_job *job)
{
	struct evpool *pool = w->q->pool;
	struct evpool__job_ext *x = evpool__job_ext(job);
	struct evpool_ctx ctx = {
		.job = job,
		.pool = pool,
		.arg = job->arg,
		.input = x ? x->input : NULL,
		.input_len = x ? x->input_len : 0,
		.inbuf = x ? x->inbuf : NULL, /* the job's: it owns it */
	};
	bool timed = x && x->timeout_ms > 0;
	/* Read before the timer is armed: a timeout writes the result,
	 * which shares the field. */
	evpool_fn fn = job->fn;
	int status;

	if (evpool__unlikely(w->init_failed) &&
	    (w->init_failed = evpool__run_initializer(&pool->cfg) != 0)) {
		if (evpool__job_claim(job, EVPOOL__RUNNING))
			evpool__job_complete(job, EVPOOL__FIN_ERROR,
					     EVPOOL_ESPAWN);
		return;
	}
	if (timed && evpool__timer_arm(pool, job) < 0) {
		if (evpool__job_claim(job, EVPOOL__RUNNING))
			evpool__job_complete(job, EVPOOL__FIN_ERROR,
					     EVPOOL_ESPAWN);
		return;
	}
	evpool__tls_job = job;
	status = fn(&ctx);
	evpool__tls_job = NULL;
	if (!x) {
		/* Nothing else can finish a plain job: no claim needed
		 * (INV-ONCE). */
		if (evpool__job_set_output_ctx(job, &ctx) < 0)
			status = -ENOMEM;
		evpool__worker_release(w);
		evpool__job_complete_ran(job, status);
		return;
	}
	if (timed)
		evpool__timer_disarm(pool, job);
	if (evpool__job_claim(job, EVPOOL__RUNNING)) {
		if (evpool__job_set_output_ctx(job, &ctx) < 0)
			status = -ENOMEM; /* no room to keep the bytes */
		evpool__worker_release(w);
		evpool__job_complete(job, EVPOOL__FIN_RAN, status);
	} else {
		evpool__job_discard_ctx(&ctx); /* timed out: late result */
	}
}

const struct evpool__mode_ops evpool__thread_ops = {
	.worker_start = thread_worker_start,
	.worker_stop = thread_worker_stop,
	.run = thread_run,
};

/* ---- workers ------------------------------------------------------------ */

void
evpool__worker_release(struct evpool__worker *w)
{
	if (!w->released) {
		w->released = true;
		atomic_fetch_sub(&w->q->nrunning, 1);
	}
}

/* After ops->run: the worker is not busy any more, if the mode did not
 * say so already. */
static void
worker_unbusy(struct evpool__worker *w)
{
	if (!w->released)
		atomic_fetch_sub(&w->q->nrunning, 1);
	w->released = false;
}

static void
set_thread_name(const char *prefix, const char *suffix)
{
#ifdef HAVE_PTHREAD_SETNAME_NP
	char name[32];

	snprintf(name, sizeof(name), "%s/%s", prefix, suffix);
	name[15] = '\0'; /* the kernel's limit */
	pthread_setname_np(pthread_self(), name);
#else
	(void)prefix;
	(void)suffix;
#endif
}

/* How long an idle worker polls its queue before it sleeps, at most.  The
 * budget adapts per worker, as the loop's does (notify.c): it doubles when
 * a job came while the worker spun and halves when none did; below
 * WORKER_SPIN_MIN_NS the worker sleeps at once, and spins once more at the
 * full budget every WORKER_SPIN_PROBE idle turns, to notice when jobs come
 * close together again.  A pool fed one job every millisecond thus stops
 * paying 20 us of spinning (and a sched_yield) per job that the spin never
 * caught (lowload at 1 ms: ~35 % of the process's CPU went there). */
#define WORKER_SPIN_NS 20000u
#define WORKER_SPIN_MIN_NS 1000u
#define WORKER_SPIN_PROBE 64u

bool evpool__spin_disabled;
bool evpool__spin_yield = true;
/* Idle workers spinning at once, process-wide, and the cap: one CPU is
 * left for the loop thread that feeds them (measured: with two workers
 * spinning on two CPUs, windowed throughput halved). */
static atomic_uint spinners;
static unsigned spinners_max;
static pthread_once_t spin_once = PTHREAD_ONCE_INIT;

static void
spin_decide(void)
{
	evpool__spin_disabled = evpool__online_cpus() < 2 ||
				getenv("EVPOOL_NO_SPIN") != NULL;
	spinners_max = evpool__online_cpus() - 1;
}

void
evpool__spin_init(void)
{
	pthread_once(&spin_once, spin_decide);
}

/* Called with q->mu held; drops it while spinning, until work shows up or
 * the window closes.  @return true if it spun (the caller must then look at
 * the queue again before it sleeps), false if spinning is disabled. */
static bool
spin_for_work(struct evpool__worker *w)
{
	struct evpool_queue *q = w->q;
	uint64_t end;
	bool got = false;

	if (evpool__spin_disabled)
		return false;
	if (w->spin_ns < WORKER_SPIN_MIN_NS) {
		if (++w->spin_probe < WORKER_SPIN_PROBE)
			return false;
		w->spin_probe = 0;
		w->spin_ns = WORKER_SPIN_NS;
	}
	if (atomic_fetch_add(&spinners, 1) >= spinners_max) {
		atomic_fetch_sub(&spinners, 1);
		return false;
	}
	pthread_mutex_unlock(&q->mu);
	evpool__job_memory_refill();
	end = evpool__now_ns() + w->spin_ns;
	for (unsigned i = 0;; i++) {
		if (evpool__queue_len(q)) {
			got = true;
			break;
		}
		evpool__cpu_relax();
		if ((i & 63) == 63) {
			if (evpool__now_ns() >= end)
				break;
			/* More runnable threads than CPUs (the loop thread
			 * included): let the one that feeds us run. */
			if (evpool__spin_yield)
				sched_yield();
		}
	}
	atomic_fetch_sub(&spinners, 1);
	if (got)
		w->spin_ns = w->spin_ns * 2 > WORKER_SPIN_NS ? WORKER_SPIN_NS
							     : w->spin_ns * 2;
	else
		w->spin_ns /= 2;
	pthread_mutex_lock(&q->mu);
	return true;
}

/* How many jobs a worker takes from its queue at once (queue.c).  A batch
 * saves the lock and the bookkeeping of each job.  Thread mode only (a
 * process worker prefetches in its own way), not for a bounded queue (its
 * blocked submitters are signalled as jobs leave, under the lock), and
 * not once the queue has seen a priority (a batched job would skip the
 * priority order). */
static unsigned
batch_want(struct evpool_queue *q)
{
	if (q->pool->ops != &evpool__thread_ops || q->max_queued ||
	    atomic_load_explicit(&q->prio_used, memory_order_relaxed))
		return 1;
	return EVPOOL__BATCH_MAX;
}

/* Run the jobs of w->batch (q->mu held, dropped meanwhile), then end it. */
static void
batch_run(struct evpool__worker *w)
{
	struct evpool_queue *q = w->q;
	const struct evpool__mode_ops *ops = q->pool->ops;
	struct evpool_job *job;

	pthread_mutex_unlock(&q->mu);
	while ((job = evpool__batch_claim(q, &w->batch)) != NULL) {
		/* Running from each job's claim, not from the take: its jobs
		 * wait until then.  Not running from its completion on (see
		 * evpool__worker_release()). */
		atomic_fetch_add(&q->nrunning, 1);
		ops->run(w, job);
		worker_unbusy(w);
		w->jobs_done++;
		/* The first job with a priority: what we have not started
		 * goes back, so that it can run first. */
		if (evpool__unlikely(atomic_load_explicit(
			    &q->prio_used, memory_order_relaxed))) {
			pthread_mutex_lock(&q->mu);
			evpool__queue_batch_unclaim(q, &w->batch);
			pthread_mutex_unlock(&q->mu);
		}
	}
	pthread_mutex_lock(&q->mu);
	evpool__queue_batch_end(q, &w->batch);
}

static void
worker_unlink(struct evpool_queue *q, struct evpool__worker *w)
{
	struct evpool__worker **pp;

	for (pp = &q->workers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
}

/* What an idle worker does next (worker_idle()). */
enum idle {
	IDLE_AGAIN,	/* look at the queue again */
	IDLE_LEAVE,	/* exit: stopping, over the limit, or idle too long */
};

/*
 * Neither the queue nor another worker's batch had anything for @p w (q->mu
 * held): spin a little, or sleep on work_cv until a submit signals or the
 * idle timeout passes.  @p spun carries "spun since the last sleep" across
 * calls.
 */
static enum idle
worker_idle(struct evpool__worker *w, bool *spun)
{
	struct evpool_queue *q = w->q;
	uint64_t deadline = UINT64_MAX;
	int r;

	if (q->stopping || q->nworkers > q->max_workers)
		return IDLE_LEAVE;
	/* Spin a little before sleeping: a job arriving within the window
	 * costs no futex wake on either side.  Bounded, so an idle pool
	 * burns ~nothing.  After a spin, look at the queue again under the
	 * lock before sleeping: a submit that came while we spun saw no
	 * sleeper to signal. */
	if (!*spun) {
		*spun = spin_for_work(w);
		if (*spun)
			return IDLE_AGAIN;
	}
	*spun = false;
	if (q->nworkers > q->min_workers)
		deadline = evpool__deadline_ns((int)q->idle_timeout_ms);
	/* INV-WAKE, the worker's side: announce the sleep, then look at the
	 * intake once more (both seq_cst).  A submitter that pushed before
	 * seeing nsleeping > 0 is seen here; one that sees it takes q->mu and
	 * signals after we wait. */
	atomic_fetch_add(&q->nsleeping, 1);
	if (atomic_load(&q->intake)) {
		atomic_fetch_sub(&q->nsleeping, 1);
		return IDLE_AGAIN;
	}
	r = evpool__cond_wait(&q->work_cv, &q->mu, deadline);
	q->nsleeping--;
	if (q->nwakeups)
		q->nwakeups--;
	if (r == ETIMEDOUT && evpool__queue_len(q) == 0 &&
	    q->nworkers > q->min_workers)
		return IDLE_LEAVE;
	return IDLE_AGAIN;
}

/* A worker thread: take a job (or a batch), run it, account for it; idle
 * (worker_idle()) when the queue is empty. */
static void *
worker_main(void *arg)
{
	struct evpool__worker *w = arg;
	struct evpool_queue *q = w->q;
	struct evpool *pool = q->pool;
	const struct evpool__mode_ops *ops = pool->ops;
	char num[12];
	bool started, spun = false;

	snprintf(num, sizeof(num), "%u", w->id);
	set_thread_name(pool->cfg.name, num);
	evpool__tls_worker = w; /* evpool__self_deadlock() */
	started = !ops->worker_start || ops->worker_start(w) == 0;

	pthread_mutex_lock(&q->mu);
	while (started) {
		struct evpool_job *job;
		unsigned want;

		/* Above the limit (kill_workers, a lowered max_workers): leave
		 * after the current job, not only once the queue is empty. */
		if (evpool__unlikely(q->nworkers > q->max_workers))
			break;
		/* FIFO among equals across workers: a job waiting in
		 * another worker's batch is older than any still queued (a
		 * batch is taken from the queue's front, and only when no
		 * batch holds a job not started), so it starts first; its
		 * owner may be stuck in a long job.  A stolen job is RUNNING
		 * already, with a reference of its own. */
		if (q->batches && (job = evpool__queue_steal(q)) != NULL)
			goto run;
		/* Take: a batch (run whole), or one job. */
		want = batch_want(q);
		if (want > 1) {
			if (evpool__queue_take(q, &w->batch, want, &job) > 1) {
				batch_run(w);
				continue;
			}
		} else {
			job = evpool__queue_pop(q);
		}
		if (!job) {
			if (worker_idle(w, &spun) == IDLE_LEAVE)
				break;
			continue;
		}
		/* The pop gave us the queue's reference: dropped below. */
		evpool__job_set_state(job, EVPOOL__QUEUED, EVPOOL__RUNNING);

run:		/* Run. */
		w->current = job;
		if (evpool__job_ext(job))
			EVPOOL__EXT(job)->worker = w;
		q->nrunning++;
		pthread_mutex_unlock(&q->mu);

		ops->run(w, job);

		/* Account. */
		pthread_mutex_lock(&q->mu);
		w->current = NULL;
		worker_unbusy(w);
		w->jobs_done++;
		evpool_job_unref(job);
	}
	/* Leave: stop counting as a worker first, so a submit can replace us
	 * while the finalizer runs. */
	worker_unlink(q, w);
	q->nworkers--;
	q->nleaving++; /* evpool__queue_stop_workers() waits for us */
	if (!q->stopping && evpool__queue_len(q) > 0)
		evpool__queue_kick(q);
	pthread_mutex_unlock(&q->mu);

	if (started && ops->worker_stop)
		ops->worker_stop(w);

	pthread_mutex_lock(&q->mu);
	w->next = q->exited;
	q->exited = w;
	q->nleaving--;
	pthread_cond_broadcast(&q->room_cv); /* evpool__queue_stop_workers */
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

void
evpool__queue_reap(struct evpool_queue *q)
{
	struct evpool__worker *w;

	while ((w = q->exited) != NULL) {
		q->exited = w->next;
		pthread_join(w->tid, NULL);
		free(w);
	}
}

int
evpool__worker_spawn(struct evpool_queue *q)
{
	struct evpool__worker *w;
	sigset_t all, old;
	int r;

	evpool__queue_reap(q);
	w = calloc(1, sizeof(*w));
	if (!w)
		return evpool__err(-ENOMEM, "worker: out of memory");
	w->q = q;
	w->id = atomic_fetch_add(&q->pool->next_worker_id, 1) + 1;
	w->spin_ns = WORKER_SPIN_NS;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->tid, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		free(w);
		return evpool__err(-r, "pthread_create: %s", strerror(r));
	}
	w->next = q->workers;
	q->workers = w;
	q->nworkers++;
	return 0;
}

int
evpool__queue_kick(struct evpool_queue *q)
{
	bool sig = false;
	int r = evpool__queue_kick_later(q, &sig);

	if (sig)
		pthread_cond_signal(&q->work_cv);
	return r;
}

int
evpool__queue_kick_later(struct evpool_queue *q, bool *signal)
{
	size_t queued = evpool__queue_len(q);

	if (q->nsleeping > q->nwakeups) {
		q->nwakeups++;
		*signal = true;
		return 0;
	}
	if (queued > q->nworkers - q->nrunning && q->nworkers < q->max_workers) {
		int r = evpool__worker_spawn(q);
		if (r < 0 && q->nworkers == 0)
			return r;
	}
	return 0;
}

void
evpool__queue_stop_workers(struct evpool_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->work_cv);
	while (q->nworkers > 0 || q->workers || q->nleaving > 0)
		pthread_cond_wait(&q->room_cv, &q->mu);
	evpool__queue_reap(q);
	pthread_mutex_unlock(&q->mu);
}

/* ---- thread-mode timeouts ----------------------------------------------- */

static bool
heap_less(struct evpool_job *a, struct evpool_job *b)
{
	return EVPOOL__EXT(a)->deadline_ns < EVPOOL__EXT(b)->deadline_ns;
}

static void
heap_set(struct evpool *pool, size_t i, struct evpool_job *job)
{
	pool->theap[i] = job;
	EVPOOL__EXT(job)->timer_idx = i + 1;
}

static void
heap_up(struct evpool *pool, size_t i)
{
	struct evpool_job *job = pool->theap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!heap_less(job, pool->theap[parent]))
			break;
		heap_set(pool, i, pool->theap[parent]);
		i = parent;
	}
	heap_set(pool, i, job);
}

static void
heap_down(struct evpool *pool, size_t i)
{
	struct evpool_job *job = pool->theap[i];
	size_t n = pool->theap_len;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(pool->theap[c + 1], pool->theap[c]))
			c++;
		if (!heap_less(pool->theap[c], job))
			break;
		heap_set(pool, i, pool->theap[c]);
		i = c;
	}
	heap_set(pool, i, job);
}

static void
heap_remove(struct evpool *pool, struct evpool_job *job)
{
	size_t i = EVPOOL__EXT(job)->timer_idx - 1;
	struct evpool_job *last = pool->theap[--pool->theap_len];

	EVPOOL__EXT(job)->timer_idx = 0;
	if (last == job)
		return;
	heap_set(pool, i, last);
	heap_down(pool, i);
	heap_up(pool, EVPOOL__EXT(last)->timer_idx - 1);
}

/* A job still queued at its deadline from submit completes -ETIMEDOUT
 * without running, as a cancel takes a queued job. */
static void
expire_queued(struct evpool_job *job)
{
	struct evpool_queue *q = evpool__job_queue(job);

	pthread_mutex_lock(&q->mu);
	if (evpool__queue_flush(q) == 0 &&
	    evpool__job_claim(job, EVPOOL__QUEUED)) {
		evpool__queue_forget(q);
		pthread_mutex_unlock(&q->mu);
		evpool__job_complete(job, EVPOOL__FIN_EXPIRE, 0);
		return;
	}
	pthread_mutex_unlock(&q->mu);
}

static void *
timer_main(void *arg)
{
	struct evpool *pool = arg;

	set_thread_name(pool->cfg.name, "timer");
	pthread_mutex_lock(&pool->timer_mu);
	while (!pool->timer_stop) {
		struct evpool_job *job;

		if (pool->theap_len == 0) {
			pthread_cond_wait(&pool->timer_cv, &pool->timer_mu);
			continue;
		}
		job = pool->theap[0];
		if (evpool__now_ns() < EVPOOL__EXT(job)->deadline_ns) {
			evpool__cond_wait(&pool->timer_cv, &pool->timer_mu,
					  EVPOOL__EXT(job)->deadline_ns);
			continue;
		}
		heap_remove(pool, job);
		pthread_mutex_unlock(&pool->timer_mu);
		if (evpool__job_state(job, memory_order_acquire) ==
		    EVPOOL__QUEUED)
			expire_queued(job);
		/* Running: as a timeout.  Process mode: the proxy keeps the
		 * time of the jobs it holds (run_deadline()).
		 * Claim first, then raise the flag: a job that saw the flag
		 * and returned at once must not win as "cancelled". */
		if (pool->cfg.mode == EVPOOL_MODE_THREAD &&
		    evpool__job_claim(job, EVPOOL__RUNNING)) {
			evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
			evpool__job_complete(job, EVPOOL__FIN_TIMEOUT, 0);
		}
		evpool__pool_wake(pool); /* an emitter may be waiting */
		evpool_job_unref(job);
		pthread_mutex_lock(&pool->timer_mu);
	}
	pthread_mutex_unlock(&pool->timer_mu);
	return NULL;
}

/* Put @p job in the heap with @p deadline, or move it earlier if it is
 * there already (a job with a deadline from submit that starts with a
 * timeout from its start: whichever comes first). */
static int
timer_insert(struct evpool *pool, struct evpool_job *job, uint64_t deadline)
{
	struct evpool__job_ext *x = EVPOOL__EXT(job);
	int r = 0;

	pthread_mutex_lock(&pool->timer_mu);
	if (!pool->timer_started) {
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = pthread_create(&pool->timer_tid, NULL, timer_main, pool);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r) {
			pthread_mutex_unlock(&pool->timer_mu);
			return evpool__err(-r, "timer thread: %s", strerror(r));
		}
		pool->timer_started = true;
	}
	if (x->timer_idx) {
		if (deadline < x->deadline_ns) {
			x->deadline_ns = deadline;
			heap_up(pool, x->timer_idx - 1);
			if (pool->theap[0] == job)
				pthread_cond_signal(&pool->timer_cv);
		}
		pthread_mutex_unlock(&pool->timer_mu);
		return 0;
	}
	if (pool->theap_len == pool->theap_cap) {
		size_t cap = pool->theap_cap ? pool->theap_cap * 2 : 16;
		struct evpool_job **h = realloc(pool->theap, cap * sizeof(*h));
		if (!h) {
			pthread_mutex_unlock(&pool->timer_mu);
			return evpool__err(-ENOMEM, "timer: out of memory");
		}
		pool->theap = h;
		pool->theap_cap = cap;
	}
	x->deadline_ns = deadline;
	evpool__job_ref(job);
	heap_set(pool, pool->theap_len++, job);
	heap_up(pool, pool->theap_len - 1);
	if (pool->theap[0] == job)
		pthread_cond_signal(&pool->timer_cv);
	pthread_mutex_unlock(&pool->timer_mu);
	return r;
}

int
evpool__timer_arm(struct evpool *pool, struct evpool_job *job)
{
	return timer_insert(pool, job,
			    evpool__now_ns() +
				    (uint64_t)EVPOOL__EXT(job)->timeout_ms * 1000000u);
}

int
evpool__timer_arm_expire(struct evpool *pool, struct evpool_job *job)
{
	/* A job that finished meanwhile is not armed (job_finish() has
	 * disarmed already, or will find nothing). */
	if (evpool__job_state(job, memory_order_acquire) == EVPOOL__DONE)
		return 0;
	return timer_insert(pool, job, EVPOOL__EXT(job)->expire_ns);
}

void
evpool__timer_disarm(struct evpool *pool, struct evpool_job *job)
{
	bool held;

	pthread_mutex_lock(&pool->timer_mu);
	held = EVPOOL__EXT(job)->timer_idx != 0;
	if (held)
		heap_remove(pool, job);
	pthread_mutex_unlock(&pool->timer_mu);
	if (held)
		evpool_job_unref(job);
}

void
evpool__timer_stop(struct evpool *pool)
{
	pthread_mutex_lock(&pool->timer_mu);
	pool->timer_stop = true;
	pthread_cond_signal(&pool->timer_cv);
	pthread_mutex_unlock(&pool->timer_mu);
	if (pool->timer_started)
		pthread_join(pool->timer_tid, NULL);
	pool->timer_started = false;
	/* Entries of jobs that finished (job_finish() disarms them): none
	 * should be left, but a reference must never leak. */
	while (pool->theap_len > 0)
		evpool_job_unref(pool->theap[--pool->theap_len]);
	free(pool->theap);
	pool->theap = NULL;
	pool->theap_len = pool->theap_cap = 0;
}

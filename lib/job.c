/*
 * job.c — job handles: allocation, the finish race, delivery, the future
 * API (ready / successful / wait / get) and the in-job ctx API.
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
#include "evpool-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Job memory: a per-thread cache of free job structs, so that submitting
 * and releasing jobs on a warm thread takes no lock and calls no malloc.
 * Job memory belongs to no pool (job->mb is set at allocation); the
 * pool's own memory is pinned per live job instead.  A thread's cache is
 * freed when the thread exits (pthread key destructor) or, for the thread
 * that unloads the library, by the library destructor.
 *
 * Jobs come from slabs: 256 KiB blocks, aligned to their size, of slots
 * of one size class after a 64-byte header (4095 of 64 bytes for plain
 * jobs, fewer of 192 for jobs with an extension), handed out in order by
 * the thread that owns the block.  So a queued job costs 64 bytes and
 * nothing more (malloc would add its header: 80).  A slab counts the
 * slots not yet given back (its owner's unused ones included while it is
 * the owner's current slab); the last one given back, from any thread,
 * frees it.  Under AddressSanitizer jobs come from malloc, so that a use
 * after free is still caught.
 *
 * A new slab is slow to use where the first touch of each page is dear: on
 * a virtual machine with shadow page tables it costs ~5 us a page even
 * after MADV_POPULATE_WRITE (measured: 80 ns per 64-byte slot, a third of
 * a submit), and only a touch from user space, by any thread, makes it
 * cheap.  So a small process-wide reserve of touched, empty slabs is kept:
 * a thread that needs a slab takes one from there, and raises a flag that
 * idle workers look at; one that sees it maps and touches a slab for the
 * reserve, a few pages at a time, off the loop's thread.  A slab whose slots have all
 * come back refills the reserve too, before any is unmapped.
 */
#define JOB_CACHE_MAX 1024

#if defined(__SANITIZE_ADDRESS__)
#define JOB_SLABS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JOB_SLABS 0
#endif
#endif
#ifndef JOB_SLABS
#define JOB_SLABS 1
#endif

#define SLAB_SIZE (256u * 1024u)
#define SLAB_HEAD 64u			/* struct slab, a line of its own */
/* Slot sizes of the two classes, in whole cache lines: plain jobs, and
 * jobs with an extension. */
#define SLOT_SIZE(ext)                                                         \
	((ext) ? (sizeof(struct evpool_job) + sizeof(struct evpool__job_ext) + \
		  63u) & ~(size_t)63u                                          \
	       : sizeof(struct evpool_job))
#define SLAB_SLOTS(ext) ((SLAB_SIZE - SLAB_HEAD) / SLOT_SIZE(ext))

struct slab {
	atomic_size_t live;		/* slots not given back, + unused */
};

/* Two size classes: plain jobs and jobs with an extension. */
struct job_cache {
	struct evpool_job *head[2];
	unsigned n[2];
	struct slab *cur[2];		/* the slabs slots are cut from */
	size_t next[2];			/* their next slot (0..SLAB_SLOTS-1) */
};

static __thread struct job_cache *tls_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* A slab straight from mmap, aligned by trimming: malloc's memalign would
 * add a page of its own to each. */
static struct slab *
slab_map(void)
{
	size_t len = 2 * (size_t)SLAB_SIZE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;
	size_t head;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + SLAB_SIZE - 1) & ~(uintptr_t)(SLAB_SIZE - 1);
	head = a - (uintptr_t)p;
	if (head)
		munmap(p, head);
	munmap((char *)a + SLAB_SIZE, len - head - SLAB_SIZE);
#ifdef MADV_POPULATE_WRITE
	/* Fault the slab in with one call rather than a page at a time: its
	 * slots are about to be used in order.  (Linux 5.14; elsewhere the
	 * pages fault in as they are touched.) */
	madvise((void *)a, SLAB_SIZE, MADV_POPULATE_WRITE);
#endif
	return (struct slab *)a;
}

/* The reserve: at most SLAB_RESERVE slabs whose pages are touched. */
#define SLAB_RESERVE 2
static pthread_mutex_t reserve_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slab *reserve[SLAB_RESERVE];
static unsigned nreserve;
static atomic_bool reserve_low;	/* workers: touch a slab for it */

/* Keep @p sl in the reserve if there is room.  @return true if kept. */
static bool
reserve_put(struct slab *sl)
{
	bool kept = false;

	pthread_mutex_lock(&reserve_mu);
	if (nreserve < SLAB_RESERVE) {
		reserve[nreserve++] = sl;
		kept = true;
	}
	pthread_mutex_unlock(&reserve_mu);
	return kept;
}

/* A slab for a thread to cut jobs from: the reserve's, or a new one. */
static struct slab *
slab_get(void)
{
	struct slab *sl = NULL;

	pthread_mutex_lock(&reserve_mu);
	if (nreserve)
		sl = reserve[--nreserve];
	pthread_mutex_unlock(&reserve_mu);
	atomic_store_explicit(&reserve_low, true, memory_order_relaxed);
	return sl ? sl : slab_map();
}

/* The slab being touched for the reserve, a few pages per call so that an
 * idle worker is never away from its queue for long (~5 us a page). */
#define REFILL_PAGES 16
static struct slab *filling;
static size_t filled;

void
evpool__job_memory_refill(void)
{
	struct slab *sl, *extra = NULL;
	size_t from;
	bool more;

	/* One refiller at a time: whoever clears the flag; it raises it
	 * again while the reserve still wants more. */
	if (!JOB_SLABS ||
	    evpool__likely(!atomic_load_explicit(&reserve_low,
						 memory_order_relaxed)) ||
	    !atomic_exchange_explicit(&reserve_low, false,
				      memory_order_relaxed))
		return;
	pthread_mutex_lock(&reserve_mu);
	sl = filling;		/* ours now: another refiller makes its own */
	filling = NULL;
	from = filled;
	more = sl || nreserve < SLAB_RESERVE;
	pthread_mutex_unlock(&reserve_mu);
	if (!more)
		return;
	if (!sl) {
		sl = slab_map();
		if (!sl)
			return;
		from = 0;
	}
	for (unsigned n = 0; n < REFILL_PAGES && from < SLAB_SIZE;
	     n++, from += 4096)
		*(volatile char *)((char *)sl + from) = 0;
	pthread_mutex_lock(&reserve_mu);
	if (from < SLAB_SIZE && !filling) {
		filling = sl;
		filled = from;
	} else if (from < SLAB_SIZE) {
		extra = sl;	/* another refiller's is on its way */
	} else {
		if (nreserve < SLAB_RESERVE)
			reserve[nreserve++] = sl;
		else
			extra = sl;	/* freed slabs filled it meanwhile */
	}
	more = filling || nreserve < SLAB_RESERVE;
	pthread_mutex_unlock(&reserve_mu);
	if (extra)
		munmap(extra, SLAB_SIZE);
	if (more)
		atomic_store_explicit(&reserve_low, true, memory_order_relaxed);
}

static void
slab_release(struct slab *sl, size_t n)
{
	if (atomic_fetch_sub_explicit(&sl->live, n, memory_order_acq_rel) == n &&
	    !reserve_put(sl))
		munmap(sl, SLAB_SIZE);
}

static inline struct evpool_job *
slab_slot(struct slab *sl, bool ext, size_t i)
{
	return (struct evpool_job *)(void *)((char *)sl + SLAB_HEAD +
					     i * SLOT_SIZE(ext));
}

/* A job's memory: from its class's slab, or malloc. */
static struct evpool_job *
slot_new(struct job_cache *c, bool ext)
{
	if (!JOB_SLABS)
		return malloc(SLOT_SIZE(ext));
	if (!c->cur[ext] || c->next[ext] >= SLAB_SLOTS(ext)) {
		struct slab *sl = slab_get();

		if (!sl)
			return NULL;
		atomic_init(&sl->live, SLAB_SLOTS(ext) + 1);
		if (c->cur[ext]) /* all its slots are out: only our hold */
			slab_release(c->cur[ext], 1);
		c->cur[ext] = sl;
		c->next[ext] = 0;
	}
	return slab_slot(c->cur[ext], ext, c->next[ext]++);
}

static void
slot_delete(struct evpool_job *job)
{
	if (!JOB_SLABS)
		free(job);
	else
		slab_release((struct slab *)((uintptr_t)job &
					     ~(uintptr_t)(SLAB_SIZE - 1)),
			     1);
}

static void
cache_destroy(void *arg)
{
	struct job_cache *c = arg;
	struct evpool_job *job;

	for (int ext = 0; ext < 2; ext++) {
		while ((job = c->head[ext]) != NULL) {
			c->head[ext] = job->qnext;
			slot_delete(job);
		}
		if (c->cur[ext]) /* its unused slots and the hold */
			slab_release(c->cur[ext],
				     SLAB_SLOTS(ext) + 1 - c->next[ext]);
	}
	free(c);
	tls_cache = NULL;
}

/* A host fork() while another thread holds the reserve's lock must not
 * leave it locked in the child, which may make pools and jobs of its own. */
static void
reserve_lock(void)
{
	pthread_mutex_lock(&reserve_mu);
}

static void
reserve_unlock(void)
{
	pthread_mutex_unlock(&reserve_mu);
}

static void
cache_key_make(void)
{
	pthread_key_create(&cache_key, cache_destroy);
	pthread_atfork(reserve_lock, reserve_unlock, reserve_unlock);
}

static struct job_cache *
cache_get(void)
{
	struct job_cache *c = tls_cache;

	if (evpool__likely(c != NULL))
		return c;
	pthread_once(&cache_once, cache_key_make);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_setspecific(cache_key, c);
	tls_cache = c;
	return c;
}

__attribute__((destructor)) static void
cache_unload(void)
{
	if (tls_cache) {
		pthread_setspecific(cache_key, NULL);
		cache_destroy(tls_cache);
	}
}

_Static_assert(sizeof(struct evpool_job) <= 64,
	       "a queued job costs at most 64 bytes");

struct evpool_job *
evpool__job_alloc_plain(struct evpool__mailbox *mb)
{
	struct job_cache *c = tls_cache;
	struct evpool_job *job;

	/* evpool__job_alloc(mb, false) on the paths a warm thread takes:
	 * its free list, or the next slot of its slab. */
	if (evpool__unlikely(!c))
		return evpool__job_alloc(mb, false);
	if (evpool__likely(c->head[0] != NULL)) {
		job = c->head[0];
		c->head[0] = job->qnext;
		c->n[0]--;
	} else if (JOB_SLABS && c->cur[0] && c->next[0] < SLAB_SLOTS(0)) {
		job = slab_slot(c->cur[0], false, c->next[0]++);
	} else {
		return evpool__job_alloc(mb, false);
	}
	memset(job, 0, sizeof(*job));
	atomic_init(&job->node.word, EVPOOL__NODE_JOB | 2 * EVPOOL__JREF_ONE);
	job->mb = mb;
	return job;
}

struct evpool_job *
evpool__job_alloc(struct evpool__mailbox *mb, bool ext)
{
	struct job_cache *c = cache_get();
	struct evpool_job *job;
	size_t size = sizeof(*job) + (ext ? sizeof(struct evpool__job_ext) : 0);

	if (evpool__unlikely(!c))
		return NULL;
	if (evpool__likely(c->head[ext] != NULL)) {
		job = c->head[ext];
		c->head[ext] = job->qnext;
		c->n[ext]--;
	} else {
		job = slot_new(c, ext);
		if (!job)
			return NULL;
	}
	memset(job, 0, size);
	atomic_init(&job->node.word,
		    EVPOOL__NODE_JOB | (ext ? EVPOOL__JF_EXT : 0) |
			    2 * EVPOOL__JREF_ONE);
	job->mb = mb;
	if (ext) {
		EVPOOL__EXT(job)->exit_status = -1;
		evpool__pool_pin(mb->pool);
	}
	return job;
}

static void
rbox_free(struct evpool_job *job)
{
	struct evpool__rbox *box = job->result;

	free(box->rbytes);
	free(box);
}

static void
job_free(struct evpool_job *job)
{
	struct evpool *pool = evpool__job_pool(job);
	struct evpool__job_ext *x = evpool__job_ext(job);
	struct job_cache *c = cache_get();
	bool ext = x != NULL;
	bool pinned = ext || evpool__job_flag(job, EVPOOL__JF_PINNED);

	if (x) {
		free(x->input);
		free(x->rbytes);
	} else if (evpool__job_flag(job, EVPOOL__JF_RBOX)) {
		rbox_free(job);
	}
	if (evpool__likely(c && c->n[ext] < JOB_CACHE_MAX)) {
		job->qnext = c->head[ext];
		c->head[ext] = job;
		c->n[ext]++;
	} else {
		slot_delete(job);
	}
	if (pinned)
		evpool__pool_unpin(pool);
}

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
	if (job && (atomic_fetch_sub_explicit(&job->node.word, EVPOOL__JREF_ONE,
					      memory_order_acq_rel) >>
		    EVPOOL__JREF_SHIFT) == 1)
		job_free(job);
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
	/* Hand the job over before it counts as finished, so join() cannot
	 * return while its completion is still on the way.  The job may be
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
	return evpool__pool_wait(evpool__job_pool(job), wait_pred, job, timeout_ms);
}

int
evpool_job_get(struct evpool_job *job, int timeout_ms, void **result)
{
	int r;

	if (!job)
		return evpool__err(-EINVAL, "evpool_job_get: NULL job");
	r = evpool_job_wait(job, timeout_ms);
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
		bool killed = false;

		evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
		/* the worker running it (process mode: it may hold several
		 * jobs at once) */
		w = evpool__job_ext(job) ? EVPOOL__EXT(job)->worker : NULL;
		if (w && evpool__job_pool(job)->ops->kill)
			killed = evpool__job_pool(job)->ops->kill(w, job);
		pthread_mutex_unlock(&q->mu);
		evpool__pool_wake(evpool__job_pool(job)); /* an emitter may be waiting */
		return killed ? 0 : -EBUSY;
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
evpool_ctx_emit(struct evpool_ctx *ctx, const void *data, size_t len)
{
	struct evpool_job *job;
	struct evpool__job_ext *x;
	struct evpool__emit *e;

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
	e = malloc(sizeof(*e) + len);
	if (!e)
		return evpool__err(-ENOMEM, "evpool_ctx_emit: out of memory");
	evpool__node_init(&e->node, EVPOOL__NODE_EMIT);
	e->job = evpool__job_ref(job);
	e->len = len;
	if (len)
		memcpy(e->data, data, len);
	atomic_fetch_add(&x->emit_pending, 1);
	evpool__mailbox_push(job->mb, &e->node);
	return 0;
}

struct evpool *
evpool_ctx_pool(struct evpool_ctx *ctx)
{
	return ctx ? ctx->pool : NULL;
}

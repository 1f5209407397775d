/*
 * job-memory.c — where job structs come from and go back to: per-thread
 * caches of free jobs, cut from slabs, with a process-wide reserve of
 * touched slabs (evpool__job_alloc(), evpool__job_alloc_plain(),
 * evpool__job_free(), evpool__job_memory_refill()).  The job's life itself
 * is in job.c.
 *
 * DESIGN: a per-thread cache of free job structs, so that submitting
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
 * reserve, a few pages at a time, off the loop's thread.  A slab whose
 * slots have all come back refills the reserve too, before any is
 * unmapped.
 */
#include "core/evpool-internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <event2/buffer.h>

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

/* The inline input must not make a slot of a job with an extension
 * bigger than the 256 bytes it takes anyway. */
_Static_assert(sizeof(struct evpool_job) + sizeof(struct evpool__job_ext) <= 256,
	       "a job with its extension fits 256 bytes");
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
	size_t size = sizeof(*job) +
		      (ext ? offsetof(struct evpool__job_ext, input_inline) : 0);

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

/* A pointer result nobody took is freed with its job (GLib's model). */
static void
result_discard(void *result, evpool_free_fn fn, atomic_bool *taken)
{
	if (result && fn && !atomic_load_explicit(taken, memory_order_acquire))
		fn(result);
}

static void
rbox_free(struct evpool_job *job)
{
	struct evpool__rbox *box = job->result;

	result_discard(box->result, box->result_free, &box->result_taken);
	free(box->rbytes);
	if (box->outbuf)
		evbuffer_free(box->outbuf);
	free(box);
}

void
evpool__job_free(struct evpool_job *job)
{
	struct evpool *pool = evpool__job_pool(job);
	struct evpool__job_ext *x = evpool__job_ext(job);
	struct job_cache *c = cache_get();
	bool ext = x != NULL;
	bool pinned = ext || evpool__job_flag(job, EVPOOL__JF_PINNED);

	if (x) {
		/* result_free is set only with a result (set_output) */
		result_discard(x->no_result ? NULL : job->result,
			       x->result_free, &x->result_taken);
		if (x->input != x->input_inline)
			free(x->input);
		free(x->rbytes);
		if (x->inbuf)
			evbuffer_free(x->inbuf);
		if (x->outbuf)
			evbuffer_free(x->outbuf);
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

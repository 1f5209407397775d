/*
 * imap.c — evpool_imap() and evpool_imap_unordered(): a lazy map with a
 * bounded window.
 *
 * DESIGN: an iterator reads its inputs lazily (an array, or a producer of
 * unknown length) and keeps at most `window` items IN FLIGHT: produced and
 * not yet returned by evpool_imap_next().  Every item gets a sequence number
 * as it is produced; items go out in chunks (one job each, see the chunk
 * frame in pyapi-internal.h) whose sink copies each result into a ring of
 * `window` slots:
 *   - ordered: slot seq % window.  Every unreturned seq lies in
 *     [returned, produced), a span of at most window, so slots never clash;
 *   - unordered: a FIFO in the ring, in finishing order (at most window).
 * Refilling happens only on the consumer's thread (evpool_imap_start(),
 * evpool_imap_next()), never in a sink: the producer runs where the caller
 * expects it, and sinks never submit.  So memory is O(window) whatever the
 * input length: 10^7 inputs cost `window` jobs, not 10^7 (an eager map
 * would queue every input at once).
 *
 * A full bounded queue is not an error: the chunk built is kept and retried
 * by the next call.  A submit or producer error is sticky and reported once
 * the results before it have been returned.
 *
 * Ownership: the user holds one reference and each chunk in flight one, so
 * evpool_imap_free() never waits: it cancels what is queued, and running
 * chunks finish in the background and drop their results.  Chunk handles
 * (for that cancel) live in `window` tagged slots; a slot goes NULL -> job
 * -> (sink) NULL, or NULL -> FINISHED (sink first) -> NULL (submitter),
 * under it->mu, and its tag is free again only after both sides are done.
 */
#include "pyapi/pyapi-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct imap_slot {
	bool filled;
	struct evpool_result r;		/* .data malloc'd */
};

struct evpool_imap {
	struct evpool *pool;
	struct evpool_queue *q;
	evpool_fn fn;
	const struct evpool_item *items;
	size_t n;
	evpool_producer_fn producer;
	void *producer_arg;
	size_t window, chunksize;
	bool unordered;
	atomic_uint refs;

	/* the consumer's thread only */
	size_t produced;		/* items produced: the next seq */
	size_t returned;		/* items returned by next() */
	bool input_end;
	int err;			/* sticky, 0 if none */
	struct evpool__buf pending;	/* a chunk not yet submitted */

	/* under mu */
	pthread_mutex_t mu;
	bool closed;			/* evpool_imap_free() was called */
	struct imap_slot *ring;		/* window slots */
	size_t head, count;		/* unordered FIFO */
	struct evpool_job **jobs;	/* window tagged chunk slots */
	uint32_t *free_tags;
	size_t nfree_tags;
};

static struct evpool_job imap_finished;
#define FINISHED (&imap_finished)

static void
imap_unref(struct evpool_imap *it)
{
	struct evpool *pool;

	if (atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) != 1)
		return;
	pool = it->pool;
	for (size_t i = 0; i < it->window; i++)
		free((void *)it->ring[i].r.data);
	free(it->ring);
	free(it->jobs);
	free(it->free_tags);
	free(it->pending.p);
	pthread_mutex_destroy(&it->mu);
	free(it);
	evpool__pool_unpin(pool);
}

/* A finished chunk: copy its results into the ring. */
static void
imap_sink(struct evpool_job *job)
{
	struct evpool_imap *it = job->done_arg;
	struct evpool__chunk_info ci = { 0 };
	struct evpool__chunk_out o;
	struct evpool_job *held = NULL;

	evpool__chunk_info(EVPOOL__EXT(job)->input, EVPOOL__EXT(job)->input_len,
			   &ci);
	/* Free the tag first: once a result is visible the consumer may
	 * refill, and must find this chunk's tag free (see DESIGN). */
	pthread_mutex_lock(&it->mu);
	if (it->jobs[ci.tag] == NULL) {
		it->jobs[ci.tag] = FINISHED; /* the submitter frees the tag */
	} else {
		held = it->jobs[ci.tag];
		it->jobs[ci.tag] = NULL;
		it->free_tags[it->nfree_tags++] = ci.tag;
	}
	pthread_mutex_unlock(&it->mu);
	evpool__chunk_out_init(&o, job, ci.count);
	for (uint32_t k = 0; k < ci.count; k++) {
		struct evpool_result r = { 0 };

		evpool__chunk_out_next(&o, &r);
		r.index = (size_t)ci.first + k;
		evpool__result_own(&r);
		pthread_mutex_lock(&it->mu);
		if (it->closed) {
			free((void *)r.data);
		} else if (it->unordered) {
			it->ring[(it->head + it->count) % it->window].r = r;
			it->count++;
		} else {
			struct imap_slot *s = &it->ring[r.index % it->window];
			s->r = r;
			s->filled = true;
		}
		pthread_mutex_unlock(&it->mu);
	}
	evpool_job_unref(held);
	evpool__sink_release(job);
	imap_unref(it);
}

/* The next input: 1 (in *item), 0 (end) or an error. */
static int
imap_produce(struct evpool_imap *it, struct evpool_item *item)
{
	int r;

	if (!it->producer) {
		if (it->produced >= it->n)
			return 0;
		*item = it->items[it->produced];
		return 1;
	}
	memset(item, 0, sizeof(*item));
	r = it->producer(it->producer_arg, item);
	if (r < 0)
		return evpool__err(r, "evpool_imap: the producer failed: %s",
				   evpool_strerror(r));
	return r > 0;
}

static void
imap_stop(struct evpool_imap *it, int err)
{
	it->input_end = true;
	if (err && !it->err)
		it->err = err;
}

/* Build (if none is pending) and submit chunks while the window has room.
 * Non-blocking: a full queue leaves the chunk pending.  Errors are kept in
 * it->err.  @return the number of items submitted. */
static size_t
imap_fill(struct evpool_imap *it)
{
	size_t submitted = 0;

	for (;;) {
		struct evpool__chunk_info ci;
		struct evpool_job *job;
		uint32_t tag, count;
		int r;

		if (it->pending.len == 0) {
			size_t room = it->window - (it->produced - it->returned);
			size_t k = room < it->chunksize ? room : it->chunksize;

			if (it->input_end || room == 0)
				return submitted;
			/* Whole chunks only (a result returned frees one item
			 * of room, not a chunk's), unless nothing is in flight:
			 * a window smaller than a chunk still moves. */
			if (room < it->chunksize && it->produced != it->returned)
				return submitted;
			pthread_mutex_lock(&it->mu);
			if (it->nfree_tags == 0) { /* cannot happen (DESIGN) */
				pthread_mutex_unlock(&it->mu);
				return submitted;
			}
			tag = it->free_tags[--it->nfree_tags];
			pthread_mutex_unlock(&it->mu);
			r = evpool__chunk_begin(&it->pending, it->fn, it->produced,
						tag);
			for (size_t j = 0; j < k && r == 0; j++) {
				struct evpool_item item;

				r = imap_produce(it, &item);
				if (r == 0) {
					imap_stop(it, 0);
					break;
				}
				if (r < 0)
					break;
				r = evpool__check_items(it->pool, "evpool_imap",
							&item, 1);
				if (r == 0)
					r = evpool__chunk_add(&it->pending, item.arg,
							      item.data, item.len);
				if (r == 0)
					it->produced++;
			}
			if (r < 0)
				imap_stop(it, r);
			if (evpool__chunk_count(&it->pending) == 0) {
				pthread_mutex_lock(&it->mu);
				it->free_tags[it->nfree_tags++] = tag;
				pthread_mutex_unlock(&it->mu);
				it->pending.len = 0;
				return submitted;
			}
		}
		evpool__chunk_info(it->pending.p, it->pending.len, &ci);
		tag = ci.tag;
		count = ci.count;
		atomic_fetch_add(&it->refs, 1); /* the chunk's */
		r = evpool__chunk_submit(it->pool, it->q, &it->pending, imap_sink,
					 it, 0, 0, &job);
		if (r < 0) {
			atomic_fetch_sub(&it->refs, 1);
			if (r == -EAGAIN)
				return submitted; /* retried by the next call */
			/* Its items will never run: forget them. */
			it->produced -= count;
			it->pending.len = 0;
			pthread_mutex_lock(&it->mu);
			it->free_tags[it->nfree_tags++] = tag;
			pthread_mutex_unlock(&it->mu);
			imap_stop(it, r);
			return submitted;
		}
		it->pending.len = 0;
		submitted += count;
		pthread_mutex_lock(&it->mu);
		if (it->jobs[tag] == FINISHED) {
			it->jobs[tag] = NULL;
			it->free_tags[it->nfree_tags++] = tag;
			pthread_mutex_unlock(&it->mu);
			evpool_job_unref(job);
		} else {
			it->jobs[tag] = job;
			pthread_mutex_unlock(&it->mu);
		}
	}
}

#define IMAP_FLAGS (EVPOOL_IMAP_UNORDERED)

static int
imap_start(struct evpool *pool, const struct evpool_imap_spec *spec,
	   struct evpool_imap **itp)
{
	struct evpool_imap *it;
	struct evpool_queue *q;
	size_t window, cs;
	evpool_fn fn;
	int r;

	if (!pool || !spec || !itp)
		return evpool__err(-EINVAL, "evpool_imap: NULL %s",
				   !pool ? "pool" : !spec ? "spec" : "iterator pointer");
	if (spec->reserved[0] || spec->reserved[1] || spec->reserved[2] ||
	    spec->reserved[3])
		return evpool__err(-EINVAL, "evpool_imap: reserved fields must be zero");
	if (spec->flags & ~(unsigned)IMAP_FLAGS)
		return evpool__err(-EINVAL, "evpool_imap: unknown flags 0x%x",
				   spec->flags & ~(unsigned)IMAP_FLAGS);
	if (spec->producer && (spec->items || spec->n))
		return evpool__err(-EINVAL,
				   "evpool_imap: give items or a producer, not both");
	if (spec->n && !spec->items)
		return evpool__err(-EINVAL, "evpool_imap: %zu inputs but no items",
				   spec->n);
	if (spec->queue && spec->queue->pool != pool)
		return evpool__err(-EINVAL,
				   "evpool_imap: the queue belongs to another pool");
	if (atomic_load(&pool->closed))
		return evpool__err(-ESHUTDOWN, "evpool_imap: the pool is closed");
	q = spec->queue ? spec->queue : pool->dq;
	fn = spec->fn ? spec->fn : q->default_fn;
	if (!fn)
		return evpool__err(-EINVAL,
				   "evpool_imap: no job function and no default function");
	cs = spec->chunksize ? spec->chunksize : 1;
	window = spec->window;
	r = evpool__check_map_fn(pool, "evpool_imap", fn);
	if (r < 0)
		return r;
	if (!window) {
		window = 4 * evpool__map_parallelism(q);
		window = cs > SIZE_MAX / window ? SIZE_MAX : window * cs;
	}
	if (window > UINT32_MAX || window > SIZE_MAX / sizeof(struct imap_slot))
		return evpool__err(-EINVAL, "evpool_imap: window %zu is too large",
				   window);

	it = calloc(1, sizeof(*it));
	if (!it)
		return evpool__err(-ENOMEM, "evpool_imap: out of memory");
	it->ring = calloc(window, sizeof(*it->ring));
	it->jobs = calloc(window, sizeof(*it->jobs));
	it->free_tags = malloc(window * sizeof(*it->free_tags));
	if (!it->ring || !it->jobs || !it->free_tags) {
		free(it->ring);
		free(it->jobs);
		free(it->free_tags);
		free(it);
		return evpool__err(-ENOMEM, "evpool_imap: out of memory (window %zu)",
				   window);
	}
	for (size_t i = 0; i < window; i++)
		it->free_tags[i] = (uint32_t)(window - 1 - i);
	it->nfree_tags = window;
	it->pool = pool;
	it->q = q;
	it->fn = fn;
	it->items = spec->items;
	it->n = spec->n;
	it->producer = spec->producer;
	it->producer_arg = spec->producer_arg;
	it->window = window;
	it->chunksize = cs;
	it->unordered = spec->flags & EVPOOL_IMAP_UNORDERED;
	atomic_init(&it->refs, 1);
	pthread_mutex_init(&it->mu, NULL);
	evpool__pool_pin(pool);

	imap_fill(it);
	if (it->err && it->produced == it->returned) {
		/* Nothing could start: fail instead of iterating an error. */
		char msg[256];

		r = it->err;
		snprintf(msg, sizeof(msg), "%s", evpool_errmsg());
		evpool_imap_free(it);
		return evpool__err(r, "%s", msg);
	}
	*itp = it;
	return 0;
}

int
evpool_imap_start(struct evpool *pool, const struct evpool_imap_spec *spec,
		  struct evpool_imap **itp)
{
	return evpool__err_as(imap_start(pool, spec, itp), "evpool_imap_start");
}

int
evpool_imap(struct evpool *pool, evpool_fn fn, const struct evpool_item *items,
	    size_t n, struct evpool_imap **itp)
{
	struct evpool_imap_spec spec = { .fn = fn, .items = items, .n = n };

	return evpool__err_as(imap_start(pool, &spec, itp), "evpool_imap");
}

int
evpool_imap_unordered(struct evpool *pool, evpool_fn fn,
		      const struct evpool_item *items, size_t n,
		      struct evpool_imap **itp)
{
	struct evpool_imap_spec spec = {
		.fn = fn, .items = items, .n = n,
		.flags = EVPOOL_IMAP_UNORDERED,
	};

	return evpool__err_as(imap_start(pool, &spec, itp),
			      "evpool_imap_unordered");
}

/* Is the next result there?  (it->mu held) */
static bool
imap_has_next(struct evpool_imap *it)
{
	if (it->unordered)
		return it->count > 0;
	return it->ring[it->returned % it->window].filled;
}

static bool
imap_ready(void *arg)
{
	struct evpool_imap *it = arg;
	bool r;

	pthread_mutex_lock(&it->mu);
	r = imap_has_next(it);
	pthread_mutex_unlock(&it->mu);
	return r;
}

static bool
imap_take(struct evpool_imap *it, struct evpool_result *res)
{
	struct imap_slot *s;

	pthread_mutex_lock(&it->mu);
	if (!imap_has_next(it)) {
		pthread_mutex_unlock(&it->mu);
		return false;
	}
	if (it->unordered) {
		s = &it->ring[it->head];
		it->head = (it->head + 1) % it->window;
		it->count--;
	} else {
		s = &it->ring[it->returned % it->window];
		s->filled = false;
	}
	*res = s->r;
	memset(&s->r, 0, sizeof(s->r));
	pthread_mutex_unlock(&it->mu);
	it->returned++;
	return true;
}

int
evpool_imap_next(struct evpool_imap *it, int timeout_ms,
		 struct evpool_result *res)
{
	uint64_t deadline;

	if (!it || !res)
		return evpool__err(-EINVAL, "evpool_imap_next: NULL %s",
				   it ? "result" : "iterator");
	memset(res, 0, sizeof(*res));
	deadline = evpool__deadline_ns(timeout_ms);
	for (;;) {
		uint64_t now;
		int ms;

		imap_fill(it);
		if (imap_take(it, res)) {
			imap_fill(it); /* keep the window full meanwhile */
			return 1;
		}
		if (it->produced == it->returned)
			return it->err ? it->err : 0;
		now = evpool__now_ns();
		if (timeout_ms == 0 || now >= deadline)
			return -ETIMEDOUT;
		ms = deadline == UINT64_MAX ? -1
		     : (int)((deadline - now + 999999) / 1000000);
		/* A chunk waiting for room in a bounded queue: retry soon. */
		if (it->pending.len && (ms < 0 || ms > 5))
			ms = 5;
		evpool__pool_wait(it->pool, imap_ready, it, ms);
	}
}

size_t
evpool_imap_in_flight(const struct evpool_imap *it)
{
	return it ? it->produced - it->returned : 0;
}

size_t
evpool_imap_window(const struct evpool_imap *it)
{
	return it ? it->window : 0;
}

void
evpool_imap_free(struct evpool_imap *it)
{
	struct evpool_job **list;
	size_t n = 0;

	if (!it)
		return;
	list = malloc(it->window * sizeof(*list));
	pthread_mutex_lock(&it->mu);
	it->closed = true;
	for (size_t i = 0; i < it->window; i++) {
		struct imap_slot *s = &it->ring[i];

		free((void *)s->r.data);
		memset(s, 0, sizeof(*s));
		if (list && it->jobs[i] && it->jobs[i] != FINISHED)
			list[n++] = evpool__job_ref(it->jobs[i]);
	}
	it->count = 0;
	pthread_mutex_unlock(&it->mu);
	for (size_t i = 0; i < n; i++) {
		if (!evpool_job_ready(list[i]))
			evpool_job_cancel(list[i]);
		evpool_job_unref(list[i]);
	}
	free(list);
	imap_unref(it);
}

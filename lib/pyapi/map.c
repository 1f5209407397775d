/*
 * map.c — apply, apply_async, map, map_async, starmap and starmap_async.
 * The chunk frames they (and imap.c) run through are in chunk.c.
 *
 * DESIGN: see pyapi-internal.h for the chunk frame and the sinks.  A map is
 * an aggregate of chunk jobs.  Each chunk job's sink decodes the chunk's
 * results into the map (disjoint slots: no lock), and the sink that brings
 * the count of unfinished chunks to zero finishes the map: it publishes
 * `done` (release), wakes waiters and, if a callback is owed, pushes the
 * map's EVPOOL__NODE_CALL node to the mailbox of its base, which the map
 * has held since it was submitted — so event_base_dispatch() does not
 * return while a map is running, and the callback runs on the loop thread
 * exactly once.  The submitter counts as one more unfinished chunk until
 * every chunk is queued, so a fast chunk cannot finish the map early, and
 * a submit that fails half-way cancels what it queued and owes nothing.
 *
 * The chunk's job handle is kept (for evpool_map_cancel()) in a slot that
 * the sink may reach before the submitter has stored it: a slot goes
 * NULL -> job -> FINISHED, or NULL -> FINISHED (then the submitter drops
 * its reference at once), always under map->mu.
 *
 * Which error: the failed item of LOWEST INDEX, whatever the order the
 * chunks finished in, not the first failed chunk to arrive: deterministic
 * is better for C callers and tests.
 */
#include "pyapi/pyapi-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- apply, apply_async ------------------------------------------------- */

static int
item_spec(struct evpool *pool, const char *who, evpool_fn fn,
	  const struct evpool_item *item, struct evpool_job_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	if (!pool)
		return evpool__err(-EINVAL, "%s: NULL pool", who);
	if (!fn && !pool->dq->default_fn)
		return evpool__err(-EINVAL,
				   "%s: no job function and no default function",
				   who);
	if (item) {
		int r = evpool__check_items(pool, who, item, 1);
		if (r < 0)
			return r;
		spec->arg = item->arg;
		spec->input = item->data;
		spec->input_len = item->len;
	}
	spec->fn = fn;
	return 0;
}

int
evpool_apply(struct evpool *pool, evpool_fn fn, const struct evpool_item *item,
	     struct evpool_result *res)
{
	struct evpool_job_spec spec;
	struct evpool_job *job;
	int r;

	if (res)
		memset(res, 0, sizeof(*res));
	r = item_spec(pool, "evpool_apply", fn, item, &spec);
	if (r == 0)
		r = evpool__err_as(evpool__submit(pool, &spec,
						  evpool__sink_release, &job),
				   "evpool_apply");
	if (r < 0) {
		if (res)
			res->status = r;
		return r;
	}
	/* From a job of the pool, with no worker left to run it: take it
	 * back (it completes -ECANCELED, unseen) and say so. */
	if (evpool_job_wait(job, -1) == -EDEADLK && evpool_job_cancel(job) == 0) {
		evpool_job_unref(job);
		if (res)
			res->status = -EDEADLK;
		return -EDEADLK;
	}
	evpool_job_wait(job, -1);
	r = job->status;
	if (res)
		evpool__result_take(res, job); /* moved: nobody else reads it */
	evpool_job_unref(job);
	return r;
}

struct apply_cbs {
	evpool_done_cb callback, error_callback;
	void *arg;
};

static void
apply_done(struct evpool_job *job, void *arg)
{
	struct apply_cbs c = *(struct apply_cbs *)arg;
	evpool_done_cb cb;

	free(arg);
	cb = job->status == 0 || !c.error_callback ? c.callback
						   : c.error_callback;
	if (cb)
		cb(job, c.arg);
}

int
evpool_apply_async(struct evpool *pool, evpool_fn fn,
		   const struct evpool_item *item, evpool_done_cb callback,
		   evpool_done_cb error_callback, void *arg,
		   struct evpool_job **jobp)
{
	struct evpool_job_spec spec;
	struct apply_cbs *c = NULL;
	int r;

	r = item_spec(pool, "evpool_apply_async", fn, item, &spec);
	if (r < 0)
		return r;
	if (callback || error_callback) {
		c = malloc(sizeof(*c));
		if (!c)
			return evpool__err(-ENOMEM,
					   "evpool_apply_async: out of memory");
		c->callback = callback;
		c->error_callback = error_callback;
		c->arg = arg;
		spec.done = apply_done;
		spec.done_arg = c;
	}
	r = evpool__err_as(evpool__submit(pool, &spec, NULL, jobp),
			   "evpool_apply_async");
	if (r < 0)
		free(c);
	return r;
}

/* ---- map ---------------------------------------------------------------- */

struct evpool_map {
	struct evpool__call call;	/* delivery of the callback */
	struct evpool *pool;
	atomic_uint refs;
	size_t n, chunksize, nchunks;
	evpool_map_cb callback, error_callback;
	void *cb_arg;
	struct evpool__mailbox *mb;	/* held while a callback is owed */
	struct evpool_results *rc;	/* spec.results, referenced */
	bool keep;			/* results kept in the map */
	bool deliver;			/* a callback is owed */
	atomic_bool abandoned;		/* the submit failed: owe nothing */
	atomic_size_t pending;		/* chunks unfinished (+1 submitting) */
	atomic_bool done;
	atomic_bool delivered;		/* the callback has been called */
	pthread_mutex_t mu;		/* jobs[], nfailed, err_* */
	size_t nfailed;
	size_t err_index;		/* SIZE_MAX: none */
	int err_status;
	struct evpool_job **jobs;	/* per chunk; see DESIGN */
	unsigned char **blobs;		/* per chunk result frames (keep) */
	struct evpool_result *results;	/* per item (keep) */
};

/* A chunk slot whose job has finished. */
static struct evpool_job chunk_finished;
#define FINISHED (&chunk_finished)

static void
map_free(struct evpool_map *m)
{
	struct evpool *pool = m->pool;

	if (m->blobs)
		for (size_t c = 0; c < m->nchunks; c++)
			free(m->blobs[c]);
	free(m->blobs);
	free(m->results);
	free(m->jobs);
	if (m->rc)
		evpool__results_unref(m->rc);
	pthread_mutex_destroy(&m->mu);
	free(m);
	evpool__pool_unpin(pool);
}

struct evpool_map *
evpool_map_ref(struct evpool_map *m)
{
	if (m)
		atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

void
evpool_map_unref(struct evpool_map *m)
{
	if (m && atomic_fetch_sub_explicit(&m->refs, 1,
					   memory_order_acq_rel) == 1)
		map_free(m);
}

/* On the loop thread: the callback owed. */
static void
map_call(struct evpool__call *call)
{
	struct evpool_map *m = (struct evpool_map *)call;
	evpool_map_cb cb;

	cb = m->err_index == SIZE_MAX || !m->error_callback
	     ? m->callback : m->error_callback;
	atomic_store_explicit(&m->delivered, true, memory_order_release);
	if (cb)
		cb(m, m->cb_arg);
	evpool_map_unref(m); /* the reference the callback held */
}

static void
map_finish(struct evpool_map *m)
{
	atomic_store_explicit(&m->done, true, memory_order_release);
	evpool__pool_wake(m->pool);
	if (m->deliver)
		evpool__mailbox_push(m->mb, &m->call.node);
	else
		evpool_map_unref(m);
}

static void
map_chunk_done(struct evpool_map *m)
{
	if (atomic_fetch_sub_explicit(&m->pending, 1,
				      memory_order_acq_rel) == 1)
		map_finish(m);
}

static void
map_sink(struct evpool_job *job)
{
	struct evpool_map *m = job->done_arg;
	struct evpool__chunk_info ci = { 0 };
	struct evpool__chunk_out o;
	struct evpool_job *held = NULL;
	size_t nf = 0, lowest = SIZE_MAX, c;
	int lowest_status = 0;

	evpool__chunk_info(EVPOOL__EXT(job)->input, EVPOOL__EXT(job)->input_len,
			   &ci); /* ours */
	c = (size_t)ci.first / m->chunksize;
	evpool__chunk_out_init(&o, job, ci.count);
	if (m->keep) {
		/* moved: results point into it */
		m->blobs[c] = evpool__job_rbytes(job, NULL, true);
	}
	for (uint32_t k = 0; k < ci.count; k++) {
		size_t i = (size_t)ci.first + k;
		struct evpool_result r = { 0 };

		evpool__chunk_out_next(&o, &r);
		r.index = i;
		if (r.status) {
			nf++;
			if (lowest == SIZE_MAX) {
				lowest = i;
				lowest_status = r.status;
			}
		}
		if (m->keep) {
			m->results[i] = r;
		} else if (m->rc && atomic_load(&m->abandoned)) {
			evpool__results_unexpect(m->rc, 1);
		} else if (m->rc) {
			evpool__result_own(&r);
			evpool__results_add(m->rc, &r);
		}
	}
	pthread_mutex_lock(&m->mu);
	m->nfailed += nf;
	if (lowest < m->err_index) {
		m->err_index = lowest;
		m->err_status = lowest_status;
	}
	if (m->jobs[c] != FINISHED && m->jobs[c] != NULL)
		held = m->jobs[c];
	m->jobs[c] = FINISHED;
	pthread_mutex_unlock(&m->mu);
	evpool_job_unref(held);
	evpool__sink_release(job);
	map_chunk_done(m);
}

/* Keep the handle of chunk @p c for cancel (see DESIGN). */
static void
map_register(struct evpool_map *m, size_t c, struct evpool_job *job)
{
	pthread_mutex_lock(&m->mu);
	if (m->jobs[c] == FINISHED) {
		pthread_mutex_unlock(&m->mu);
		evpool_job_unref(job);
		return;
	}
	m->jobs[c] = job;
	pthread_mutex_unlock(&m->mu);
}

int
evpool_map_cancel(struct evpool_map *m)
{
	struct evpool_job **list;
	size_t n = 0;
	int cancelled = 0;

	if (!m)
		return evpool__err(-EINVAL, "evpool_map_cancel: NULL map");
	if (m->nchunks == 0)
		return 0;
	list = malloc(m->nchunks * sizeof(*list));
	if (!list)
		return evpool__err(-ENOMEM, "evpool_map_cancel: out of memory");
	pthread_mutex_lock(&m->mu);
	for (size_t c = 0; c < m->nchunks; c++)
		if (m->jobs[c] && m->jobs[c] != FINISHED)
			list[n++] = evpool__job_ref(m->jobs[c]);
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < n; i++) {
		if (!evpool_job_ready(list[i]) && evpool_job_cancel(list[i]) == 0)
			cancelled++;
		evpool_job_unref(list[i]);
	}
	free(list);
	return cancelled;
}

#define MAP_FLAGS (EVPOOL_MAP_DISCARD | EVPOOL_MAP_BLOCK)

static int
map_check(struct evpool *pool, const struct evpool_map_spec *spec)
{
	const char *who = "evpool_map_submit";

	if (!pool || !spec)
		return evpool__err(-EINVAL, "%s: NULL %s", who,
				   pool ? "spec" : "pool");
	if (spec->reserved[0] || spec->reserved[1] || spec->reserved[2] ||
	    spec->reserved[3])
		return evpool__err(-EINVAL, "%s: reserved fields must be zero",
				   who);
	if (spec->flags & ~(unsigned)MAP_FLAGS)
		return evpool__err(-EINVAL, "%s: unknown flags 0x%x", who,
				   spec->flags & ~(unsigned)MAP_FLAGS);
	if (spec->items && spec->records)
		return evpool__err(-EINVAL, "%s: give items or records, not both",
				   who);
	if (spec->n && !spec->items && !spec->records)
		return evpool__err(-EINVAL, "%s: %zu inputs but no items", who,
				   spec->n);
	if (spec->records && spec->rec_size == 0)
		return evpool__err(-EINVAL, "%s: records of size 0", who);
	if (spec->records && spec->n > SIZE_MAX / spec->rec_size)
		return evpool__err(-EINVAL, "%s: too many records", who);
	if (spec->results && (spec->flags & EVPOOL_MAP_DISCARD))
		return evpool__err(-EINVAL,
				   "%s: EVPOOL_MAP_DISCARD and a results collection contradict",
				   who);
	if (spec->results && evpool__results_pool(spec->results) != pool)
		return evpool__err(-EINVAL,
				   "%s: the results collection belongs to another pool",
				   who);
	if (spec->queue && spec->queue->pool != pool)
		return evpool__err(-EINVAL,
				   "%s: the queue belongs to another pool", who);
	if (spec->items)
		return evpool__check_items(pool, who, spec->items, spec->n);
	return 0;
}

static struct evpool_map *
map_alloc(size_t n, size_t nchunks, bool keep)
{
	struct evpool_map *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->jobs = calloc(nchunks ? nchunks : 1, sizeof(*m->jobs));
	if (keep) {
		m->blobs = calloc(nchunks ? nchunks : 1, sizeof(*m->blobs));
		m->results = calloc(n ? n : 1, sizeof(*m->results));
	}
	if (!m->jobs || (keep && (!m->blobs || !m->results))) {
		free(m->jobs);
		free(m->blobs);
		free(m->results);
		free(m);
		return NULL;
	}
	return m;
}

static int
map_submit(struct evpool *pool, const struct evpool_map_spec *spec,
	   struct evpool_map **mapp)
{
	struct evpool__buf b = { 0 };
	struct evpool_queue *q;
	struct evpool_map *m;
	evpool_fn fn;
	size_t cs, nchunks, c;
	unsigned sflags;
	int r;

	r = map_check(pool, spec);
	if (r < 0)
		return r;
	if (atomic_load(&pool->closed))
		return evpool__err(-ESHUTDOWN, "evpool_map: the pool is closed");
	q = spec->queue ? spec->queue : pool->dq;
	fn = spec->fn ? spec->fn : q->default_fn;
	if (!fn)
		return evpool__err(-EINVAL,
				   "evpool_map: no job function and no default function");
	r = evpool__check_map_fn(pool, "evpool_map", fn);
	if (r < 0)
		return r;
	cs = spec->chunksize ? spec->chunksize
			     : evpool__default_chunksize(q, spec->n);
	nchunks = spec->n / cs + (spec->n % cs != 0);
	m = map_alloc(spec->n, nchunks,
		      !spec->results && !(spec->flags & EVPOOL_MAP_DISCARD));
	if (!m)
		return evpool__err(-ENOMEM, "evpool_map: out of memory");
	evpool__node_init(&m->call.node, EVPOOL__NODE_CALL);
	m->call.fn = map_call;
	m->pool = pool;
	m->n = spec->n;
	m->chunksize = cs;
	m->nchunks = nchunks;
	m->keep = m->results != NULL;
	m->callback = spec->callback;
	m->error_callback = spec->error_callback;
	m->cb_arg = spec->arg;
	m->err_index = SIZE_MAX;
	pthread_mutex_init(&m->mu, NULL);
	atomic_init(&m->refs, 1 + (mapp != NULL));
	atomic_init(&m->pending, nchunks + 1);
	evpool__pool_pin(pool);
	if (spec->callback || spec->error_callback) {
		r = evpool__pool_mailbox(pool, spec->base, &m->mb);
		if (r < 0) {
			atomic_init(&m->refs, 1);
			map_free(m);
			return r;
		}
	}
	if (spec->results) {
		m->rc = spec->results;
		evpool__results_ref(m->rc);
		evpool__results_expect(m->rc, spec->n);
	}

	sflags = spec->flags & EVPOOL_MAP_BLOCK ? EVPOOL_SUBMIT_BLOCK : 0;
	for (c = 0; c < nchunks; c++) {
		size_t first = c * cs, last = first + cs;
		struct evpool_job *job;

		if (last > spec->n)
			last = spec->n;
		r = evpool__chunk_begin(&b, fn, first, (uint32_t)c);
		for (size_t i = first; i < last && r == 0; i++) {
			if (spec->items)
				r = evpool__chunk_add(&b, spec->items[i].arg,
						      spec->items[i].data,
						      spec->items[i].len);
			else
				r = evpool__chunk_add(
					&b, NULL,
					(const char *)spec->records +
						i * spec->rec_size,
					spec->rec_size);
		}
		if (r == 0)
			r = evpool__chunk_submit(pool, q, &b, map_sink, m,
						 sflags, -1, &job);
		if (r < 0)
			break;
		map_register(m, c, job);
	}
	free(b.p);

	if (r < 0) {
		/* Owe nothing: cancel what is queued, forget the rest. */
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", evpool_errmsg());
		atomic_store(&m->abandoned, true);
		if (m->rc)
			evpool__results_unexpect(m->rc, spec->n - c * cs);
		evpool_map_cancel(m);
		if (mapp)
			evpool_map_unref(m);
		if (atomic_fetch_sub(&m->pending, (nchunks - c) + 1) ==
		    (nchunks - c) + 1)
			map_finish(m);
		return evpool__err(r, "%s", msg);
	}
	if (m->mb) {
		m->deliver = true;
		evpool__mailbox_hold(m->mb);
	}
	map_chunk_done(m); /* the submitter's count */
	if (mapp)
		*mapp = m;
	return 0;
}

int
evpool_map_submit(struct evpool *pool, const struct evpool_map_spec *spec,
		  struct evpool_map **mapp)
{
	return evpool__err_as(map_submit(pool, spec, mapp), "evpool_map_submit");
}

int
evpool_map_async(struct evpool *pool, evpool_fn fn,
		 const struct evpool_item *items, size_t n, size_t chunksize,
		 evpool_map_cb callback, evpool_map_cb error_callback,
		 void *arg, struct evpool_map **mapp)
{
	struct evpool_map_spec spec = {
		.fn = fn, .items = items, .n = n, .chunksize = chunksize,
		.callback = callback, .error_callback = error_callback,
		.arg = arg,
	};

	return evpool__err_as(map_submit(pool, &spec, mapp), "evpool_map_async");
}

int
evpool_starmap_async(struct evpool *pool, evpool_fn fn, const void *records,
		     size_t n, size_t rec_size, size_t chunksize,
		     evpool_map_cb callback, evpool_map_cb error_callback,
		     void *arg, struct evpool_map **mapp)
{
	struct evpool_map_spec spec = {
		.fn = fn, .records = records, .rec_size = rec_size, .n = n,
		.chunksize = chunksize, .callback = callback,
		.error_callback = error_callback, .arg = arg,
	};

	if (!records && n)
		return evpool__err(-EINVAL, "evpool_starmap_async: NULL records");
	return evpool__err_as(map_submit(pool, &spec, mapp),
			      "evpool_starmap_async");
}

/* evpool_map() and evpool_starmap(), named WHO in error messages. */
static int
map_blocking(struct evpool *pool, const char *who,
	     const struct evpool_map_spec *spec, struct evpool_map **mapp)
{
	struct evpool_map *m;
	int r;

	r = map_submit(pool, spec, &m);
	if (r < 0)
		return evpool__err_as(r, who);
	/* From a job of the pool, with no worker left to run the chunks:
	 * take them back (their items get -ECANCELED) and say so. */
	if (evpool_map_wait(m, -1) == -EDEADLK) {
		evpool_map_cancel(m);
		evpool_map_wait(m, -1);
		if (mapp)
			*mapp = m;
		else
			evpool_map_unref(m);
		return evpool__err(-EDEADLK,
				   "%s: called from a job of this pool, its chunks could never run: cancelled",
				   who);
	}
	r = evpool_map_status(m);
	if (mapp)
		*mapp = m;
	else
		evpool_map_unref(m);
	return r;
}

int
evpool_map(struct evpool *pool, evpool_fn fn, const struct evpool_item *items,
	   size_t n, size_t chunksize, struct evpool_map **mapp)
{
	struct evpool_map_spec spec = {
		.fn = fn, .items = items, .n = n, .chunksize = chunksize,
		.flags = EVPOOL_MAP_BLOCK,
	};

	return map_blocking(pool, "evpool_map", &spec, mapp);
}

int
evpool_starmap(struct evpool *pool, evpool_fn fn, const void *records,
	       size_t n, size_t rec_size, size_t chunksize,
	       struct evpool_map **mapp)
{
	struct evpool_map_spec spec = {
		.fn = fn, .records = records, .rec_size = rec_size, .n = n,
		.chunksize = chunksize, .flags = EVPOOL_MAP_BLOCK,
	};

	if (!records && n)
		return evpool__err(-EINVAL, "evpool_starmap: NULL records");
	return map_blocking(pool, "evpool_starmap", &spec, mapp);
}

/* ---- map accessors ------------------------------------------------------ */

static bool
map_is_done(const struct evpool_map *m)
{
	return atomic_load_explicit(&((struct evpool_map *)m)->done,
				    memory_order_acquire);
}

/* Done, and on the thread that delivers its callback, the callback called
 * (multiprocessing's map_async(callback).wait() returns after it). */
static bool
map_wait_pred(void *arg)
{
	struct evpool_map *m = arg;

	return map_is_done(m) &&
	       (!m->deliver ||
		atomic_load_explicit(&m->delivered, memory_order_acquire) ||
		!evpool__mailbox_may_deliver_here(m->mb));
}

/* Called from a job of the map's pool: a chunk still queued on the
 * caller's own queue (referenced), or NULL.  It stands for the map in
 * evpool__self_wait(): while it waits there, the map cannot end. */
static struct evpool_job *
map_queued_chunk(struct evpool_map *m)
{
	struct evpool_queue *mine = evpool__tls_worker->q;
	struct evpool_job *found = NULL;

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; m->jobs && i < m->nchunks && !found; i++) {
		struct evpool_job *job = m->jobs[i];

		if (job && job != FINISHED && evpool__job_queue(job) == mine &&
		    evpool__job_state(job, memory_order_acquire) == EVPOOL__QUEUED)
			found = evpool_job_ref(job);
	}
	pthread_mutex_unlock(&m->mu);
	return found;
}

int
evpool_map_wait(struct evpool_map *m, int timeout_ms)
{
	if (!m)
		return evpool__err(-EINVAL, "evpool_map_wait: NULL map");
	if (map_wait_pred(m))
		return 0;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	if (evpool__unlikely(evpool__tls_worker != NULL)) {
		struct evpool_job *chunk = map_queued_chunk(m);
		int r = evpool__self_wait(m->pool, chunk, "evpool_map_wait",
					  map_wait_pred, m, timeout_ms);

		evpool_job_unref(chunk);
		return r;
	}
	return evpool__pool_wait(m->pool, map_wait_pred, m, timeout_ms);
}

int
evpool_map_ready(const struct evpool_map *m)
{
	return m && map_is_done(m);
}

int
evpool_map_status(const struct evpool_map *m)
{
	if (!m)
		return evpool__err(-EINVAL, "evpool_map_status: NULL map");
	if (!map_is_done(m))
		return EVPOOL_ENOTREADY;
	return m->err_index == SIZE_MAX ? 0 : m->err_status;
}

int
evpool_map_successful(const struct evpool_map *m)
{
	if (!m)
		return evpool__err(-EINVAL, "evpool_map_successful: NULL map");
	if (!map_is_done(m))
		return evpool__err(EVPOOL_ENOTREADY,
				   "evpool_map_successful: the map has not finished");
	return m->err_index == SIZE_MAX;
}

size_t
evpool_map_size(const struct evpool_map *m)
{
	return m ? m->n : 0;
}

size_t
evpool_map_failed(const struct evpool_map *m)
{
	size_t n;

	if (!m)
		return 0;
	pthread_mutex_lock(&((struct evpool_map *)m)->mu);
	n = m->nfailed;
	pthread_mutex_unlock(&((struct evpool_map *)m)->mu);
	return n;
}

size_t
evpool_map_error_index(const struct evpool_map *m)
{
	size_t i;

	if (!m)
		return SIZE_MAX;
	pthread_mutex_lock(&((struct evpool_map *)m)->mu);
	i = m->err_index;
	pthread_mutex_unlock(&((struct evpool_map *)m)->mu);
	return i;
}

size_t
evpool_map_chunksize(const struct evpool_map *m)
{
	return m ? m->chunksize : 0;
}

const struct evpool_result *
evpool_map_result(const struct evpool_map *m, size_t i)
{
	if (!m || !m->keep || i >= m->n || !map_is_done(m))
		return NULL;
	return &m->results[i];
}

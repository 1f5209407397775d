/*
 * chunk.c — the chunk frames that the map family (map.c, imap.c) runs
 * through: one job carries a chunk of items in one byte frame and returns
 * their results in another, so it works the same in thread and process
 * mode.  Also the sinks' shared release and
 * evpool_result_release().  See pyapi-internal.h for the frame layout.
 */
#include "pyapi/pyapi-internal.h"
#include "remote/remote-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pins and sinks ----------------------------------------------------- */

/* evpool__pool_pin() / evpool__pool_unpin() live in pool.c. */

void
evpool__sink_release(struct evpool_job *job)
{
	evpool__mailbox_unhold(evpool__job_mb(job), 1);
	evpool_job_unref(job);
}

void
evpool_result_release(struct evpool_result *res)
{
	if (!res)
		return;
	free((void *)res->data);
	memset(res, 0, sizeof(*res));
}

/* ---- chunk frames ------------------------------------------------------- */

#define CHUNK_MAGIC 0x31707665u /* "evp1" */
#define ALIGN_UP(x) (((x) + (EVPOOL__CHUNK_ALIGN - 1)) & \
		     ~(size_t)(EVPOOL__CHUNK_ALIGN - 1))

struct chunk_hdr {
	uint32_t magic;
	uint32_t count;
	uint64_t first;
	evpool_fn fn;
	uint32_t tag;
};

struct chunk_item {
	void *arg;
	uint64_t len;
};

struct chunk_res {
	int32_t status;
	uint64_t len;
	void *ptr;
};

#define HDR_SIZE ALIGN_UP(sizeof(struct chunk_hdr))
#define ITEM_SIZE ALIGN_UP(sizeof(struct chunk_item))
#define RES_SIZE ALIGN_UP(sizeof(struct chunk_res))

/* Make room for @p more bytes (zeroed).  NULL when out of memory. */
static unsigned char *
buf_grow(struct evpool__buf *b, size_t more)
{
	unsigned char *at;

	if (more > SIZE_MAX - b->len)
		return NULL;
	if (!b->p || b->len + more > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *p;

		while (cap < b->len + more)
			cap = cap > SIZE_MAX / 2 ? b->len + more : cap * 2;
		p = realloc(b->p, cap);
		if (!p)
			return NULL;
		b->p = p;
		b->cap = cap;
	}
	at = b->p + b->len;
	memset(at, 0, more);
	b->len += more;
	return at;
}

int
evpool__chunk_begin(struct evpool__buf *b, evpool_fn fn, uint64_t first,
		    uint32_t tag)
{
	struct chunk_hdr h = {
		.magic = CHUNK_MAGIC, .first = first, .fn = fn, .tag = tag,
	};
	unsigned char *at;

	b->len = 0;
	at = buf_grow(b, HDR_SIZE);
	if (!at)
		return evpool__err(-ENOMEM, "map: out of memory");
	memcpy(at, &h, sizeof(h));
	return 0;
}

uint32_t
evpool__chunk_count(const struct evpool__buf *b)
{
	struct chunk_hdr h;

	if (b->len < HDR_SIZE)
		return 0;
	memcpy(&h, b->p, sizeof(h));
	return h.count;
}

int
evpool__chunk_add(struct evpool__buf *b, void *arg, const void *data,
		  size_t len)
{
	struct chunk_item it = { .arg = arg, .len = len };
	struct chunk_hdr h;
	unsigned char *at;

	if (len > SIZE_MAX - ITEM_SIZE - EVPOOL__CHUNK_ALIGN)
		return evpool__err(-ENOMEM, "map: item of %zu bytes", len);
	at = buf_grow(b, ITEM_SIZE + ALIGN_UP(len));
	if (!at)
		return evpool__err(-ENOMEM, "map: out of memory");
	memcpy(at, &it, sizeof(it));
	if (len)
		memcpy(at + ITEM_SIZE, data, len);
	memcpy(&h, b->p, sizeof(h));
	h.count++;
	memcpy(b->p, &h, sizeof(h));
	return 0;
}

int
evpool__chunk_info(const void *frame, size_t len, struct evpool__chunk_info *ci)
{
	struct chunk_hdr h;

	if (!frame || len < HDR_SIZE)
		return -EINVAL;
	memcpy(&h, frame, sizeof(h));
	if (h.magic != CHUNK_MAGIC)
		return -EINVAL;
	ci->first = h.first;
	ci->count = h.count;
	ci->tag = h.tag;
	return 0;
}

/* Run the items of the chunk frame in @p ctx's input with @p fn; with
 * @p remote, the frame came from another host: its pointers (the function,
 * each item's arg) mean nothing here and are ignored. */
static int
chunk_run(struct evpool_ctx *ctx, evpool_fn fn, bool remote)
{
	struct evpool__buf out = { 0 };
	const unsigned char *in;
	struct chunk_hdr h;
	size_t inlen, off;

	in = evpool_ctx_input(ctx, &inlen);
	if (!in || inlen < HDR_SIZE)
		return EVPOOL_EPROTO;
	memcpy(&h, in, sizeof(h));
	if (!fn)
		fn = h.fn;
	if (h.magic != CHUNK_MAGIC || !fn)
		return EVPOOL_EPROTO;
	off = HDR_SIZE;
	for (uint32_t k = 0; k < h.count; k++) {
		struct chunk_item it;
		struct chunk_res res = { 0 };
		struct evpool_ctx sub;
		unsigned char *at;

		if (inlen - off < ITEM_SIZE)
			goto proto;
		memcpy(&it, in + off, sizeof(it));
		off += ITEM_SIZE;
		if (it.len > inlen - off || ALIGN_UP(it.len) > inlen - off)
			goto proto;
		/* Each item sees a ctx of its own, with the chunk's job (so
		 * cancel and emit work) and its own input and results. */
		sub = *ctx;
		sub.arg = remote ? NULL : it.arg;
		sub.input = it.len ? in + off : NULL;
		sub.input_len = (size_t)it.len;
		sub.result = NULL;
		sub.result_free = NULL;
		sub.rbytes = NULL;
		sub.rlen = 0;
		sub.inbuf = NULL;
		sub.inbuf_own = false;
		sub.out = NULL;
		off += ALIGN_UP(it.len);
		res.status = evpool_ctx_cancelled(ctx) ? -ECANCELED
			     : fn(&sub);
		evpool__ctx_release_input(&sub);
		if (evpool__ctx_flatten(&sub) < 0)
			res.status = -ENOMEM;
		res.ptr = remote ? NULL : sub.result;
		res.len = sub.rlen;
		at = buf_grow(&out, RES_SIZE + ALIGN_UP(sub.rlen));
		if (!at) {
			free(sub.rbytes);
			free(out.p);
			return -ENOMEM;
		}
		memcpy(at, &res, sizeof(res));
		if (sub.rlen)
			memcpy(at + RES_SIZE, sub.rbytes, sub.rlen);
		free(sub.rbytes);
	}
	free(ctx->rbytes);
	ctx->rbytes = out.p;
	ctx->rlen = out.len;
	return 0;
proto:
	free(out.p);
	return EVPOOL_EPROTO;
}

int
evpool__chunk_run(struct evpool_ctx *ctx)
{
	return chunk_run(ctx, NULL, false);
}

int
evpool__chunk_run_as(struct evpool_ctx *ctx, evpool_fn fn)
{
	return chunk_run(ctx, fn, true);
}

evpool_fn
evpool__chunk_fn(const void *frame, size_t len)
{
	struct chunk_hdr h;

	if (!frame || len < HDR_SIZE)
		return NULL;
	memcpy(&h, frame, sizeof(h));
	return h.magic == CHUNK_MAGIC ? h.fn : NULL;
}

void
evpool__chunk_out_init(struct evpool__chunk_out *o,
		       const struct evpool_job *job, uint32_t count)
{
	o->left = count;
	o->job_status = job->status;
	const struct evpool__job_ext *x = EVPOOL__EXT(job); /* chunks have one */
	size_t rlen;

	o->in = x->input_len >= HDR_SIZE ? (const unsigned char *)x->input +
					   HDR_SIZE : NULL;
	o->in_end = o->in ? (const unsigned char *)x->input + x->input_len
			  : NULL;
	o->p = evpool__job_rbytes((struct evpool_job *)(uintptr_t)job, &rlen,
				  false);
	o->end = o->p ? o->p + rlen : NULL;
	if (!o->job_status && !o->p && count)
		o->job_status = EVPOOL_EPROTO;
	/* A remote worker's pointers mean nothing here (it sends none) */
	o->remote = evpool__job_pool(job)->cfg.mode == EVPOOL_MODE_REMOTE;
}

void
evpool__result_take(struct evpool_result *res, struct evpool_job *job)
{
	res->status = job->status;
	res->ptr = evpool__job_take_result(job);
	res->data = evpool__job_rbytes(job, &res->len, true);
	res->arg = job->arg;
}

void
evpool__result_own(struct evpool_result *res)
{
	void *copy = NULL;

	if (res->len) {
		copy = malloc(res->len);
		if (copy) {
			memcpy(copy, res->data, res->len);
		} else {
			res->status = -ENOMEM;
			res->len = 0;
		}
	}
	res->data = copy;
}

void
evpool__chunk_out_next(struct evpool__chunk_out *o, struct evpool_result *res)
{
	struct chunk_res cr;
	size_t room;

	res->status = 0;
	res->ptr = NULL;
	res->data = NULL;
	res->len = 0;
	res->arg = NULL;
	if (o->in && (size_t)(o->in_end - o->in) >= ITEM_SIZE) {
		struct chunk_item it;

		memcpy(&it, o->in, sizeof(it));
		res->arg = it.arg;
		if (ALIGN_UP(it.len) <= (size_t)(o->in_end - o->in) - ITEM_SIZE)
			o->in += ITEM_SIZE + ALIGN_UP(it.len);
		else
			o->in = NULL;
	}
	if (o->left == 0) {
		res->status = EVPOOL_EPROTO;
		return;
	}
	o->left--;
	if (o->job_status) {
		res->status = o->job_status;
		return;
	}
	room = (size_t)(o->end - o->p);
	if (room < RES_SIZE)
		goto proto;
	memcpy(&cr, o->p, sizeof(cr));
	if (cr.len > room - RES_SIZE || ALIGN_UP(cr.len) > room - RES_SIZE)
		goto proto;
	res->status = cr.status;
	res->ptr = o->remote ? NULL : cr.ptr;
	res->len = (size_t)cr.len;
	res->data = cr.len ? o->p + RES_SIZE : NULL;
	o->p += RES_SIZE + ALIGN_UP(cr.len);
	return;
proto:
	o->job_status = EVPOOL_EPROTO;
	res->status = EVPOOL_EPROTO;
}

int
evpool__chunk_submit(struct evpool *pool, struct evpool_queue *q,
		     struct evpool__buf *b, evpool__sink_fn sink,
		     void *done_arg, unsigned flags, int wait_ms,
		     struct evpool_job **jobp)
{
	struct evpool_job_spec spec = {
		.fn = evpool__chunk_run,
		.input = b->p,
		.input_len = b->len,
		.done_arg = done_arg,
		.queue = q,
		.flags = flags,
		.wait_ms = wait_ms,
	};
	return evpool__submit(pool, &spec, sink, jobp);
}

size_t
evpool__map_parallelism(struct evpool_queue *q)
{
	size_t w;

	/* A remote pool's one worker thread is a dispatcher: the processes
	 * that run its jobs are on other hosts, their number unknown here. */
	if (q->pool->cfg.mode == EVPOOL_MODE_REMOTE)
		return EVPOOL__REMOTE_PARALLELISM;
	pthread_mutex_lock(&q->mu);
	w = q->max_workers ? q->max_workers : 1;
	pthread_mutex_unlock(&q->mu);
	return w;
}

size_t
evpool__default_chunksize(struct evpool_queue *q, size_t n)
{
	size_t w = evpool__map_parallelism(q), cs;

	cs = n / (4 * w) + (n % (4 * w) != 0);
	return cs ? cs : 1;
}

int
evpool__check_map_fn(struct evpool *pool, const char *who, evpool_fn fn)
{
	if (pool->cfg.mode == EVPOOL_MODE_REMOTE && fn &&
	    !evpool__registry_name(fn))
		return evpool__err(-EINVAL,
				   "%s: the job function is not registered (evpool_register_fn): remote jobs, and the chunks of a map, travel by name",
				   who);
	return 0;
}

int
evpool__check_items(struct evpool *pool, const char *who,
		    const struct evpool_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!items[i].data && items[i].len)
			return evpool__err(-EINVAL,
					   "%s: item %zu has NULL data of %zu bytes",
					   who, i, items[i].len);
		if (items[i].arg && pool->cfg.mode != EVPOOL_MODE_THREAD)
			return evpool__err(-EINVAL,
					   "%s: item %zu is a pointer; %s-mode pools take bytes (.data, .len)",
					   who, i,
					   pool->cfg.mode == EVPOOL_MODE_REMOTE
						   ? "remote"
						   : "process");
	}
	return 0;
}

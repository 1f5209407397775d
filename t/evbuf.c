/*
 * evbuf.c — evbuffers in and out of jobs, in thread and process mode:
 * input moved (the caller's evbuffer left empty, its chains the job's, no
 * byte copied: the chain pointers are compared), results and partial
 * results handed back as evbuffers the loop moves on without a copy, a
 * failed submit that gives the input back, and what crosses into a worker
 * process arriving whole (ring-sized and socket-sized payloads).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

#define NPIECES 3
#define PIECE 4096
static char pieces[NPIECES][PIECE];	/* the caller's bytes, by address */

/* What a job saw, for the loop to check. */
static struct {
	void *base[8];
	int n;
	size_t len;
	int cancelled;
} seen;

static atomic_int gate;

static int
first_pointers(struct evbuffer *b, void **out, int max)
{
	struct iovec v[8];
	int n = evbuffer_peek(b, -1, NULL, v, 8);

	for (int i = 0; i < n && i < max; i++)
		out[i] = v[i].iov_base;
	return n;
}

/* Thread mode: record where the input's chains point. */
static int
job_look(struct evpool_ctx *ctx)
{
	struct evbuffer *in = evpool_ctx_input_evbuffer(ctx);

	seen.n = first_pointers(in, seen.base, 8);
	seen.len = evbuffer_get_length(in);
	return 0;
}

/* Both modes: move the input into the output (an echo: no copy). */
static int
job_echo(struct evpool_ctx *ctx)
{
	return evbuffer_add_buffer(evpool_ctx_output(ctx),
				   evpool_ctx_input_evbuffer(ctx)) == 0
		       ? 0
		       : -EIO;
}

/* Both modes: the input's bytes, read the old way. */
static int
job_sum(struct evpool_ctx *ctx)
{
	size_t len;
	const unsigned char *p = evpool_ctx_input(ctx, &len);
	unsigned long sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = sum * 31 + p[i];
	return evpool_ctx_set_result_bytes(ctx, &sum, sizeof(sum));
}

/* Thread mode: the result references the caller's memory. */
static int
job_ref_result(struct evpool_ctx *ctx)
{
	struct evbuffer *out = evpool_ctx_output(ctx);

	for (int i = 0; i < NPIECES; i++)
		evbuffer_add_reference(out, pieces[i], PIECE, NULL, NULL);
	return 0;
}

/* Both modes: a result of n bytes (n in the input), pattern i * 7. */
static int
job_make(struct evpool_ctx *ctx)
{
	size_t n, len;
	const void *in = evpool_ctx_input(ctx, &len);
	struct evbuffer *out = evpool_ctx_output(ctx);
	unsigned char chunk[4096];

	memcpy(&n, in, sizeof(n));
	for (size_t off = 0; off < n; off += sizeof(chunk)) {
		size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
		for (size_t i = 0; i < k; i++)
			chunk[i] = (unsigned char)((off + i) * 7);
		evbuffer_add(out, chunk, k);
	}
	return 0;
}

/* Bytes first, then the output evbuffer: one result, in order. */
static int
job_bytes_then_out(struct evpool_ctx *ctx)
{
	evpool_ctx_set_result_bytes(ctx, "abc", 3);
	evbuffer_add(evpool_ctx_output(ctx), "def", 3);
	return 0;
}

/* Emissions: three moved evbuffers (thread mode: referencing pieces[]),
 * then one by bytes. */
static int
job_emit(struct evpool_ctx *ctx)
{
	for (int i = 0; i < NPIECES; i++) {
		struct evbuffer *b = evbuffer_new();
		int r;

		evbuffer_add_reference(b, pieces[i], PIECE, NULL, NULL);
		r = evpool_ctx_emit_evbuffer(ctx, b);
		if (r == 0 && evbuffer_get_length(b) != 0)
			r = -EFAULT; /* must be left empty */
		evbuffer_free(b);
		if (r)
			return r;
	}
	return evpool_ctx_emit(ctx, "tail", 4);
}

static int
job_block(struct evpool_ctx *ctx)
{
	double end = tap_now_ms() + 10000;

	(void)ctx;
	while (!atomic_load(&gate) && tap_now_ms() < end)
		tap_sleep_ms(1);
	return 0;
}

/* ---- the loop side ---- */

static struct evbuffer *sink;	/* what callbacks moved out */
static void *sink_base[8];
static int sink_n, ndone, last_status;
static void *emit_base[8];
static int emit_n, emit_nullcount;

static void
on_done_move(struct evpool_job *job, void *arg)
{
	struct evbuffer *r = evpool_job_result_evbuffer(job);

	(void)arg;
	ndone++;
	last_status = evpool_job_status(job);
	if (r) {
		sink_n = first_pointers(r, sink_base, 8);
		evbuffer_add_buffer(sink, r);
	}
}

static void
on_emit(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	struct evbuffer *e = evpool_job_emit_evbuffer(job);

	(void)arg;
	(void)len;
	if (!data)
		emit_nullcount++;
	if (e && emit_n < 8) {
		struct iovec v;
		if (evbuffer_peek(e, -1, NULL, &v, 1) > 0)
			emit_base[emit_n++] = v.iov_base;
		evbuffer_add_buffer(sink, e); /* moved: data outlives the cb */
	}
}

static void
reset(void)
{
	evbuffer_drain(sink, evbuffer_get_length(sink));
	memset(&seen, 0, sizeof(seen));
	sink_n = ndone = emit_n = emit_nullcount = 0;
	last_status = 1;
}

static struct evbuffer *
three_pieces(void)
{
	struct evbuffer *b = evbuffer_new();

	for (int i = 0; i < NPIECES; i++)
		evbuffer_add_reference(b, pieces[i], PIECE, NULL, NULL);
	return b;
}

static int
submit(struct evpool *pool, evpool_fn fn, struct evbuffer *in,
       const void *bytes, size_t len)
{
	struct evpool_job_spec spec = {
		.fn = fn, .input_evbuffer = in, .input = bytes,
		.input_len = len, .done = on_done_move, .emit = on_emit,
	};
	return evpool_submit_job(pool, &spec, NULL);
}

static bool
sink_is_pattern(size_t n)
{
	unsigned char *p;

	if (evbuffer_get_length(sink) != n)
		return false;
	p = evbuffer_pullup(sink, -1);
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 7))
			return false;
	return true;
}

static void
thread_mode(struct event_base *base)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evbuffer *in;
	bool same;
	int r;

	evpool_config_set_workers(cfg, 0, 1);
	evpool_config_set_max_queued(cfg, 1);
	if (evpool_new(&pool, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());

	/* input moved */
	reset();
	in = three_pieces();
	r = submit(pool, job_look, in, NULL, 0);
	is_int(0, r, "thread: submit with an evbuffer input");
	is_int(0, (long long)evbuffer_get_length(in),
	       "thread: the caller's evbuffer is left empty");
	event_base_dispatch(base);
	is_int(NPIECES * PIECE, (long long)seen.len, "thread: the job sees every byte");
	same = seen.n == NPIECES;
	for (int i = 0; same && i < NPIECES; i++)
		same = seen.base[i] == pieces[i];
	ok(same, "thread: the job's input chains are the caller's memory (no byte copied)");

	/* echo: input -> output -> the loop's evbuffer, never copied */
	reset();
	submit(pool, job_echo, in = (evbuffer_free(in), three_pieces()), NULL, 0);
	event_base_dispatch(base);
	same = sink_n == NPIECES;
	for (int i = 0; same && i < NPIECES; i++)
		same = sink_base[i] == pieces[i];
	ok(same, "thread: an echo job's result chains are still the caller's memory");
	struct iovec v[NPIECES];
	ok(evbuffer_peek(sink, -1, NULL, v, NPIECES) == NPIECES &&
		   v[0].iov_base == pieces[0] && v[2].iov_base == pieces[2],
	   "thread: evbuffer_add_buffer() on the loop moved the chains, no copy");

	/* byte input echoed through evbuffers: the chain outlives the job */
	reset();
	submit(pool, job_echo, NULL, "bytes in, evbuffer out", 22);
	event_base_dispatch(base);
	tap_sleep_ms(20); /* the worker may drop the job last */
	ok(evbuffer_get_length(sink) == 22 &&
		   !memcmp(evbuffer_pullup(sink, -1), "bytes in, evbuffer out", 22),
	   "thread: a byte input moved on as an evbuffer outlives its job");

	/* result built by reference */
	reset();
	submit(pool, job_ref_result, NULL, NULL, 0);
	event_base_dispatch(base);
	ok(sink_n == NPIECES && sink_base[1] == pieces[1],
	   "thread: a result evbuffer reaches the callback as the job made it");

	/* the old byte API on an evbuffer input */
	reset();
	submit(pool, job_sum, in = (evbuffer_free(in), three_pieces()), NULL, 0);
	event_base_dispatch(base);
	{
		unsigned long want = 0, got = 0;
		for (int i = 0; i < NPIECES; i++)
			for (int k = 0; k < PIECE; k++)
				want = want * 31 + (unsigned char)pieces[i][k];
		if (evbuffer_get_length(sink) == sizeof(got))
			evbuffer_remove(sink, &got, sizeof(got));
		ok(want == got, "thread: evpool_ctx_input() gives an evbuffer input's bytes");
	}

	/* bytes + output */
	reset();
	submit(pool, job_bytes_then_out, NULL, NULL, 0);
	event_base_dispatch(base);
	ok(evbuffer_get_length(sink) == 6 &&
		   !memcmp(evbuffer_pullup(sink, -1), "abcdef", 6),
	   "thread: result bytes then output evbuffer make one result in order");

	/* emissions */
	reset();
	submit(pool, job_emit, NULL, NULL, 0);
	event_base_dispatch(base);
	ok(emit_n == NPIECES + 1 && emit_base[0] == pieces[0] &&
		   emit_base[2] == pieces[2],
	   "thread: evbuffer emissions reach the emit callback without a copy");
	is_int(NPIECES, emit_nullcount,
	       "thread: an evbuffer emission's callback gets data NULL");
	ok(evbuffer_get_length(sink) == NPIECES * PIECE + 4 &&
		   !memcmp((char *)evbuffer_pullup(sink, -1) + NPIECES * PIECE,
			   "tail", 4),
	   "thread: a byte emission moved out of its callback stays valid");
	is_int(0, last_status, "thread: the emitting job succeeded");

	/* a failed submit gives the input back */
	reset();
	atomic_store(&gate, 0);
	submit(pool, job_block, NULL, NULL, 0);
	for (struct evpool_stats st = { 0 };
	     evpool_get_stats(pool, &st) == 0 && st.running < 1;)
		tap_sleep_ms(1);
	/* fills the queue (the running one may still count as queued for a
	 * moment) */
	while (submit(pool, job_block, NULL, NULL, 0) == -EAGAIN)
		tap_sleep_ms(1);
	evbuffer_free(in);
	in = three_pieces();
	r = submit(pool, job_echo, in, NULL, 0);
	is_int(-EAGAIN, r, "thread: a full queue refuses the evbuffer submit");
	ok(evbuffer_get_length(in) == NPIECES * PIECE &&
		   first_pointers(in, seen.base, 8) == NPIECES &&
		   seen.base[0] == pieces[0],
	   "thread: a refused submit leaves the caller's evbuffer as it was");
	r = submit(pool, job_echo, in, "x", 1);
	is_int(-EINVAL, r, "thread: input and input_evbuffer together are -EINVAL");
	atomic_store(&gate, 1);
	event_base_dispatch(base);
	is_int(2, ndone, "thread: the blockers completed once each");
	evbuffer_free(in);
	evpool_free(pool);
	evpool_config_free(cfg);
}

static void
process_mode(struct event_base *base)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	static const size_t sizes[] = { 100, 64 * 1024, 1024 * 1024 };

	evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
	evpool_config_set_workers(cfg, 0, 2);
	if (evpool_new(&pool, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());

	for (size_t s = 0; s < 3; s++) {
		struct evbuffer *in = evbuffer_new();
		unsigned char *p = malloc(sizes[s]);

		/* the input in several chains */
		for (size_t i = 0; i < sizes[s]; i++)
			p[i] = (unsigned char)(i * 7);
		for (size_t off = 0; off < sizes[s]; off += 3000)
			evbuffer_add(in, p + off,
				     sizes[s] - off < 3000 ? sizes[s] - off : 3000);
		reset();
		is_int(0, submit(pool, job_echo, in, NULL, 0),
		       "process: submit an evbuffer input of %zu bytes", sizes[s]);
		is_int(0, (long long)evbuffer_get_length(in),
		       "process: the caller's evbuffer is left empty (%zu)", sizes[s]);
		event_base_dispatch(base);
		ok(last_status == 0 && sink_is_pattern(sizes[s]),
		   "process: %zu bytes cross in chains and come back whole", sizes[s]);
		evbuffer_free(in);
		free(p);
	}

	/* a big result is referenced by the result evbuffer, not copied */
	{
		size_t n = 1024 * 1024;
		struct evpool_job *job;
		struct evpool_job_spec spec = { .fn = job_make, .input = &n,
						.input_len = sizeof(n) };
		const void *bytes;
		struct evbuffer *r;
		struct iovec v;

		evpool_submit_job(pool, &spec, &job);
		evpool_job_wait(job, -1);
		event_base_dispatch(base);
		bytes = evpool_job_result_bytes(job, NULL);
		r = evpool_job_result_evbuffer(job);
		ok(r && evbuffer_get_length(r) == n &&
			   evbuffer_peek(r, -1, NULL, &v, 1) == 1 &&
			   v.iov_base == bytes,
		   "process: a 1 MiB result evbuffer references the received bytes (no copy)");
		reset();
		evbuffer_add_buffer(sink, r);
		ok(sink_is_pattern(n), "process: its bytes are right");
		evpool_job_unref(job);
	}

	/* emissions cross and arrive in order */
	reset();
	submit(pool, job_emit, NULL, NULL, 0);
	event_base_dispatch(base);
	is_int(NPIECES + 1, emit_n, "process: every emission arrives");
	ok(evbuffer_get_length(sink) == NPIECES * PIECE + 4 &&
		   !memcmp(evbuffer_pullup(sink, -1), pieces[0], PIECE) &&
		   !memcmp((char *)evbuffer_pullup(sink, -1) + 2 * PIECE,
			   pieces[2], PIECE),
	   "process: evbuffer emissions arrive whole and in order");

	/* bytes + output */
	reset();
	submit(pool, job_bytes_then_out, NULL, NULL, 0);
	event_base_dispatch(base);
	ok(evbuffer_get_length(sink) == 6 &&
		   !memcmp(evbuffer_pullup(sink, -1), "abcdef", 6),
	   "process: result bytes then output evbuffer make one result");
	evpool_free(pool);
	evpool_config_free(cfg);
}

int
main(void)
{
	struct event_base *base;

	plan(18 + 14);
	tap_watchdog(120, "t/evbuf");
	for (int i = 0; i < NPIECES; i++)
		for (int k = 0; k < PIECE; k++)
			pieces[i][k] = (char)('a' + (i * 5 + k) % 26);
	base = event_base_new();
	sink = evbuffer_new();
	/* process pools first: the fork server sees a small program */
	process_mode(base);
	thread_mode(base);
	evbuffer_free(sink);
	event_base_free(base);
	return tap_failures() != 0;
}

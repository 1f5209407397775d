/*
 * remote-jobs.c — the job functions of examples/remote-demo, also built as
 * the shared object t/remote-jobs.so that the remote tests give
 * evpool-worker with --jobs.  The same evpool_fn functions would run in
 * thread and process mode.
 *
 *   hash   input: 4 bytes little-endian milliseconds to sleep, then any
 *          bytes; result: the 8-byte FNV-1a hash of the whole input.
 *   jobid  result: the job's id (evpool_ctx_job_id()).
 *   crash  kills its worker process (abort()).
 *   square input: a uint64_t x (host byte order); result: x * x; fails
 *          with -EDOM when x % 100 == 99 (a map's failing item).
 *   mul    input: a struct remote_jobs_pair (a starmap record); result:
 *          a * b as a uint64_t.
 *   echo   the input read as an evbuffer (evpool_ctx_input_evbuffer()),
 *          moved into the output evbuffer (evpool_ctx_output()) after a
 *          4-byte little-endian length.
 *   parts  emits "part 0", "part 1", "part 2" (evpool_ctx_emit()), then
 *          returns "done".
 */
#include "remote-jobs.h"

#include <event2/buffer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t
remote_jobs_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

size_t
remote_jobs_input(unsigned char *buf, size_t cap, unsigned sleep_ms,
		  unsigned long n)
{
	size_t len;

	buf[0] = (unsigned char)sleep_ms;
	buf[1] = (unsigned char)(sleep_ms >> 8);
	buf[2] = (unsigned char)(sleep_ms >> 16);
	buf[3] = (unsigned char)(sleep_ms >> 24);
	len = 4;
	/* a payload that differs per job and in length */
	for (unsigned long i = 0; i < 8 + n % 57 && len < cap; i++)
		buf[len++] = (unsigned char)(n * 31 + i * 7);
	return len;
}

static int
job_hash(struct evpool_ctx *ctx)
{
	size_t len;
	const unsigned char *in = evpool_ctx_input(ctx, &len);
	uint64_t h;

	if (len < 4)
		return -22;	/* -EINVAL */
	unsigned ms = in[0] | in[1] << 8 | in[2] << 16 | (unsigned)in[3] << 24;
	if (ms) {
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
	h = remote_jobs_hash(in, len);
	return evpool_ctx_set_result_bytes(ctx, &h, sizeof(h));
}

static int
job_id(struct evpool_ctx *ctx)
{
	const char *id = evpool_ctx_job_id(ctx);

	if (!id)
		return -2;	/* -ENOENT */
	return evpool_ctx_set_result_bytes(ctx, id, strlen(id) + 1);
}

static int
job_crash(struct evpool_ctx *ctx)
{
	(void)ctx;
	abort();
}

static int
job_square(struct evpool_ctx *ctx)
{
	size_t len;
	const void *in = evpool_ctx_input(ctx, &len);
	uint64_t x;

	if (len != sizeof(x))
		return -22;	/* -EINVAL */
	memcpy(&x, in, sizeof(x));
	if (x % 100 == 99)
		return -33;	/* -EDOM */
	x *= x;
	return evpool_ctx_set_result_bytes(ctx, &x, sizeof(x));
}

static int
job_mul(struct evpool_ctx *ctx)
{
	size_t len;
	const void *in = evpool_ctx_input(ctx, &len);
	struct remote_jobs_pair p;
	uint64_t r;

	if (len != sizeof(p))
		return -22;	/* -EINVAL */
	memcpy(&p, in, sizeof(p));
	r = (uint64_t)p.a * p.b;
	return evpool_ctx_set_result_bytes(ctx, &r, sizeof(r));
}

static int
job_echo(struct evpool_ctx *ctx)
{
	struct evbuffer *in = evpool_ctx_input_evbuffer(ctx);
	struct evbuffer *out = evpool_ctx_output(ctx);
	unsigned char hdr[4];
	size_t len;

	if (!in || !out)
		return -12;	/* -ENOMEM */
	len = evbuffer_get_length(in);
	hdr[0] = (unsigned char)len;
	hdr[1] = (unsigned char)(len >> 8);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 24);
	if (evbuffer_add(out, hdr, sizeof(hdr)) < 0 ||
	    evbuffer_add_buffer(out, in) < 0)
		return -12;
	return 0;
}

static int
job_parts(struct evpool_ctx *ctx)
{
	char part[16];
	int r;

	for (int i = 0; i < 3; i++) {
		snprintf(part, sizeof(part), "part %d", i);
		r = evpool_ctx_emit(ctx, part, strlen(part));
		if (r < 0)
			return r;
	}
	return evpool_ctx_set_result_bytes(ctx, "done", 4);
}

int
evpool_jobs_register(void)
{
	int r;

	if ((r = evpool_register_fn("hash", job_hash)) < 0 ||
	    (r = evpool_register_fn("jobid", job_id)) < 0 ||
	    (r = evpool_register_fn("crash", job_crash)) < 0 ||
	    (r = evpool_register_fn("square", job_square)) < 0 ||
	    (r = evpool_register_fn("mul", job_mul)) < 0 ||
	    (r = evpool_register_fn("echo", job_echo)) < 0 ||
	    (r = evpool_register_fn("parts", job_parts)) < 0)
		return r;
	return 0;
}

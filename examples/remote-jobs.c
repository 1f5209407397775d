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
 */
#include "remote-jobs.h"

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

int
evpool_jobs_register(void)
{
	int r;

	if ((r = evpool_register_fn("hash", job_hash)) < 0 ||
	    (r = evpool_register_fn("jobid", job_id)) < 0 ||
	    (r = evpool_register_fn("crash", job_crash)) < 0)
		return r;
	return 0;
}

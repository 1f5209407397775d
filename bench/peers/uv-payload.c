/*
 * uv-payload.c — libuv's side of evpool-bench's `payload` scenario: the same
 * payloads (4 KiB, 64 KiB, 1 MiB) through uv_queue_work() with a malloc'd
 * buffer, four jobs in flight, as a libuv program moves a request body: the
 * loop mallocs the buffer (a read callback's; its filling by the kernel is
 * left out, as evpool-bench leaves out its chains' filling), the work
 * callback owns it while it runs (an echo: the result is the same buffer),
 * the after-work callback hands it on (a uv_write() would take the pointer;
 * here it is freed).  Prints name=value lines as evpool-bench does:
 * uv_payload_SIZE_MBps, uv_payload_SIZE_loop_ns_per_kib (median of three
 * rounds; loop-thread CPU from getrusage(RUSAGE_THREAD)).
 * Usage: uv-payload [MiB per run, default 256]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <uv.h>

#define ROUNDS 3
#define INFLIGHT 4

struct job {
	uv_work_t req;
	unsigned char *buf;
	size_t len;
};

static uv_loop_t *loop;
static size_t size;
static long n, submitted, done;

static void work(uv_work_t *req)
{
	(void)req; /* an echo: the buffer is the result */
}

static void submit(void);

static void after(uv_work_t *req, int status)
{
	struct job *j = req->data;

	if (status != 0)
		abort();
	free(j->buf);
	free(j);
	done++;
	if (submitted < n)
		submit();
}

static void submit(void)
{
	struct job *j = malloc(sizeof(*j));

	j->buf = malloc(size);
	j->len = size;
	j->req.data = j;
	uv_queue_work(loop, &j->req, work, after);
	submitted++;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 4096, 65536, 1 << 20 };
	static const char *const names[] = { "4k", "64k", "1m" };
	long mib = argc > 1 ? atol(argv[1]) : 256;

	loop = uv_default_loop();
	for (int si = 0; si < 3; si++) {
		double mbps[ROUNDS], nspk[ROUNDS];

		for (int r = 0; r < ROUNDS; r++) {
			double t0 = (double)uv_hrtime() / 1e9, c0 = cpu_s(), el, cpu;

			size = sizes[si];
			n = (long)(((uint64_t)mib << 20) / size);
			if (n < 8)
				n = 8;
			submitted = done = 0;
			for (int k = 0; k < INFLIGHT && submitted < n; k++)
				submit();
			uv_run(loop, UV_RUN_DEFAULT);
			cpu = cpu_s() - c0;
			el = (double)uv_hrtime() / 1e9 - t0;
			mbps[r] = (double)n * (double)size / el / 1e6;
			nspk[r] = cpu * 1e9 / ((double)n * (double)size / 1024.0);
		}
		qsort(mbps, ROUNDS, sizeof(double), cmp);
		qsort(nspk, ROUNDS, sizeof(double), cmp);
		printf("uv_payload_%s_MBps=%.0f\n", names[si], mbps[ROUNDS / 2]);
		printf("uv_payload_%s_loop_ns_per_kib=%.1f\n", names[si], nspk[ROUNDS / 2]);
	}
	uv_loop_close(loop);
	return 0;
}

/*
 * uv-bench.c — libuv's uv_queue_work() on the two figures evpool-bench
 * reports, so that bench/compare.sh can put them side by side.
 *
 *   burst     N empty jobs queued from the loop at once; the time until the
 *             last after_work callback has run on the loop (jobs/s)
 *   pingpong  one job in flight, each after_work queues the next; the
 *             median and p99 round trip (us)
 *
 * The pool is libuv's own (UV_THREADPOOL_SIZE, default 4).  One line out:
 *   libuv uv_queue_work: burst N tasks T s = R tasks/s; pingpong p50 X us p99 Y us
 *
 *   cc -O2 uv-bench.c $(pkg-config --cflags --libs libuv)     (libuv1-dev)
 *   ./uv-bench [N [M]]
 */
#include <uv.h>

#include <stdio.h>
#include <stdlib.h>

#include "peers.h"

/* ---- burst ---------------------------------------------------------------- */

static long completed;

static void
nothing(uv_work_t *req)
{
	(void)req;
}

static void
count_done(uv_work_t *req, int status)
{
	(void)req;
	(void)status;
	completed++;
}

/* Queue n jobs in reqs[] and run the loop until every one has completed. */
static void
burst(uv_loop_t *loop, uv_work_t *reqs, long n)
{
	for (long i = 0; i < n; i++)
		uv_queue_work(loop, &reqs[i], nothing, count_done);
	uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- pingpong ------------------------------------------------------------- */

struct pingpong {
	uv_work_t req;
	double *rtt;
	long n, done;
	double sent;
};

static void pong(uv_work_t *req, int status);

static void
ping(struct pingpong *pp)
{
	pp->sent = peer_now();
	uv_queue_work(uv_default_loop(), &pp->req, nothing, pong);
}

static void
pong(uv_work_t *req, int status)
{
	struct pingpong *pp = req->data;

	(void)status;
	pp->rtt[pp->done++] = peer_now() - pp->sent;
	if (pp->done < pp->n)
		ping(pp);
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	long m = argc > 2 ? atol(argv[2]) : 20000;
	uv_loop_t *loop = uv_default_loop();
	uv_work_t *reqs;
	struct pingpong pp = { .n = m };
	double t0, t1, p50, p99;

	if (n < 1000 || m < 1) {
		fprintf(stderr, "usage: %s [N >= 1000 [M >= 1]]\n", argv[0]);
		return 2;
	}
	reqs = calloc((size_t)n, sizeof(*reqs));
	pp.rtt = calloc((size_t)m, sizeof(*pp.rtt));
	if (reqs == NULL || pp.rtt == NULL)
		return 1;

	burst(loop, reqs, 1000); /* start the pool's threads */
	completed = 0;
	t0 = peer_now();
	burst(loop, reqs, n);
	t1 = peer_now();
	if (completed != n) {
		fprintf(stderr, "uv-bench: %ld of %ld jobs completed\n", completed, n);
		return 1;
	}

	pp.req.data = &pp;
	ping(&pp);
	uv_run(loop, UV_RUN_DEFAULT);
	peer_percentiles(pp.rtt, m, &p50, &p99);

	printf("libuv uv_queue_work: burst %ld tasks %.3fs = %.0f tasks/s; "
	       "pingpong p50 %.1f us p99 %.1f us\n",
	       n, t1 - t0, (double)n / (t1 - t0), p50, p99);
	free(reqs);
	free(pp.rtt);
	return 0;
}

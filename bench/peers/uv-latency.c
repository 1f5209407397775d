/*
 * uv-latency.c — libuv's side of evpool-bench's latency and lowload
 * scenarios (issues 20 and 22), defined exactly as bench/evpool-bench.c
 * defines them and printing the same name=value keys:
 *   latency  round trip (uv_queue_work -> start of after_work) with one job
 *            in flight, one job every 1 ms from a timer, 64 in flight
 *            -> latency_{1,timer,64}_{p50,p90,p99,p999,max}_us
 *   lowload  one job every P us (200, 1000, 2000, 10000) for N ms each; the
 *            process's CPU from getrusage() -> lowload_P_{jobs,cpu_pct,
 *            cpu_us_per_job,p50_us,p99_us}
 * The timer is a timerfd watched with uv_poll (uv_timer has millisecond
 * resolution), as evpool-bench watches one with libevent.
 * usage: uv-latency [-n N] latency|lowload ...   (N: round trips of (a),
 *        N/10 of (b), 10 N of (c); milliseconds per period of lowload)
 * build: cc -O2 uv-latency.c $(pkg-config --cflags --libs libuv)
 */
#define _GNU_SOURCE
#include <uv.h>

static double *lat;
static void window_run(long k, long n);
static void ticker_run(long period_us, long n, double *cpu, double *wall);
static void peer_init(void);
#include "latency.h"

/* A job and when it was submitted. */
struct req {
	uv_work_t w;
	double t0;
};

static uv_loop_t *loop;
static struct req *reqs;
static long sent, done, target;
static uv_poll_t poll_h;
static int tfd;

static void peer_init(void)
{
	loop = uv_default_loop();
}

static void work(uv_work_t *r)
{
	(void)r;
}

static void start(long i, uv_after_work_cb after)
{
	reqs[i].t0 = peer_now();
	sent++;
	if (uv_queue_work(loop, &reqs[i].w, work, after))
		abort();
}

static void after_window(uv_work_t *w, int st)
{
	struct req *r = (struct req *)w;

	(void)st;
	lat[done++] = peer_now() - r->t0;
	if (sent < target)
		start(r - reqs, after_window);
}

static void window_run(long k, long n)
{
	sent = done = 0;
	target = n;
	for (long i = 0; i < k && i < n; i++)
		start(i, after_window);
	uv_run(loop, UV_RUN_DEFAULT);
}

static void after_tick(uv_work_t *w, int st)
{
	struct req *r = (struct req *)w;

	(void)st;
	lat[done++] = peer_now() - r->t0;
	if (done == target)
		uv_close((uv_handle_t *)&poll_h, NULL);
}

static void on_tick(uv_poll_t *h, int status, int events)
{
	uint64_t ticks;

	(void)h; (void)status; (void)events;
	if (read(tfd, &ticks, sizeof ticks) != (ssize_t)sizeof ticks ||
	    sent == target)
		return;
	start(sent, after_tick);
	if (sent == target)
		uv_poll_stop(&poll_h);
}

static void ticker_run(long period_us, long n, double *cpu, double *wall)
{
	double c0 = cpu_s(), w0 = peer_now();

	sent = done = 0;
	target = n;
	tfd = peer_timerfd(period_us);
	if (uv_poll_init(loop, &poll_h, tfd) ||
	    uv_poll_start(&poll_h, UV_READABLE, on_tick))
		abort();
	uv_run(loop, UV_RUN_DEFAULT);
	*cpu = cpu_s() - c0;
	*wall = peer_now() - w0;
	close(tfd);
}

int main(int argc, char **argv)
{
	return peer_main(argc, argv, "uv-latency", sizeof *reqs,
			 (void **)&reqs);
}

/*
 * timer.c — a long job does not hold up the loop: a 1 ms libevent timer on
 * the same base keeps ticking while a 300 ms job runs, and the loop thread
 * sleeps (rather than spins) while it waits for a completion.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

struct state {
	atomic_int job_running;
	atomic_int job_done;
	int ticks, ticks_during_job;
	double last_tick, max_gap;	/* ms, only while the job runs */
	int callbacks;
	double job_ms;
	struct event *timer;
};

static int job_300ms(struct evpool_ctx *ctx)
{
	struct state *s = evpool_ctx_arg(ctx);
	double t0 = tap_now_ms();

	atomic_store(&s->job_running, 1);
	tap_sleep_ms(300);
	s->job_ms = tap_now_ms() - t0;
	atomic_store(&s->job_running, 0);
	atomic_store(&s->job_done, 1);
	return 0;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct state *s = arg;
	double now = tap_now_ms();

	(void)fd;
	(void)what;
	s->ticks++;
	if (atomic_load(&s->job_running)) {
		s->ticks_during_job++;
		if (s->last_tick > 0 && now - s->last_tick > s->max_gap)
			s->max_gap = now - s->last_tick;
		s->last_tick = now;
	}
}

static void cb_done(struct evpool_job *job, void *arg)
{
	struct state *s = arg;

	(void)job;
	s->callbacks++;
	event_del(s->timer);	/* the loop may end once the pool is idle */
}

static double thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void cb_plain(struct evpool_job *job, void *arg)
{
	(void)job;
	((struct state *)arg)->callbacks++;
}

int main(void)
{
	struct event_base *base;
	struct evpool *pool = NULL;
	struct state s;
	struct timeval one_ms = { 0, 1000 };
	struct event *timer;
	double t0, el, cpu;

	plan(11);
	tap_watchdog(30, "timer");
	base = event_base_new();
	if (base == NULL)
		bail("event_base_new failed");
	is_int(0, evpool_new(&pool, base, NULL), "a pool is made on the base");
	if (pool == NULL)
		bail("no pool");

	memset(&s, 0, sizeof(s));
	timer = event_new(base, -1, EV_PERSIST, on_tick, &s);
	s.timer = timer;
	event_add(timer, &one_ms);
	is_int(0, evpool_submit(pool, job_300ms, &s, cb_done, &s),
	       "a 300 ms job is submitted");
	t0 = tap_now_ms();
	event_base_dispatch(base);
	el = tap_now_ms() - t0;
	is_int(1, s.callbacks, "its completion callback ran once");
	ok(s.job_ms >= 290, "the job took its 300 ms (%.0f ms)", s.job_ms);
	ok(s.ticks_during_job >= 20,
	   "a 1 ms timer on the same loop ticked %d times while the job ran",
	   s.ticks_during_job);
	ok(s.max_gap < 250,
	   "the longest pause between ticks during the job was %.1f ms, far below 300",
	   s.max_gap);
	ok(el >= 290, "the loop ran until the job was delivered (%.0f ms)", el);

	/* Without the timer: the loop thread sleeps while the job runs. */
	memset(&s, 0, sizeof(s));
	is_int(0, evpool_submit(pool, job_300ms, &s, cb_plain, &s),
	       "another 300 ms job is submitted, no timer this time");
	cpu = thread_cpu_ms();
	t0 = tap_now_ms();
	event_base_dispatch(base);
	el = tap_now_ms() - t0;
	cpu = thread_cpu_ms() - cpu;
	is_int(1, s.callbacks, "its callback ran once");
	ok(el >= 290, "dispatch waited for it (%.0f ms)", el);
	ok(cpu < 100,
	   "the loop thread slept while waiting: %.1f ms of CPU in %.0f ms", cpu, el);

	tap_watchdog(20, "timer: evpool_free");
	evpool_free(pool);
	event_free(timer);
	event_base_free(base);
	return 0;
}

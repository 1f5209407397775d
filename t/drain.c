/*
 * drain.c — the drain's last look (INV-DRAIN in lib/core/README.md).
 *
 * A worker that pushes a completion while the loop is draining writes no
 * wakeup (the drain is awake and will take it).  So before the drain stops
 * looking it must say so (awake = false) and then look at the stack once
 * more: a push that landed between its last take and that store would
 * otherwise sit on the stack with no wakeup on its way, and the loop would
 * wait for ever.
 *
 * Here jobs go round one at a time, each released by the completion callback
 * of the one before: the next job already runs on the worker, waiting for a
 * flag; the callback, running inside the drain, sets the flag, waits 0 to
 * ~200 ns (a different delay each round) and returns to the drain, while the
 * job returns and its completion is pushed.  So the push races the drain's
 * tail, with no futex wake in between to blur the timing.  The race is hit
 * most often while a pool is fresh, so each run is many short episodes, each
 * with a new pool.  Spinning is turned off (EVPOOL_NO_SPIN): the loop's
 * post-batch spin would take the push before the tail.  Run once through
 * libevent and once through evpool_fd() + evpool_drain() in a poll() loop.
 * Without the last look, a round trip stalls (the commit that added this
 * says how often).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

/* Episodes (a fresh pool each: a new worker thread, placed anew by the
 * scheduler) of this many round trips. */
#define EPISODES 40
#define ROUNDS 1000
/* A round trip that takes this long has stalled (a healthy one takes
 * microseconds, a few milliseconds on a loaded machine). */
#define STALL_MS 2000
/* The callback's delay after the release: 0..this many iterations of an
 * empty loop. */
#define DELAY_SPREAD 200

struct chain {
	struct evpool *pool;
	unsigned left;			/* jobs still to submit */
	atomic_uint started;		/* jobs that began running */
	atomic_uint go;			/* jobs up to this one may return */
	atomic_int stop;		/* stalled: let a waiting job go */
	unsigned done;			/* completions seen */
	unsigned drains;		/* drains (loop wakeups) so far */
	unsigned last_drain;		/* the drain of the last completion */
	unsigned same;			/* completions the same drain took */
	int submit_error;
	int stalled;
};

/* Wait until the previous job's callback lets us go. */
static int job_released(struct evpool_ctx *ctx)
{
	struct chain *c = evpool_ctx_arg(ctx);
	unsigned me = atomic_fetch_add(&c->started, 1) + 1;
	double give_up = tap_now_ms() + 10000;

	for (unsigned i = 1; atomic_load(&c->go) < me &&
			     !atomic_load(&c->stop); i++)
		/* Now and then let the loop's thread have the CPU (valgrind
		 * runs one thread at a time; so may a loaded machine). */
		if (i % 1024 == 0) {
			if (tap_now_ms() > give_up)
				break;
			sched_yield();
		}
	return 0;
}

static void chain_done(struct evpool_job *job, void *arg);

static void chain_next(struct chain *c)
{
	int r;

	c->left--;
	r = evpool_submit(c->pool, job_released, c, chain_done, c);
	if (r < 0 && !c->submit_error)
		c->submit_error = r;
}

static void chain_done(struct evpool_job *job, void *arg)
{
	struct chain *c = arg;

	(void)job;
	if (c->done && c->drains == c->last_drain)
		c->same++;	/* the push beat the drain's last take */
	c->last_drain = c->drains;
	c->done++;
	if (c->left)
		chain_next(c);	/* queued behind the one that waits */
	/* Release the job that waits on the worker, then return to the
	 * drain a little later, a different delay each round. */
	atomic_store(&c->go, c->done + 1);
	for (volatile unsigned i = c->done * 7u % DELAY_SPREAD; i > 0; i--)
		;
}

static void chain_start(struct chain *c, struct event_base *base)
{
	struct evpool_config *cfg = evpool_config_new();

	if (!cfg)
		bail("evpool_config_new");
	evpool_config_set_workers(cfg, 1, 1);
	if (evpool_new(&c->pool, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());
	evpool_config_free(cfg);
	c->left = ROUNDS;
	atomic_store(&c->go, 1);
	chain_next(c);
	chain_next(c);
}

/* After each pass of the loop: @return false once the chain is over. */
static int chain_going(struct chain *c, unsigned *seen, double *progress)
{
	if (c->done == ROUNDS)
		return 0;
	if (c->done != *seen) {
		*seen = c->done;
		*progress = tap_now_ms();
	} else if (tap_now_ms() - *progress >
		   STALL_MS * (double)tap_slowdown()) {
		c->stalled = 1;
		atomic_store(&c->stop, 1);
		return 0;
	}
	return 1;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void episode_libevent(struct chain *c)
{
	struct event_base *base = event_base_new();
	struct timeval tv = { 0, 100 * 1000 };
	struct event *ev;
	double progress = tap_now_ms();
	unsigned seen = 0;

	if (!base)
		bail("event_base_new");
	ev = event_new(base, -1, EV_PERSIST, tick, NULL); /* wakes the loop */
	event_add(ev, &tv);
	chain_start(c, base);
	do {
		/* One pass: at most one drain of the pool's mailbox. */
		event_base_loop(base, EVLOOP_ONCE);
		c->drains++;
	} while (chain_going(c, &seen, &progress));
	event_free(ev);
	evpool_free(c->pool);
	event_base_free(base);
}

static void episode_evpool_drain(struct chain *c)
{
	struct pollfd p;
	double progress = tap_now_ms();
	unsigned seen = 0;

	chain_start(c, NULL);
	p.fd = evpool_fd(c->pool);
	p.events = POLLIN;
	do {
		int r = poll(&p, 1, 100);

		if (r < 0 && errno != EINTR)
			sysbail("poll");
		if (r > 0) {
			evpool_drain(c->pool);
			c->drains++;
		}
	} while (chain_going(c, &seen, &progress));
	evpool_free(c->pool);
}

static void run(const char *how, void (*episode)(struct chain *))
{
	/* Under a sanitizer or valgrind, fewer: the race is the plain
	 * build's to catch, the others check the code around it. */
	int episodes = tap_slowdown() > 1 ? 3 : EPISODES;
	double t0 = tap_now_ms();
	unsigned done = 0, same = 0;
	int e, err = 0, stalled = 0;

	for (e = 0; e < episodes && !stalled && !err; e++) {
		struct chain c = { 0 };

		episode(&c);
		done += c.done;
		same += c.same;
		stalled = c.stalled;
		err = c.submit_error;
	}
	ok(!stalled && !err && done == (unsigned)episodes * ROUNDS,
	   "%s: %d round trips racing the drain's tail, none stalls (%u done "
	   "in %.0f ms, %u taken by the same drain%s, submit error %d)",
	   how, episodes * ROUNDS, done, tap_now_ms() - t0, same,
	   stalled ? ", STALLED" : "", err);
}

int main(void)
{
	/* Before the first pool: the library decides once per process. */
	setenv("EVPOOL_NO_SPIN", "1", 1);
	plan(2);
	tap_watchdog(120, "drain round trips");
	run("libevent", episode_libevent);
	run("evpool_fd() + evpool_drain()", episode_evpool_drain);
	return 0;
}

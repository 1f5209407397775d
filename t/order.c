/*
 * order.c — the order in which a pool's workers start jobs, and how many
 * workers it starts (issue 15, items 1 and 5):
 *  - FIFO among equals holds across workers: with 4 workers, 4 jobs that
 *    block on a semaphore and then 16 quick ones, no quick job starts
 *    before all 4 blockers have started (libuv's threadpool_cancel_work
 *    relies on it).  Workers that take several jobs at once must not
 *    leave older jobs waiting in a blocked worker's batch while a newer
 *    one runs.  200 rounds out of 200, with spinning and, in a child
 *    process, with EVPOOL_NO_SPIN=1 (the spin choice is made once per
 *    process).
 *  - An idle worker is reused before another is started: three
 *    evpool_apply() calls one after another leave one worker (CPython's
 *    test_idle_process_reuse_one), in thread and in process mode.
 * Both used to fail about half the time (FIFO: 7 runs in 8 without
 * spinning), so each is repeated many times.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

#define FIFO_ROUNDS 200
#define NBLOCK 4
#define NQUICK 16

static sem_t gate;
static atomic_int blockers_started;
static atomic_int early;	/* quick jobs that started before the blockers */
static atomic_int quick_ran;

static int blocker(struct evpool_ctx *ctx)
{
	(void)ctx;
	atomic_fetch_add(&blockers_started, 1);
	while (sem_wait(&gate) < 0 && errno == EINTR)
		;
	return 0;
}

static int quick(struct evpool_ctx *ctx)
{
	(void)ctx;
	if (atomic_load(&blockers_started) < NBLOCK)
		atomic_fetch_add(&early, 1);
	atomic_fetch_add(&quick_ran, 1);
	return 0;
}

static void count_done(struct evpool_job *job, void *arg)
{
	(void)job;
	(*(int *)arg)++;
}

static struct evpool *new_pool(struct event_base *base, enum evpool_mode mode,
			       unsigned min, unsigned max)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;

	if (!cfg || evpool_config_set_mode(cfg, mode) < 0 ||
	    evpool_config_set_workers(cfg, min, max) < 0 ||
	    (mode == EVPOOL_MODE_PROCESS &&
	     evpool_config_set_worker_rlimit(cfg, RLIMIT_CORE, 0) < 0) ||
	    evpool_new(&pool, base, cfg) < 0)
		bail("cannot make a pool: %s", evpool_errmsg());
	evpool_config_free(cfg);
	return pool;
}

/* One round of the FIFO check.  @return quick jobs that started before
 * every blocker had, or -1 if a round went wrong (lost jobs). */
static int fifo_round(struct event_base *base, unsigned min_workers)
{
	struct evpool *pool = new_pool(base, EVPOOL_MODE_THREAD, min_workers,
				       NBLOCK);
	int done = 0, bad;

	atomic_store(&blockers_started, 0);
	atomic_store(&early, 0);
	atomic_store(&quick_ran, 0);
	for (int i = 0; i < NBLOCK; i++)
		if (evpool_submit(pool, blocker, NULL, count_done, &done) < 0)
			bail("submit: %s", evpool_errmsg());
	for (int i = 0; i < NQUICK; i++)
		if (evpool_submit(pool, quick, NULL, count_done, &done) < 0)
			bail("submit: %s", evpool_errmsg());
	/* Up to 20 ms for every blocker to start.  Once all 4 have, the 4
	 * workers are all in them: no quick job is running, so the count of
	 * early ones is final. */
	tap_wait_until(atomic_load(&blockers_started) == NBLOCK, 20);
	bad = atomic_load(&early);
	for (int i = 0; i < NBLOCK; i++)
		sem_post(&gate);
	while (done < NBLOCK + NQUICK &&
	       event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	if (done != NBLOCK + NQUICK)
		bad = -1;
	evpool_free(pool);
	while (sem_trywait(&gate) == 0)
		;
	return bad;
}

/* rounds with early quick jobs, rounds gone wrong */
struct fifo_result {
	int early_rounds, early_jobs, broken;
};

static struct fifo_result fifo_rounds(unsigned min_workers)
{
	struct event_base *base = event_base_new();
	struct fifo_result res = { 0, 0, 0 };

	if (!base)
		bail("event_base_new");
	for (int r = 0; r < FIFO_ROUNDS; r++) {
		int bad = fifo_round(base, min_workers);

		if (bad < 0)
			res.broken++;
		else if (bad > 0) {
			res.early_rounds++;
			res.early_jobs += bad;
		}
	}
	event_base_free(base);
	return res;
}

static void fifo_report(const struct fifo_result *res, const char *how)
{
	is_int(0, res->early_rounds,
	       "%s: no quick job starts before the 4 older blockers, %d rounds "
	       "(%d quick jobs ran early)", how, FIFO_ROUNDS, res->early_jobs);
	is_int(0, res->broken, "%s: every round's 20 jobs completed once", how);
}

/* The FIFO rounds with EVPOOL_NO_SPIN=1, in a child forked before this
 * process made any pool or thread; the result comes back through a pipe. */
static void fifo_no_spin(void)
{
	struct fifo_result res[2];
	int fd[2], st;
	pid_t pid;

	if (pipe(fd) < 0)
		sysbail("pipe");
	pid = fork();
	if (pid < 0)
		sysbail("fork");
	if (pid == 0) {
		close(fd[0]);
		setenv("EVPOOL_NO_SPIN", "1", 1);
		res[0] = fifo_rounds(0);
		res[1] = fifo_rounds(NBLOCK);
		_exit(write(fd[1], res, sizeof(res)) == (ssize_t)sizeof(res) ? 0
									    : 1);
	}
	close(fd[1]);
	if (read(fd[0], res, sizeof(res)) != (ssize_t)sizeof(res) ||
	    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		bail("the EVPOOL_NO_SPIN=1 child failed");
	close(fd[0]);
	fifo_report(&res[0], "EVPOOL_NO_SPIN=1, workers on demand");
	fifo_report(&res[1], "EVPOOL_NO_SPIN=1, 4 workers from the start");
}

static int noop(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

/* Three evpool_apply() calls in a row, @p rounds times, each on a new
 * pool of up to 4 workers.  @return rounds that ended with more than one
 * worker. */
static int reuse_rounds(struct event_base *base, enum evpool_mode mode,
			int rounds, unsigned *most)
{
	static const char byte = 'x';
	struct evpool_item item = { .data = &byte, .len = 1 };
	int extra = 0;

	*most = 0;
	for (int r = 0; r < rounds; r++) {
		struct evpool *pool = new_pool(base, mode, 0, 4);
		struct evpool_stats st;

		for (int i = 0; i < 3; i++)
			if (evpool_apply(pool, noop,
					 mode == EVPOOL_MODE_PROCESS ? &item
								     : NULL,
					 NULL) != 0)
				bail("evpool_apply: %s", evpool_errmsg());
		evpool_get_stats(pool, &st);
		if (st.workers > 1)
			extra++;
		if (st.workers > *most)
			*most = st.workers;
		evpool_free(pool);
	}
	return extra;
}

int main(void)
{
	struct fifo_result res;
	struct event_base *base;
	unsigned most;
	int extra;

	plan(10);
	tap_watchdog(120, "t/order");
	if (sem_init(&gate, 0, 0) < 0)
		sysbail("sem_init");

	fifo_no_spin();
	res = fifo_rounds(0);
	fifo_report(&res, "workers on demand");
	res = fifo_rounds(NBLOCK);
	fifo_report(&res, "4 workers from the start");

	base = event_base_new();
	if (!base)
		bail("event_base_new");
	extra = reuse_rounds(base, EVPOOL_MODE_THREAD, 200, &most);
	is_int(0, extra, "thread mode: 3 applies in a row leave 1 worker, "
	       "200 rounds (at most %u seen)", most);
	extra = reuse_rounds(base, EVPOOL_MODE_PROCESS, 30, &most);
	is_int(0, extra, "process mode: 3 applies in a row leave 1 worker, "
	       "30 rounds (at most %u seen)", most);
	event_base_free(base);
	return tap_failures() ? 1 : 0;
}

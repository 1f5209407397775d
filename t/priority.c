/*
 * priority.c — priorities: a higher priority runs first, and jobs of equal
 * priority run strictly in submission order.  One worker and a blocker job
 * hold the queue still while it fills, so the order is fully determined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

#define MAXJ 2000

static atomic_int gate;
static atomic_int blocker_started;
static atomic_int nexec;
static int exec_order[MAXJ];	/* seq numbers, in the order jobs ran */
static atomic_int callbacks;

struct item {
	int seq;
	int prio;
};
static struct item items[MAXJ];

static int job_blocker(struct evpool_ctx *ctx)
{
	double deadline = tap_now_ms() + 20000;

	(void)ctx;
	atomic_store(&blocker_started, 1);
	while (!atomic_load(&gate) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	return 0;
}

static int job_record(struct evpool_ctx *ctx)
{
	struct item *it = evpool_ctx_arg(ctx);
	int i = atomic_fetch_add(&nexec, 1);

	if (i < MAXJ)
		exec_order[i] = it->seq;
	return 0;
}

static void cb_count(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
	atomic_fetch_add(&callbacks, 1);
}

static struct evpool *pool;
static struct event_base *base;

/* Block the only worker; returns 1 when the blocker runs. */
static int block(void)
{
	atomic_store(&gate, 0);
	atomic_store(&blocker_started, 0);
	if (evpool_submit(pool, job_blocker, NULL, cb_count, NULL) != 0)
		return 0;
	return tap_wait_until(atomic_load(&blocker_started), 10000);
}

static int submit_item(int i, int use_plain)
{
	struct evpool_job_spec spec;

	if (use_plain)
		return evpool_submit(pool, job_record, &items[i], cb_count, NULL);
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_record;
	spec.arg = &items[i];
	spec.done = cb_count;
	spec.priority = items[i].prio;
	return evpool_submit_job(pool, &spec, NULL);
}

static void run_all(int n)
{
	atomic_store(&gate, 1);
	tap_watchdog(30, "priority: dispatch");
	event_base_dispatch(base);
	if (atomic_load(&nexec) != n)
		diag("%d of %d jobs ran", atomic_load(&nexec), n);
}

static int cmp_prio_desc(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->prio != y->prio)
		return x->prio > y->prio ? -1 : 1;
	return x->seq - y->seq;	/* stable: submission order */
}

int main(void)
{
	static const int prios[] = { 0, 3, -5, 10, INT_MAX, INT_MIN, 0, 3, 1, -1 };
	struct evpool_config *cfg;
	struct item sorted[64];
	unsigned seed = 12345;
	int i, n, fails, inversions, fifo_breaks, same;

	plan(15);
	tap_watchdog(60, "priority");
	if (!(base = event_base_new()))
		bail("event_base_new failed");
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 1);
	is_int(0, evpool_new(&pool, base, cfg), "a pool with one worker is made");
	evpool_config_free(cfg);
	if (pool == NULL)
		bail("no pool");

	/* ---- mixed priorities -------------------------------------------- */
	n = 60;
	ok(block(), "a blocker job holds the only worker");
	atomic_store(&nexec, 0);
	atomic_store(&callbacks, 0);
	fails = 0;
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		items[i].seq = i;
		items[i].prio = prios[(seed >> 16) % (sizeof(prios) / sizeof(prios[0]))];
		fails += submit_item(i, 0) != 0;
	}
	is_int(0, fails, "%d jobs with priorities from INT_MIN to INT_MAX are queued", n);
	run_all(n);
	is_int(n, atomic_load(&nexec), "all %d ran", n);
	is_int(n + 1, atomic_load(&callbacks), "all %d callbacks (and the blocker's) ran", n);
	inversions = fifo_breaks = 0;
	for (i = 1; i < n; i++) {
		struct item *a = &items[exec_order[i - 1]], *b = &items[exec_order[i]];

		if (a->prio < b->prio)
			inversions++;
		else if (a->prio == b->prio && a->seq > b->seq)
			fifo_breaks++;
	}
	is_int(0, inversions, "no job ran before a job of higher priority");
	is_int(0, fifo_breaks, "jobs of equal priority ran in submission order");
	memcpy(sorted, items, (size_t)n * sizeof(items[0]));
	qsort(sorted, (size_t)n, sizeof(sorted[0]), cmp_prio_desc);
	same = 1;
	for (i = 0; i < n; i++)
		if (exec_order[i] != sorted[i].seq)
			same = 0;
	ok(same, "the run order is exactly the stable sort by priority, highest first");

	/* ---- a late high-priority job overtakes the queue ---------------- */
	ok(block(), "the worker is blocked again");
	atomic_store(&nexec, 0);
	fails = 0;
	for (i = 0; i < 5; i++) {
		items[i].seq = i;
		items[i].prio = 0;
		fails += submit_item(i, 1) != 0;
	}
	items[5].seq = 5;
	items[5].prio = 1;
	fails += submit_item(5, 0) != 0;
	items[6].seq = 6;
	items[6].prio = 0;
	fails += submit_item(6, 0) != 0;
	is_int(0, fails, "5 plain jobs, then one of priority 1, then one of priority 0 are queued");
	run_all(7);
	is_int(5, exec_order[0], "the priority 1 job ran first although it came sixth");
	ok(exec_order[1] == 0 && exec_order[2] == 1 && exec_order[3] == 2 &&
		   exec_order[4] == 3 && exec_order[5] == 4 && exec_order[6] == 6,
	   "evpool_submit() jobs and priority-0 specs share one FIFO");

	/* ---- strict FIFO among many equals -------------------------------- */
	n = MAXJ;
	ok(block(), "the worker is blocked once more");
	atomic_store(&nexec, 0);
	fails = 0;
	for (i = 0; i < n; i++) {
		items[i].seq = i;
		items[i].prio = 7;
		fails += submit_item(i, 0) != 0;
	}
	is_int(0, fails, "%d jobs of equal priority are queued", n);
	run_all(n);
	fifo_breaks = atomic_load(&nexec) == n ? 0 : 1;
	for (i = 1; i < n; i++)
		if (exec_order[i] != exec_order[i - 1] + 1)
			fifo_breaks++;
	is_int(0, fifo_breaks, "all %d ran strictly in submission order", n);

	tap_watchdog(20, "priority: evpool_free");
	evpool_free(pool);
	event_base_free(base);
	return 0;
}

/*
 * config.c — configuration seen through a running pool: defaults, workers
 * started on demand up to max_workers, min_workers kept, idle workers leaving
 * after the idle timeout, max_workers changed at run time, worker thread
 * names "<prefix>/<n>", initializer and finalizer hooks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evpool.h>

#include "tap.h"

static pthread_t main_tid;

/* ---- jobs ------------------------------------------------------------- */

/* A batch of jobs: they wait for the gate, count how many run at once and
 * record the name of the thread each ran on. */
#define MAXJOBS 16
struct batch {
	atomic_int gate;	/* jobs wait until it is 1 */
	atomic_int cur, max;	/* concurrency */
	atomic_int started, finished;
	atomic_int next_slot;
	atomic_int not_inited;	/* jobs that ran before the initializer */
	double finish_ms[MAXJOBS];	/* when each job finished */
	int sleep_ms;		/* after the gate */
	char names[MAXJOBS][16];
};

static __thread int tls_inited;

static int job_batch(struct evpool_ctx *ctx)
{
	struct batch *b = evpool_ctx_arg(ctx);
	int slot = atomic_fetch_add(&b->next_slot, 1);
	int c, m;
	double deadline = tap_now_ms() + 20000;

	if (slot < MAXJOBS)
		pthread_getname_np(pthread_self(), b->names[slot], 16);
	if (!tls_inited)
		atomic_fetch_add(&b->not_inited, 1);
	c = atomic_fetch_add(&b->cur, 1) + 1;
	m = atomic_load(&b->max);
	while (c > m && !atomic_compare_exchange_weak(&b->max, &m, c))
		;
	atomic_fetch_add(&b->started, 1);
	while (!atomic_load(&b->gate) && tap_now_ms() < deadline)
		tap_sleep_ms(1);
	if (b->sleep_ms)
		tap_sleep_ms(b->sleep_ms);
	if (slot < MAXJOBS)
		b->finish_ms[slot] = tap_now_ms();
	atomic_fetch_sub(&b->cur, 1);
	atomic_fetch_add(&b->finished, 1);
	return 0;
}

static void batch_reset(struct batch *b, int sleep_ms)
{
	memset(b, 0, sizeof(*b));
	b->sleep_ms = sleep_ms;
}

static int submit_n(struct evpool *pool, struct batch *b, int n)
{
	int i, fails = 0;

	for (i = 0; i < n; i++)
		if (evpool_submit(pool, job_batch, b, NULL, NULL) != 0)
			fails++;
	return fails;
}

static struct evpool_stats stats(struct evpool *pool)
{
	struct evpool_stats st;

	memset(&st, 0, sizeof(st));
	if (evpool_get_stats(pool, &st) != 0)
		diag("evpool_get_stats failed");
	return st;
}

/* ---- /proc/self/task/N/comm --------------------------------------------- */

/* Count this process's threads named "<prefix>/<digits>"; *distinct is
 * set to 0 if two of them share a name. */
static int count_named(const char *prefix, int *distinct)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	char seen[64][16];
	int n = 0, i;
	size_t plen = strlen(prefix);

	if (distinct)
		*distinct = 1;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char path[300], name[32] = "";
		FILE *f;
		const char *p;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;	/* the thread just exited */
		if (fgets(name, sizeof(name), f) == NULL)
			name[0] = '\0';
		fclose(f);
		name[strcspn(name, "\n")] = '\0';
		if (strncmp(name, prefix, plen) != 0 || name[plen] != '/')
			continue;
		p = name + plen + 1;
		if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
			continue;
		for (i = 0; i < n && i < 64; i++)
			if (strcmp(seen[i], name) == 0 && distinct)
				*distinct = 0;
		if (n < 64)
			snprintf(seen[n], sizeof(seen[n]), "%s", name);
		n++;
	}
	closedir(d);
	return n;
}

/* 1 if @p name is "<prefix>/<digits>" */
static int named_like(const char *name, const char *prefix)
{
	size_t plen = strlen(prefix);
	const char *p = name + plen + 1;

	return strncmp(name, prefix, plen) == 0 && name[plen] == '/' &&
	       *p != '\0' && strspn(p, "0123456789") == strlen(p);
}

/* ---- initializer / finalizer ------------------------------------------ */

static int hook_marker;
struct hooks {
	pthread_mutex_t mu;
	int inits, finis;
	int bad_arg, on_main;
	pthread_t init_tids[16], fini_tids[16];
};
static struct hooks hooks = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void hook_init(void *arg)
{
	pthread_mutex_lock(&hooks.mu);
	if (arg != &hook_marker)
		hooks.bad_arg++;
	if (pthread_equal(pthread_self(), main_tid))
		hooks.on_main++;
	if (hooks.inits < 16)
		hooks.init_tids[hooks.inits] = pthread_self();
	hooks.inits++;
	pthread_mutex_unlock(&hooks.mu);
	tls_inited = 1;
}

static void hook_fini(void *arg)
{
	pthread_mutex_lock(&hooks.mu);
	if (arg != &hook_marker)
		hooks.bad_arg++;
	if (hooks.finis < 16)
		hooks.fini_tids[hooks.finis] = pthread_self();
	hooks.finis++;
	pthread_mutex_unlock(&hooks.mu);
}

int main(void)
{
	struct evpool_config *cfg;
	struct evpool *pool;
	struct evpool_stats st;
	struct batch b, b2;
	unsigned ncpu;
	int i, j, n, distinct, allnamed, same;
	double el, first, last;

	plan(68);
	tap_watchdog(60, "config");
	main_tid = pthread_self();
	ncpu = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

	/* ---- defaults ------------------------------------------------------ */
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, NULL), "a pool with all defaults is made");
	if (pool == NULL)
		bail("no pool");
	st = stats(pool);
	is_int(ncpu, st.max_workers, "default max_workers is the number of online CPUs (%u)", ncpu);
	is_int(0, st.workers, "no worker starts before there is work (min_workers 0)");
	ok(st.queued == 0 && st.running == 0 && st.submitted == 0 && st.peak_queued == 0,
	   "a new pool has nothing queued, running or submitted");
	batch_reset(&b, 0);
	b.gate = 1;
	is_int(0, submit_n(pool, &b, 1), "a job is submitted to the default pool");
	ok(tap_wait_until(atomic_load(&b.finished) == 1, 10000), "it runs");
	ok(named_like(b.names[0], "evpool"),
	   "the default worker thread name is \"evpool/<n>\" (\"%s\")", b.names[0]);
	tap_sleep_ms(500);
	st = stats(pool);
	ok(st.workers >= 1,
	   "with the default 10 s idle timeout the worker is still there 0.5 s later");
	ok(count_named("evpool", NULL) >= 1,
	   "/proc/self/task/*/comm shows it as \"evpool/<n>\"");
	evpool_free(pool);

	cfg = evpool_config_new();
	if (cfg == NULL)
		bail("no config");
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, cfg),
	       "a pool from a fresh evpool_config_new() is made");
	st = stats(pool);
	is_int(ncpu, st.max_workers, "whose max_workers is the number of online CPUs");
	evpool_free(pool);
	evpool_config_free(cfg);

	/* ---- on demand, up to max_workers --------------------------------- */
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 3);
	evpool_config_set_idle_timeout(cfg, 60000);
	evpool_config_set_name(cfg, "cfgt");
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, cfg), "a pool with max_workers 3 is made");
	evpool_config_free(cfg);
	if (pool == NULL)
		bail("no pool");
	is_int(0, stats(pool).workers, "it has no worker yet");
	batch_reset(&b, 0);
	b.gate = 1;
	for (i = 0; i < 5; i++) {
		submit_n(pool, &b, 1);
		tap_wait_until(atomic_load(&b.finished) == i + 1, 10000);
		/* wait until the worker is back waiting for work */
		tap_wait_until((st = stats(pool), st.running == 0 &&
					st.idle_workers == st.workers),
			       10000);
	}
	is_int(5, atomic_load(&b.finished), "5 jobs ran one after the other");
	is_int(1, stats(pool).workers,
	       "with an idle worker at hand no second worker was started");

	batch_reset(&b, 0);
	is_int(0, submit_n(pool, &b, 6), "6 blocking jobs are submitted");
	ok(tap_wait_until(stats(pool).running == 3, 10000),
	   "workers start on demand: 3 jobs run");
	tap_sleep_ms(200);
	st = stats(pool);
	is_int(3, st.workers, "there are exactly max_workers (3) workers");
	is_int(3, st.running, "no more than 3 jobs run");
	is_int(3, st.queued, "the other 3 wait in the queue");
	is_int(3, atomic_load(&b.max), "the jobs never saw more than 3 of them at once");
	n = count_named("cfgt", &distinct);
	is_int(3, n, "/proc/self/task/*/comm shows 3 threads named \"cfgt/<n>\"");
	ok(distinct, "and each has its own number");
	atomic_store(&b.gate, 1);
	ok(tap_wait_until(atomic_load(&b.finished) == 6, 10000), "all 6 finish");
	allnamed = 1;
	for (i = 0; i < 6; i++)
		if (!named_like(b.names[i], "cfgt")) {
			allnamed = 0;
			diag("job %d ran on a thread named \"%s\"", i, b.names[i]);
		}
	ok(allnamed, "every job ran on a thread named \"cfgt/<n>\" (prctl/pthread name)");
	is_int(3, atomic_load(&b.max), "at most 3 ran at once, start to end");
	evpool_free(pool);
	ok(tap_wait_until(count_named("cfgt", NULL) == 0, 5000),
	   "after evpool_free() no \"cfgt/<n>\" thread is left");

	/* ---- min_workers stay, idle ones leave after the idle timeout ----- */
	cfg = evpool_config_new();
	is_int(0, evpool_config_set_workers(cfg, 2, 4), "min_workers 2, max_workers 4");
	is_int(0, evpool_config_set_idle_timeout(cfg, 1000), "idle timeout 1000 ms");
	evpool_config_set_name(cfg, "minw");
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, cfg), "the pool is made");
	evpool_config_free(cfg);
	if (pool == NULL)
		bail("no pool");
	ok(tap_wait_until(stats(pool).workers == 2, 5000),
	   "evpool_new() started the 2 min_workers");
	ok(tap_wait_until(count_named("minw", NULL) == 2, 5000),
	   "/proc shows 2 threads named \"minw/<n>\"");
	batch_reset(&b, 0);
	submit_n(pool, &b, 4);
	ok(tap_wait_until(stats(pool).running == 4, 10000),
	   "4 blocking jobs run on 4 workers");
	atomic_store(&b.gate, 1);
	tap_wait_until(atomic_load(&b.finished) == 4, 10000);
	tap_wait_until(stats(pool).running == 0, 10000);
	/* A worker's idle time starts after its job finished: no worker can
	 * have left before the first finish + 1000 ms, and none should leave
	 * before the last finish + 1000 ms. */
	first = last = b.finish_ms[0];
	for (i = 1; i < 4; i++) {
		if (b.finish_ms[i] < first)
			first = b.finish_ms[i];
		if (b.finish_ms[i] > last)
			last = b.finish_ms[i];
	}
	st = stats(pool);
	el = tap_now_ms() - last;
	if (el < 700)
		is_int(4, st.workers, "%.0f ms after the jobs the 4 workers are still there", el);
	else
		skip(1, "the machine was too slow to look %.0f ms after the jobs", el);
	ok(tap_wait_until(stats(pool).workers == 2, 15000),
	   "the 2 workers above min_workers leave once idle");
	el = tap_now_ms() - first;
	ok(el >= 950, "but not before the 1000 ms idle timeout (%.0f ms)", el);
	tap_sleep_ms(1500);
	is_int(2, stats(pool).workers, "the 2 min_workers stay past the idle timeout");
	ok(tap_wait_until(count_named("minw", NULL) == 2, 5000),
	   "/proc shows 2 threads named \"minw/<n>\" again");
	st = stats(pool);
	ok(st.idle_workers == 2 && st.busy_workers == 0,
	   "both are counted idle, none busy");
	evpool_free(pool);

	/* ---- max_workers at run time ------------------------------------- */
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 1);
	evpool_config_set_name(cfg, "rtmx");
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, cfg), "a pool with max_workers 1 is made");
	evpool_config_free(cfg);
	if (pool == NULL)
		bail("no pool");
	batch_reset(&b, 0);
	submit_n(pool, &b, 4);
	ok(tap_wait_until(stats(pool).running == 1, 10000), "1 of 4 blocking jobs runs");
	tap_sleep_ms(100);
	st = stats(pool);
	ok(st.running == 1 && st.queued == 3, "the other 3 wait (running %llu, queued %llu)",
	   (unsigned long long)st.running, (unsigned long long)st.queued);
	is_int(0, evpool_set_max_workers(pool, 3), "evpool_set_max_workers(3) succeeds");
	is_int(3, stats(pool).max_workers, "stats show max_workers 3");
	ok(tap_wait_until(stats(pool).running == 3, 10000),
	   "raising max_workers puts queued jobs on new workers: 3 run");
	is_int(3, count_named("rtmx", NULL), "/proc shows 3 \"rtmx/<n>\" threads");

	/* Lower it while the workers are busy and more work is queued. */
	batch_reset(&b2, 20);
	b2.gate = 1;
	is_int(0, submit_n(pool, &b2, 6), "6 more short jobs are queued behind them");
	is_int(0, evpool_set_max_workers(pool, 1), "evpool_set_max_workers(1) succeeds");
	is_int(1, stats(pool).max_workers, "stats show max_workers 1");
	atomic_store(&b.gate, 1);
	ok(tap_wait_until(atomic_load(&b2.finished) == 6, 20000), "all queued jobs run");
	is_int(1, atomic_load(&b2.max),
	       "after lowering max_workers to 1 the queued jobs ran one at a time");
	ok(tap_wait_until(stats(pool).workers <= 1, 10000),
	   "surplus workers leave: at most 1 is left");
	evpool_free(pool);

	/* ---- initializer and finalizer ------------------------------------ */
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 2);
	evpool_config_set_name(cfg, "hook");
	is_int(0, evpool_config_set_initializer(cfg, hook_init, hook_fini, &hook_marker),
	       "an initializer and a finalizer are set");
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, cfg), "the pool is made");
	/* The pool keeps its own copy: changing or freeing cfg does nothing. */
	evpool_config_set_workers(cfg, 0, 1);
	evpool_config_set_initializer(cfg, NULL, NULL, NULL);
	evpool_config_free(cfg);
	if (pool == NULL)
		bail("no pool");
	is_int(2, stats(pool).max_workers,
	       "the pool kept its copy of the configuration (max_workers 2)");
	batch_reset(&b, 0);
	submit_n(pool, &b, 2);
	ok(tap_wait_until(stats(pool).running == 2, 10000), "2 jobs run on 2 workers");
	atomic_store(&b.gate, 1);
	tap_wait_until(atomic_load(&b.finished) == 2, 10000);
	pthread_mutex_lock(&hooks.mu);
	is_int(2, hooks.inits, "the initializer ran once in each of the 2 workers");
	is_int(0, hooks.on_main, "it ran on the workers, not on the main thread");
	pthread_mutex_unlock(&hooks.mu);
	is_int(0, atomic_load(&b.not_inited), "each worker ran it before its first job");
	is_int(0, hooks.finis, "the finalizer has not run while the workers live");
	evpool_free(pool);
	pthread_mutex_lock(&hooks.mu);
	is_int(2, hooks.finis, "after evpool_free() the finalizer ran once per worker");
	same = hooks.finis == 2 && hooks.inits == 2;
	for (i = 0; same && i < 2; i++) {
		int found = 0;

		for (j = 0; j < 2; j++)
			found |= pthread_equal(hooks.fini_tids[i], hooks.init_tids[j]);
		same &= found;
	}
	ok(same, "each finalizer ran on a thread that ran the initializer");
	is_int(0, hooks.bad_arg, "both hooks got their arg");
	pthread_mutex_unlock(&hooks.mu);

	/* ---- max_workers 0 means the online CPUs; min = max ------------------ */
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 0);
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, cfg), "a pool with max_workers 0 is made");
	is_int(ncpu, stats(pool).max_workers, "max_workers 0 resolves to the online CPUs");
	evpool_free(pool);
	evpool_config_set_workers(cfg, 2, 2);
	evpool_config_set_name(cfg, "fixd");
	pool = NULL;
	is_int(0, evpool_new(&pool, NULL, cfg), "a pool with min = max = 2 is made");
	ok(tap_wait_until(stats(pool).workers == 2, 5000), "it has 2 workers at once");
	ok(tap_wait_until(count_named("fixd", NULL) == 2, 5000),
	   "named \"fixd/<n>\" in /proc");
	evpool_free(pool);
	evpool_config_free(cfg);

	tap_watchdog(0, NULL);
	return 0;
}

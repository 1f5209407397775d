/*
 * evpool-bench.c — libevpool's benchmark (issue 6).
 *
 * DESIGN
 *  One program, one scenario per name on the command line (or all of them),
 *  each printing `name=value` lines on stdout for scripts (bench/compare.sh,
 *  t/bench-smoke.sh) and a sentence on stderr for people.  It uses only the
 *  public API (include/evpool.h) and libevent, as a user program would.
 *
 *  burst and pingpong are defined exactly as the peer programs in
 *  bench/peers/ define them, so that a ratio against libuv or GLib
 *  compares like with like:
 *   burst     after a warm-up of 1000 jobs, N empty jobs are submitted from
 *             the loop thread at once (before the loop runs, as uv-bench.c
 *             does before uv_run()); the clock stops when the loop has run
 *             the last completion callback.  -> jobs/s
 *   pingpong  one job in flight; each completion callback submits the next;
 *             the round trip is taken from just before the submit to the
 *             start of its completion callback.  p50 = sorted[m/2], p99 =
 *             sorted[m*99/100], as the peers take them.
 *  Jobs are submitted with evpool_submit() (uv_queue_work()'s counterpart)
 *  in thread mode, and with evpool_submit_job() and a 1-byte input in
 *  process mode, where a pointer cannot cross.  The benchmark allocates
 *  nothing per job, so memory figures are the library's own.
 *
 *  Scenarios run in a fixed order, whatever the order on the command line:
 *  multi comes last because it calls evthread_use_pthreads(), which gives
 *  every event_base made afterwards locks; the single-thread scenarios run
 *  on lock-free bases, as the peers' loops do.
 *
 *  A pool that cannot be made in process mode (not built yet, or no fork
 *  server) prints `process=unavailable` and the process scenarios are
 *  skipped; anything else that goes wrong (a failed submit in thread mode, a
 *  lost or duplicated completion, a loop that stops while jobs are in flight)
 *  is a library bug: it is reported and the exit status is 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

/* ------------------------------------------------------------------------ */
/* Options */

enum {
	SC_BURST = 1u << 0,
	SC_PINGPONG = 1u << 1,
	SC_WINDOW = 1u << 2,
	SC_MAP = 1u << 3,
	SC_PROCESS = 1u << 4,
	SC_MEMORY = 1u << 5,
	SC_IDLE = 1u << 6,
	SC_MULTI = 1u << 7,
	SC_PAYLOAD = 1u << 8,
	SC_LATENCY = 1u << 9,
	SC_LOWLOAD = 1u << 10,
	SC_ALL = (1u << 11) - 1,
};

static const struct {
	const char *name;
	unsigned bit;
	const char *help;
} scenarios[] = {
	{ "burst", SC_BURST, "N empty jobs at once -> burst_jobs_per_s (n 1000000)" },
	{ "pingpong", SC_PINGPONG, "one job in flight -> pingpong_p50_us, _p99_us (n 20000)" },
	{ "window", SC_WINDOW, "K=1,16,256 in flight -> window_K_jobs_per_s, _p99_us (n 200000)" },
	{ "map", SC_MAP, "evpool_map of N items -> map_items_per_s (when the map API exists)" },
	{ "process", SC_PROCESS, "burst + pingpong in process mode (n 100000, m 5000)" },
	{ "memory", SC_MEMORY, "RSS per job queued behind blocked workers -> bytes_per_queued_job (n 1000000)" },
	{ "idle", SC_IDLE, "warm pool left idle -n ms -> idle_cpu_s (n 2000)" },
	{ "payload", SC_PAYLOAD, "4 KiB, 64 KiB, 1 MiB payloads through a job into an evbuffer, evbuffer path vs byte path -> payload_PATH_SIZE_MBps, _loop_ns_per_kib, _copied_bytes (n MiB per run, 256)" },
	{ "multi", SC_MULTI, "2 bases on 2 threads, one pool -> multi_jobs_per_s, single_base_jobs_per_s (n 1000000)" },
	{ "latency", SC_LATENCY, "round trip p50/p90/p99/p99.9/max: 1 in flight, 1 per ms from a timer, 64 in flight -> latency_{1,timer,64}_* (n 20000)" },
	{ "lowload", SC_LOWLOAD, "1 job every P us (200, 1000, 2000, 10000) from a timer for -n ms each -> lowload_P_cpu_pct, _cpu_us_per_job, _p50_us, _p99_us (n 3000)" },
};

static struct {
	enum evpool_mode mode;
	unsigned workers;	/* 0: the library's default */
	long n;			/* 0: each scenario's default */
	long m;			/* 0: pingpong's default (or n) */
	int smoke;
	int quiet;
	unsigned timeout_s;
	long ks[8];		/* window sizes */
	size_t nks;
	long periods[8];	/* lowload periods (us) */
	size_t nperiods;
} opt;

static int status;			/* exit status: 1 once a bug was seen */
static const char *volatile current = "startup";
static int process_unavailable;

/* ------------------------------------------------------------------------ */
/* Small helpers */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void out(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One machine-readable line: name=value. */
static void out(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s=", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The human summary, on stderr. */
static void say(const char *fmt, ...)
{
	va_list ap;

	if (opt.quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static void bug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A broken promise of the library: say so, and fail the run. */
static void bug(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "evpool-bench: %s: ", current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	status = 1;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "evpool-bench: %s: ", current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Percentiles as the peers take them: sorted[m*p], p in 0..1. */
static double pct(const double *sorted, long m, double p)
{
	long i = (long)(m * p);

	if (i >= m)
		i = m - 1;
	return sorted[i];
}

static const char *mode_name(enum evpool_mode mode)
{
	return mode == EVPOOL_MODE_PROCESS ? "process" : "thread";
}

/* Key prefix: process-mode figures are process_burst_jobs_per_s etc. */
static const char *prefix(enum evpool_mode mode)
{
	return mode == EVPOOL_MODE_PROCESS ? "process_" : "";
}

static void on_alarm(int sig)
{
	static const char msg[] = "evpool-bench: timed out in scenario ";
	const char *s = current;

	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0 || write(2, s, strlen(s)) < 0 ||
	    write(2, "\n", 1) < 0) {
		/* nothing more to say */
	}
	_exit(3);
}

/* ------------------------------------------------------------------------ */
/* Pools, jobs, loops */

static const unsigned char one_byte = 0x2a;

/* The empty job of burst and pingpong (uv-bench.c's nothing()). */
static int job_noop(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

/*
 * The job of the split pingpong: its result is two CLOCK_MONOTONIC stamps
 * (the same clock in every process), when it started and when it ended, so
 * that the round trip splits into submit -> start and end -> callback.
 */
static void lat_out(const char *key, const double *sorted, long n);
static int job_stamp_bytes(struct evpool_ctx *ctx)
{
	double ts[2];

	ts[0] = now();
	ts[1] = now();
	return evpool_ctx_set_result_bytes(ctx, ts, sizeof ts);
}

/*
 * Make a pool for @p base in @p mode with @p workers (0: the default).
 * Process mode that cannot be had prints process=unavailable (once) and
 * returns nonzero; in thread mode a failure is fatal.
 */
static int make_pool(struct evpool **poolp, struct event_base *base,
		     enum evpool_mode mode, unsigned workers)
{
	struct evpool_config *cfg = evpool_config_new();
	int rc;

	if (!cfg)
		die("evpool_config_new: out of memory");
	rc = evpool_config_set_mode(cfg, mode);
	if (rc == 0 && workers)
		rc = evpool_config_set_workers(cfg, 0, workers);
	if (rc == 0)
		rc = evpool_new(poolp, base, cfg);
	evpool_config_free(cfg);
	if (rc == 0)
		return 0;
	if (mode == EVPOOL_MODE_PROCESS) {
		if (!process_unavailable) {
			out("process", "unavailable");
			say("%s: process mode unavailable: %s (%s) %s\n", current,
			    evpool_err_name(rc), evpool_strerror(rc), evpool_errmsg());
		}
		process_unavailable = 1;
		return rc;
	}
	die("evpool_new: %s: %s", evpool_strerror(rc), evpool_errmsg());
}

/*
 * Submit the empty job for @p base (NULL: the pool's base) with @p done.
 * Thread mode on the pool's base uses evpool_submit(), the plain call;
 * everything else evpool_submit_job() (process mode with a 1-byte input).
 */
static int submit(struct evpool *pool, struct event_base *base,
		  enum evpool_mode mode, evpool_done_cb done, void *arg)
{
	struct evpool_job_spec spec;

	if (mode == EVPOOL_MODE_THREAD && !base)
		return evpool_submit(pool, job_noop, NULL, done, arg);
	memset(&spec, 0, sizeof spec);
	spec.fn = job_noop;
	spec.done = done;
	spec.done_arg = arg;
	spec.base = base;
	if (mode == EVPOOL_MODE_PROCESS) {
		spec.input = &one_byte;
		spec.input_len = 1;
	}
	return evpool_submit_job(pool, &spec, NULL);
}

/*
 * A loop with a completion count: callbacks bump done and break the loop
 * when it reaches target.
 */
struct counter {
	struct event_base *base;
	long done;
	long target;
	long failed;	/* completions whose status was not 0 */
};

static void count_done(struct evpool_job *job, void *arg)
{
	struct counter *c = arg;

	if (evpool_job_status(job) != 0)
		c->failed++;
	if (++c->done == c->target)
		event_base_loopbreak(c->base);
}

/*
 * Run @p base until @p *done reaches @p target.  The library keeps the loop
 * alive while jobs are in flight, so event_base_dispatch() returning 1 ("no
 * events") with completions still owed is a bug: report it, do not spin.
 */
static int run_until(struct event_base *base, const long *done, long target)
{
	while (*done < target) {
		int rc = event_base_dispatch(base);

		if (rc < 0)
			die("event_base_dispatch failed");
		if (rc == 1 && *done < target) {
			bug("event_base_dispatch() returned with %ld of %ld "
			    "completions still owed: nothing keeps the loop alive",
			    target - *done, target);
			return -1;
		}
	}
	if (*done > target) {
		bug("%ld completions for %ld jobs", *done, target);
		return -1;
	}
	return 0;
}

/* Submit @p n empty jobs counted by @p c, then run the loop until all ran. */
static int run_jobs(struct evpool *pool, struct event_base *base,
		    enum evpool_mode mode, struct counter *c, long n)
{
	long i;

	c->base = base;
	c->done = 0;
	c->failed = 0;
	c->target = n;
	for (i = 0; i < n; i++) {
		int rc = submit(pool, NULL, mode, count_done, c);

		if (rc) {
			bug("submit %ld of %ld: %s: %s", i, n, evpool_strerror(rc),
			    evpool_errmsg());
			/* collect what was submitted, then give up */
			c->target = i;
			if (i)
				run_until(base, &c->done, i);
			return -1;
		}
	}
	if (run_until(base, &c->done, n))
		return -1;
	if (c->failed) {
		bug("%ld of %ld empty jobs did not succeed", c->failed, n);
		return -1;
	}
	return 0;
}

static unsigned pool_workers(struct evpool *pool)
{
	struct evpool_stats st;

	if (evpool_get_stats(pool, &st))
		return 0;
	return st.max_workers;
}

static struct event_base *new_base(void)
{
	struct event_base *base = event_base_new();

	if (!base)
		die("event_base_new failed");
	return base;
}

/* ------------------------------------------------------------------------ */
/* burst */

/*
 * Returns jobs/s, or 0 if it could not be measured; *submit_s gets the time
 * the submitting loop took (the rest is the loop waiting for and delivering
 * completions): where a burst's time goes, first cut.
 */
static double burst(struct evpool *pool, struct event_base *base,
		    enum evpool_mode mode, long n, double *submit_s)
{
	struct counter c;
	double t0, ts, t1;
	long i;

	if (run_jobs(pool, base, mode, &c, n < 1000 ? n : 1000))	/* warm up */
		return 0;
	c.base = base;
	c.done = 0;
	c.failed = 0;
	c.target = n;
	t0 = now();
	for (i = 0; i < n; i++) {
		int rc = submit(pool, NULL, mode, count_done, &c);

		if (rc) {
			bug("submit %ld of %ld: %s: %s", i, n, evpool_strerror(rc),
			    evpool_errmsg());
			c.target = i;
			if (i)
				run_until(base, &c.done, i);
			return 0;
		}
	}
	ts = now();
	if (run_until(base, &c.done, n))
		return 0;
	t1 = now();
	if (c.failed) {
		bug("%ld of %ld empty jobs did not succeed", c.failed, n);
		return 0;
	}
	*submit_s = ts - t0;
	return n / (t1 - t0);
}

/* ------------------------------------------------------------------------ */
/* pingpong and window: K jobs in flight, latency of each */

struct window {
	struct evpool *pool;
	struct event_base *base;
	enum evpool_mode mode;
	long submitted, done, target;
	long failed;
	double *lat;		/* target round trips */
	double *start;		/* per slot: when its job was submitted */
	double *down, *up;	/* split: submit -> job start, job end ->
				 * callback (the job's clock stamps) */
	struct slot {
		struct window *w;
		long idx;
	} *slots;
	int error;
};

static void window_done(struct evpool_job *job, void *arg);

static int window_submit_slot(struct window *w, struct slot *s)
{
	int rc;

	w->start[s->idx] = now();
	if (w->down) {
		struct evpool_job_spec spec;

		memset(&spec, 0, sizeof spec);
		spec.fn = job_stamp_bytes;
		spec.done = window_done;
		spec.done_arg = s;
		spec.input = &one_byte;
		spec.input_len = 1;
		rc = evpool_submit_job(w->pool, &spec, NULL);
	} else {
		rc = submit(w->pool, NULL, w->mode, window_done, s);
	}
	if (rc) {
		bug("submit: %s: %s", evpool_strerror(rc), evpool_errmsg());
		w->error = 1;
		return rc;
	}
	w->submitted++;
	return 0;
}

static void window_done(struct evpool_job *job, void *arg)
{
	struct slot *s = arg;
	struct window *w = s->w;
	double t = now();

	if (evpool_job_status(job) != 0)
		w->failed++;
	if (w->down) {
		size_t len = 0;
		const double *ts = evpool_job_result_bytes(job, &len);

		if (ts && len == 2 * sizeof *ts) {
			w->down[w->done] = ts[0] - w->start[s->idx];
			w->up[w->done] = t - ts[1];
		} else {
			w->failed++;
		}
	}
	w->lat[w->done++] = t - w->start[s->idx];
	if (w->done == w->target || w->error) {
		event_base_loopbreak(w->base);
		return;
	}
	if (w->submitted < w->target)
		window_submit_slot(w, s);
}

/*
 * Keep @p k jobs in flight until @p n have completed.  Fills *jobs_per_s,
 * *p50 and *p99 (seconds).  Returns 0, or -1 if it could not be measured.
 */
static int window_run_lat(struct evpool *pool, struct event_base *base,
			  enum evpool_mode mode, long k, long n,
			  double *jobs_per_s, double *p50, double *p99,
			  double **latp, double **downp, double **upp)
{
	struct window w;
	double t0, t1;
	long i;
	int rc = -1;

	if (k > n)
		k = n;
	memset(&w, 0, sizeof w);
	w.pool = pool;
	w.base = base;
	w.mode = mode;
	w.target = n;
	w.lat = xmalloc(sizeof *w.lat * n);
	w.start = xmalloc(sizeof *w.start * k);
	w.slots = xmalloc(sizeof *w.slots * k);
	if (downp) {
		w.down = xmalloc(sizeof *w.down * n);
		w.up = xmalloc(sizeof *w.up * n);
	}
	for (i = 0; i < k; i++) {
		w.slots[i].w = &w;
		w.slots[i].idx = i;
	}
	t0 = now();
	for (i = 0; i < k; i++)
		if (window_submit_slot(&w, &w.slots[i]))
			break;
	if (!w.error) {
		if (run_until(base, &w.done, n) == 0 && !w.error) {
			t1 = now();
			if (w.failed) {
				bug("%ld of %ld empty jobs did not succeed", w.failed, n);
			} else {
				qsort(w.lat, n, sizeof *w.lat, cmp_double);
				*jobs_per_s = n / (t1 - t0);
				*p50 = pct(w.lat, n, 0.50);
				*p99 = pct(w.lat, n, 0.99);
				rc = 0;
			}
		}
	} else if (w.submitted) {
		run_until(base, &w.done, w.submitted);
	}
	if (latp && rc == 0) {
		*latp = w.lat;	/* sorted; the caller frees it */
		w.lat = NULL;
	}
	if (downp && rc == 0) {
		qsort(w.down, n, sizeof *w.down, cmp_double);
		qsort(w.up, n, sizeof *w.up, cmp_double);
		*downp = w.down;
		*upp = w.up;
		w.down = w.up = NULL;
	}
	free(w.down);
	free(w.up);
	free(w.lat);
	free(w.start);
	free(w.slots);
	return rc;
}

static int window_run(struct evpool *pool, struct event_base *base,
		      enum evpool_mode mode, long k, long n, double *jobs_per_s,
		      double *p50, double *p99)
{
	return window_run_lat(pool, base, mode, k, n, jobs_per_s, p50, p99,
			      NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* burst + pingpong in one pool (thread mode: the "burst" and "pingpong"
 * scenarios; process mode: the "process" scenario) */

static void scenario_burst_pingpong(enum evpool_mode mode, int do_burst,
				    int do_pingpong, long n, long m)
{
	struct event_base *base = new_base();
	struct evpool *pool;
	const char *px = prefix(mode);
	char key[64];

	if (make_pool(&pool, base, mode, opt.workers)) {
		event_base_free(base);
		return;
	}
	if (do_burst) {
		double r, sub = 0;

		current = mode == EVPOOL_MODE_PROCESS ? "process burst" : "burst";
		r = burst(pool, base, mode, n, &sub);
		if (r > 0) {
			snprintf(key, sizeof key, "%sburst_jobs_per_s", px);
			out(key, "%.0f", r);
			snprintf(key, sizeof key, "%sburst_submit_ns_per_job", px);
			out(key, "%.1f", sub * 1e9 / n);
			say("%s: %ld empty jobs, %s mode, %u workers: %.3f M jobs/s "
			    "(%.0f ns per job, of which %.0f ns submitting)\n",
			    current, n, mode_name(mode), pool_workers(pool),
			    r / 1e6, 1e9 / r, sub * 1e9 / n);
		}
	}
	if (do_pingpong) {
		double r, p50, p99;

		current = mode == EVPOOL_MODE_PROCESS ? "process pingpong" : "pingpong";
		if (!do_burst) {	/* the peers' pingpong runs on a warm pool */
			struct counter c;

			run_jobs(pool, base, mode, &c, 1000);
		}
		if (window_run(pool, base, mode, 1, m, &r, &p50, &p99) == 0) {
			snprintf(key, sizeof key, "%spingpong_p50_us", px);
			out(key, "%.2f", p50 * 1e6);
			snprintf(key, sizeof key, "%spingpong_p99_us", px);
			out(key, "%.2f", p99 * 1e6);
			say("%s: %ld round trips, %s mode: p50 %.2f us, p99 %.2f us "
			    "(%.0f round trips/s)\n", current, m, mode_name(mode),
			    p50 * 1e6, p99 * 1e6, r);
		}
		/* Process mode: where the round trip goes, by the job's own
		 * stamps (a second run; its job returns 16 bytes). */
		if (mode == EVPOOL_MODE_PROCESS) {
			double *down = NULL, *up = NULL;

			current = "process pingpong split";
			if (window_run_lat(pool, base, mode, 1, m, &r, &p50, &p99,
					   NULL, &down, &up) == 0) {
				lat_out("process_pingpong_down", down, m);
				lat_out("process_pingpong_up", up, m);
			}
			free(down);
			free(up);
		}
	}
	evpool_free(pool);
	event_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* window */

static void scenario_window(enum evpool_mode mode, long n)
{
	struct event_base *base = new_base();
	struct evpool *pool;
	struct counter c;
	size_t i;

	current = "window";
	if (make_pool(&pool, base, mode, opt.workers)) {
		event_base_free(base);
		return;
	}
	if (run_jobs(pool, base, mode, &c, 1000) == 0) {
		for (i = 0; i < opt.nks; i++) {
			double r, p50, p99;
			char key[64];

			if (window_run(pool, base, mode, opt.ks[i], n, &r, &p50, &p99))
				break;
			snprintf(key, sizeof key, "%swindow_%ld_jobs_per_s",
				 prefix(mode), opt.ks[i]);
			out(key, "%.0f", r);
			snprintf(key, sizeof key, "%swindow_%ld_p99_us",
				 prefix(mode), opt.ks[i]);
			out(key, "%.2f", p99 * 1e6);
			say("window K=%-3ld: %ld jobs, %s mode: %.3f M jobs/s, "
			    "latency p50 %.2f us p99 %.2f us\n", opt.ks[i], n,
			    mode_name(mode), r / 1e6, p50 * 1e6, p99 * 1e6);
		}
	}
	evpool_free(pool);
	event_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* map: N items through the map API (issue 3), chunksize auto
 *
 *  map            evpool_map(): Python's pool.map, blocking, every result
 *                 kept in input order -> map_items_per_s
 *  map_discard    evpool_map_submit() with EVPOOL_MAP_DISCARD and a callback
 *                 on the loop (fastthreadpool's map without results)
 *                 -> map_discard_items_per_s
 * Built only where evpool.h has the map API (it defines EVPOOL_ITEM_BYTES
 * with it); elsewhere the scenario prints map=unavailable.
 */
#if defined(EVPOOL_HAVE_MAP) || defined(EVPOOL_ITEM_BYTES)

static void map_done(struct evpool_map *map, void *arg)
{
	struct counter *c = arg;

	if (evpool_map_status(map) != 0)
		c->failed++;
	c->done = 1;
	event_base_loopbreak(c->base);
}

static void scenario_map(enum evpool_mode mode, long n)
{
	struct event_base *base = new_base();
	struct evpool_item *items;
	struct evpool_map *map = NULL;
	struct evpool_map_spec spec;
	struct evpool *pool;
	struct counter c;
	char key[64];
	double t0, t1;
	long i;
	int rc;

	current = "map";
	if (make_pool(&pool, base, mode, opt.workers)) {
		event_base_free(base);
		return;
	}
	items = xmalloc(sizeof *items * n);
	for (i = 0; i < n; i++)
		items[i] = mode == EVPOOL_MODE_PROCESS
			   ? EVPOOL_ITEM_BYTES(&one_byte, 1)
			   : EVPOOL_ITEM_PTR((void *)&one_byte);
	if (run_jobs(pool, base, mode, &c, 1000))	/* warm up */
		goto out;

	t0 = now();
	rc = evpool_map(pool, job_noop, items, n, 0, &map);
	t1 = now();
	if (rc) {
		bug("evpool_map of %ld items: %s: %s", n, evpool_strerror(rc),
		    evpool_errmsg());
	} else if (evpool_map_size(map) != (size_t)n) {
		bug("evpool_map of %ld items holds %zu results", n,
		    evpool_map_size(map));
	} else {
		snprintf(key, sizeof key, "%smap_items_per_s", prefix(mode));
		out(key, "%.0f", n / (t1 - t0));
		say("map: %ld items, %s mode, chunksize %zu: %.3f M items/s "
		    "(evpool_map, results kept)\n", n, mode_name(mode),
		    evpool_map_chunksize(map), n / (t1 - t0) / 1e6);
	}
	evpool_map_unref(map);

	memset(&spec, 0, sizeof spec);
	memset(&c, 0, sizeof c);
	c.base = base;
	spec.fn = job_noop;
	spec.items = items;
	spec.n = n;
	spec.callback = map_done;
	spec.arg = &c;
	spec.flags = EVPOOL_MAP_DISCARD;
	t0 = now();
	rc = evpool_map_submit(pool, &spec, NULL);
	if (rc) {
		bug("evpool_map_submit of %ld items: %s: %s", n,
		    evpool_strerror(rc), evpool_errmsg());
	} else if (run_until(base, &c.done, 1) == 0) {
		t1 = now();
		if (c.failed) {
			bug("the discarding map of %ld items failed", n);
		} else {
			snprintf(key, sizeof key, "%smap_discard_items_per_s",
				 prefix(mode));
			out(key, "%.0f", n / (t1 - t0));
			say("map: %ld items, %s mode: %.3f M items/s "
			    "(evpool_map_submit, EVPOOL_MAP_DISCARD)\n", n,
			    mode_name(mode), n / (t1 - t0) / 1e6);
		}
	}
out:
	free(items);
	evpool_free(pool);
	event_base_free(base);
}
#else
static void scenario_map(enum evpool_mode mode, long n)
{
	current = "map";
	(void)mode;
	(void)n;
	out("map", "unavailable");
	say("map: skipped: this libevpool has no map API (evpool_map())\n");
}
#endif

/* ------------------------------------------------------------------------ */
/* memory: RSS growth per job queued behind blocked workers */

static atomic_int release_blockers;

/*
 * Holds its worker until released (thread mode) or cancelled (process mode,
 * where the flag cannot reach it: the cancel kills the worker).
 */
static int job_block(struct evpool_ctx *ctx)
{
	struct timespec ms = { 0, 1000000 };

	while (!atomic_load(&release_blockers) && !evpool_ctx_cancelled(ctx))
		nanosleep(&ms, NULL);
	return 0;
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, resident;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void scenario_memory(enum evpool_mode mode, long n)
{
	struct event_base *base = new_base();
	struct evpool *pool;
	struct evpool_job **blockers;
	struct evpool_stats st;
	struct counter c;
	unsigned nb, i;
	long rss0, rss1, k;
	double t0;

	current = "memory";
	atomic_store(&release_blockers, 0);
	if (make_pool(&pool, base, mode, opt.workers ? opt.workers : 1)) {
		event_base_free(base);
		return;
	}
	nb = pool_workers(pool);
	if (nb == 0)
		nb = 1;
	blockers = xmalloc(sizeof *blockers * nb);
	memset(&c, 0, sizeof c);
	c.base = base;
	c.target = LONG_MAX;
	for (i = 0; i < nb; i++) {
		struct evpool_job_spec spec;
		int rc;

		memset(&spec, 0, sizeof spec);
		spec.fn = job_block;
		spec.done = count_done;
		spec.done_arg = &c;
		if (mode == EVPOOL_MODE_PROCESS) {
			spec.input = &one_byte;
			spec.input_len = 1;
		}
		rc = evpool_submit_job(pool, &spec, &blockers[i]);
		if (rc)
			die("submit blocker: %s: %s", evpool_strerror(rc),
			    evpool_errmsg());
	}
	/* wait until every worker holds a blocker */
	t0 = now();
	for (;;) {
		struct timespec ms = { 0, 1000000 };

		if (evpool_get_stats(pool, &st) == 0 && st.running >= nb)
			break;
		if (now() - t0 > 10)
			die("%u blockers submitted, %llu running after 10 s", nb,
			    (unsigned long long)st.running);
		nanosleep(&ms, NULL);
	}
#ifdef __GLIBC__
	malloc_trim(0);		/* start from memory the heap does not hold */
#endif
	rss0 = rss_bytes();
	for (k = 0; k < n; k++) {
		int rc = submit(pool, NULL, mode, count_done, &c);

		if (rc)
			die("queueing job %ld of %ld: %s: %s", k, n,
			    evpool_strerror(rc), evpool_errmsg());
	}
	rss1 = rss_bytes();
	if (evpool_get_stats(pool, &st) == 0 && st.queued != (uint64_t)n)
		say("memory: note: %llu jobs queued, expected %ld\n",
		    (unsigned long long)st.queued, n);
	if (rss0 < 0 || rss1 < 0) {
		bug("cannot read /proc/self/statm");
	} else {
		double per = (double)(rss1 - rss0) / n;

		char key[64];

		snprintf(key, sizeof key, "%sbytes_per_queued_job", prefix(mode));
		out(key, "%.1f", per);
		say("memory: %ld jobs queued behind %u blocked worker(s), %s mode: "
		    "RSS +%.1f MiB = %.1f bytes per queued job\n", n, nb,
		    mode_name(mode), (rss1 - rss0) / 1048576.0, per);
	}
	/* let go: cancel the queue, release the blockers, collect everything */
	evpool_cancel_all(pool);
	atomic_store(&release_blockers, 1);
	if (mode == EVPOOL_MODE_PROCESS)
		for (i = 0; i < nb; i++)
			evpool_job_cancel(blockers[i]);
	for (i = 0; i < nb; i++)
		evpool_job_unref(blockers[i]);
	free(blockers);
	c.target = n + nb;
	if (c.done < c.target)
		run_until(base, &c.done, c.target);
	evpool_free(pool);
	event_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* idle: CPU burnt by a warm pool with nothing to do */

/*
 * The CPU time of this process's descendants (process-mode workers and
 * their fork server), from /proc: a snapshot of (pid, ticks), where ticks
 * counts a process's own time and that of the children it reaped.
 */
struct cpu_snap {
	struct proc_ticks {
		long pid, ppid;
		unsigned long long ticks;
	} *p;
	size_t n;
};

static void snap_descendants(struct cpu_snap *s)
{
	size_t cap = 0, i;
	DIR *d = opendir("/proc");
	struct dirent *e;
	long self = getpid();
	char *mark;
	int changed;

	s->p = NULL;
	s->n = 0;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[64], buf[1024], *p;
		unsigned long long ut, st, cut, cst;
		long ppid;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof buf, f);
		fclose(f);
		if (!p || !(p = strrchr(buf, ')')))
			continue;
		/* after "comm)": state ppid pgrp session tty tpgid flags minflt
		 * cminflt majflt cmajflt utime stime cutime cstime */
		if (sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			   "%llu %llu %llu %llu", &ppid, &ut, &st, &cut, &cst) != 5)
			continue;
		if (s->n == cap) {
			struct proc_ticks *np;

			cap = cap ? 2 * cap : 256;
			np = realloc(s->p, sizeof *np * cap);
			if (!np)
				break;
			s->p = np;
		}
		s->p[s->n].pid = atol(e->d_name);
		s->p[s->n].ppid = ppid;
		s->p[s->n].ticks = ut + st + cut + cst;
		s->n++;
	}
	closedir(d);
	mark = calloc(s->n ? s->n : 1, 1);
	if (!mark) {
		s->n = 0;
		return;
	}
	do {	/* mark the descendants of self until nothing changes */
		changed = 0;
		for (i = 0; i < s->n; i++) {
			size_t j;

			if (mark[i])
				continue;
			if (s->p[i].ppid == self) {
				mark[i] = changed = 1;
				continue;
			}
			for (j = 0; j < s->n; j++)
				if (mark[j] && s->p[j].pid == s->p[i].ppid) {
					mark[i] = changed = 1;
					break;
				}
		}
	} while (changed);
	for (i = 0; i < s->n; )	/* keep only the descendants */
		if (!mark[i]) {
			s->p[i] = s->p[--s->n];
			mark[i] = mark[s->n];
		} else {
			i++;
		}
	free(mark);
}

/* CPU seconds the descendants used between two snapshots.  A process that
 * exited in between loses its last ticks unless one of ours reaped it. */
static double descendants_delta_s(const struct cpu_snap *a,
				  const struct cpu_snap *b)
{
	unsigned long long t = 0;
	size_t i, j;

	for (i = 0; i < b->n; i++) {
		unsigned long long before = 0;

		for (j = 0; j < a->n; j++)
			if (a->p[j].pid == b->p[i].pid) {
				before = a->p[j].ticks;
				break;
			}
		if (b->p[i].ticks > before)
			t += b->p[i].ticks - before;
	}
	return (double)t / sysconf(_SC_CLK_TCK);
}

/* This process's CPU time, all threads, plus the children it reaped. */
static double self_cpu_s(void)
{
	struct timespec t;
	struct rusage ru;
	double s;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	s = t.tv_sec + t.tv_nsec * 1e-9;
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
		s += ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		     ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	return s;
}

static void scenario_idle(enum evpool_mode mode, long ms)
{
	struct event_base *base = new_base();
	struct evpool *pool;
	struct counter c;
	struct timespec ts;
	char key[64];
	double c0, w0, c1, k, w1, r, p50, p99;
	struct cpu_snap s0, s1;

	current = "idle";
	if (make_pool(&pool, base, mode, opt.workers)) {
		event_base_free(base);
		return;
	}
	/* warm every worker, then end on a round trip (the spinning path) */
	if (run_jobs(pool, base, mode, &c, 2000) ||
	    window_run(pool, base, mode, 1, 100, &r, &p50, &p99))
		goto out;
	snap_descendants(&s0);
	c0 = self_cpu_s();
	w0 = now();
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	c1 = self_cpu_s();
	w1 = now();
	snap_descendants(&s1);
	k = descendants_delta_s(&s0, &s1);
	free(s0.p);
	free(s1.p);
	snprintf(key, sizeof key, "%sidle_cpu_s", prefix(mode));
	out(key, "%.4f", (c1 - c0) + k);
	snprintf(key, sizeof key, "%sidle_cpu_pct", prefix(mode));
	out(key, "%.3f", 100 * ((c1 - c0) + k) / (w1 - w0));
	say("idle: warm pool of %u %s workers left idle %.2f s: %.4f CPU s "
	    "(%.3f %% of a core; this process %.4f s, child processes %.2f s)\n",
	    pool_workers(pool), mode_name(mode), w1 - w0, (c1 - c0) + k,
	    100 * ((c1 - c0) + k) / (w1 - w0), c1 - c0, k);
out:
	evpool_free(pool);
	event_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* latency and lowload (issues 20 and 22)
 *
 *  latency   round trips (submit -> start of the completion callback) with
 *            (a) one job in flight, each callback submitting the next
 *                (pingpong: the worker never waits long),
 *            (b) one job every 1 ms from a timer on the loop (the worker
 *                has gone idle, or to sleep, between jobs: a lightly
 *                loaded server), and
 *            (c) 64 jobs in flight;
 *            -> latency_{1,timer,64}_{p50,p90,p99,p999,max}_us
 *  lowload   one job every P us from a timer on the loop, for -n ms each,
 *            P = 200, 1000, 2000, 10000; the whole process's user + system
 *            CPU from getrusage() over that time, as a share of one core and
 *            per job, and the round trips' p50 and p99
 *            -> lowload_P_{cpu_pct,cpu_us_per_job,p50_us,p99_us,jobs}
 *  The timer is a timerfd read by the loop, not an event_base timer: the
 *  loops' own timers have millisecond resolution (epoll_wait), and the peers
 *  in bench/peers/ use the same timerfd, so all tick alike.
 */

/* Print the percentiles of the @p n sorted round trips (seconds) as
 * KEY_p50_us ... KEY_max_us. */
static void lat_out(const char *key, const double *sorted, long n)
{
	static const struct {
		const char *name;
		double p;
	} ps[] = { { "p50", 0.50 }, { "p90", 0.90 }, { "p99", 0.99 },
		   { "p999", 0.999 } };
	char k[96];

	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		snprintf(k, sizeof k, "%s_%s_us", key, ps[i].name);
		out(k, "%.2f", pct(sorted, n, ps[i].p) * 1e6);
	}
	snprintf(k, sizeof k, "%s_max_us", key);
	out(k, "%.2f", sorted[n - 1] * 1e6);
	say("%s: %ld round trips: p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f us\n",
	    key, n, pct(sorted, n, 0.5) * 1e6, pct(sorted, n, 0.9) * 1e6,
	    pct(sorted, n, 0.99) * 1e6, pct(sorted, n, 0.999) * 1e6,
	    sorted[n - 1] * 1e6);
}

static double rusage_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* One job per tick of a timerfd read by the loop. */
struct ticker {
	struct evpool *pool;
	struct event_base *base;
	enum evpool_mode mode;
	int fd;
	struct event *ev;
	long sent, done, target, failed;
	double *start, *lat;
	double *ran, *wake, *back;	/* thread mode: the hand-offs */
	struct tslot {
		struct ticker *t;
		long idx;
	} *slots;
	int error;
};

/* Thread mode: the job notes when it started, to split the round trip
 * into its two hand-offs (loop -> worker, worker -> loop). */
static int job_stamp(struct evpool_ctx *ctx)
{
	struct tslot *s = evpool_ctx_arg(ctx);

	s->t->ran[s->idx] = now();
	return 0;
}

static void ticker_done(struct evpool_job *job, void *arg)
{
	struct tslot *s = arg;
	struct ticker *t = s->t;
	double tn = now();

	if (t->ran) {
		t->wake[t->done] = t->ran[s->idx] - t->start[s->idx];
		t->back[t->done] = tn - t->ran[s->idx];
	}
	t->lat[t->done++] = tn - t->start[s->idx];
	if (evpool_job_status(job) != 0)
		t->failed++;
	if (t->done == t->target)
		event_base_loopbreak(t->base);
}

static void ticker_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ticker *t = arg;
	uint64_t ticks;
	int rc;

	(void)what;
	if (read(fd, &ticks, sizeof ticks) != (ssize_t)sizeof ticks)
		return;
	if (t->sent == t->target)
		return;
	t->start[t->sent] = now();
	if (t->ran)
		rc = evpool_submit(t->pool, job_stamp, &t->slots[t->sent],
				   ticker_done, &t->slots[t->sent]);
	else
		rc = submit(t->pool, NULL, t->mode, ticker_done,
			    &t->slots[t->sent]);
	if (rc) {
		bug("submit: %s: %s", evpool_strerror(rc), evpool_errmsg());
		t->error = 1;
		event_base_loopbreak(t->base);
		return;
	}
	if (++t->sent == t->target)
		event_del(t->ev);
}

/*
 * Submit @p n jobs, one every @p period_us, from the loop.  Fills the
 * sorted round trips (*latp, n of them, the caller frees it) and the CPU
 * seconds and wall seconds from the first tick to the last completion.
 * Returns 0, or -1 if it could not be measured.
 */
static int ticker_run(struct evpool *pool, struct event_base *base,
		      enum evpool_mode mode, long period_us, long n,
		      double **latp, double *cpu_s, double *wall_s,
		      double **wakep, double **backp)
{
	struct itimerspec its;
	struct ticker t;
	double c0, w0;
	long i;
	int rc = -1;

	memset(&t, 0, sizeof t);
	t.pool = pool;
	t.base = base;
	t.mode = mode;
	t.target = n;
	t.start = xmalloc(sizeof *t.start * n);
	t.lat = xmalloc(sizeof *t.lat * n);
	t.slots = xmalloc(sizeof *t.slots * n);
	if (wakep && mode == EVPOOL_MODE_THREAD) {
		t.ran = xmalloc(sizeof *t.ran * n);
		t.wake = xmalloc(sizeof *t.wake * n);
		t.back = xmalloc(sizeof *t.back * n);
	}
	for (i = 0; i < n; i++) {
		t.slots[i].t = &t;
		t.slots[i].idx = i;
	}
	t.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t.fd < 0)
		die("timerfd_create: %s", strerror(errno));
	t.ev = event_new(base, t.fd, EV_READ | EV_PERSIST, ticker_tick, &t);
	if (!t.ev || event_add(t.ev, NULL))
		die("event_new/event_add failed");
	memset(&its, 0, sizeof its);
	its.it_interval.tv_sec = period_us / 1000000;
	its.it_interval.tv_nsec = (period_us % 1000000) * 1000;
	its.it_value = its.it_interval;
	c0 = rusage_cpu_s();
	w0 = now();
	if (timerfd_settime(t.fd, 0, &its, NULL))
		die("timerfd_settime: %s", strerror(errno));
	while (t.done < t.target && !t.error)
		if (event_base_dispatch(base) < 0)
			die("event_base_dispatch failed");
	*cpu_s = rusage_cpu_s() - c0;
	*wall_s = now() - w0;
	event_free(t.ev);
	close(t.fd);
	if (t.error) {
		if (t.done < t.sent)
			run_until(base, &t.done, t.sent);
	} else if (t.failed) {
		bug("%ld of %ld empty jobs did not succeed", t.failed, n);
	} else {
		qsort(t.lat, n, sizeof *t.lat, cmp_double);
		*latp = t.lat;
		t.lat = NULL;
		if (t.ran) {
			qsort(t.wake, n, sizeof *t.wake, cmp_double);
			qsort(t.back, n, sizeof *t.back, cmp_double);
			*wakep = t.wake;
			*backp = t.back;
			t.wake = t.back = NULL;
		}
		rc = 0;
	}
	free(t.ran);
	free(t.wake);
	free(t.back);
	free(t.lat);
	free(t.start);
	free(t.slots);
	return rc;
}

static void scenario_latency(enum evpool_mode mode, long n)
{
	struct event_base *base = new_base();
	struct evpool *pool;
	struct counter c;
	double r, p50, p99, cpu, wall, *lat = NULL, *wake = NULL, *back = NULL;
	long nt = n / 10 < 100 ? 100 : n / 10;
	char key[64];

	current = "latency";
	if (make_pool(&pool, base, mode, opt.workers)) {
		event_base_free(base);
		return;
	}
	if (run_jobs(pool, base, mode, &c, 1000))
		goto out;
	snprintf(key, sizeof key, "%slatency_1", prefix(mode));
	if (window_run_lat(pool, base, mode, 1, n, &r, &p50, &p99, &lat, NULL, NULL))
		goto out;
	lat_out(key, lat, n);
	free(lat);
	current = "latency timer";
	snprintf(key, sizeof key, "%slatency_timer", prefix(mode));
	if (ticker_run(pool, base, mode, 1000, nt, &lat, &cpu, &wall, &wake,
		       &back))
		goto out;
	lat_out(key, lat, nt);
	free(lat);
	if (wake) {
		/* Where (b)'s time goes: submit -> the job starts on a worker
		 * (waking it), and the job's start -> its callback (waking
		 * the loop). */
		snprintf(key, sizeof key, "latency_timer_wake");
		lat_out(key, wake, nt);
		snprintf(key, sizeof key, "latency_timer_back");
		lat_out(key, back, nt);
		free(wake);
		free(back);
	}
	current = "latency 64";
	snprintf(key, sizeof key, "%slatency_64", prefix(mode));
	if (window_run_lat(pool, base, mode, 64, n * 10, &r, &p50, &p99, &lat, NULL, NULL))
		goto out;
	lat_out(key, lat, n * 10);
	free(lat);
out:
	evpool_free(pool);
	event_base_free(base);
}

static void scenario_lowload(enum evpool_mode mode, long ms)
{
	static const long dflt[] = { 200, 1000, 2000, 10000 };
	const long *periods = opt.nperiods ? opt.periods : dflt;
	size_t np = opt.nperiods ? opt.nperiods : sizeof dflt / sizeof dflt[0];
	struct event_base *base = new_base();
	struct evpool *pool;
	struct counter c;
	char key[64];

	current = "lowload";
	if (make_pool(&pool, base, mode, opt.workers)) {
		event_base_free(base);
		return;
	}
	if (run_jobs(pool, base, mode, &c, 1000))
		goto out;
	for (size_t i = 0; i < np; i++) {
		long p = periods[i], n = ms * 1000 / p;
		double cpu, wall, *lat;

		if (n < 10)
			n = 10;
		if (ticker_run(pool, base, mode, p, n, &lat, &cpu, &wall, NULL,
			       NULL))
			break;
#define KEY(what) (snprintf(key, sizeof key, "%slowload_%ld_%s", \
			    prefix(mode), p, what), key)
		out(KEY("jobs"), "%ld", n);
		out(KEY("cpu_pct"), "%.3f", 100 * cpu / wall);
		out(KEY("cpu_us_per_job"), "%.2f", cpu * 1e6 / n);
		out(KEY("p50_us"), "%.2f", pct(lat, n, 0.5) * 1e6);
		out(KEY("p99_us"), "%.2f", pct(lat, n, 0.99) * 1e6);
#undef KEY
		say("lowload: 1 job every %ld us, %ld jobs in %.2f s, %s mode: "
		    "%.2f %% of a core, %.1f us CPU per job; round trip p50 "
		    "%.2f us p99 %.2f us\n", p, n, wall, mode_name(mode),
		    100 * cpu / wall, cpu * 1e6 / n, pct(lat, n, 0.5) * 1e6,
		    pct(lat, n, 0.99) * 1e6);
		free(lat);
	}
out:
	evpool_free(pool);
	event_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* multi: several event_bases, each on its own thread, submitting to one pool */

struct mthread {
	pthread_t tid;
	struct evpool *pool;
	enum evpool_mode mode;
	pthread_barrier_t *go;
	struct event_base *base;
	struct counter c;
	long n;
	double t_start, t_end;
	int error;
};

static void *mthread_main(void *arg)
{
	struct mthread *t = arg;
	long i;

	/* warm up on this base first, outside the clock */
	t->c.base = t->base;
	t->c.target = 1000;
	for (i = 0; i < 1000; i++)
		if (submit(t->pool, t->base, t->mode, count_done, &t->c))
			t->error = 1;
	if (!t->error && run_until(t->base, &t->c.done, 1000))
		t->error = 1;
	pthread_barrier_wait(t->go);
	t->c.done = 0;
	t->c.target = t->error ? 0 : t->n;
	t->t_start = now();
	for (i = 0; i < t->n && !t->error; i++) {
		int rc = submit(t->pool, t->base, t->mode, count_done, &t->c);

		if (rc) {
			bug("submit %ld: %s: %s", i, evpool_strerror(rc),
			    evpool_errmsg());
			t->error = 1;
			t->c.target = i;
		}
	}
	if (t->c.target && run_until(t->base, &t->c.done, t->c.target))
		t->error = 1;
	t->t_end = now();
	return NULL;
}

/* Total jobs/s of @p nthreads bases submitting @p n jobs between them. */
static double multi_run(enum evpool_mode mode, int nthreads, long n)
{
	struct mthread t[8];
	pthread_barrier_t go;
	struct evpool *pool;
	double t0 = 0, t1 = 0, r = 0;
	int i, err = 0;

	if (make_pool(&pool, NULL, mode, opt.workers))
		return 0;
	pthread_barrier_init(&go, NULL, nthreads);
	for (i = 0; i < nthreads; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].pool = pool;
		t[i].mode = mode;
		t[i].go = &go;
		t[i].base = new_base();
		t[i].n = n / nthreads + (i < n % nthreads);
		if (pthread_create(&t[i].tid, NULL, mthread_main, &t[i]))
			die("pthread_create failed");
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(t[i].tid, NULL);
		if (t[i].error || t[i].c.failed)
			err = 1;
		if (i == 0 || t[i].t_start < t0)
			t0 = t[i].t_start;
		if (i == 0 || t[i].t_end > t1)
			t1 = t[i].t_end;
	}
	pthread_barrier_destroy(&go);
	evpool_free(pool);
	for (i = 0; i < nthreads; i++)
		event_base_free(t[i].base);
	if (!err && t1 > t0)
		r = n / (t1 - t0);
	return r;
}

static void scenario_multi(enum evpool_mode mode, long n)
{
	static int threads_on;
	double one, two;

	current = "multi";
	if (!threads_on) {
		if (evthread_use_pthreads())
			die("evthread_use_pthreads failed");
		threads_on = 1;
	}
	one = multi_run(mode, 1, n);
	if (process_unavailable && mode == EVPOOL_MODE_PROCESS)
		return;
	two = multi_run(mode, 2, n);
	if (one > 0) {
		char key[64];

		snprintf(key, sizeof key, "%ssingle_base_jobs_per_s", prefix(mode));
		out(key, "%.0f", one);
	}
	if (two > 0) {
		char key[64];

		snprintf(key, sizeof key, "%smulti_jobs_per_s", prefix(mode));
		out(key, "%.0f", two);
	}
	if (one > 0 && two > 0) {
		char key[64];

		snprintf(key, sizeof key, "%smulti_speedup", prefix(mode));
		out(key, "%.3f", two / one);
		say("multi: %ld jobs, %s mode, one pool: 1 base %.3f M jobs/s, "
		    "2 bases on 2 threads %.3f M jobs/s (x%.2f)\n", n,
		    mode_name(mode), one / 1e6, two / 1e6, two / one);
	}
}

/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* payload: bytes through a job and into an evbuffer (issue 16)
 *
 * What a server does with a request body: the body arrives in an evbuffer
 * (here: chains of 16 KiB that reference a static source, as if a socket had
 * filled them; making them copies nothing, for both paths alike), a job
 * turns it into a result (here: an echo), and the result goes into an
 * output evbuffer (a bufferevent's; here: `sink`, drained after each job,
 * as a socket write would).
 *   evbuffer path  spec.input_evbuffer (chains moved), the job moves its
 *                  input evbuffer into evpool_ctx_output(), the callback
 *                  evbuffer_add_buffer()s evpool_job_result_evbuffer().
 *   byte path      today's: evbuffer_pullup() the body (a copy, the chains
 *                  being many), spec.input (copied at submit), the job's
 *                  evpool_ctx_set_result_bytes() (a copy, on the worker),
 *                  evbuffer_add() of evpool_job_result_bytes() (a copy).
 * Four jobs in flight.  The paths alternate, round by round; each figure is
 * the median of the rounds.  Loop-thread CPU comes from
 * getrusage(RUSAGE_THREAD) around the run; `copied_bytes` counts the bytes
 * the sink received per job that are NOT the source's own memory (compared
 * chain by chain with evbuffer_peek()): 0 means no byte was copied anywhere,
 * loop or worker (thread mode). */

#define PL_MAX (1u << 20)
#define PL_PIECE 16384u
#define PL_ROUNDS 3
#define PL_INFLIGHT 4

static unsigned char *pl_src;

struct pl_run {
	struct evpool *pool;
	int evbuf;		/* 1: evbuffer path, 0: byte path */
	size_t size;
	long n, submitted, done;
	struct evbuffer *sink;
	uint64_t foreign;	/* bytes in sink not pointing into pl_src */
	struct event_base *base;
};

static int pl_job_evbuffer(struct evpool_ctx *ctx)
{
	return evbuffer_add_buffer(evpool_ctx_output(ctx),
				   evpool_ctx_input_evbuffer(ctx));
}

static int pl_job_bytes(struct evpool_ctx *ctx)
{
	size_t len;
	const void *p = evpool_ctx_input(ctx, &len);

	return evpool_ctx_set_result_bytes(ctx, p, len);
}

static void pl_submit(struct pl_run *r);

static void pl_done(struct evpool_job *job, void *arg)
{
	struct pl_run *r = arg;
	struct evbuffer_iovec v[PL_MAX / PL_PIECE + 1];
	int nv;

	if (evpool_job_status(job) != 0)
		bug("payload: job status %d", evpool_job_status(job));
	if (r->evbuf) {
		evbuffer_add_buffer(r->sink, evpool_job_result_evbuffer(job));
	} else {
		size_t len;
		const void *p = evpool_job_result_bytes(job, &len);
		evbuffer_add(r->sink, p, len);
	}
	if (evbuffer_get_length(r->sink) != r->size)
		bug("payload: %zu bytes back, not %zu",
		    evbuffer_get_length(r->sink), r->size);
	nv = evbuffer_peek(r->sink, -1, NULL, v, (int)(sizeof v / sizeof v[0]));
	for (int i = 0; i < nv && i < (int)(sizeof v / sizeof v[0]); i++)
		if ((unsigned char *)v[i].iov_base < pl_src ||
		    (unsigned char *)v[i].iov_base >= pl_src + PL_MAX)
			r->foreign += v[i].iov_len;
	evbuffer_drain(r->sink, evbuffer_get_length(r->sink));
	r->done++;
	if (r->submitted < r->n)
		pl_submit(r);
}

static void pl_submit(struct pl_run *r)
{
	struct evbuffer *body = evbuffer_new();
	struct evpool_job_spec spec;

	for (size_t off = 0; off < r->size; off += PL_PIECE)
		evbuffer_add_reference(body, pl_src + off,
				       r->size - off < PL_PIECE ? r->size - off
								: PL_PIECE,
				       NULL, NULL);
	memset(&spec, 0, sizeof spec);
	spec.done = pl_done;
	spec.done_arg = r;
	if (r->evbuf) {
		spec.fn = pl_job_evbuffer;
		spec.input_evbuffer = body;
	} else {
		spec.fn = pl_job_bytes;
		spec.input = evbuffer_pullup(body, -1);
		spec.input_len = r->size;
	}
	if (evpool_submit_job(r->pool, &spec, NULL) < 0)
		bug("payload: submit: %s", evpool_errmsg());
	r->submitted++;
	evbuffer_free(body);
}

static double thread_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void scenario_payload(enum evpool_mode mode, long mib)
{
	static const size_t sizes[] = { 4096, 65536, PL_MAX };
	static const char *const names[] = { "4k", "64k", "1m" };
	double mbps[2][3][PL_ROUNDS], nspk[2][3][PL_ROUNDS];
	uint64_t foreign[2][3] = { { 0 } };
	struct event_base *base = new_base();
	struct evpool *pool;

	current = "payload";
	if (make_pool(&pool, base, mode, opt.workers))
		goto out;
	pl_src = xmalloc(PL_MAX);
	for (size_t i = 0; i < PL_MAX; i++)
		pl_src[i] = (unsigned char)(i * 7);
	for (int round = 0; round < PL_ROUNDS; round++)
		for (int si = 0; si < 3; si++)
			for (int pass = 0; pass < 2; pass++) {
				/* alternate which path goes first */
				int evbuf = (pass + round) % 2;
				struct pl_run r = { 0 };
				double t0, c0, el, cpu;

				r.pool = pool;
				r.base = base;
				r.evbuf = evbuf;
				r.size = sizes[si];
				r.n = (long)(((uint64_t)mib << 20) / sizes[si]);
				if (r.n < 8)
					r.n = 8;
				r.sink = evbuffer_new();
				t0 = now();
				c0 = thread_cpu_s();
				for (int k = 0; k < PL_INFLIGHT && r.submitted < r.n; k++)
					pl_submit(&r);
				run_until(base, &r.done, r.n);
				cpu = thread_cpu_s() - c0;
				el = now() - t0;
				mbps[evbuf][si][round] =
					(double)r.n * (double)r.size / el / 1e6;
				nspk[evbuf][si][round] =
					cpu * 1e9 / ((double)r.n * (double)r.size / 1024.0);
				foreign[evbuf][si] += r.foreign / (uint64_t)r.n;
				evbuffer_free(r.sink);
			}
	for (int p = 1; p >= 0; p--)
		for (int si = 0; si < 3; si++) {
			const char *path = p ? "evbuffer" : "bytes";
			char name[64];

			qsort(mbps[p][si], PL_ROUNDS, sizeof(double), cmp_double);
			qsort(nspk[p][si], PL_ROUNDS, sizeof(double), cmp_double);
			snprintf(name, sizeof name, "payload_%s_%s_MBps", path, names[si]);
			out(name, "%.0f", mbps[p][si][PL_ROUNDS / 2]);
			snprintf(name, sizeof name, "payload_%s_%s_loop_ns_per_kib", path, names[si]);
			out(name, "%.1f", nspk[p][si][PL_ROUNDS / 2]);
			snprintf(name, sizeof name, "payload_%s_%s_copied_bytes", path, names[si]);
			out(name, "%llu", (unsigned long long)(foreign[p][si] / PL_ROUNDS));
			say("payload %-8s %-3s %8.0f MB/s  loop %7.1f ns/KiB  %llu bytes/job copied\n",
			    path, names[si], mbps[p][si][PL_ROUNDS / 2],
			    nspk[p][si][PL_ROUNDS / 2],
			    (unsigned long long)(foreign[p][si] / PL_ROUNDS));
		}
	for (int si = 0; si < 3; si++) {
		char name[64];
		snprintf(name, sizeof name, "payload_%s_speedup", names[si]);
		out(name, "%.2f", mbps[1][si][PL_ROUNDS / 2] / mbps[0][si][PL_ROUNDS / 2]);
	}
	evpool_free(pool);
	free(pl_src);
	pl_src = NULL;
out:
	event_base_free(base);
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: evpool-bench [options] [scenario...]\n"
		"Benchmarks libevpool; prints name=value lines on stdout and a\n"
		"summary on stderr.  Scenarios (default: all), also as --name:\n");
	for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		fprintf(f, "  %-9s %s\n", scenarios[i].name, scenarios[i].help);
	fprintf(f,
		"options:\n"
		"  --mode thread|process  pool mode for every scenario (default thread)\n"
		"  --workers N            max workers (default: the library's, online CPUs)\n"
		"  -n N                   count of every scenario (jobs; round trips for\n"
		"                         pingpong; ms for idle)\n"
		"  -m M                   round trips of pingpong and process pingpong\n"
		"                         (default 20000 / 5000, or -n when only -n given)\n"
		"  -k K[,K...]            window sizes (default 1,16,256)\n"
		"  -p P[,P...]            lowload periods in us (default 200,1000,2000,10000)\n"
		"  --smoke                every scenario, tiny (for make check)\n"
		"  --timeout S            give up after S seconds (exit 3)\n"
		"  -q                     no summary on stderr\n");
}

static long parse_long(const char *what, const char *s, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min) {
		fprintf(stderr, "evpool-bench: %s: bad value '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned which = 0;
	long n, m;
	int i;

	opt.mode = EVPOOL_MODE_THREAD;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t k;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--smoke")) {
			opt.smoke = 1;
		} else if (!strcmp(a, "-q")) {
			opt.quiet = 1;
		} else if (!strcmp(a, "all") || !strcmp(a, "--all")) {
			which |= SC_ALL;
		} else if (!strcmp(a, "--mode") && i + 1 < argc) {
			a = argv[++i];
			if (!strcmp(a, "thread"))
				opt.mode = EVPOOL_MODE_THREAD;
			else if (!strcmp(a, "process"))
				opt.mode = EVPOOL_MODE_PROCESS;
			else {
				fprintf(stderr, "evpool-bench: --mode thread|process\n");
				return 2;
			}
		} else if (!strcmp(a, "--workers") && i + 1 < argc) {
			opt.workers = (unsigned)parse_long("--workers", argv[++i], 0);
		} else if (!strcmp(a, "-n") && i + 1 < argc) {
			opt.n = parse_long("-n", argv[++i], 1);
		} else if (!strcmp(a, "-m") && i + 1 < argc) {
			opt.m = parse_long("-m", argv[++i], 1);
		} else if (!strcmp(a, "-k") && i + 1 < argc) {
			char *list = argv[++i], *tok, *save = NULL;

			opt.nks = 0;
			for (tok = strtok_r(list, ",", &save); tok && opt.nks < 8;
			     tok = strtok_r(NULL, ",", &save))
				opt.ks[opt.nks++] = parse_long("-k", tok, 1);
		} else if (!strcmp(a, "-p") && i + 1 < argc) {
			char *list = argv[++i], *tok, *save = NULL;

			opt.nperiods = 0;
			for (tok = strtok_r(list, ",", &save);
			     tok && opt.nperiods < 8;
			     tok = strtok_r(NULL, ",", &save))
				opt.periods[opt.nperiods++] =
					parse_long("-p", tok, 1);
		} else if (!strcmp(a, "--timeout") && i + 1 < argc) {
			opt.timeout_s = (unsigned)parse_long("--timeout", argv[++i], 0);
		} else {
			while (*a == '-')
				a++;
			for (k = 0; k < sizeof scenarios / sizeof scenarios[0]; k++)
				if (!strcmp(a, scenarios[k].name))
					break;
			if (k == sizeof scenarios / sizeof scenarios[0]) {
				fprintf(stderr, "evpool-bench: unknown argument '%s'\n",
					argv[i]);
				usage(stderr);
				return 2;
			}
			which |= scenarios[k].bit;
		}
	}
	if (!which)
		which = SC_ALL;
	if (!opt.nks) {
		opt.ks[0] = 1;
		opt.ks[1] = 16;
		opt.ks[2] = 256;
		opt.nks = 3;
	}
	if (opt.smoke && !opt.timeout_s)
		opt.timeout_s = 60;
	if (opt.timeout_s) {
		signal(SIGALRM, on_alarm);
		alarm(opt.timeout_s);
	}
	say("evpool-bench: libevpool %s, libevent %s, %s mode, %ld CPUs online\n",
	    evpool_version(), event_get_version(), mode_name(opt.mode),
	    sysconf(_SC_NPROCESSORS_ONLN));

#define COUNT(dflt, tiny) (opt.n ? opt.n : opt.smoke ? (tiny) : (dflt))
	m = opt.m ? opt.m : opt.n ? opt.n : opt.smoke ? 300 : 20000;
	if (which & (SC_BURST | SC_PINGPONG))
		scenario_burst_pingpong(opt.mode, !!(which & SC_BURST),
					!!(which & SC_PINGPONG),
					COUNT(1000000, 2000), m);
	if (which & SC_WINDOW)
		scenario_window(opt.mode, COUNT(200000, 1000));
	if (which & SC_MAP)
		scenario_map(opt.mode, COUNT(1000000, 2000));
	if (which & SC_PROCESS) {
		n = COUNT(100000, 200);
		current = "process";
		if (!process_unavailable)
			scenario_burst_pingpong(EVPOOL_MODE_PROCESS, 1, 1, n,
						opt.m ? opt.m : opt.n ? opt.n :
						opt.smoke ? 50 : 5000);
	}
	if (which & SC_MEMORY)
		scenario_memory(opt.mode, COUNT(1000000, 20000));
	if (which & SC_IDLE)
		scenario_idle(opt.mode, COUNT(2000, 200));
	if (which & SC_PAYLOAD)
		scenario_payload(opt.mode, COUNT(256, 2));
	if (which & SC_LATENCY)
		scenario_latency(opt.mode, COUNT(20000, 300));
	if (which & SC_LOWLOAD)
		scenario_lowload(opt.mode, COUNT(3000, 100));
	if (which & SC_MULTI)
		scenario_multi(opt.mode, COUNT(1000000, 2000));
#undef COUNT
	if (status)
		fprintf(stderr, "evpool-bench: FAILED (see above)\n");
	return status;
}

/*
 * t/remote.c — remote mode against a real redis-server: the test starts
 * one (temp dir, unix socket, AOF with appendfsync always, no RDB) and
 * evpool-worker processes serving t/remote-jobs.so, then checks results,
 * redelivery after kill -9 of a worker, a Redis restart, workers all gone,
 * "worker lost", cancel, timeout, graceful SIGTERM, and the errors of a
 * bad address, a wrong password, an unknown job name and an oversized
 * input — each with the number of callbacks THE CONTRACT promises.
 * Skipped only if the build has no remote mode or redis-server is absent.
 */
#include "tap.h"

#include <evpool.h>
#include <event2/event.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/syscall.h>

#include "../examples/remote-jobs.h"
#include "remote-util.h"

#define NMAX 4000
#define VIS_MS 400

static unsigned slow = 1;	/* sanitizers, valgrind: timings stretch */
static pid_t wa, wb;
static struct event_base *base;

/* ---- the client ---------------------------------------------------------- */

static struct {
	unsigned calls[NMAX];
	int status[NMAX];
	uint64_t want[NMAX];
	bool right[NMAX];
	unsigned done, n;
} R;

static void
on_done(struct evpool_job *job, void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	size_t len;
	const void *res = evpool_job_result_bytes(job, &len);

	R.calls[i]++;
	R.status[i] = evpool_job_status(job);
	R.right[i] = len == 8 && memcmp(res, &R.want[i], 8) == 0;
	R.done++;
}

static struct evpool *
client(unsigned reconnect_ms)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool = NULL;
	int r;

	evpool_config_set_remote(cfg, rt_url, "t");
	evpool_config_set_remote_reconnect(cfg, reconnect_ms);
	r = evpool_new(&pool, base, cfg);
	evpool_config_free(cfg);
	if (r < 0)
		bail("remote pool: %s", evpool_errmsg());
	return pool;
}

static int
submit(struct evpool *pool, unsigned i, unsigned sleep_ms, int timeout_ms,
       struct evpool_job **jobp)
{
	unsigned char in[128];
	size_t len = remote_jobs_input(in, sizeof(in), sleep_ms, i);
	struct evpool_job_spec spec = {
		.input = in, .input_len = len, .done = on_done,
		.done_arg = (void *)(uintptr_t)i, .timeout_ms = timeout_ms,
	};

	R.want[i] = remote_jobs_hash(in, len);
	return evpool_submit_named(pool, "hash", &spec, jobp);
}

struct action {
	struct event *ev;
	bool (*fn)(void);	/* false: not now, again in 10 ms */
};

static void
on_action(evutil_socket_t fd, short what, void *arg)
{
	struct action *a = arg;
	struct timeval tv = { 0, 10000 };

	(void)fd;
	(void)what;
	if (!a->fn())
		evtimer_add(a->ev, &tv);
}

/* Submit n jobs, run @p fn after @p at_ms, dispatch until every callback
 * ran.  @return the number of jobs whose callback ran exactly once. */
static unsigned
run(struct evpool *pool, unsigned n, unsigned sleep_ms, int timeout_ms,
    bool (*fn)(void), unsigned at_ms)
{
	struct action a = { NULL, fn };
	unsigned once = 0;

	memset(&R, 0, sizeof(R));
	R.n = n;
	for (unsigned i = 0; i < n; i++)
		if (submit(pool, i, sleep_ms, timeout_ms, NULL) < 0)
			bail("submit %u: %s", i, evpool_errmsg());
	if (fn) {
		struct timeval tv = { at_ms / 1000, (at_ms % 1000) * 1000 };

		a.ev = evtimer_new(base, on_action, &a);
		evtimer_add(a.ev, &tv);
	}
	event_base_dispatch(base);
	if (a.ev)
		event_free(a.ev);
	for (unsigned i = 0; i < n; i++)
		once += R.calls[i] == 1;
	return once;
}

/* ---- a chain: each job submitted from the previous one's callback ---- */

static struct {
	struct evpool *pool;
	unsigned next, n;
} chain;

static void on_chain(struct evpool_job *job, void *arg);

static void
chain_submit(unsigned i)
{
	unsigned char in[128];
	size_t len = remote_jobs_input(in, sizeof(in), 0, i);
	struct evpool_job_spec spec = {
		.input = in, .input_len = len, .done = on_chain,
		.done_arg = (void *)(uintptr_t)i,
	};

	R.want[i] = remote_jobs_hash(in, len);
	if (evpool_submit_named(chain.pool, "hash", &spec, NULL) < 0)
		bail("chain submit %u: %s", i, evpool_errmsg());
}

static void
on_chain(struct evpool_job *job, void *arg)
{
	on_done(job, arg);
	if (chain.next < chain.n)
		chain_submit(chain.next++);
}

/* The sleeps (voluntary context switches) in a /proc .../status file, or
 * -1. */
static long
status_sleeps(const char *path)
{
	char line[128];
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* The sleeps (voluntary context switches) of this process' remote I/O
 * threads ("/rio") if @p rio, else of its other threads but the calling
 * one: the dispatchers. */
static long
thread_sleeps(bool rio)
{
	char path[64], comm[32];
	long sum = 0, me = (long)getpid(), v;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	FILE *f;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		long tid = atol(e->d_name);

		if (tid <= 0 || tid == (long)syscall(SYS_gettid) || tid == me)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", tid);
		if (!(f = fopen(path, "r")))
			continue;
		comm[0] = 0;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (!strstr(comm, "/rio") != !rio)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%ld/status", tid);
		if ((v = status_sleeps(path)) > 0)
			sum += v;
	}
	closedir(d);
	return sum;
}

/* The sleeps of process @p pid's main thread (a worker's loop), or -1. */
static long
proc_sleeps(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	return status_sleeps(path);
}

/* Run a chain of @p n jobs on @p pool; @return how many ran once. */
static unsigned
run_chain(struct evpool *pool, unsigned n)
{
	unsigned once = 0;

	memset(&R, 0, sizeof(R));
	chain.pool = pool;
	chain.n = n;
	chain.next = 1;
	chain_submit(0);
	event_base_dispatch(base);
	for (unsigned i = 0; i < n; i++)
		once += R.calls[i] == 1;
	return once;
}

static unsigned
count_right(unsigned n)
{
	unsigned c = 0, shown = 0;

	for (unsigned i = 0; i < n; i++) {
		if (R.status[i] == 0 && R.right[i])
			c++;
		else if (shown++ < 3)
			diag("job %u: status %d (%s)%s", i, R.status[i],
			     evpool_strerror(R.status[i]),
			     R.status[i] == 0 ? ", wrong result" : "");
	}
	return c;
}

static unsigned
count_status(unsigned n, int status)
{
	unsigned c = 0;

	for (unsigned i = 0; i < n; i++)
		c += R.status[i] == status;
	return c;
}

/* Does worker @p pid hold jobs (pending entries)? */
static bool
holds(pid_t pid)
{
	char host[64] = "", cmd[600];

	gethostname(host, sizeof(host) - 1);
	snprintf(cmd, sizeof(cmd),
		 "test $(redis-cli -s %s XPENDING 'evpool:{t}:jobs' evpool - + 100 %s-%d 2>/dev/null | grep -c .) -gt 0",
		 rt_sock, host, (int)pid);
	return system(cmd) == 0;
}

/* Stopped first: between the look at what it holds and the kill, a
 * running worker could answer everything it held (then nothing is
 * redelivered); a stopped one answers nothing. */
static bool
kill_wa(void)
{
	if (R.done >= R.n)
		return true;	/* too late: the count below will say so */
	kill(wa, SIGSTOP);
	if (!holds(wa)) {
		kill(wa, SIGCONT);
		return false;	/* not yet: try again */
	}
	rt_worker_kill(wa);
	return true;
}

static bool
restart_redis(void)
{
	rt_redis_kill();
	tap_sleep_ms(300);
	rt_redis_start();
	return true;
}

static long
redis_int(const char *cmd)
{
	char line[512], out[64] = "";
	FILE *p;

	snprintf(line, sizeof(line), "redis-cli -s %s %s 2>/dev/null", rt_sock, cmd);
	p = popen(line, "r");
	if (!p || !fgets(out, sizeof(out), p))
		out[0] = 0;
	if (p)
		pclose(p);
	return strtol(out, NULL, 10);
}

int
main(void)
{
	struct evpool_remote_stats rs;
	struct evpool_config *cfg;
	struct evpool *pool;
	struct evpool_job *job;
	unsigned n, once;
	int r, st;

	rt_setup();
	slow = getenv("EVPOOL_TEST_SLOWDOWN") ? (unsigned)atoi(getenv("EVPOOL_TEST_SLOWDOWN"))
					       : tap_slowdown();
	if (slow < 1)
		slow = 1;
	plan(58);
	tap_watchdog(240, "t/remote");
	if (evpool_jobs_register() < 0)
		bail("evpool_jobs_register: %s", evpool_errmsg());
	base = event_base_new();

	/* ---- errors at the door ---- */
	cfg = evpool_config_new();
	is_int(-ENOTSUP, evpool_config_set_remote(cfg, "rediss://h:1", "t"),
	       "rediss:// is refused: no TLS in this hiredis");
	is_int(-EINVAL, evpool_config_set_remote(cfg, "redis://h:99999", "t"),
	       "a malformed URL is -EINVAL");
	evpool_config_set_remote(cfg, "unix:///nonexistent/redis.sock", "t");
	pool = NULL;
	r = evpool_new(&pool, base, cfg);
	ok(r == -ECONNREFUSED && strstr(evpool_errmsg(), "cannot reach"),
	   "a bad address fails evpool_new: %s", evpool_errmsg());
	{
		char bad[420];

		snprintf(bad, sizeof(bad), "unix://alice:wrong@%s", rt_sock);
		evpool_config_set_remote(cfg, bad, "t");
		r = evpool_new(&pool, base, cfg);
		ok(r == -EACCES && strstr(evpool_errmsg(), "credentials"),
		   "a wrong password fails evpool_new: %s", evpool_errmsg());
		snprintf(bad, sizeof(bad), "unix://alice:alicepw@%s", rt_sock);
		evpool_config_set_remote(cfg, bad, "t");
		r = evpool_new(&pool, base, cfg);
		ok(r == 0, "the right ACL user and password connect");
		if (r == 0)
			evpool_free(pool);
	}
	evpool_config_free(cfg);

	pool = client(30000);
	{
		static unsigned char big[(16 << 20) + 1];
		struct evpool_job_spec spec = { .input = big,
						.input_len = sizeof(big),
						.done = on_done };

		memset(&R, 0, sizeof(R));
		is_int(-EMSGSIZE, evpool_submit_named(pool, "hash", &spec, NULL),
		       "an input over max_input is -EMSGSIZE at submit");
		spec.input_len = 8;
		spec.fn = (evpool_fn)(uintptr_t)on_done;
		is_int(-EINVAL, evpool_submit_job(pool, &spec, NULL),
		       "an unregistered function pointer is -EINVAL");
		is_int(0, (int)R.done, "...and neither calls back");
	}

	/* ---- cancel before any worker takes it: XDEL is the tombstone ---- */
	memset(&R, 0, sizeof(R));
	r = submit(pool, 0, 0, 0, &job);
	tap_sleep_ms(100);
	is_int(0, evpool_job_cancel(job), "cancel of a job in Redis succeeds");
	event_base_dispatch(base);
	ok(R.calls[0] == 1 && R.status[0] == -ECANCELED,
	   "...one callback, -ECANCELED");
	evpool_job_unref(job);
	tap_sleep_ms(50);
	is_int(0, redis_int("XLEN evpool:{t}:jobs"),
	       "...and its stream entry is gone");

	/* ---- results right over 2 workers ---- */
	wa = rt_worker_start(NULL, NULL);
	wb = rt_worker_start(NULL, NULL);
	rt_workers_wait(2);
	n = 3000;
	once = run(pool, n, 0, 0, NULL, 0);
	is_int(n, once, "%u jobs over 2 workers: each one callback", n);
	is_int(n, count_right(n), "...each with the right result");
	evpool_remote_get_stats(pool, &rs);
	/* (a loaded machine may redeliver a job held past the 400 ms
	 * visibility timeout: its second result is a counted duplicate) */
	ok(rs.results == n && rs.duplicates <= rs.redelivered,
	   "...stats: %llu results, %llu duplicates, %llu redelivered",
	   (unsigned long long)rs.results, (unsigned long long)rs.duplicates,
	   (unsigned long long)rs.redelivered);

	/* ---- a chain of jobs: each goes straight to the I/O thread ---- */
	{
		struct evpool *p2;
		struct evpool_job *lj;
		long sl0, sl;
		double t0;

		n = 400;
		run_chain(pool, 20);	/* the dispatcher is in its run */
		sl0 = thread_sleeps(false);
		t0 = tap_now_ms();
		once = run_chain(pool, n);
		sl = thread_sleeps(false) - sl0;
		ok(once == n && count_right(n) == n,
		   "a chain of %u jobs, each submitted from the last callback: each once and right",
		   n);
		/* (it lingers in 100 ms sleeps; valgrind runs one thread at a
		 * time, so there the count says nothing) */
		if (slow < 10)
			ok(sl0 >= 0 && sl < (long)n / 4 + (long)(tap_now_ms() - t0) / 50,
			   "...handed to the I/O thread by the submit: the dispatcher slept %ld times for %u jobs",
			   sl, n);
		else
			skip(1, "valgrind: threads take turns");

		/* polling for a lone job's result */
		cfg = evpool_config_new();
		ok(evpool_config_set_remote_poll(cfg, 10001) == -EINVAL &&
		   strstr(evpool_errmsg(), "10000") &&
		   evpool_config_set_remote_poll(cfg, 10000) == 0 &&
		   evpool_config_set_remote_poll(NULL, 0) == -EINVAL,
		   "evpool_config_set_remote_poll() takes 0..10000 us, else -EINVAL");
		evpool_config_set_remote(cfg, rt_url, "t");
		if (evpool_new(&p2, base, cfg) < 0)
			bail("poll pool: %s", evpool_errmsg());
		evpool_config_free(cfg);
		run_chain(p2, 20);
		sl0 = thread_sleeps(true);
		run_chain(pool, n);
		sl = thread_sleeps(true) - sl0;
		sl0 = thread_sleeps(true);
		once = run_chain(p2, n);
		sl0 = thread_sleeps(true) - sl0;
		ok(once == n && count_right(n) == n,
		   "with polling on, a chain of %u jobs: each once and right", n);
		/* (a sanitizer makes round trips slow and uneven: the poll,
		 * up to twice their moving average, ends before more of
		 * them; there it has to save a quarter of the sleeps) */
		if (slow < 10)
			ok(sl >= (long)n &&
			   sl0 < (slow > 1 ? sl * 3 / 4 : sl / 4),
			   "...the I/O threads slept %ld times for %u lone jobs (%ld without polling)",
			   sl0, n, sl);
		else
			skip(1, "valgrind: round trips over the 10 ms budget");
		evpool_free(p2);

		/* terminate finds a job that went straight to the I/O thread */
		p2 = client(30000);
		run_chain(p2, 5);
		memset(&R, 0, sizeof(R));
		if (submit(p2, 0, 3000, 0, &lj) < 0)
			bail("submit: %s", evpool_errmsg());
		tap_sleep_ms(100);
		t0 = tap_now_ms();
		evpool_terminate(p2);
		event_base_loop(base, EVLOOP_NONBLOCK);
		ok(R.calls[0] == 1 && R.status[0] == -ECANCELED &&
		   tap_now_ms() - t0 < 1000.0 * slow,
		   "...terminate cancels such a job at once: one callback, %s, %.0f ms",
		   evpool_strerror(R.status[0]), tap_now_ms() - t0);
		evpool_job_unref(lj);
		evpool_free(p2);
	}

	/* ---- the job id, an unknown name, a crashing job ---- */
	{
		struct evpool_job *j1, *j2, *j3;
		struct evpool_job_spec spec = { 0 };
		size_t len;
		const char *id;

		ok(evpool_submit_named(pool, "jobid", &spec, &j1) == 0 &&
		   evpool_submit_named(pool, "nosuch", &spec, &j2) == 0 &&
		   evpool_submit_named(pool, "crash", &spec, &j3) == 0,
		   "submits by name succeed");
		event_base_dispatch(base);
		id = evpool_job_result_bytes(j1, &len);
		ok(evpool_job_status(j1) == 0 && id && len > 1 && strchr(id, '.'),
		   "the job sees its id: %s", id ? id : "(none)");
		is_int(EVPOOL_ENOFUNC, evpool_job_status(j2),
		       "an unknown job name completes with EVPOOL_ENOFUNC");
		id = evpool_job_result_bytes(j2, &len);
		ok(id && strstr(id, "nosuch"), "...saying which: %s",
		   id ? id : "(none)");
		is_int(EVPOOL_ECRASHED, evpool_job_status(j3),
		       "a job that kills its worker process: EVPOOL_ECRASHED");
		evpool_job_unref(j1);
		evpool_job_unref(j2);
		evpool_job_unref(j3);
	}

	/* ---- kill -9 a worker mid-jobs: redelivered, exactly once ---- */
	n = 200;
	evpool_remote_get_stats(pool, &rs);
	{
		uint64_t redelivered0 = rs.redelivered;

		once = run(pool, n, 10, 0, kill_wa, 50);
		is_int(n, once, "kill -9 a worker: each of %u jobs one callback", n);
		is_int(n, count_right(n), "...each with the right result");
		evpool_remote_get_stats(pool, &rs);
		ok(rs.redelivered > redelivered0,
		   "...stats count %llu redelivered",
		   (unsigned long long)(rs.redelivered - redelivered0));
	}
	wa = rt_worker_start(NULL, NULL);
	rt_workers_wait(2);

	/* ---- Redis restart mid-run: nothing accepted is lost ---- */
	n = 400;
	once = run(pool, n, 2, 0, restart_redis, 100);
	is_int(n, once, "Redis killed and restarted: each of %u jobs one callback", n);
	is_int(n, count_right(n), "...each with the right result");
	evpool_remote_get_stats(pool, &rs);
	ok(rs.reconnects > 0, "...after %llu reconnects",
	   (unsigned long long)rs.reconnects);

	/* ---- timeout: -ETIMEDOUT at the deadline, late result dropped ---- */
	{
		double t0 = tap_now_ms();
		uint64_t dups;

		evpool_remote_get_stats(pool, &rs);
		dups = rs.duplicates;
		once = run(pool, 1, 800, 150, NULL, 0);
		ok(once == 1 && R.status[0] == -ETIMEDOUT,
		   "a job over its timeout completes -ETIMEDOUT once");
		ok(tap_now_ms() - t0 < 150 + 400 * slow,
		   "...at its deadline (%.0f ms)", tap_now_ms() - t0);
		for (int i = 0; i < 100; i++) {	/* up to 10 s */
			evpool_remote_get_stats(pool, &rs);
			if (rs.duplicates > dups)
				break;
			tap_sleep_ms(100);
		}
		evpool_remote_get_stats(pool, &rs);
		ok(rs.duplicates > dups, "...its late result is dropped as a duplicate");
	}

	/* ---- graceful SIGTERM: the running job is answered ---- */
	rt_worker_kill(wb);
	wb = 0;
	memset(&R, 0, sizeof(R));
	submit(pool, 0, 400, 0, &job);
	tap_sleep_ms(150);
	kill(wa, SIGTERM);
	event_base_dispatch(base);
	ok(R.calls[0] == 1 && R.status[0] == 0 && R.right[0],
	   "SIGTERM: the job a worker runs is finished and answered");
	waitpid(wa, &st, 0);
	wa = 0;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "...and the worker exits 0");
	evpool_job_unref(job);

	/* ---- every worker gone: jobs time out, none hangs ---- */
	{
		double t0 = tap_now_ms();

		n = 20;
		once = run(pool, n, 0, 400, NULL, 0);
		is_int(n, once, "no worker at all: each of %u jobs one callback", n);
		is_int(n, count_status(n, -ETIMEDOUT), "...-ETIMEDOUT");
		ok(tap_now_ms() - t0 < 2000.0 * slow, "...within %.0f ms",
		   tap_now_ms() - t0);
	}
	tap_sleep_ms(50);
	/* drop the entries of the timed-out jobs so they do not run later */
	is_int(0, redis_int("XLEN evpool:{t}:jobs"),
	       "timed-out jobs leave no entry behind");

	/* ---- a bounded queue behind a bounded window: -EAGAIN ---- */
	{
		struct evpool *bp = NULL;

		cfg = evpool_config_new();
		evpool_config_set_remote(cfg, rt_url, "t");
		evpool_config_set_remote_limits(cfg, 1024, 1);
		evpool_config_set_max_queued(cfg, 2);
		r = evpool_new(&bp, base, cfg);
		evpool_config_free(cfg);
		memset(&R, 0, sizeof(R));
		ok(r == 0 && submit(bp, 0, 0, 300, NULL) == 0,
		   "max_inflight 1: the first job goes to Redis");
		tap_sleep_ms(100);
		ok(submit(bp, 1, 0, 300, NULL) == 0 &&
		   submit(bp, 2, 0, 300, NULL) == 0,
		   "...two more wait in the queue (max_queued 2)");
		is_int(-EAGAIN, submit(bp, 3, 0, 300, NULL),
		       "...a fourth is -EAGAIN");
		event_base_dispatch(base);
		ok(R.calls[0] == 1 && R.calls[1] == 1 && R.calls[2] == 1 &&
		   R.calls[3] == 0 && count_status(3, -ETIMEDOUT) == 3,
		   "...no worker: the three accepted time out one after the other, once each");
		evpool_free(bp);
	}

	/* ---- a worker that polls (--poll-us) instead of sleeping ---- */
	{
		long s0, s_poll, s_sleep;
		pid_t wp;

		n = 300;
		wp = rt_worker_start("--poll-us", "10000");
		rt_workers_wait(1);
		run_chain(pool, 20);
		s0 = proc_sleeps(wp);
		once = run_chain(pool, n);
		s_poll = proc_sleeps(wp) - s0;
		ok(once == n && count_right(n) == n,
		   "a worker with --poll-us 10000: a chain of %u jobs, each once and right",
		   n);
		rt_worker_kill(wp);
		wp = rt_worker_start(NULL, NULL);
		rt_workers_wait(1);
		run_chain(pool, 20);
		s0 = proc_sleeps(wp);
		run_chain(pool, n);
		s_sleep = proc_sleeps(wp) - s0;
		rt_worker_kill(wp);
		if (slow < 10)
			ok(s0 >= 0 && s_sleep >= (long)n && s_poll < s_sleep / 4,
			   "...its loop slept %ld times for them (%ld without --poll-us)",
			   s_poll, s_sleep);
		else
			skip(1, "valgrind: gaps between jobs over the 10 ms budget");
	}

	/* ---- worker lost: delivered max_deliveries times, no answer ---- */
	{
		struct evpool_job *j;

		wa = rt_worker_start("--max-deliveries", "1");
		rt_workers_wait(1);
		memset(&R, 0, sizeof(R));
		submit(pool, 0, 5000, 0, &j);
		tap_sleep_ms(300);
		rt_worker_kill(wa);	/* it held the job */
		wa = 0;
		evpool_remote_get_stats(pool, &rs);
		wb = rt_worker_start("--max-deliveries", "1");
		event_base_dispatch(base);
		ok(R.calls[0] == 1 && R.status[0] == EVPOOL_ELOST,
		   "a job whose worker died max_deliveries times: EVPOOL_ELOST (%s)",
		   evpool_strerror(R.status[0]));
		{
			uint64_t lost0 = rs.lost;

			evpool_remote_get_stats(pool, &rs);
			is_int(1, (long long)(rs.lost - lost0), "...counted as lost");
		}
		evpool_job_unref(j);
	}

	/* ---- Redis gone for good: EVPOOL_EREDIS after the limit ---- */
	evpool_free(pool);
	pool = client(500);
	rt_redis_kill();
	{
		double t0 = tap_now_ms();

		once = run(pool, 5, 0, 0, NULL, 0);
		ok(once == 5 && count_status(5, EVPOOL_EREDIS) == 5,
		   "Redis gone past the reconnect limit: each job EVPOOL_EREDIS once");
		ok(tap_now_ms() - t0 < 3000.0 * slow, "...without hanging (%.0f ms)",
		   tap_now_ms() - t0);
	}
	rt_redis_start();
	tap_sleep_ms(2500);	/* the client's and the worker's backoff */
	once = run(pool, 5, 0, 0, NULL, 0);
	is_int(5, count_right(5), "Redis back: jobs run again");
	is_string("EVPOOL_ELOST", evpool_err_name(EVPOOL_ELOST), "EVPOOL_ELOST has a name");
	ok(strstr(evpool_strerror(EVPOOL_ENOFUNC), "registered") != NULL,
	   "EVPOOL_ENOFUNC is described");
	evpool_free(pool);
	is_int(-EINVAL, evpool_remote_get_stats(NULL, &rs),
	       "evpool_remote_get_stats(NULL) is -EINVAL");

	/* ---- the same registered functions by name, in thread mode ---- */
	{
		struct evpool *tp;
		struct evpool_job_spec spec = { 0 };

		is_int(0, evpool_jobs_register(),
		       "registering the same functions again is a no-op");
		is_int(-EEXIST, evpool_register_fn("hash", (evpool_fn)(uintptr_t)on_done),
		       "a name taken by another function is -EEXIST");
		evpool_new(&tp, base, NULL);
		memset(&R, 0, sizeof(R));
		submit(tp, 0, 0, 0, NULL);
		is_int(-ENOENT, evpool_submit_named(tp, "nosuch", &spec, NULL),
		       "thread mode: an unknown name is -ENOENT at submit");
		event_base_dispatch(base);
		ok(R.calls[0] == 1 && R.status[0] == 0 && R.right[0],
		   "thread mode runs a job submitted by name");
		evpool_free(tp);
	}

	event_base_free(base);
	rt_teardown();
	return 0;
}

/*
 * hostile.c — what a hostile but fair user does to a pool (issues 21 and
 * 15 item 7): a job whose forked child keeps the worker's descriptors, a
 * descriptor limit a few above what is in use, blocking calls from a job of
 * the same pool, a timed-out thread job under evpool_free(), a double
 * evpool_job_unref() (debug builds), a cancel storm on a process pool, and a
 * kill -9 of a process pool's fork server.
 */
#define _GNU_SOURCE
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"

#if defined(__SANITIZE_THREAD__)
/* Jobs here fork in worker processes of a multi-threaded host's fork. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

static struct event_base *base;
/* Pools are named after this test process ("h<pid>"), so that copies of
 * the test running side by side (make distcheck, CI) tell their processes
 * apart: P("/fs") is its fork servers' name. */
static char g_name[8];
static char g_pname[16];
static const char *P(const char *suffix)
{
	snprintf(g_pname, sizeof(g_pname), "%s%s", g_name, suffix);
	return g_pname;
}

/* ---- records ------------------------------------------------------------- */

struct rec {
	int status;
	int exit_status;
	int calls;		/* completion callbacks: must end at 1 */
	double at;		/* when the callback ran (tap_now_ms) */
	int32_t val;		/* first 4 result bytes */
	struct evpool_job *job;
};

static void rec_done(struct evpool_job *job, void *arg)
{
	struct rec *r = arg;
	size_t len;
	const void *b = evpool_job_result_bytes(job, &len);

	r->status = evpool_job_status(job);
	r->exit_status = evpool_job_exit_status(job);
	r->at = tap_now_ms();
	if (b && len >= sizeof(r->val))
		memcpy(&r->val, b, sizeof(r->val));
	r->calls++;
}

static int submit(struct evpool *pool, evpool_fn fn, const void *in,
		  size_t len, int timeout_ms, struct rec *r)
{
	struct evpool_job_spec spec;

	memset(&spec, 0, sizeof(spec));
	memset(r, 0, sizeof(*r));
	r->val = -1;
	spec.fn = fn;
	spec.input = in;
	spec.input_len = len;
	spec.done = rec_done;
	spec.done_arg = r;
	spec.timeout_ms = timeout_ms;
	return evpool_submit_job(pool, &spec, &r->job);
}

/* Run the loop until the @p n records are done or @p ms pass. */
static bool wait_recs(struct rec *r, int n, double ms)
{
	double end = tap_now_ms() + ms * tap_slowdown();

	for (int i = 0; i < n; i++)
		while (!r[i].calls) {
			struct timeval tv = { 0, 5000 };
			if (tap_now_ms() > end)
				return false;
			event_base_loopexit(base, &tv);
			event_base_loop(base, EVLOOP_ONCE);
		}
	return true;
}

static void rec_unref(struct rec *r, int n)
{
	for (int i = 0; i < n; i++) {
		evpool_job_unref(r[i].job);
		r[i].job = NULL;
	}
}

static struct evpool_config *cfg_new(enum evpool_mode mode, unsigned min,
				     unsigned max)
{
	struct evpool_config *cfg = evpool_config_new();

	if (!cfg || evpool_config_set_mode(cfg, mode) ||
	    evpool_config_set_workers(cfg, min, max) ||
	    evpool_config_set_name(cfg, g_name) ||
	    (mode == EVPOOL_MODE_PROCESS &&
	     evpool_config_set_worker_rlimit(cfg, RLIMIT_CORE, 0)))
		bail("config: %s", evpool_errmsg());
	return cfg;
}

static struct evpool *pool_new(struct evpool_config *cfg)
{
	struct evpool *pool;
	int rc = evpool_new(&pool, base, cfg);

	if (rc)
		bail("evpool_new: %s (%s)", evpool_strerror(rc), evpool_errmsg());
	evpool_config_free(cfg);
	return pool;
}

/* ---- processes ----------------------------------------------------------- */

static char proc_state(pid_t pid, pid_t *ppid, char *comm, size_t n)
{
	char path[64], buf[512], *p, *q;
	FILE *f;
	char st = 0;
	int pp = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) != NULL) {
		sscanf(p + 1, " %c %d", &st, &pp);
		q = strchr(buf, '(');
		if (comm && q) {
			size_t k = (size_t)(p - q - 1);
			if (k >= n)
				k = n - 1;
			memcpy(comm, q + 1, k);
			comm[k] = 0;
		}
	}
	fclose(f);
	if (ppid)
		*ppid = pp;
	return st;
}

static bool alive(pid_t pid)
{
	char st = proc_state(pid, NULL, NULL, 0);

	return st != 0 && st != 'Z' && st != 'X';
}

/* Live processes whose name starts with @p prefix (and, if @p parent is
 * not 0, whose parent it is); the first one's pid in *first. */
static int procs_named(const char *prefix, pid_t parent, pid_t *first)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		bail("opendir /proc");
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(de->d_name), pp;
		char comm[32] = "";
		char st;

		if (pid <= 0)
			continue;
		st = proc_state(pid, &pp, comm, sizeof(comm));
		if (!st || st == 'Z' || st == 'X' ||
		    strncmp(comm, prefix, strlen(prefix)) != 0 ||
		    (parent && pp != parent))
			continue;
		if (first && n == 0)
			*first = pid;
		n++;
	}
	closedir(d);
	return n;
}

/* ---- jobs ---------------------------------------------------------------- */

static int job_echo(struct evpool_ctx *ctx)
{
	size_t len;
	const void *in = evpool_ctx_input(ctx, &len);

	return evpool_ctx_set_result_bytes(ctx, in, len);
}

static int job_pid(struct evpool_ctx *ctx)
{
	int32_t p = (int32_t)getpid();

	return evpool_ctx_set_result_bytes(ctx, &p, sizeof(p));
}

static int job_segv(struct evpool_ctx *ctx)
{
	volatile uintptr_t a = 16;

	(void)ctx;
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGSEGV, SIG_DFL);
	*(volatile int *)a = 1;
	return 0;
}

/* Sleep for the input's milliseconds (int32). */
static int job_sleep(struct evpool_ctx *ctx)
{
	int32_t ms = 0;
	size_t len;
	const void *in = evpool_ctx_input(ctx, &len);

	if (len == sizeof(ms))
		memcpy(&ms, in, sizeof(ms));
	tap_sleep_ms(ms);
	return job_pid(ctx);
}

/* Fork a child that keeps every inherited descriptor and lives 4 s (input
 * byte 0 == 0) or until killed (1); return its pid.  What a job that shells
 * out, or starts a daemonised helper, does. */
static int job_fork_child(struct evpool_ctx *ctx)
{
	const unsigned char *in = evpool_ctx_input(ctx, NULL);
	int32_t pid = (int32_t)fork();

	if (pid == 0) {
		if (in && in[0] == 1)
			for (;;)
				pause();
		sleep(4);
		_exit(0);
	}
	return evpool_ctx_set_result_bytes(ctx, &pid, sizeof(pid));
}

/* ---- 1: a job's forked child must not hide the next crash --------------- */

static void test_grandchild(int forever)
{
	struct evpool *pool = pool_new(cfg_new(EVPOOL_MODE_PROCESS, 1, 1));
	unsigned char kind = (unsigned char)forever;
	struct rec r[4];
	double t0;
	int rc = 0;

	tap_watchdog(30, "the forked-child test");
	rc |= submit(pool, job_fork_child, &kind, 1, 0, &r[0]);
	if (rc || !wait_recs(r, 1, 5000))
		bail("job A did not run");
	t0 = tap_now_ms();
	rc |= submit(pool, job_segv, NULL, 0, 0, &r[1]);
	rc |= submit(pool, job_echo, "c", 1, 200, &r[2]);
	rc |= submit(pool, job_echo, "d", 1, 0, &r[3]);
	if (rc)
		bail("submit: %s", evpool_errmsg());
	wait_recs(r, 4, 3000);
	is_int(0, r[0].status, "%s: job A (forks a child that %s) succeeds",
	       forever ? "daemon" : "sleeper",
	       forever ? "lives until killed" : "sleeps 4 s");
	is_int(EVPOOL_ECRASHED, r[1].status,
	       "%s: job B's segfault is reported as EVPOOL_ECRASHED", forever ? "daemon" : "sleeper");
	ok(r[1].calls && r[1].at - t0 < 1500.0 * tap_slowdown(),
	   "%s: ... within the usual time (%.0f ms), not when A's child exits",
	   forever ? "daemon" : "sleeper", r[1].calls ? r[1].at - t0 : -1.0);
	ok(WIFSIGNALED(r[1].exit_status) && WTERMSIG(r[1].exit_status) == SIGSEGV,
	   "%s: ... with the worker's real wait status (0x%x)",
	   forever ? "daemon" : "sleeper", (unsigned)r[1].exit_status);
	ok(r[2].calls == 1 && r[2].status == 0 && r[3].calls == 1 &&
		   r[3].status == 0,
	   "%s: the jobs queued behind it run (%d, %d)",
	   forever ? "daemon" : "sleeper", r[2].status, r[3].status);
	if (r[0].val > 0)
		kill(r[0].val, SIGKILL);
	ok(r[0].calls == 1 && r[1].calls == 1 && r[2].calls == 1 &&
		   r[3].calls == 1,
	   "%s: exactly one callback for each job", forever ? "daemon" : "sleeper");
	rec_unref(r, 4);
	evpool_free(pool);
	tap_watchdog(0, NULL);
}

/* ---- 2: descriptors under an RLIMIT_NOFILE squeeze ----------------------- */

/* The open descriptors (a bitmap up to 1024) and the highest one. */
static int fd_list(unsigned char *set, size_t n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int hi = -1;

	if (!d)
		bail("opendir /proc/self/fd");
	memset(set, 0, n);
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
		    fd == dirfd(d) || fd >= (int)n)
			continue;
		set[fd] = 1;
		if (fd > hi)
			hi = fd;
	}
	closedir(d);
	return hi;
}

static void test_fd_squeeze(void)
{
	unsigned char before[1024], after[1024];
	struct rlimit old, squeeze;
	int hi = fd_list(before, sizeof(before));
	int leaked = 0, espawn = 0, owed = 0, made = 0;
	struct rec *r = calloc(50, sizeof(*r));

	if (!r)
		bail("out of memory");
	tap_watchdog(60, "the RLIMIT_NOFILE squeeze");
	if (getrlimit(RLIMIT_NOFILE, &old) < 0)
		sysbail("getrlimit");
	for (int extra = 1; extra <= 16; extra++) {
		struct evpool *pool = NULL;
		int nsub = 0;

		int lim = 0, room = 0;

		/* The limit caps descriptor numbers: leave @extra free ones
		 * below it (the lowest free numbers are used first). */
		while (room < extra)
			if (lim >= 1024 || !before[lim++])
				room++;
		squeeze = old;
		squeeze.rlim_cur = (rlim_t)lim;
		if (setrlimit(RLIMIT_NOFILE, &squeeze) < 0)
			sysbail("setrlimit");
		if (evpool_new(&pool, base,
			       (struct evpool_config *)0) == 0) {
			/* A thread pool first: the squeeze also covers its
			 * descriptors; then the process pool under test. */
			evpool_free(pool);
			pool = NULL;
		}
		{
			struct evpool_config *cfg =
				cfg_new(EVPOOL_MODE_PROCESS, 0, 2);
			if (evpool_new(&pool, base, cfg) < 0)
				pool = NULL;
			evpool_config_free(cfg);
		}
		if (pool) {
			int fill[64], nfill = 0;

			made++;
			/* Every other round, the pool gets no descriptor at all
			 * once made: not even for its worker threads' own. */
			while ((extra & 1) && nfill < 64 &&
			       (fill[nfill] = dup(0)) >= 0)
				nfill++;
			for (int i = 0; i < 50; i++)
				if (submit(pool, job_echo, "x", 1, 0, &r[nsub]) == 0)
					nsub++;
			wait_recs(r, nsub, 10000);
			while (nfill > 0)
				close(fill[--nfill]);
			for (int i = 0; i < nsub; i++) {
				if (r[i].calls != 1)
					owed++;
				if (r[i].status == EVPOOL_ESPAWN)
					espawn++;
			}
			rec_unref(r, nsub);
			evpool_free(pool);
		}
		if (setrlimit(RLIMIT_NOFILE, &old) < 0)
			sysbail("setrlimit");
		fd_list(after, sizeof(after));
		for (int fd = 0; fd < 1024; fd++)
			if (after[fd] && !before[fd]) {
				char path[64], link[256] = "";
				ssize_t k;

				snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
				k = readlink(path, link, sizeof(link) - 1);
				if (k > 0)
					link[k] = 0;
				diag("limit %d: fd %d left open: %s", lim,
				     fd, link);
				leaked++;
				close(fd);
				before[fd] = 0;
			}
	}
	ok(made > 0 && espawn > 0,
	   "the squeeze makes spawns fail (%d pools made, %d jobs EVPOOL_ESPAWN)",
	   made, espawn);
	is_int(0, owed, "every job submitted under the squeeze got exactly one callback");
	is_int(0, leaked, "descriptors are back to the baseline after evpool_free()");
	free(r);
	tap_watchdog(0, NULL);
}

/* ---- 3: blocking calls from a job of the same pool ----------------------- */

struct selfcall {
	struct evpool *pool;
	sem_t go;		/* the job's own handle is published */
	struct evpool_job *self;
	int free_msg_ok;
	int terminate, shutdown, join, wait_self, get_self, apply, map;
	int closed_after;	/* did the refused calls leave the pool open? */
};

static int job_noop(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static int job_selfcalls(struct evpool_ctx *ctx)
{
	struct selfcall *s = evpool_ctx_arg(ctx);
	struct evpool_result res;
	void *st;

	sem_wait(&s->go);
	evpool_free(s->pool);
	s->free_msg_ok = strstr(evpool_errmsg(), "evpool_free") != NULL &&
			 strstr(evpool_errmsg(), "job") != NULL;
	s->terminate = evpool_terminate(s->pool);
	s->shutdown = evpool_shutdown(s->pool, -1);
	s->wait_self = evpool_job_wait(s->self, -1);
	s->get_self = evpool_job_get(s->self, -1, &st);
	memset(&res, 0, sizeof(res));
	s->apply = evpool_apply(s->pool, job_noop, NULL, &res);
	evpool_result_release(&res);
	{
		struct evpool_item items[3];

		memset(items, 0, sizeof(items));
		s->map = evpool_map(s->pool, job_noop, items, 3, 1, NULL);
	}
	/* Still open: the refused calls did nothing. */
	s->closed_after = evpool_submit(s->pool, job_noop, NULL, NULL, NULL) != 0;
	evpool_close(s->pool);
	s->join = evpool_join(s->pool, -1);
	return 0;
}

static void test_selfcalls(void)
{
	struct evpool *pool = pool_new(cfg_new(EVPOOL_MODE_THREAD, 1, 1));
	struct selfcall s;
	struct rec r;
	int rc;

	memset(&s, 0, sizeof(s));
	s.pool = pool;
	sem_init(&s.go, 0, 0);
	tap_watchdog(20, "blocking calls from a job of the same pool");
	{
		struct evpool_job_spec spec;

		memset(&spec, 0, sizeof(spec));
		memset(&r, 0, sizeof(r));
		spec.fn = job_selfcalls;
		spec.arg = &s;
		spec.done = rec_done;
		spec.done_arg = &r;
		rc = evpool_submit_job(pool, &spec, &r.job);
	}
	if (rc)
		bail("submit: %s", evpool_errmsg());
	s.self = r.job;
	sem_post(&s.go);
	ok(wait_recs(&r, 1, 5000) && r.status == 0,
	   "a job that calls the pool's blocking calls returns (no deadlock)");
	ok(s.free_msg_ok, "evpool_free() from a job of the pool is refused, and evpool_errmsg() says why");
	is_int(-EDEADLK, s.terminate, "evpool_terminate() from a job of the pool: -EDEADLK");
	is_int(-EDEADLK, s.shutdown, "evpool_shutdown() from a job of the pool: -EDEADLK");
	is_int(-EDEADLK, s.wait_self, "evpool_job_wait() on its own job: -EDEADLK");
	is_int(-EDEADLK, s.get_self, "evpool_job_get() on its own job: -EDEADLK");
	is_int(-EDEADLK, s.apply, "evpool_apply() from the only worker it could run on: -EDEADLK");
	is_int(-EDEADLK, s.map, "evpool_map() likewise: -EDEADLK");
	ok(!s.closed_after, "the refused calls left the pool open");
	is_int(-EDEADLK, s.join, "evpool_join() from a job of the pool: -EDEADLK");
	evpool_job_unref(r.job);
	evpool_free(pool);
	sem_destroy(&s.go);
	tap_watchdog(0, NULL);
}

/* A job that waits for a job queued behind it, while the pool's other
 * worker runs a job that ends: not a deadlock. */
struct nested {
	struct evpool *pool;
	atomic_int rc;
};

static int job_sleep_ptr(struct evpool_ctx *ctx)
{
	(void)ctx;
	tap_sleep_ms(300);
	return 0;
}

static int job_nested(struct evpool_ctx *ctx)
{
	struct nested *n = evpool_ctx_arg(ctx);
	struct evpool_result res;

	tap_sleep_ms(50); /* the other worker has taken its sleeper */
	memset(&res, 0, sizeof(res));
	atomic_store(&n->rc, evpool_apply(n->pool, job_noop, NULL, &res));
	evpool_result_release(&res);
	return 0;
}

static void test_nested_wait(void)
{
	struct evpool *pool = pool_new(cfg_new(EVPOOL_MODE_THREAD, 2, 2));
	struct nested n = { pool, 1 };

	tap_watchdog(20, "a nested wait that can end");
	if (evpool_submit(pool, job_sleep_ptr, NULL, NULL, NULL) ||
	    evpool_submit(pool, job_nested, &n, NULL, NULL))
		bail("submit: %s", evpool_errmsg());
	tap_wait_until(atomic_load(&n.rc) != 1, 5000);
	is_int(0, atomic_load(&n.rc),
	       "evpool_apply() from a job, while the other worker runs a job that ends: it waits and succeeds");
	evpool_free(pool);
	tap_watchdog(0, NULL);
}

/* ---- 4a: a timed-out thread job keeps running --------------------------- */

static atomic_int late_done;

static int job_late(struct evpool_ctx *ctx)
{
	(void)ctx;
	tap_sleep_ms(900); /* ignores its cancelled flag */
	atomic_store(&late_done, 1);
	return 0;
}

static void test_timed_out_thread_job(void)
{
	struct evpool *pool = pool_new(cfg_new(EVPOOL_MODE_THREAD, 1, 1));
	struct rec r;
	double t0;
	int rc;

	tap_watchdog(20, "a timed-out thread job under evpool_free()");
	atomic_store(&late_done, 0);
	if (submit(pool, job_late, NULL, 0, 100, &r))
		bail("submit: %s", evpool_errmsg());
	wait_recs(&r, 1, 3000);
	is_int(-ETIMEDOUT, r.status, "the thread job times out (its callback comes)");
	t0 = tap_now_ms();
	rc = evpool_shutdown(pool, 200);
	is_int(-ETIMEDOUT, rc, "evpool_shutdown(pool, 200) returns -ETIMEDOUT");
	ok(tap_now_ms() - t0 < 600.0 * tap_slowdown() && !atomic_load(&late_done),
	   "... bounded (%.0f ms), while the job still runs", tap_now_ms() - t0);
	evpool_free(pool);
	ok(atomic_load(&late_done),
	   "evpool_free() waits for the running job to return, as documented");
	rec_unref(&r, 1);
	tap_watchdog(0, NULL);
}

/* ---- 4b: evpool_job_unref() twice (debug builds) ------------------------ */

static void test_double_unref(void)
{
#if defined(EVPOOL_DEBUG) || defined(EVPOOL_FAULT_INJECTION)
	int p[2], status = 0;
	char buf[1024] = "";
	ssize_t n, got = 0;
	pid_t pid;

	tap_watchdog(20, "a double evpool_job_unref()");
	fflush(NULL);
	if (pipe(p) < 0)
		sysbail("pipe");
	pid = fork();
	if (pid < 0)
		sysbail("fork");
	if (pid == 0) {
		struct evpool *pool;
		struct rec r;

		dup2(p[1], 2);
		close(p[0]);
		signal(SIGABRT, SIG_DFL);
		prctl(PR_SET_DUMPABLE, 0);
		if (evpool_new(&pool, base, NULL) || submit(pool, job_noop, NULL, 0, 0, &r))
			_exit(3);
		wait_recs(&r, 1, 5000);
		evpool_job_unref(r.job);
		evpool_job_unref(r.job); /* the caller bug */
		/* The library may still have held a reference of its own (its
		 * delivery): then its own unref is the one that finds none. */
		evpool_free(pool);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	   "debug build: a second evpool_job_unref() of a handle aborts (status 0x%x)",
	   (unsigned)status);
	ok(strstr(buf, "evpool_job_unref") != NULL,
	   "... with a message that names the call (%.80s)", buf);
	tap_watchdog(0, NULL);
#else
	skip(2, "evpool_job_unref() checks run in --enable-debug and fault-injection builds only");
#endif
}

/* ---- 4c: cancel storm on a process pool --------------------------------- */

static void test_cancel_storm(void)
{
	struct evpool *pool = pool_new(cfg_new(EVPOOL_MODE_PROCESS, 2, 2));
	enum { N = 64 };
	struct rec r[N];
	long calls = 0, busy = 0, bad = 0;
	double end;

	tap_watchdog(60, "the cancel storm");
	end = tap_now_ms() + 1500;
	while (tap_now_ms() < end) {
		for (int i = 0; i < N; i++)
			if (submit(pool, job_echo, "s", 1, 0, &r[i]))
				bail("submit: %s", evpool_errmsg());
		/* Cancel each, then each again, while they run and finish. */
		for (int pass = 0; pass < 3; pass++)
			for (int i = (pass * 7) % N, k = 0; k < N; k++, i = (i + 1) % N) {
				int rc = evpool_job_cancel(r[i].job);

				calls++;
				if (rc == -EBUSY)
					busy++;
				else if (rc != 0 && rc != -EALREADY)
					bad++;
				if ((k & 7) == 0)
					event_base_loop(base, EVLOOP_NONBLOCK);
			}
		if (!wait_recs(r, N, 5000))
			bail("cancel storm: a job never completed");
		for (int i = 0; i < N; i++)
			if (r[i].calls != 1)
				bad++;
		rec_unref(r, N);
	}
	is_int(0, busy, "process pool: evpool_job_cancel() never returns -EBUSY (%ld calls)", calls);
	is_int(0, bad, "... only 0 or -EALREADY, and one callback per job");
	evpool_free(pool);
	tap_watchdog(0, NULL);
}

/* ---- 5: the fork server dies --------------------------------------------- */

static void init_slow(void *arg)
{
	(void)arg;
	tap_sleep_ms(400);
}

/* The fork server of the only process pool alive: the live process named
 * "h<pid>/fs" (the host's child at first, a replacement is init's) that is not
 * the child of another (a standby just forked has its maker's name for a
 * moment, longer on a loaded machine). */
static pid_t fork_server(void)
{
	pid_t pid = 0, mine = 0;

	if (procs_named(P("/fs"), getpid(), &mine) == 1)
		return mine;
	tap_wait_until(procs_named(P("/fs"), 0, NULL) == 1, 3000);
	if (procs_named(P("/fs"), 0, &pid) != 1)
		return 0;
	return pid;
}

static void test_forkserver_kill(void)
{
	struct evpool *pool = pool_new(cfg_new(EVPOOL_MODE_PROCESS, 2, 2));
	struct evpool_stats st;
	int32_t ms = 5000;
	struct rec warm[2], lng, after[6];
	pid_t fs, fs2, wpid;
	double worst = 0;
	bool all_ok = true;

	tap_watchdog(60, "the fork server's death");
	for (int i = 0; i < 2; i++)
		if (submit(pool, job_pid, NULL, 0, 0, &warm[i]))
			bail("submit: %s", evpool_errmsg());
	wait_recs(warm, 2, 5000);
	fs = fork_server();
	procs_named(P("/p"), 0, &wpid);
	if (!ok(fs > 0, "the process pool has one fork server (%d)", (int)fs))
		bail("no fork server to kill");
	if (submit(pool, job_sleep, &ms, sizeof(ms), 0, &lng))
		bail("submit: %s", evpool_errmsg());
	tap_sleep_ms(100);
	kill(fs, SIGKILL);
	wait_recs(&lng, 1, 3000);
	is_int(EVPOOL_ECRASHED, lng.status,
	       "the job running on one of its workers ends EVPOOL_ECRASHED");
	/* Its workers die with it; the crashed job's worker is replaced at
	 * once (by a new fork server), the idle one when a job comes. */
	tap_wait_until(!alive(wpid), 3000);
	{
		int live = 0;

		/* Until the crashed job's worker has its new process (busy
		 * meanwhile, and named after the fork server for a moment). */
		tap_wait_until((evpool_get_stats(pool, &st),
				live = procs_named(P("/p"), 0, NULL),
				st.busy_workers == 0 &&
					st.idle_workers == (unsigned)live),
			       3000);
		ok(st.idle_workers == (unsigned)live && st.workers == (unsigned)live &&
			   live < 2,
		   "stats count only the workers that have a process (%u workers, %u idle, %d processes)",
		   st.workers, st.idle_workers, live);
	}
	for (int i = 0; i < 6; i++) {
		double t0 = tap_now_ms();

		if (submit(pool, job_pid, NULL, 0, 0, &after[i]))
			bail("submit: %s", evpool_errmsg());
		wait_recs(&after[i], 1, 3000);
		if (after[i].status != 0 || after[i].calls != 1)
			all_ok = false;
		if (after[i].at - t0 > worst)
			worst = after[i].at - t0;
	}
	ok(all_ok, "later jobs succeed");
	ok(worst < 1000.0 * tap_slowdown(), "... each within a second (worst %.0f ms)", worst);
	fs2 = fork_server();
	ok(fs2 > 0 && fs2 != fs, "a new fork server runs (%d)", (int)fs2);
	evpool_get_stats(pool, &st);
	is_int(1, (long long)st.forkserver_restarts, "stats count one fork server restart");
	tap_wait_until((evpool_get_stats(pool, &st), st.busy_workers == 0 &&
			st.idle_workers == (unsigned)procs_named(P("/p"), 0, NULL)),
		       2000);
	is_int(procs_named(P("/p"), 0, NULL), st.idle_workers,
	       "idle workers in the stats are the live worker processes");
	ok(lng.calls == 1 && warm[0].calls == 1 && warm[1].calls == 1,
	   "exactly one callback for each job");
	rec_unref(warm, 2);
	rec_unref(&lng, 1);
	rec_unref(after, 6);

	/* A worker still starting (its initializer runs) when the new fork
	 * server dies in turn: its job runs on a worker of the next one. */
	evpool_free(pool);
	{
		struct evpool_config *cfg = cfg_new(EVPOOL_MODE_PROCESS, 0, 1);
		struct rec r;
		double t0;

		evpool_config_set_initializer(cfg, init_slow, NULL, NULL);
		pool = pool_new(cfg);
		fs = fork_server();
		if (fs <= 0)
			bail("no fork server to kill");
		t0 = tap_now_ms();
		if (submit(pool, job_pid, NULL, 0, 0, &r))
			bail("submit: %s", evpool_errmsg());
		tap_wait_until(procs_named(P("/p"), 0, NULL) == 1, 2000);
		tap_sleep_ms(50);
		kill(fs, SIGKILL);
		wait_recs(&r, 1, 5000);
		is_int(0, r.status,
		       "a job whose worker was starting when the fork server died runs on a new one");
		ok(r.calls == 1 && r.at - t0 < 2000.0 * tap_slowdown(),
		   "... once, in time (%.0f ms)", r.at - t0);
		evpool_get_stats(pool, &st);
		is_int(1, (long long)st.forkserver_restarts, "... and the restart is counted");
		rec_unref(&r, 1);
		evpool_free(pool);
	}
	/* All idle, nobody asks for stats: the next jobs find the dead
	 * workers themselves, and run, none charged with a crash. */
	{
		struct rec r[4];
		double t0;
		bool good = true;

		pool = pool_new(cfg_new(EVPOOL_MODE_PROCESS, 2, 2));
		for (int i = 0; i < 2; i++)
			if (submit(pool, job_pid, NULL, 0, 0, &r[i]))
				bail("submit: %s", evpool_errmsg());
		wait_recs(r, 2, 5000);
		rec_unref(r, 2);
		fs = fork_server();
		if (fs <= 0)
			bail("no fork server to kill");
		procs_named(P("/p"), 0, &wpid);
		kill(fs, SIGKILL);
		tap_wait_until(!alive(wpid), 3000);
		t0 = tap_now_ms();
		for (int i = 0; i < 4; i++)
			if (submit(pool, job_pid, NULL, 0, 0, &r[i]))
				bail("submit: %s", evpool_errmsg());
		wait_recs(r, 4, 3000);
		for (int i = 0; i < 4; i++)
			good = good && r[i].calls == 1 && r[i].status == 0 &&
			       r[i].at - t0 < 1000.0 * tap_slowdown();
		ok(good, "an idle pool whose fork server died runs its next jobs at once, none failed (%d %d %d %d)",
		   r[0].status, r[1].status, r[2].status, r[3].status);
		evpool_get_stats(pool, &st);
		ok(st.crashed == 0 && st.forkserver_restarts == 1,
		   "... nothing counted as crashed, one restart (%llu, %llu)",
		   (unsigned long long)st.crashed,
		   (unsigned long long)st.forkserver_restarts);
		rec_unref(r, 4);
		evpool_free(pool);
	}
	/* A replacement server is init's child: it may still be exiting. */
	ok(tap_wait_until(procs_named(P("/"), 0, NULL) == 0, 2000),
	   "after evpool_free() no fork server, standby or worker is left");
	tap_watchdog(0, NULL);
}

int main(void)
{
	snprintf(g_name, sizeof(g_name), "h%d", (int)(getpid() % 100000));
	evthread_use_pthreads();
	base = event_base_new();
	if (!base)
		bail("event_base_new");
	plan(6 + 6 + 3 + 10 + 1 + 4 + 2 + 2 + 15);
	test_grandchild(0);
	test_grandchild(1);
	test_fd_squeeze();
	test_selfcalls();
	test_nested_wait();
	test_timed_out_thread_job();
	test_double_unref();
	test_cancel_storm();
	test_forkserver_kill();
	event_base_free(base);
	return 0;
}

/*
 * proc.c — process mode (issue 4): jobs run in worker processes forked by
 * the pool's fork server; a worker that crashes, hangs or is cancelled fails
 * only its own job and is replaced; workers recycle after N jobs, take
 * resource limits, die with their host, survive a host fork(), move 64 MiB
 * each way, stream partial results, honour priorities and a bounded queue,
 * and leave no zombie behind.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"

#if defined(__SANITIZE_THREAD__)
/* The host-fork test makes a pool (threads) in the child of a multi-threaded
 * process, which is what that test is about. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#endif

static struct event_base *base;

/* ---- jobs (they run in worker processes) --------------------------------- */

static int32_t g_init_pid;		/* set by the initializer, in a worker */
static char g_fini_path[256];		/* the finalizer appends its pid here */

static void worker_init(void *arg)
{
	(void)arg;
	g_init_pid = (int32_t)getpid();
}

static void worker_fini(void *arg)
{
	char line[32];
	int fd, n;

	(void)arg;
	if (!g_fini_path[0])
		return;
	fd = open(g_fini_path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

static void init_exit(void *arg)
{
	(void)arg;
	_exit(5);
}

static int job_pid(struct evpool_ctx *ctx)
{
	int32_t p[2] = { (int32_t)getpid(), g_init_pid };

	return evpool_ctx_set_result_bytes(ctx, p, sizeof(p));
}

static int job_echo(struct evpool_ctx *ctx)
{
	size_t len;
	const void *in = evpool_ctx_input(ctx, &len);

	return evpool_ctx_set_result_bytes(ctx, in, len);
}

/* Checks what a job sees in a worker; 0 if all is as documented. */
static int job_view(struct evpool_ctx *ctx)
{
	static int x;
	size_t len;
	const void *in = evpool_ctx_input(ctx, &len);

	if (evpool_ctx_arg(ctx) != NULL)
		return 1;
	if (evpool_ctx_pool(ctx) != NULL)
		return 2;
	if (evpool_ctx_cancelled(ctx) != 0)
		return 3;
	if (evpool_ctx_set_result(ctx, &x) != -EINVAL)
		return 4;
	if (len && ((uintptr_t)in % 16) != 0)
		return 5;
	return 0;
}

static int job_fail(struct evpool_ctx *ctx)
{
	(void)ctx;
	return -ENOENT;
}

static void no_core(void)
{
	prctl(PR_SET_DUMPABLE, 0);
}

static int job_segv(struct evpool_ctx *ctx)
{
	/* Not NULL: UBSan would report that and abort(); page 0 is never
	 * mapped, so this is a plain SIGSEGV in every build. */
	volatile uintptr_t a = 16;

	(void)ctx;
	no_core();
	signal(SIGSEGV, SIG_DFL); /* a sanitizer's handler would exit(1) */
	*(volatile int *)a = 1;
	return 0;
}

static int job_abort(struct evpool_ctx *ctx)
{
	(void)ctx;
	no_core();
	signal(SIGABRT, SIG_DFL);
	abort();
}

static int job_exit3(struct evpool_ctx *ctx)
{
	(void)ctx;
	_exit(3);
}

/* Crash by kind: input byte 0 = 0 segv, 1 abort, 2 _exit(3). */
static int job_crash(struct evpool_ctx *ctx)
{
	const unsigned char *in = evpool_ctx_input(ctx, NULL);

	switch (in ? in[0] : 0) {
	case 1:
		return job_abort(ctx);
	case 2:
		return job_exit3(ctx);
	default:
		return job_segv(ctx);
	}
}

/* Sleep for the input's milliseconds (int32), then return the pid. */
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

/* Tell the loop our pid (an emission), then hang. */
static int job_emit_pid_hang(struct evpool_ctx *ctx)
{
	int32_t pid = (int32_t)getpid();

	evpool_ctx_emit(ctx, &pid, sizeof(pid));
	for (;;)
		pause();
}

/* Emit "chunk <i>" for i < input (int32), one big emission if the input
 * has a second int32 (its size), then the result "done". */
static int job_stream(struct evpool_ctx *ctx)
{
	int32_t arg[2] = { 0, 0 };
	size_t len;
	const void *in = evpool_ctx_input(ctx, &len);
	char buf[32];

	memcpy(arg, in, len < sizeof(arg) ? len : sizeof(arg));
	for (int i = 0; i < arg[0]; i++) {
		int n = snprintf(buf, sizeof(buf), "chunk %d", i);
		if (evpool_ctx_emit(ctx, buf, (size_t)n) != 0)
			return -EIO;
	}
	if (arg[1] > 0) {
		unsigned char *p = malloc((size_t)arg[1]);
		int rc;

		if (!p)
			return -ENOMEM;
		for (int32_t k = 0; k < arg[1]; k++)
			p[k] = (unsigned char)(k * 13 + 1);
		rc = evpool_ctx_emit(ctx, p, (size_t)arg[1]);
		free(p);
		if (rc)
			return -EIO;
	}
	return evpool_ctx_set_result_bytes(ctx, "done", 4);
}

/* Stream "chunk <i>" for ever. */
static int job_stream_forever(struct evpool_ctx *ctx)
{
	char buf[32];

	for (int i = 0;; i++) {
		int n = snprintf(buf, sizeof(buf), "chunk %d", i);
		if (evpool_ctx_emit(ctx, buf, (size_t)n) != 0)
			return -EIO;
	}
}

/* 64 MiB: check the input's pattern, answer with every byte + 1. */
static int job_big(struct evpool_ctx *ctx)
{
	size_t len;
	const unsigned char *in = evpool_ctx_input(ctx, &len);
	unsigned char *out;
	int rc;

	for (size_t i = 0; i < len; i++)
		if (in[i] != (unsigned char)(i * 31 + (i >> 20)))
			return -EBADMSG;
	out = malloc(len);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(in[i] + 1);
	rc = evpool_ctx_set_result_bytes(ctx, out, len);
	free(out);
	return rc;
}

struct limits {
	uint64_t nofile_cur, nofile_max, core_cur, cpu_cur, cpu_max, as_cur;
};

static int job_limits(struct evpool_ctx *ctx)
{
	struct limits l;
	struct rlimit r;

	getrlimit(RLIMIT_NOFILE, &r);
	l.nofile_cur = r.rlim_cur;
	l.nofile_max = r.rlim_max;
	getrlimit(RLIMIT_CORE, &r);
	l.core_cur = r.rlim_cur;
	getrlimit(RLIMIT_CPU, &r);
	l.cpu_cur = r.rlim_cur;
	l.cpu_max = r.rlim_max;
	getrlimit(RLIMIT_AS, &r);
	l.as_cur = r.rlim_cur;
	return evpool_ctx_set_result_bytes(ctx, &l, sizeof(l));
}

static int job_spin(struct evpool_ctx *ctx)
{
	volatile unsigned long n = 0;

	(void)ctx;
	no_core();
	for (;;)
		n++;
}

/* Write garbage on our own frame socket, as a buggy job might. */
static int job_scribble(struct evpool_ctx *ctx)
{
	static const char junk[64] = "this is not a frame, this is junk!";

	(void)ctx;
	for (int fd = 3; fd < 1024; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
			if (write(fd, junk, sizeof(junk)) < 0)
				return -errno;
			break;
		}
	}
	for (;;)
		pause();
}

/* ---- the loop side ------------------------------------------------------- */

struct rec {
	int done;
	int status;
	int exit_status;
	int order;		/* completion sequence number */
	unsigned char *bytes;
	size_t len;
	/* emissions */
	int nemit;
	int emit_bad;		/* out of order or bad data */
	int emit_after_done;
	size_t big_len;
	int big_bad;
	int32_t emit_pid;
	bool kill_on_emit;
	bool cancel_on_emit;
	bool slow_emit;		/* a slow consumer: 5 ms per emission */
	int cancel_rc;
	struct evpool_job *job;
};

static int done_seq;

static void rec_done(struct evpool_job *job, void *arg)
{
	struct rec *r = arg;
	const void *b;
	size_t len;

	r->status = evpool_job_status(job);
	r->exit_status = evpool_job_exit_status(job);
	b = evpool_job_result_bytes(job, &len);
	free(r->bytes);
	r->bytes = NULL;
	r->len = len;
	if (len) {
		r->bytes = malloc(len);
		if (!r->bytes)
			bail("out of memory");
		memcpy(r->bytes, b, len);
	}
	r->order = ++done_seq;
	r->done = 1;
}

static void rec_emit(struct evpool_job *job, const void *data, size_t len,
		     void *arg)
{
	struct rec *r = arg;
	char want[32];
	int n;

	if (r->done)
		r->emit_after_done++;
	if (r->slow_emit)
		tap_sleep_ms(5);
	if (r->kill_on_emit || r->cancel_on_emit) {
		if (len == sizeof(int32_t))
			memcpy(&r->emit_pid, data, sizeof(int32_t));
		if (r->kill_on_emit)
			kill(r->emit_pid, SIGKILL);
		else
			r->cancel_rc = evpool_job_cancel(job);
		return;
	}
	if (len > 1000) {
		const unsigned char *p = data;
		r->big_len = len;
		for (size_t k = 0; k < len; k++)
			if (p[k] != (unsigned char)(k * 13 + 1)) {
				r->big_bad++;
				break;
			}
		return;
	}
	n = snprintf(want, sizeof(want), "chunk %d", r->nemit);
	if ((size_t)n != len || memcmp(want, data, len) != 0)
		r->emit_bad++;
	r->nemit++;
}

static int submit(struct evpool *pool, evpool_fn fn, const void *in,
		  size_t len, int timeout_ms, int prio, struct rec *r)
{
	struct evpool_job_spec spec;

	memset(&spec, 0, sizeof(spec));
	memset(r, 0, sizeof(*r));
	spec.fn = fn;
	spec.input = in;
	spec.input_len = len;
	spec.done = rec_done;
	spec.emit = rec_emit;
	spec.done_arg = r;
	spec.timeout_ms = timeout_ms;
	spec.priority = prio;
	return evpool_submit_job(pool, &spec, &r->job);
}

/* Run the loop until every one of @p n records is done. */
static void wait_recs(struct rec *r, int n)
{
	for (int i = 0; i < n; i++)
		while (!r[i].done)
			if (event_base_loop(base, EVLOOP_ONCE) < 0)
				bail("event_base_loop failed");
}

static void rec_free(struct rec *r)
{
	free(r->bytes);
	r->bytes = NULL;
	evpool_job_unref(r->job);
	r->job = NULL;
}

/* Submit and wait; the record keeps the outcome. */
static void run1(struct evpool *pool, evpool_fn fn, const void *in, size_t len,
		 int timeout_ms, struct rec *r)
{
	int rc = submit(pool, fn, in, len, timeout_ms, 0, r);

	if (rc)
		bail("submit: %s (%s)", evpool_strerror(rc), evpool_errmsg());
	wait_recs(r, 1);
}

static int32_t rec_pid(const struct rec *r)
{
	int32_t p = -1;

	if (r->len >= sizeof(p))
		memcpy(&p, r->bytes, sizeof(p));
	return p;
}

/* Stats once every finished job is counted: a job's counter may move just
 * after its completion callback ran. */
static void settled_stats(struct evpool *pool, struct evpool_stats *st)
{
	tap_wait_until((evpool_get_stats(pool, st),
			st->completed + st->failed + st->cancelled +
					st->timed_out + st->crashed ==
				st->submitted),
		       2000);
}

static struct evpool_config *proc_cfg(unsigned min, unsigned max)
{
	struct evpool_config *cfg = evpool_config_new();

	if (!cfg || evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS) ||
	    evpool_config_set_workers(cfg, min, max) ||
	    evpool_config_set_worker_rlimit(cfg, RLIMIT_CORE, 0))
		bail("config: %s", evpool_errmsg());
	return cfg;
}

static struct evpool *new_pool(struct evpool_config *cfg)
{
	struct evpool *pool;
	int rc = evpool_new(&pool, base, cfg);

	if (rc)
		bail("evpool_new: %s (%s)", evpool_strerror(rc), evpool_errmsg());
	evpool_config_free(cfg);
	return pool;
}

/* ---- processes ----------------------------------------------------------- */

/* State letter and parent of @p pid from /proc; 0 if it does not exist. */
static char proc_state(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512], *p;
	FILE *f;
	char st = 0;
	int pp = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 1, " %c %d", &st, &pp);
	fclose(f);
	if (ppid)
		*ppid = pp;
	return st;
}

/* Alive: exists and is not a zombie (a dead process waiting for init). */
static bool alive(pid_t pid)
{
	char st = proc_state(pid, NULL);

	return st != 0 && st != 'Z' && st != 'X';
}

/* SIGSTOP a worker and wait until it is stopped. */
static void stop_worker(pid_t p)
{
	kill(p, SIGSTOP);
	if (!tap_wait_until(proc_state(p, NULL) == 'T', 2000))
		bail("worker %d did not stop", (int)p);
}

/* The children of @p parent; *zombies counts those that are zombies. */
static int children_of(pid_t parent, pid_t *out, int max, int *zombies)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (zombies)
		*zombies = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(de->d_name), pp;
		char st;

		if (pid <= 0)
			continue;
		st = proc_state(pid, &pp);
		if (!st || pp != parent)
			continue;
		if (n < max)
			out[n] = pid;
		n++;
		if (zombies && st == 'Z')
			(*zombies)++;
	}
	closedir(d);
	return n;
}

/* ---- the tests ----------------------------------------------------------- */

static void test_config(void)
{
	struct evpool_config *cfg = evpool_config_new();

	is_int(-EINVAL, evpool_config_set_max_jobs_per_worker(NULL, 3),
	       "set_max_jobs_per_worker(NULL) is -EINVAL");
	is_int(-EINVAL, evpool_config_set_worker_rlimit(cfg, -1, 1),
	       "set_worker_rlimit refuses an unknown resource");
	ok(strstr(evpool_errmsg(), "resource") != NULL,
	   "... and says why (%s)", evpool_errmsg());
	is_int(0, evpool_config_set_worker_rlimit(cfg, RLIMIT_NOFILE, 64),
	       "set_worker_rlimit(RLIMIT_NOFILE, 64) is accepted");
	evpool_config_free(cfg);
}

static void test_basics(void)
{
	struct evpool *pool = new_pool(proc_cfg(0, 2));
	struct evpool_job_spec spec;
	struct rec r;
	int x = 1, rc;
	char odd[37];
	struct sigaction sa;

	run1(pool, job_echo, "hello, worker", 13, 0, &r);
	ok(r.status == 0 && r.len == 13 && memcmp(r.bytes, "hello, worker", 13) == 0,
	   "bytes go to a worker process and back (status %d)", r.status);
	rec_free(&r);

	{
		/* Around the size kept inside the job (48 bytes, no malloc
		 * of its own): copied at submit, intact, however the
		 * caller's buffer changes afterwards. */
		static const size_t lens[] = { 1, 47, 48, 49, 200 };
		enum { NL = sizeof(lens) / sizeof(lens[0]) };
		unsigned char in[NL][200];
		struct rec rs[NL];
		int bad = 0;

		for (int i = 0; i < NL; i++) {
			for (size_t k = 0; k < lens[i]; k++)
				in[i][k] = (unsigned char)(i * 31 + k + 1);
			if (submit(pool, job_echo, in[i], lens[i], 0, 0, &rs[i]))
				bail("submit: %s", evpool_errmsg());
		}
		memset(in, 0, sizeof(in));
		wait_recs(rs, NL);
		for (int i = 0; i < NL; i++) {
			bad += rs[i].status != 0 || rs[i].len != lens[i];
			for (size_t k = 0; k < rs[i].len && k < lens[i]; k++)
				bad += rs[i].bytes[k] != (unsigned char)(i * 31 + k + 1);
			rec_free(&rs[i]);
		}
		is_int(0, bad, "inputs of 1, 47, 48, 49, 200 bytes are copied at "
		       "submit and echoed intact");
	}

	run1(pool, job_pid, NULL, 0, 0, &r);
	ok(r.status == 0 && rec_pid(&r) > 0 && rec_pid(&r) != getpid(),
	   "a job without input runs in another process (pid %d)", rec_pid(&r));
	rec_free(&r);

	memset(odd, 'x', sizeof(odd));
	run1(pool, job_view, odd, sizeof(odd), 0, &r);
	is_int(0, r.status, "in a worker: no arg, no pool, not cancelled, "
	       "set_result refused, input aligned");
	rec_free(&r);

	run1(pool, job_fail, NULL, 0, 0, &r);
	is_int(-ENOENT, r.status, "a job's own error comes back as its status");
	is_int(-1, r.exit_status, "... with no exit status (not a crash)");
	rec_free(&r);

	memset(&spec, 0, sizeof(spec));
	spec.fn = job_echo;
	spec.arg = &x;
	rc = evpool_submit_job(pool, &spec, NULL);
	is_int(-EINVAL, rc, "pointer input to a process pool is refused with -EINVAL");
	ok(strstr(evpool_errmsg(), "pointer") && strstr(evpool_errmsg(), "byte"),
	   "... with a message that says why (%s)", evpool_errmsg());
	is_int(-EINVAL, evpool_submit(pool, job_echo, &x, NULL, NULL),
	       "evpool_submit() on a process pool is refused the same way");

	/* A "function" that is no code of the program. */
	{
		void *heap = malloc(64);
		evpool_fn bogus;

		memcpy(&bogus, &heap, sizeof(bogus));
		run1(pool, bogus, NULL, 0, 0, &r);
		is_int(-EFAULT, r.status,
		       "a function the workers do not have fails with -EFAULT, unrun");
		rec_free(&r);
		free(heap);
	}

	sigaction(SIGCHLD, NULL, &sa);
	ok(sa.sa_handler == SIG_DFL, "the host's SIGCHLD disposition is untouched");
	evpool_free(pool);
}

static void test_crashes(void)
{
	struct evpool *pool = new_pool(proc_cfg(0, 2));
	struct evpool_stats st;
	struct rec slow, r;
	int32_t ms = 400;
	int32_t pid_before;

	run1(pool, job_pid, NULL, 0, 0, &r);
	pid_before = rec_pid(&r);
	rec_free(&r);

	/* A long job runs beside each crash: it must not notice. */
	submit(pool, job_sleep, &ms, sizeof(ms), 0, 0, &slow);

	run1(pool, job_segv, NULL, 0, 0, &r);
	is_int(EVPOOL_ECRASHED, r.status, "SIGSEGV fails its job with EVPOOL_ECRASHED");
	ok(WIFSIGNALED(r.exit_status) && WTERMSIG(r.exit_status) == SIGSEGV,
	   "... and the exit status says SIGSEGV (0x%x)", (unsigned)r.exit_status);
	rec_free(&r);

	run1(pool, job_abort, NULL, 0, 0, &r);
	is_int(EVPOOL_ECRASHED, r.status, "abort() fails its job with EVPOOL_ECRASHED");
	ok(WIFSIGNALED(r.exit_status) && WTERMSIG(r.exit_status) == SIGABRT,
	   "... and the exit status says SIGABRT (0x%x)", (unsigned)r.exit_status);
	rec_free(&r);

	run1(pool, job_exit3, NULL, 0, 0, &r);
	is_int(EVPOOL_ECRASHED, r.status, "_exit(3) fails its job with EVPOOL_ECRASHED");
	ok(WIFEXITED(r.exit_status) && WEXITSTATUS(r.exit_status) == 3,
	   "... and the exit status says exit 3 (0x%x)", (unsigned)r.exit_status);
	rec_free(&r);

	submit(pool, job_emit_pid_hang, NULL, 0, 0, 0, &r);
	r.kill_on_emit = true;
	wait_recs(&r, 1);
	is_int(EVPOOL_ECRASHED, r.status,
	       "SIGKILL from outside fails its job with EVPOOL_ECRASHED");
	ok(WIFSIGNALED(r.exit_status) && WTERMSIG(r.exit_status) == SIGKILL,
	   "... and the exit status says SIGKILL (0x%x)", (unsigned)r.exit_status);
	rec_free(&r);

	wait_recs(&slow, 1);
	is_int(0, slow.status, "a job running beside the crashes finished normally");
	rec_free(&slow);

	run1(pool, job_pid, NULL, 0, 0, &r);
	ok(r.status == 0 && rec_pid(&r) > 0,
	   "the pool goes on (pid %d; the first job ran on %d)", rec_pid(&r),
	   pid_before);
	rec_free(&r);

	settled_stats(pool, &st);
	is_int(4, (long long)st.crashed, "stats: 4 crashes");
	/* A replacement starts right after the crashed job completes. */
	ok(tap_wait_until((evpool_get_stats(pool, &st), st.respawns == 4), 5000),
	   "stats: 4 respawns (%llu)", (unsigned long long)st.respawns);
	evpool_free(pool);
}

#define NCRASH 1000
#define NNORMAL 10000

static void test_many_crashes(void)
{
	struct evpool *pool = new_pool(proc_cfg(0, 2));
	struct rec *r = calloc(NNORMAL, sizeof(*r));
	struct evpool_stats st;
	int bad = 0, bad_status = 0;
	double t0 = tap_now_ms();

	if (!r)
		bail("out of memory");
	tap_watchdog(120, "1000 crashes");
	for (int i = 0; i < NCRASH; i++) {
		unsigned char kind = (unsigned char)(i % 3);
		if (submit(pool, job_crash, &kind, 1, 0, 0, &r[i]))
			bail("submit crash %d: %s", i, evpool_errmsg());
	}
	wait_recs(r, NCRASH);
	for (int i = 0; i < NCRASH; i++) {
		int es = r[i].exit_status;
		int want = i % 3 == 0 ? SIGSEGV : SIGABRT;

		if (r[i].status != EVPOOL_ECRASHED)
			bad_status++;
		else if (i % 3 == 2 ? !(WIFEXITED(es) && WEXITSTATUS(es) == 3)
				    : !(WIFSIGNALED(es) && WTERMSIG(es) == want))
			bad++;
		rec_free(&r[i]);
	}
	is_int(0, bad_status, "%d crashes in a row: every one EVPOOL_ECRASHED", NCRASH);
	is_int(0, bad, "... each with the right exit status");
	diag("%d crashes in %.0f ms", NCRASH, tap_now_ms() - t0);

	t0 = tap_now_ms();
	for (int i = 0; i < NNORMAL; i++) {
		int32_t v = i * 7 + 1;
		if (submit(pool, job_echo, &v, sizeof(v), 0, 0, &r[i]))
			bail("submit %d: %s", i, evpool_errmsg());
	}
	wait_recs(r, NNORMAL);
	bad = 0;
	for (int i = 0; i < NNORMAL; i++) {
		int32_t v = i * 7 + 1;
		if (r[i].status != 0 || r[i].len != sizeof(v) ||
		    memcmp(r[i].bytes, &v, sizeof(v)) != 0)
			bad++;
		rec_free(&r[i]);
	}
	is_int(0, bad, "then %d normal jobs: every one correct", NNORMAL);
	diag("%d jobs in %.0f ms", NNORMAL, tap_now_ms() - t0);

	settled_stats(pool, &st);
	ok(st.crashed == NCRASH && st.completed == NNORMAL && st.failed == 0,
	   "stats: %llu crashed, %llu completed, %llu failed",
	   (unsigned long long)st.crashed, (unsigned long long)st.completed,
	   (unsigned long long)st.failed);
	tap_watchdog(60, "t/proc");
	free(r);
	evpool_free(pool);
}

static void test_timeout_cancel(void)
{
	struct evpool *pool = new_pool(proc_cfg(0, 1));
	struct evpool_stats st;
	struct rec r;
	int32_t p1, p2, p3, hang = 30000;
	double t0, dt;

	run1(pool, job_pid, NULL, 0, 0, &r);
	p1 = rec_pid(&r);
	rec_free(&r);

	t0 = tap_now_ms();
	run1(pool, job_sleep, &hang, sizeof(hang), 200, &r);
	dt = tap_now_ms() - t0;
	is_int(-ETIMEDOUT, r.status, "a hung job fails with -ETIMEDOUT");
	ok(dt >= 190 && dt < 200 + 500.0 * tap_slowdown(),
	   "... near its 200 ms timeout (%.0f ms)", dt);
	ok(!alive(p1), "... its worker (pid %d) was killed", (int)p1);
	rec_free(&r);

	run1(pool, job_pid, NULL, 0, 0, &r);
	p2 = rec_pid(&r);
	ok(r.status == 0 && p2 > 0 && p2 != p1,
	   "the next job runs on a new worker (pid %d, was %d)", (int)p2, (int)p1);
	rec_free(&r);

	submit(pool, job_emit_pid_hang, NULL, 0, 0, 0, &r);
	r.cancel_on_emit = true;
	wait_recs(&r, 1);
	is_int(0, r.cancel_rc, "cancelling a running job returns 0");
	is_int(-ECANCELED, r.status, "... and it completes with -ECANCELED");
	ok(r.emit_pid == p2 && !alive(p2),
	   "... its worker (pid %d) is dead by the time the callback runs",
	   (int)r.emit_pid);
	rec_free(&r);

	run1(pool, job_pid, NULL, 0, 0, &r);
	p3 = rec_pid(&r);
	ok(r.status == 0 && p3 != p2, "then a new worker takes the next job");
	rec_free(&r);

	settled_stats(pool, &st);
	ok(st.timed_out == 1 && st.cancelled == 1 && st.crashed == 0 &&
		   st.respawns == 2,
	   "stats: 1 timed out, 1 cancelled, 0 crashed, 2 respawns (%llu %llu %llu %llu)",
	   (unsigned long long)st.timed_out, (unsigned long long)st.cancelled,
	   (unsigned long long)st.crashed, (unsigned long long)st.respawns);
	evpool_free(pool);
}

static void test_terminate(void)
{
	struct evpool *pool = new_pool(proc_cfg(2, 2));
	struct rec r[3];
	int32_t hang = 30000;
	double t0;

	for (int i = 0; i < 3; i++)
		submit(pool, job_sleep, &hang, sizeof(hang), 0, 0, &r[i]);
	tap_wait_until(({
		struct evpool_stats st;
		evpool_get_stats(pool, &st);
		st.running == 2;
	}), 5000);
	t0 = tap_now_ms();
	evpool_terminate(pool);
	ok(tap_now_ms() - t0 < 3000,
	   "evpool_terminate() with two hung jobs returns at once (%.0f ms)",
	   tap_now_ms() - t0);
	wait_recs(r, 3);
	ok(r[0].status == -ECANCELED && r[1].status == -ECANCELED &&
		   r[2].status == -ECANCELED,
	   "... running and queued jobs all complete with -ECANCELED");
	for (int i = 0; i < 3; i++)
		rec_free(&r[i]);
	evpool_free(pool);
}

static void test_recycle(void)
{
	struct evpool_config *cfg = proc_cfg(0, 1);
	struct evpool *pool;
	struct evpool_stats st;
	int32_t pid[9], init[9];
	bool runs = true, inits = true;
	char buf[256] = "";
	int fd, n, nfini = 0;

	snprintf(g_fini_path, sizeof(g_fini_path), "/tmp/evpool-proc-fini.XXXXXX");
	fd = mkstemp(g_fini_path);
	if (fd < 0)
		sysbail("mkstemp");
	close(fd);
	evpool_config_set_max_jobs_per_worker(cfg, 3);
	evpool_config_set_initializer(cfg, worker_init, worker_fini, NULL);
	pool = new_pool(cfg);
	for (int i = 0; i < 9; i++) {
		struct rec r;
		run1(pool, job_pid, NULL, 0, 0, &r);
		pid[i] = rec_pid(&r);
		memcpy(&init[i], r.bytes + 4, sizeof(init[i]));
		rec_free(&r);
	}
	for (int i = 0; i < 9; i++) {
		if (pid[i] != pid[i - i % 3])
			runs = false;
		if (i % 3 == 0 && i > 0 && pid[i] == pid[i - 1])
			runs = false;
		if (init[i] != pid[i])
			inits = false;
	}
	ok(runs, "max_jobs_per_worker 3: the worker pid changes every 3 jobs (%d %d %d)",
	   (int)pid[0], (int)pid[3], (int)pid[6]);
	ok(inits, "the initializer ran in each worker process");
	/* The worker that ran jobs 7-9 is replaced at once, too. */
	ok(tap_wait_until((evpool_get_stats(pool, &st), st.respawns == 3), 5000),
	   "stats: 3 respawns for 3 recycles (%llu)",
	   (unsigned long long)st.respawns);
	evpool_free(pool);

	fd = open(g_fini_path, O_RDONLY);
	n = fd >= 0 ? (int)read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (int i = 0; i < 9; i += 3) {
		char want[32];
		snprintf(want, sizeof(want), "%d\n", (int)pid[i]);
		if (strstr(buf, want))
			nfini++;
	}
	is_int(3, nfini, "the finalizer ran in each of the 3 recycled workers");
	unlink(g_fini_path);
	g_fini_path[0] = '\0';
}

static void test_rlimits(void)
{
	struct evpool_config *cfg = proc_cfg(0, 1);
	struct evpool *pool;
	struct limits l;
	struct rec r;

	evpool_config_set_worker_rlimit(cfg, RLIMIT_NOFILE, 64);
	evpool_config_set_worker_rlimit(cfg, RLIMIT_CPU, 1);
#ifndef SANITIZED
	evpool_config_set_worker_rlimit(cfg, RLIMIT_AS, (uint64_t)16 << 30);
#endif
	pool = new_pool(cfg);
	run1(pool, job_limits, NULL, 0, 0, &r);
	memset(&l, 0, sizeof(l));
	if (r.len == sizeof(l))
		memcpy(&l, r.bytes, sizeof(l));
	rec_free(&r);
	if (getenv("EVPOOL_TEST_VALGRIND"))
		/* valgrind keeps descriptors of its own above the limit and
		 * reports its own RLIMIT_NOFILE to the program. */
		skip(1, "RLIMIT_NOFILE under valgrind: it reports its own");
	else
		ok(l.nofile_cur == 64 && l.nofile_max == 64,
		   "RLIMIT_NOFILE 64 applies in the worker (%llu/%llu)",
		   (unsigned long long)l.nofile_cur,
		   (unsigned long long)l.nofile_max);
	ok(l.core_cur == 0, "RLIMIT_CORE 0 applies in the worker");
#ifndef SANITIZED
	ok(l.as_cur == (uint64_t)16 << 30, "RLIMIT_AS 16 GiB applies in the worker");
#else
	skip(1, "RLIMIT_AS: a sanitizer's shadow memory is larger than any limit");
#endif
	{
		struct rlimit mine;
		getrlimit(RLIMIT_NOFILE, &mine);
		ok(mine.rlim_cur != 64, "... and not in the host");
	}
	run1(pool, job_spin, NULL, 0, 0, &r);
	ok(r.status == EVPOOL_ECRASHED && WIFSIGNALED(r.exit_status) &&
		   WTERMSIG(r.exit_status) == SIGXCPU,
	   "RLIMIT_CPU 1: a spinning job's worker dies of SIGXCPU (status %d, 0x%x)",
	   r.status, (unsigned)r.exit_status);
	rec_free(&r);
	evpool_free(pool);
}

static void test_init_crash(void)
{
	struct evpool_config *cfg = proc_cfg(0, 1);
	struct rec r;
	struct evpool *pool;

	evpool_config_set_initializer(cfg, init_exit, NULL, NULL);
	pool = new_pool(cfg);
	run1(pool, job_pid, NULL, 0, 0, &r);
	is_int(EVPOOL_ESPAWN, r.status,
	       "an initializer that kills its worker fails the job with EVPOOL_ESPAWN");
	rec_free(&r);
	evpool_free(pool);
}

static void init_hang(void *arg)
{
	(void)arg;
	for (;;)
		pause();
}

/* A worker whose initializer never returns does not hold evpool_free():
 * unlike a thread, a process can be killed. */
static void test_init_hang(void)
{
	struct evpool_config *cfg = proc_cfg(1, 1);
	struct evpool *pool;
	struct rec r;
	double t0;

	evpool_config_set_initializer(cfg, init_hang, NULL, NULL);
	pool = new_pool(cfg);
	submit(pool, job_pid, NULL, 0, 0, 0, &r);
	tap_sleep_ms(100);
	t0 = tap_now_ms();
	evpool_free(pool);
	wait_recs(&r, 1);
	ok(tap_now_ms() - t0 < 2000 && r.status == -ECANCELED,
	   "evpool_free() does not wait for a hung initializer (%.0f ms; "
	   "its job: %s)", tap_now_ms() - t0, evpool_err_name(r.status));
	rec_free(&r);
}

/* Hangs in the initializer of every worker started once the marker file
 * exists (the path is set before the pool, so its workers know it). */
static char g_hang_marker[256];

static void init_hang_if_marked(void *arg)
{
	(void)arg;
	if (g_hang_marker[0] && access(g_hang_marker, F_OK) == 0)
		for (;;)
			pause();
}

/* A job held by a proxy across its worker's replacement, when the
 * replacement's initializer is cut short by evpool_terminate(): the job was
 * cancelled, it did not fail to get a worker. */
static void test_terminate_in_respawn(void)
{
	struct evpool_config *cfg = proc_cfg(1, 1);
	struct evpool *pool;
	struct rec r;
	int32_t p;
	int fd;

	snprintf(g_hang_marker, sizeof(g_hang_marker),
		 "/tmp/evpool-proc-hang.%d", (int)getpid());
	unlink(g_hang_marker);
	evpool_config_set_initializer(cfg, init_hang_if_marked, NULL, NULL);
	pool = new_pool(cfg);
	run1(pool, job_pid, NULL, 0, 0, &r);
	p = rec_pid(&r);
	rec_free(&r);
	fd = open(g_hang_marker, O_CREAT | O_WRONLY, 0600);
	if (fd < 0)
		sysbail("open %s", g_hang_marker);
	close(fd);
	stop_worker(p);
	submit(pool, job_pid, NULL, 0, 0, 0, &r);
	tap_sleep_ms(50);	/* shipped to the stopped worker, not started */
	kill(p, SIGKILL);	/* its replacement hangs in the initializer */
	tap_sleep_ms(200);
	evpool_terminate(pool);
	wait_recs(&r, 1);
	is_int(-ECANCELED, r.status,
	       "evpool_terminate() during the replacement of a worker: the job"
	       " it held completes -ECANCELED (was %s)",
	       evpool_err_name(r.status));
	rec_free(&r);
	unlink(g_hang_marker);
	g_hang_marker[0] = 0;
	evpool_free(pool);
}

static void test_proto(void)
{
	struct evpool *pool = new_pool(proc_cfg(0, 1));
	struct rec r;
	int32_t p1;

	run1(pool, job_pid, NULL, 0, 0, &r);
	p1 = rec_pid(&r);
	rec_free(&r);
	run1(pool, job_scribble, NULL, 0, 2000, &r);
	is_int(EVPOOL_EPROTO, r.status, "a corrupt frame fails the job with EVPOOL_EPROTO");
	rec_free(&r);
	run1(pool, job_pid, NULL, 0, 0, &r);
	ok(r.status == 0 && rec_pid(&r) != p1 && !alive(p1),
	   "... its worker was killed and replaced");
	rec_free(&r);
	evpool_free(pool);
}

#define BIG ((size_t)64 << 20)

static void test_big(void)
{
	struct evpool *pool = new_pool(proc_cfg(0, 1));
	unsigned char *in = malloc(BIG);
	size_t bad = 0;
	struct rec r;

	if (!in)
		bail("out of memory");
	for (size_t i = 0; i < BIG; i++)
		in[i] = (unsigned char)(i * 31 + (i >> 20));
	run1(pool, job_big, in, BIG, 0, &r);
	is_int(0, r.status, "64 MiB of input reach the worker intact");
	ok(r.len == BIG, "64 MiB of result come back (%zu bytes)", r.len);
	for (size_t i = 0; r.len == BIG && i < BIG; i++)
		if (r.bytes[i] != (unsigned char)(in[i] + 1))
			bad++;
	ok(r.len == BIG && bad == 0, "... intact");
	rec_free(&r);

	/* The worker goes on after big transfers: small jobs, then a big one
	 * behind them, then small ones again. */
	{
		struct rec m[5];
		int32_t v = 7;
		bool good = true;

		submit(pool, job_echo, &v, sizeof(v), 0, 0, &m[0]);
		submit(pool, job_echo, &v, sizeof(v), 0, 0, &m[1]);
		submit(pool, job_echo, in, 200000, 0, 0, &m[2]);
		submit(pool, job_echo, &v, sizeof(v), 0, 0, &m[3]);
		submit(pool, job_echo, in, 100000, 0, 0, &m[4]);
		wait_recs(m, 5);
		for (int i = 0; i < 5; i++) {
			size_t want = i == 2 ? 200000 : i == 4 ? 100000 : 4;
			const void *src = i == 2 || i == 4 ? (const void *)in : &v;
			if (m[i].status || m[i].len != want ||
			    memcmp(m[i].bytes, src, want))
				good = false;
			rec_free(&m[i]);
		}
		ok(good, "after them the worker takes small and big jobs "
		   "mixed, all echoed intact");
	}
	free(in);
	evpool_free(pool);
}

/* Length, first and last byte of the input: cheap, so that the job itself
 * never comes near its timeout however big its input. */
static int job_ends(struct evpool_ctx *ctx)
{
	size_t len;
	const unsigned char *in = evpool_ctx_input(ctx, &len);
	uint64_t out[3] = { len, len ? in[0] : 0, len ? in[len - 1] : 0 };

	return evpool_ctx_set_result_bytes(ctx, out, sizeof(out));
}

static bool ends_right(const struct rec *r, const unsigned char *in, size_t len)
{
	uint64_t want[3] = { len, in[0], in[len - 1] };

	return r->status == 0 && r->len == sizeof(want) &&
	       memcmp(r->bytes, want, sizeof(want)) == 0;
}

/* Run the loop until the @p n records are done or @p ms have passed. */
static bool wait_recs_for(struct rec *r, int n, double ms)
{
	double end = tap_now_ms() + ms;

	for (;;) {
		int done = 0;

		for (int i = 0; i < n; i++)
			done += r[i].done;
		if (done == n)
			return true;
		if (tap_now_ms() > end)
			return false;
		if (event_base_loop(base, EVLOOP_NONBLOCK) < 0)
			bail("event_base_loop failed");
		tap_sleep_ms(1);
	}
}

#define SLOW_IN ((size_t)4 << 20)	/* far more than a socket buffer */

/*
 * A BIG input crosses the socket while its worker does not read (stopped
 * here; in real life a worker the scheduler leaves out on a loaded machine).
 * Its transfer may outlast the job's timeout: the timeout counts from the
 * job's start, which is after its input has arrived, and the stream must stay
 * in step for the jobs behind it.  A cancel of that job meanwhile must not
 * wait for the worker to read: the half-sent payload costs the worker.
 */
static void test_big_slow_reader(void)
{
	struct evpool *pool = new_pool(proc_cfg(1, 1));
	unsigned char *in = malloc(SLOW_IN);
	struct evpool_stats st;
	struct rec r[2], c;
	int32_t p;
	double t0, dt;

	if (!in)
		bail("out of memory");
	for (size_t i = 0; i < SLOW_IN; i++)
		in[i] = (unsigned char)(i * 7 + 3);
	run1(pool, job_pid, NULL, 0, 0, &r[0]);
	p = rec_pid(&r[0]);
	rec_free(&r[0]);

	stop_worker(p);
	/* The timeout leaves room for the rest of the 4 MiB to cross after
	 * the worker wakes, on a loaded machine, under a sanitizer too. */
	submit(pool, job_ends, in, SLOW_IN, 100 * (int)tap_slowdown(), 0, &r[0]);
	submit(pool, job_pid, NULL, 0, 0, 0, &r[1]);
	tap_sleep_ms(600 * tap_slowdown()); /* six times that timeout */
	kill(p, SIGCONT);
	ok(wait_recs_for(r, 2, 10000.0 * tap_slowdown()),
	   "a big input whose transfer outlasts its job's timeout, and a job"
	   " behind it, both complete");
	ok(ends_right(&r[0], in, SLOW_IN),
	   "... the big job ran and succeeded: its timeout counts from its"
	   " start, not from its input's transfer (status %d)", r[0].status);
	settled_stats(pool, &st);
	ok(r[1].done && r[1].status == 0 && rec_pid(&r[1]) == p &&
		   st.respawns == 0 && st.timed_out == 0,
	   "... the stream stayed in step: the next job ran on the same worker"
	   " (pid %d, was %d; %llu respawns)", (int)rec_pid(&r[1]), (int)p,
	   (unsigned long long)st.respawns);
	rec_free(&r[0]);
	rec_free(&r[1]);

	run1(pool, job_pid, NULL, 0, 0, &c);
	p = rec_pid(&c);
	rec_free(&c);
	stop_worker(p);
	submit(pool, job_ends, in, SLOW_IN, 0, 0, &c);
	tap_sleep_ms(50); /* the proxy is in the transfer */
	t0 = tap_now_ms();
	is_int(0, evpool_job_cancel(c.job),
	       "cancelling a job whose big input is half across returns 0");
	wait_recs_for(&c, 1, 3000.0 * tap_slowdown());
	dt = tap_now_ms() - t0;
	ok(c.done && c.status == -ECANCELED && dt < 1000.0 * tap_slowdown() &&
		   !alive(p),
	   "... it completes -ECANCELED without waiting for the worker to read"
	   " (%.0f ms), and the worker, its stream out of step, is killed", dt);
	kill(p, SIGCONT); /* in case it still lives */
	wait_recs(&c, 1);
	rec_free(&c);

	run1(pool, job_ends, in, SLOW_IN, 0, &c);
	ok(ends_right(&c, in, SLOW_IN), "then a new worker takes a big job");
	rec_free(&c);
	free(in);
	evpool_free(pool);
}

static void test_emit(void)
{
	struct evpool_config *cfg = proc_cfg(0, 2);
	struct evpool *pool;
	int32_t arg[2] = { 500, 300000 };
	struct rec r;

	evpool_config_set_emit_window(cfg, 4);
	pool = new_pool(cfg);
	run1(pool, job_stream, arg, sizeof(arg), 0, &r);
	ok(r.nemit == 500 && r.emit_bad == 0,
	   "500 partial results reach the emit callback, in order (%d, %d bad)",
	   r.nemit, r.emit_bad);
	ok(r.big_len == 300000 && r.big_bad == 0,
	   "a 300 kB partial result arrives intact");
	ok(r.emit_after_done == 0 && r.status == 0 && r.len == 4 &&
		   memcmp(r.bytes, "done", 4) == 0,
	   "... all before the completion, which carries the result");
	rec_free(&r);

	/* Backpressure meets the timeout: an endless stream, a slow loop. */
	{
		double t0 = tap_now_ms(), dt;

		if (submit(pool, job_stream_forever, NULL, 0, 300, 0, &r))
			bail("submit: %s", evpool_errmsg());
		r.slow_emit = true;
		wait_recs(&r, 1);
		dt = tap_now_ms() - t0;
		ok(r.status == -ETIMEDOUT && r.nemit > 0 && r.emit_bad == 0 &&
			   r.emit_after_done == 0 &&
			   dt < 300 + 500.0 * tap_slowdown(),
		   "an endless stream held back by a full window times out "
		   "(%.0f ms, %d partial results, in order, none after)",
		   dt, r.nemit);
		rec_free(&r);
	}
	evpool_free(pool);
}

static void test_priority_bound(void)
{
	struct evpool_config *cfg = proc_cfg(1, 1);
	struct evpool *pool;
	struct rec blocker, r[5], extra[3];
	static const int prio[5] = { 1, 5, 3, 9, 0 };
	static const int want[5] = { 4, 2, 3, 1, 5 }; /* completion ranks */
	int32_t ms = 300;
	bool order = true;
	struct evpool_job_spec spec;
	double t0;
	int rc;

	evpool_config_set_max_queued(cfg, 5);
	pool = new_pool(cfg);
	submit(pool, job_sleep, &ms, sizeof(ms), 0, 0, &blocker);
	tap_wait_until(({
		struct evpool_stats st;
		evpool_get_stats(pool, &st);
		st.running == 1;
	}), 5000);
	for (int i = 0; i < 5; i++)
		if (submit(pool, job_pid, NULL, 0, 0, prio[i], &r[i]))
			bail("submit: %s", evpool_errmsg());
	rc = submit(pool, job_pid, NULL, 0, 0, 0, &extra[0]);
	is_int(-EAGAIN, rc, "a bounded queue (5) that is full refuses with -EAGAIN");

	memset(&spec, 0, sizeof(spec));
	memset(&extra[1], 0, sizeof(extra[1]));
	spec.fn = job_pid;
	spec.done = rec_done;
	spec.done_arg = &extra[1];
	spec.flags = EVPOOL_SUBMIT_BLOCK;
	spec.wait_ms = 10000;
	spec.priority = -1;
	t0 = tap_now_ms();
	rc = evpool_submit_job(pool, &spec, NULL);
	is_int(0, rc, "EVPOOL_SUBMIT_BLOCK waits for room (%.0f ms)",
	       tap_now_ms() - t0);

	wait_recs(&blocker, 1);
	wait_recs(r, 5);
	wait_recs(&extra[1], 1);
	for (int i = 0; i < 5; i++)
		if (r[i].order - blocker.order != want[i])
			order = false;
	ok(order, "queued jobs ran by priority in a process pool (9 5 3 1 0)");
	ok(extra[1].order > r[4].order, "... and the blocked submit's job last");
	rec_free(&blocker);
	for (int i = 0; i < 5; i++)
		rec_free(&r[i]);
	rec_free(&extra[1]);
	evpool_free(pool);
}

static void test_idle_and_zombies(void)
{
	struct evpool_config *cfg = proc_cfg(0, 2);
	struct evpool *pool;
	struct evpool_stats st;
	pid_t kids[16];
	int nk, zombies;
	struct rec r;
	int32_t wpid;

	evpool_config_set_idle_timeout(cfg, 200);
	pool = new_pool(cfg);
	run1(pool, job_pid, NULL, 0, 0, &r);
	wpid = rec_pid(&r);
	rec_free(&r);
	ok(tap_wait_until(({
		evpool_get_stats(pool, &st);
		st.workers == 0;
	}), 5000) && tap_wait_until(!alive(wpid), 2000),
	   "an idle worker process exits after the idle timeout");
	nk = children_of(getpid(), kids, 16, &zombies);
	ok(nk == 1 && zombies == 0,
	   "the host has one child, the fork server (%d children, %d zombies)",
	   nk, zombies);
	evpool_free(pool);
	nk = children_of(getpid(), kids, 16, &zombies);
	ok(nk == 0, "after evpool_free: no child process, no zombie (%d, %d zombies)",
	   nk, zombies);
}

/* A helper process makes a pool, reports its processes' pids, forks a
 * child that outlives it, and is killed with SIGKILL. */
static void test_parent_killed(void)
{
	int pfd[2];
	pid_t helper;
	int32_t pids[4] = { 0, 0, 0, 0 }; /* worker, worker, fork server, sleeper */
	ssize_t got = 0;

	if (pipe(pfd) < 0)
		sysbail("pipe");
	helper = fork();
	if (helper < 0)
		sysbail("fork");
	if (helper == 0) {
		struct evpool *pool;
		struct evpool_job_spec spec;
		struct evpool_job *j[2];
		int32_t ms = 200;
		pid_t kids[4];
		pid_t sleeper;

		close(pfd[0]);
		alarm(30);
		base = NULL; /* the parent's; blocking calls only here */
		if (evpool_new(&pool, NULL, proc_cfg(2, 2)))
			_exit(2);
		memset(&spec, 0, sizeof(spec));
		spec.fn = job_sleep;
		spec.input = &ms;
		spec.input_len = sizeof(ms);
		for (int i = 0; i < 2; i++)
			if (evpool_submit_job(pool, &spec, &j[i]))
				_exit(3);
		for (int i = 0; i < 2; i++) {
			size_t len;
			const int32_t *p;
			if (evpool_job_get(j[i], -1, NULL) != 0)
				_exit(4);
			p = evpool_job_result_bytes(j[i], &len);
			pids[i] = p[0];
		}
		if (children_of(getpid(), kids, 4, NULL) != 1)
			_exit(5);
		pids[2] = kids[0];
		sleeper = fork();
		if (sleeper == 0) {
			alarm(30);
			for (;;)
				pause();
		}
		pids[3] = sleeper;
		if (write(pfd[1], pids, sizeof(pids)) != (ssize_t)sizeof(pids))
			_exit(6);
		for (;;)
			pause();
	}
	close(pfd[1]);
	while (got < (ssize_t)sizeof(pids)) {
		ssize_t n = read(pfd[0], (char *)pids + got, sizeof(pids) - (size_t)got);
		if (n <= 0)
			break;
		got += n;
	}
	close(pfd[0]);
	ok(got == (ssize_t)sizeof(pids) && pids[0] > 0 && pids[1] > 0 &&
		   pids[0] != pids[1] && alive(pids[2]),
	   "a helper made a process pool (workers %d %d, fork server %d)",
	   (int)pids[0], (int)pids[1], (int)pids[2]);
	kill(helper, SIGKILL);
	waitpid(helper, NULL, 0);
	ok(tap_wait_until(!alive(pids[0]) && !alive(pids[1]), 5000),
	   "helper killed with SIGKILL: its worker processes are gone");
	ok(tap_wait_until(!alive(pids[2]), 5000), "... and so is its fork server");
	ok(pids[3] > 0 && alive(pids[3]),
	   "... although a child the helper forked (pid %d) still runs",
	   (int)pids[3]);
	if (pids[3] > 0)
		kill(pids[3], SIGKILL);
}

/* fork() from another thread while a process pool is busy. */
struct forker {
	struct evpool *inherited;
	int nforks;
	int ok_children;
	atomic_int stop;
};

/* The forked child's verdict: written to the parent, then the exit. */
static int verdict_fd = -1;

static void verdict_exit(int code)
{
	unsigned char c = (unsigned char)code;

	if (verdict_fd >= 0 && write(verdict_fd, &c, 1) < 0)
		code = 99;
	_exit(code);
}

static void *forker_main(void *arg)
{
	struct forker *f = arg;

	for (int i = 0; i < f->nforks; i++) {
		int vfd[2], status, verdict = -1;
		unsigned char vb;
		pid_t pid;

		if (pipe(vfd) < 0)
			continue;
		pid = fork();
		if (pid < 0) {
			close(vfd[0]);
			close(vfd[1]);
			continue;
		}
		if (pid == 0) {
			/* The child: the inherited pool is dead here; make one
			 * of our own and use it.  Its verdict also goes through
			 * a pipe: under valgrind the exit status is valgrind's
			 * (97: the parent's heap, inherited, is "leaked"). */
			close(vfd[0]);
			verdict_fd = vfd[1];
			struct evpool *pool;
			struct evpool_config *cfg;
			struct evpool_job_spec spec;
			struct evpool_job *job;
			const void *b;
			size_t len;

			alarm(20);
			/* The parent's pool is refused here, never hangs, and
			 * evpool_free() leaves it be. */
			memset(&spec, 0, sizeof(spec));
			spec.fn = job_echo;
			spec.input = "x";
			spec.input_len = 1;
			if (evpool_submit_job(f->inherited, &spec, NULL) != -ESHUTDOWN ||
			    evpool_join(f->inherited, -1) != -ESHUTDOWN ||
			    evpool_terminate(f->inherited) != -ESHUTDOWN)
				verdict_exit(7);
			evpool_free(f->inherited);
#ifdef SANITIZED
			/* GCC's sanitizer runtimes are not safe in the child
			 * of a multi-threaded fork: ASan's allocator may stay
			 * locked by a parent thread (malloc hangs) and TSan
			 * cannot start threads ("dup thread with used id").
			 * So under them the child only shows that the
			 * library's fork handlers let it run. */
			if (strcmp(evpool_err_name(EVPOOL_ECRASHED), "EVPOOL_ECRASHED") ||
			    evpool_config_set_mode(NULL, EVPOOL_MODE_PROCESS) != -EINVAL)
				verdict_exit(6);
			(void)pool;
			(void)cfg;
			(void)spec;
			(void)job;
			(void)b;
			(void)len;
			verdict_exit(0);
#else
			{
				void *junk = malloc(12345);
				free(junk);
			}
#endif
			cfg = evpool_config_new();
			evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
			evpool_config_set_workers(cfg, 0, 1);
			if (evpool_new(&pool, NULL, cfg))
				verdict_exit(2);
			evpool_config_free(cfg);
			memset(&spec, 0, sizeof(spec));
			spec.fn = job_echo;
			spec.input = "forked";
			spec.input_len = 6;
			if (evpool_submit_job(pool, &spec, &job))
				verdict_exit(3);
			if (evpool_job_get(job, -1, NULL) != 0)
				verdict_exit(4);
			b = evpool_job_result_bytes(job, &len);
			if (len != 6 || memcmp(b, "forked", 6) != 0)
				verdict_exit(5);
			evpool_job_unref(job);
			evpool_free(pool);
			verdict_exit(0);
		}
		close(vfd[1]);
		if (read(vfd[0], &vb, 1) == 1)
			verdict = vb;
		close(vfd[0]);
		if (waitpid(pid, &status, 0) == pid && verdict == 0 &&
		    (WIFEXITED(status) &&
		     (WEXITSTATUS(status) == 0 ||
		      (getenv("EVPOOL_TEST_VALGRIND") && WEXITSTATUS(status) == 97))))
			f->ok_children++;
		else
			diag("forked child %d: status 0x%x, verdict %d", i,
			     (unsigned)status, verdict);
	}
	atomic_store(&f->stop, 1);
	return NULL;
}

/* Crashes and a hang in the middle of a burst of short jobs: workers hold
 * several short jobs at once, and still only the bad ones fail. */
static int job_mixed(struct evpool_ctx *ctx)
{
	const int32_t *in = evpool_ctx_input(ctx, NULL);

	if (in[0] % 97 == 13)
		return job_segv(ctx);
	if (in[0] % 97 == 50)
		return job_exit3(ctx);
	if (in[0] == 1500)
		for (;;)
			pause(); /* timed out */
	return evpool_ctx_set_result_bytes(ctx, in, sizeof(*in));
}

#define NMIXED 3000

static void test_mixed_burst(void)
{
	struct evpool *pool = new_pool(proc_cfg(0, 2));
	struct rec *r = calloc(NMIXED, sizeof(*r));
	int bad = 0, ncrash = 0, want_crash = 0;
	struct evpool_stats st;

	if (!r)
		bail("out of memory");
	for (int32_t i = 0; i < NMIXED; i++)
		if (submit(pool, job_mixed, &i, sizeof(i), i == 1500 ? 300 : 0,
			   0, &r[i]))
			bail("submit %d: %s", (int)i, evpool_errmsg());
	wait_recs(r, NMIXED);
	for (int32_t i = 0; i < NMIXED; i++) {
		bool crash = i % 97 == 13 || i % 97 == 50;

		want_crash += crash;
		if (crash) {
			ncrash += r[i].status == EVPOOL_ECRASHED;
			if (r[i].status != EVPOOL_ECRASHED)
				bad++;
		} else if (i == 1500) {
			if (r[i].status != -ETIMEDOUT)
				bad++;
		} else if (r[i].status != 0 || r[i].len != sizeof(i) ||
			   memcmp(r[i].bytes, &i, sizeof(i)) != 0) {
			bad++;
		}
		rec_free(&r[i]);
	}
	is_int(0, bad, "a burst of %d short jobs with %d crashes and a hang: "
	       "only those fail", NMIXED, want_crash);
	settled_stats(pool, &st);
	ok(st.crashed == (uint64_t)want_crash && st.timed_out == 1 &&
		   st.completed == (uint64_t)(NMIXED - want_crash - 1),
	   "stats: %llu crashed, %llu timed out, %llu completed",
	   (unsigned long long)st.crashed, (unsigned long long)st.timed_out,
	   (unsigned long long)st.completed);
	free(r);
	evpool_free(pool);
}

/* A job waiting behind a running one (held by the worker, or still
 * queued) is cancelled without killing anything. */
static void test_cancel_waiting(void)
{
	struct evpool *pool = new_pool(proc_cfg(1, 1));
	struct rec warm[200], a, b, c;
	int32_t ms = 300;
	struct evpool_stats st;

	for (int i = 0; i < 200; i++) /* short jobs: the worker prefetches */
		submit(pool, job_pid, NULL, 0, 0, 0, &warm[i]);
	wait_recs(warm, 200);
	for (int i = 0; i < 200; i++)
		rec_free(&warm[i]);
	submit(pool, job_sleep, &ms, sizeof(ms), 0, 0, &a);
	submit(pool, job_pid, NULL, 0, 0, 0, &b);
	submit(pool, job_pid, NULL, 0, 0, 0, &c);
	tap_sleep_ms(50);
	is_int(0, evpool_job_cancel(b.job),
	       "cancelling a job that waits behind a running one returns 0");
	wait_recs(&a, 1);
	wait_recs(&b, 1);
	wait_recs(&c, 1);
	is_int(-ECANCELED, b.status, "... it completes with -ECANCELED");
	settled_stats(pool, &st);
	ok(a.status == 0 && c.status == 0 && rec_pid(&a) == rec_pid(&c) &&
		   st.respawns == 0,
	   "... and the worker was not killed: the jobs around it ran on it");
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	evpool_free(pool);
}

/* Short jobs a worker prefetched behind one that runs long go to a worker
 * that has nothing to do, rather than wait for the long one. */
#define NBEHIND 300

static void test_give_back(void)
{
	struct evpool *pool = new_pool(proc_cfg(2, 2));
	struct rec *r = calloc(NBEHIND, sizeof(*r)), *pre = calloc(NBEHIND, sizeof(*r)), slow;
	int32_t ms = 1500;
	int late = 0, bad = 0;
	struct evpool_stats st;

	if (!r || !pre)
		bail("out of memory");
	/* Short jobs first, so that both workers learn to prefetch deep;
	 * then the long one among short ones, so that one is prefetched with
	 * it (both workers busy). */
	for (int i = 0; i < NBEHIND; i++)
		submit(pool, job_pid, NULL, 0, 0, 0, &pre[i]);
	wait_recs(pre, NBEHIND);
	for (int i = 0; i < NBEHIND; i++) {
		rec_free(&pre[i]);
		submit(pool, job_pid, NULL, 0, 0, 0, &pre[i]);
	}
	submit(pool, job_sleep, &ms, sizeof(ms), 0, 0, &slow);
	for (int i = 0; i < NBEHIND; i++)
		submit(pool, job_pid, NULL, 0, 0, 0, &r[i]);
	wait_recs(pre, NBEHIND);
	wait_recs(r, NBEHIND);
	wait_recs(&slow, 1);
	for (int i = 0; i < NBEHIND; i++)
		rec_free(&pre[i]);
	free(pre);
	for (int i = 0; i < NBEHIND; i++) {
		late += r[i].order > slow.order;
		bad += r[i].status != 0;
		rec_free(&r[i]);
	}
	ok(slow.status == 0 && bad == 0 && late == 0,
	   "short jobs behind a long one in a worker all ran before it ended "
	   "(%d after it, %d failed)", late, bad);
	settled_stats(pool, &st);
	is_int(0, (int)st.respawns, "... and no worker was replaced for it");
	rec_free(&slow);
	free(r);
	evpool_free(pool);
}

static void test_host_fork(void)
{
	struct evpool *pool = new_pool(proc_cfg(2, 2));
	struct forker f = { .inherited = pool, .nforks = 10 };
	pthread_t tid;
	int submitted = 0, bad = 0;
	struct rec *r = calloc(20000, sizeof(*r));

	if (!r)
		bail("out of memory");
	pthread_create(&tid, NULL, forker_main, &f);
	/* Keep the pool busy until the forks are done. */
	while (!atomic_load(&f.stop) && submitted < 20000) {
		int n = submitted + 200 <= 20000 ? 200 : 20000 - submitted;
		for (int i = submitted; i < submitted + n; i++) {
			int32_t v = i;
			if (submit(pool, job_echo, &v, sizeof(v), 0, 0, &r[i]))
				bail("submit: %s", evpool_errmsg());
		}
		wait_recs(r + submitted, n);
		submitted += n;
	}
	pthread_join(tid, NULL);
	for (int i = 0; i < submitted; i++) {
		int32_t v = i;
		if (r[i].status != 0 || r[i].len != 4 || memcmp(r[i].bytes, &v, 4))
			bad++;
		rec_free(&r[i]);
	}
#ifdef SANITIZED
	is_int(f.nforks, f.ok_children,
	       "host fork() under load: no child deadlocked; the inherited pool"
	       " refused submit, join and terminate with -ESHUTDOWN and"
	       " evpool_free() left it be (sanitizer: no new pool in the child)");
#else
	is_int(f.nforks, f.ok_children,
	       "host fork() under load: in each child the inherited pool refused"
	       " submit, join and terminate with -ESHUTDOWN, evpool_free() left"
	       " it be, and a process pool of its own worked");
#endif
	ok(bad == 0 && submitted > 0, "... while the parent's %d jobs all came back right",
	   submitted);
	free(r);
	evpool_free(pool);
}

int main(void)
{
	plan(90);
	tap_watchdog(60, "t/proc");

	/* First, while this process has no thread: it forks a helper. */
	test_parent_killed();

	evthread_use_pthreads();
	base = event_base_new();
	if (!base)
		bail("event_base_new");
	test_config();
	test_basics();
	test_crashes();
	test_timeout_cancel();
	test_terminate();
	test_recycle();
	test_rlimits();
	test_init_crash();
	test_init_hang();
	test_terminate_in_respawn();
	test_proto();
	test_big();
	test_big_slow_reader();
	test_emit();
	test_priority_bound();
	test_many_crashes();
	test_mixed_burst();
	test_cancel_waiting();
	test_give_back();
	test_host_fork();
	test_idle_and_zombies();
	event_base_free(base);
	return 0;
}

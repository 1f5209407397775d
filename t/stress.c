/*
 * stress.c — chaos test of the exactly-once contract.
 *
 * DESIGN
 *  The test runs in rounds until EVPOOL_STRESS_SECONDS (default 15) have
 *  passed.  A round starts three event_bases, each run by its own loop thread
 *  (EVLOOP_NO_EXIT_ON_EMPTY, so the loops outlive idle moments), two "pool
 *  slots" and three submitter threads.  The submitters pick a slot and submit
 *  jobs with random priorities (in half the pools; in the others all jobs
 *  are priority 0, so that thread workers take them in batches), input
 *  sizes, durations, behaviours (succeed,
 *  fail, poll the cancel flag, spin, emit partial results; in process mode
 *  also SIGSEGV, abort() and SIGKILL), bases (including none: the detached
 *  mailbox, drained by an event on evpool_fd() in loop 0), timeouts and the
 *  blocking-submit flag.  Meanwhile the main thread is the chaos monkey: it
 *  cancels random jobs, cancels whole pools, changes max_workers, waits on
 *  jobs, reads stats, and now and then ends a pool — close + join, terminate,
 *  shutdown with a short timeout, evpool_free() from this thread, from a loop
 *  thread (event_base_once), or from inside a completion callback — and puts
 *  a new pool with a new random configuration in its slot.  Completion
 *  callbacks sometimes submit a child job and sometimes wait for it on the
 *  loop thread (a nested delivery).
 *
 *  Every submit gets a record.  At the end of a round, when every pool is
 *  freed and every loop and submitter thread is joined, the records are
 *  checked: a successful submit was completed exactly once, a refused one
 *  never; on the thread of its base's loop; with a status allowed by what was
 *  done to it (-ECANCELED only if it, or its pool, was cancelled; -ETIMEDOUT
 *  only with a timeout; EVPOOL_ECRASHED only for a job that crashed its
 *  worker; a job whose cancel returned 0 must end -ECANCELED); a successful
 *  job's result bytes and partial results are right.  Pools ended by join
 *  also have their stats checked: they balance and agree with what the
 *  callbacks saw.  Then /proc/self/fd, /proc/self/task and our children must
 *  be back to what they were before the round.
 *
 *  A job handle may be kept past its pool (the contract allows it): the
 *  records keep theirs until the end of the round and check them then.
 *
 *  EVPOOL_STRESS_SECONDS=600 for a long run; EVPOOL_STRESS_SEED=N replays a
 *  seed (the schedule still differs: threads race).  Prints TAP.
 *
 *  Knobs to hunt a rare process-mode bug faster (defaults in brackets):
 *   EVPOOL_STRESS_ROUND_MS=N     length of a round [2500, or a quarter of a
 *                                run under 10 s; at least 300];
 *   EVPOOL_STRESS_PROCESS_ONLY=1 every round a process round, every pool in
 *                                process mode [every other round; 80%];
 *   EVPOOL_STRESS_BIG_PERCENT=N  N% of the jobs (at most 30) get a big,
 *                                12-264 KB input [3].
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

/* ---- a tiny TAP printer ------------------------------------------------- */

static unsigned long tap_n, tap_failed;

static int
tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %lu - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void
tap_bail(const char *what)
{
	printf("Bail out! %s\n", what);
	fflush(stdout);
	exit(255);
}

/* ---- helpers ------------------------------------------------------------ */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
sleep_us(unsigned us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* xorshift64*, one state per thread. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned
rndn(uint64_t *s, unsigned n)
{
	return n ? (unsigned)(rnd(s) % n) : 0;
}

static bool
chance(uint64_t *s, unsigned percent)
{
	return rndn(s, 100) < percent;
}

static uint64_t
fnv(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own fd */
}

/* Our children, zombies included (they are leaks too until reaped). */
static int
count_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t me = getpid();
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[64], buf[512], *p;
		FILE *f;
		int ppid;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == me)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* ---- jobs --------------------------------------------------------------- */

enum kind {
	K_OK,		/* sleep, then succeed with the input's checksum */
	K_FAIL,		/* sleep, then return -EIO */
	K_COOP,		/* sleep in slices; return -ECANCELED when flagged */
	K_SPIN,		/* busy loop, then succeed */
	K_SEGV,		/* process mode only: crash the worker */
	K_ABORT,
	K_KILL,
	K_NKINDS
};

#define JHDR_MAGIC 0x5354524dU

/* What a job is told to do; the first bytes of its input (process mode) or
 * in its record (thread mode without input). */
struct jhdr {
	uint32_t magic;
	uint8_t kind;
	uint8_t nemits;
	uint16_t pad;
	uint32_t dur_us;
};

struct tpool;

struct rec {
	struct jhdr hdr;
	struct tpool *tp;
	int base_idx;		/* -1: no base (detached mailbox) */
	int expect_loop;	/* loop index that must deliver */
	int timeout_eff;	/* resolved timeout, 0: none */
	uint64_t sum;		/* checksum of the input */
	size_t in_len;		/* input bytes */
	int submit_ret;
	bool submitted;		/* submit returned 0 */
	bool thread_mode;
	bool cancel_called;
	bool cancel_ret0;	/* evpool_job_cancel() returned 0 */
	_Atomic(struct evpool_job *) job;	/* kept handle, or NULL */
	atomic_int calls;	/* completion callbacks seen */
	atomic_int runs;	/* thread mode: times the function ran */
	atomic_int saw_cancel;	/* thread mode: the job saw the flag */
	int status;
	int emits_seen;
	int emits_late;		/* emissions after completion */
	int emits_bad;		/* out of order */
	bool wrong_thread;
	bool bad_result;
	bool fallback_thread;	/* delivered by evpool_free()'s caller */
	bool is_trigger;	/* its callback frees the pool */
};

static void
spin_us(unsigned us)
{
	double end = now_ms() + us / 1000.0;

	while (now_ms() < end)
		;
}

static int
stress_job(struct evpool_ctx *ctx)
{
	struct rec *r = evpool_ctx_arg(ctx);
	size_t len;
	const unsigned char *in = evpool_ctx_input(ctx, &len);
	struct jhdr h;
	uint64_t sum;
	unsigned slices;

	if (r) {
		h = r->hdr;
		atomic_fetch_add(&r->runs, 1);
	} else if (in && len >= sizeof(h)) {
		memcpy(&h, in, sizeof(h));
	} else {
		return -EPROTO;
	}
	if (h.magic != JHDR_MAGIC)
		return -EPROTO;
	switch (h.kind) {
	case K_SEGV:
		raise(SIGSEGV);
		break;
	case K_ABORT:
		abort();
	case K_KILL:
		raise(SIGKILL);
		break;
	default:
		break;
	}
	slices = h.nemits + 1;
	for (unsigned i = 0; i < slices; i++) {
		if (h.kind == K_SPIN)
			spin_us(h.dur_us / slices);
		else if (h.dur_us)
			sleep_us(h.dur_us / slices);
		if (h.kind == K_COOP && evpool_ctx_cancelled(ctx)) {
			if (r)
				atomic_store(&r->saw_cancel, 1);
			return -ECANCELED;
		}
		if (i < h.nemits) {
			uint32_t idx = i;
			int e = evpool_ctx_emit(ctx, &idx, sizeof(idx));
			if (e == -ECANCELED) {
				if (r)
					atomic_store(&r->saw_cancel, 1);
				return -ECANCELED;
			}
			if (e < 0)
				return e;
		}
	}
	if (h.kind == K_FAIL)
		return -EIO;
	sum = fnv(in, in ? len : 0);
	if (r)
		evpool_ctx_set_result(ctx, r);
	return evpool_ctx_set_result_bytes(ctx, &sum, sizeof(sum));
}

static const char *
kind_name(int k)
{
	static const char *const n[] = { "ok", "fail", "coop", "spin", "segv",
					  "abort", "kill" };
	return k >= 0 && k < K_NKINDS ? n[k] : "?";
}

/* ---- the round's world --------------------------------------------------- */

#define NLOOPS 3
#define NSUBMITTERS 3
#define NSLOTS 2
#define MAX_RECS (1u << 17)
#define MAX_BACKLOG 2000u	/* per pool, submitted and not delivered */

struct loop {
	struct event_base *base;
	pthread_t tid;
	atomic_bool running;
};

enum end_how {
	END_CLOSE_JOIN,
	END_TERMINATE,
	END_SHUTDOWN,
	END_FREE,		/* evpool_free() from the chaos thread */
	END_FREE_ON_LOOP,	/* evpool_free() from a loop thread */
	END_FREE_IN_CB,		/* evpool_free() inside a completion callback */
	END_NHOW
};

static const char *const end_names[END_NHOW] = {
	"close+join", "terminate", "shutdown", "free", "free-on-loop",
	"free-in-callback",
};

struct tpool {
	struct evpool *p;
	int id;
	bool process;
	bool prio;		/* jobs get priorities (else all 0: a thread
				 * pool's workers then take them in batches) */
	int base_idx;		/* the pool's base, -1: none */
	unsigned job_timeout;	/* pool default */
	struct event *dev;	/* loop 0's event on evpool_fd() */
	atomic_bool cancel_any;	/* a cancel_all/terminate/free was issued */
	atomic_bool freeing;	/* evpool_free() has been called */
	atomic_bool freed;	/* ... and has returned */
	atomic_int cb_users;	/* callbacks submitting child jobs now */
	pthread_t freeing_tid;
	atomic_int free_on_loop;	/* loop index freeing it, or -1 */
	atomic_uint submitted, delivered;
	atomic_uint n_ok, n_failed, n_cancelled, n_timedout, n_crashed;
	atomic_uint loop_delivered[NLOOPS + 1];
	enum end_how how;
	struct evpool_job *trigger;	/* END_FREE_IN_CB, our handle */
	bool stats_checked, stats_ok;
	char stats_msg[256];
	struct tpool *next;
};

struct slot {
	_Atomic(struct tpool *) tp;
	atomic_int users;
};

struct world {
	uint64_t seed;
	struct loop loops[NLOOPS];
	struct slot slots[NSLOTS];
	struct rec *recs;
	atomic_uint nrecs;
	atomic_bool stop_submit;
	struct tpool *pools;	/* every pool of the round */
	int next_pool_id;
	bool process_ok;	/* process mode is available */
	bool process_round;
	/* summary */
	unsigned long pools_made, ended[END_NHOW];
	atomic_ulong nested_waits, child_submits;
};

static struct world W;
/* What the chaos thread is doing, for the hang message. */
static char step_msg[160] = "";
#define STEP(tp, what)                                                        \
	snprintf(step_msg, sizeof(step_msg), "%s on pool %d (%s mode)", what,  \
		 (tp)->id, (tp)->process ? "process" : "thread")
static __thread int guard_depth;	/* done_cb frames in their guard */
static atomic_uint cb_rng_seq;

/* ---- loops --------------------------------------------------------------- */

static void *
loop_main(void *arg)
{
	struct loop *l = arg;

	atomic_store(&l->running, true);
	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int
loop_of_self(void)
{
	for (int i = 0; i < NLOOPS; i++)
		if (pthread_equal(W.loops[i].tid, pthread_self()))
			return i;
	return -1;
}

/* ---- submitting ---------------------------------------------------------- */

static void done_cb(struct evpool_job *job, void *arg);
static void begin_free(struct tpool *tp);
static void emit_cb(struct evpool_job *job, const void *data, size_t len,
		    void *arg);

static struct rec *
rec_new(void)
{
	unsigned i = atomic_fetch_add(&W.nrecs, 1);

	if (i >= MAX_RECS) {
		atomic_store(&W.nrecs, MAX_RECS);
		return NULL;
	}
	return &W.recs[i];
}

/*
 * Inputs: none (thread mode), tiny, up to 4 KB, and in big_percent of the
 * jobs 12-264 KB.  In process mode those straddle what a ring frame holds
 * (16 KB: larger payloads take the worker's socket) and what a socket buffer
 * holds (about 208 KB: then the proxy waits for the worker to read).  They
 * found a job with a big input hanging the next job on its worker (0d1a3f5)
 * and a big input whose transfer outlasted its job's timeout putting the
 * socket out of step, which stalled the pool.
 */
static unsigned big_percent = 3;	/* EVPOOL_STRESS_BIG_PERCENT */
static bool process_only;		/* EVPOOL_STRESS_PROCESS_ONLY */

static unsigned char *
make_input(uint64_t *rs, struct rec *r, size_t *lenp)
{
	size_t len;
	unsigned char *buf;
	unsigned pick = rndn(rs, 100);

	if (pick < 20 && r->thread_mode)
		len = 0;
	else if (pick < 70)
		len = sizeof(struct jhdr) + rndn(rs, 64);
	else if (pick < 100 - big_percent)
		len = sizeof(struct jhdr) + rndn(rs, 4096);
	else
		len = sizeof(struct jhdr) + 12000 + rndn(rs, 252000);
	*lenp = len;
	if (!len)
		return NULL;
	buf = malloc(len);
	if (!buf)
		tap_bail("out of memory");
	memcpy(buf, &r->hdr, sizeof(r->hdr));
	for (size_t i = sizeof(r->hdr); i < len; i++)
		buf[i] = (unsigned char)(i * 31 + r->hdr.dur_us);
	return buf;
}

/*
 * Submit one random job to @p tp (whose pool is alive for the duration of
 * the call).  @p loop_idx >= 0: we are on that loop thread (a child job), so
 * never block.
 */
static void
submit_one(uint64_t *rs, struct tpool *tp, int loop_idx)
{
	struct evpool_job_spec spec;
	struct rec *r = rec_new();
	struct evpool_job *job = NULL;
	unsigned char *input;
	size_t len;
	unsigned k;
	bool keep;

	if (!r)
		return;
	memset(&spec, 0, sizeof(spec));
	r->tp = tp;
	r->thread_mode = !tp->process;
	r->hdr.magic = JHDR_MAGIC;
	k = rndn(rs, 100);
	if (tp->process && k < 6)
		r->hdr.kind = (uint8_t)(K_SEGV + rndn(rs, 3));
	else if (k < 60)
		r->hdr.kind = K_OK;
	else if (k < 75)
		r->hdr.kind = K_FAIL;
	else if (k < 92)
		r->hdr.kind = K_COOP;
	else
		r->hdr.kind = K_SPIN;
	k = rndn(rs, 100);
	r->hdr.dur_us = k < 65 ? 0 : k < 97 ? rndn(rs, 200) : 1000 + rndn(rs, 8000);
	if (r->hdr.kind == K_SPIN && r->hdr.dur_us > 500)
		r->hdr.dur_us = 500;
	r->hdr.nemits = chance(rs, 15) ? (uint8_t)rndn(rs, 6) : 0;

	input = make_input(rs, r, &len);
	r->sum = fnv(input, len);
	r->in_len = len;
	spec.fn = stress_job;
	spec.arg = tp->process ? NULL : r;
	spec.input = input;
	spec.input_len = len;
	spec.done = done_cb;
	spec.emit = emit_cb;
	spec.done_arg = r;
	if (tp->prio) {
		spec.priority = (int)rndn(rs, 5) - 2;
		if (chance(rs, 3))
			spec.priority = chance(rs, 50) ? INT32_MAX : INT32_MIN;
	}
	k = rndn(rs, 100);
	spec.timeout_ms = k < 80 ? 0 : k < 92 ? -1 : 1 + (int)rndn(rs, 10);
	r->timeout_eff = spec.timeout_ms > 0 ? spec.timeout_ms
			 : spec.timeout_ms < 0 ? 0 : (int)tp->job_timeout;
	/* Which base: the pool's (NULL), an explicit one, or none at all. */
	r->base_idx = tp->base_idx;
	if (tp->base_idx >= 0 && chance(rs, 50)) {
		r->base_idx = (int)rndn(rs, NLOOPS);
		spec.base = W.loops[r->base_idx].base;
	}
	r->expect_loop = r->base_idx >= 0 ? r->base_idx : 0;
	if (loop_idx < 0 && chance(rs, 10)) {
		spec.flags = EVPOOL_SUBMIT_BLOCK;
		spec.wait_ms = chance(rs, 20) ? -1 : (int)rndn(rs, 20);
	}
	keep = chance(rs, 40);

	/* Counted before the call: the job may be delivered (on another
	 * loop) before the call returns, and the chaos thread must not see
	 * every job delivered while one is still being submitted. */
	atomic_fetch_add(&tp->submitted, 1);
	r->submit_ret = evpool_submit_job(tp->p, &spec, keep ? &job : NULL);
	free(input);
	if (r->submit_ret == 0) {
		r->submitted = true;
		if (job)
			atomic_store(&r->job, job);
	} else {
		atomic_fetch_sub(&tp->submitted, 1);
	}
}

static void *
submitter_main(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&W.stop_submit)) {
		struct slot *s = &W.slots[rndn(&rs, NSLOTS)];
		struct tpool *tp;
		unsigned burst = chance(&rs, 2) ? 1 + rndn(&rs, 50) : 1;

		atomic_fetch_add(&s->users, 1);
		tp = atomic_load(&s->tp);
		/* Bounded backlog: a slow pool (crashing workers under a
		 * sanitizer) must not pile up tens of thousands of jobs. */
		if (tp && atomic_load(&tp->submitted) -
			  atomic_load(&tp->delivered) < MAX_BACKLOG)
			for (unsigned i = 0; i < burst; i++)
				submit_one(&rs, tp, -1);
		atomic_fetch_sub(&s->users, 1);
		if (atomic_load(&W.nrecs) >= MAX_RECS)
			break;
		sleep_us(50 + rndn(&rs, 1000));
	}
	return NULL;
}

/* ---- callbacks ------------------------------------------------------------ */

static void
emit_cb(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	struct rec *r = arg;
	uint32_t idx;

	(void)job;
	if (atomic_load(&r->calls))
		r->emits_late++;
	if (len != sizeof(idx)) {
		r->emits_bad++;
		return;
	}
	memcpy(&idx, data, sizeof(idx));
	if (idx != (uint32_t)r->emits_seen)
		r->emits_bad++;
	r->emits_seen++;
}

static void
done_cb(struct evpool_job *job, void *arg)
{
	struct rec *r = arg;
	struct tpool *tp = r->tp;
	int me = loop_of_self();
	int st;

	atomic_fetch_add(&r->calls, 1);
	st = r->status = evpool_job_status(job);
	if (me != r->expect_loop) {
		/* evpool_free() delivers, in its caller's thread, the
		 * completions of mailboxes whose loop never delivered. */
		if (atomic_load(&tp->freeing) &&
		    pthread_equal(tp->freeing_tid, pthread_self()) &&
		    atomic_load(&tp->loop_delivered[r->expect_loop]) == 0)
			r->fallback_thread = true;
		else
			r->wrong_thread = true;
	} else {
		atomic_fetch_add(&tp->loop_delivered[me], 1);
	}
	if (st == 0) {
		size_t len = 0;
		const void *b = evpool_job_result_bytes(job, &len);
		uint64_t sum;

		if (!b || len != sizeof(sum))
			r->bad_result = true;
		else if (memcpy(&sum, b, sizeof(sum)), sum != r->sum)
			r->bad_result = true;
		if (r->thread_mode && evpool_job_result(job) != r)
			r->bad_result = true;
		if (r->emits_seen != r->hdr.nemits)
			r->emits_bad++;
		atomic_fetch_add(&tp->n_ok, 1);
	} else if (st == -ECANCELED) {
		atomic_fetch_add(&tp->n_cancelled, 1);
	} else if (st == -ETIMEDOUT) {
		atomic_fetch_add(&tp->n_timedout, 1);
	} else if (st == EVPOOL_ECRASHED) {
		atomic_fetch_add(&tp->n_crashed, 1);
	} else {
		atomic_fetch_add(&tp->n_failed, 1);
	}
	if (evpool_job_ready(job) != 1)
		r->bad_result = true;

	/* Sometimes: a child job from the loop thread, sometimes waited for
	 * right here (the wait delivers this loop's completions). */
	atomic_fetch_add(&tp->cb_users, 1);
	guard_depth++;
	if (me >= 0 && !atomic_load(&tp->freeing)) {
		uint64_t rs = (uint64_t)(uintptr_t)r * 2654435761u +
			      atomic_fetch_add(&cb_rng_seq, 1) + 1;

		if (chance(&rs, 3)) {
			unsigned before = atomic_load(&W.nrecs);
			submit_one(&rs, tp, me);
			atomic_fetch_add(&W.child_submits, 1);
			if (chance(&rs, 20) && atomic_load(&W.nrecs) > before &&
			    before < MAX_RECS) {
				struct rec *c = &W.recs[before];
				struct evpool_job *cj = atomic_load(&c->job);
				if (cj && c->tp == tp) {
					int w = evpool_job_wait(cj, (int)rndn(&rs, 20));
					if (w != 0 && w != -ETIMEDOUT)
						r->bad_result = true;
					atomic_fetch_add(&W.nested_waits, 1);
				}
			}
		}
	}
	guard_depth--;
	atomic_fetch_sub(&tp->cb_users, 1);
	if (r->is_trigger) {
		tp->freeing_tid = pthread_self();
		begin_free(tp);
		evpool_free(tp->p); /* deferred until this batch is delivered */
	}
	atomic_fetch_add(&tp->delivered, 1);
}

/*
 * About to call evpool_free(): no callback may be inside evpool_submit_job()
 * on this pool from now on.  A submit racing with evpool_free() from another
 * thread loses its job (it is queued after the workers were stopped):
 * EVPOOL_STRESS_RACY=1 leaves that race open, to reproduce it.
 */
static bool racy;

static void
begin_free(struct tpool *tp)
{
	atomic_store(&tp->freeing, true);
	if (racy)
		return;
	/* Our own thread's callbacks below us on the stack (a nested wait
	 * delivered the trigger) cannot leave: they see `freeing` later. */
	while (atomic_load(&tp->cb_users) > guard_depth)
		sleep_us(20);
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tpool *tp = arg;

	(void)fd;
	(void)what;
	evpool_drain(tp->p);
}

/* ---- pools ---------------------------------------------------------------- */

static struct tpool *
pool_make(uint64_t *rs)
{
	struct tpool *tp = calloc(1, sizeof(*tp));
	struct evpool_config *cfg = evpool_config_new();
	unsigned maxw, minw;
	int r;

	if (!tp || !cfg)
		tap_bail("out of memory");
	tp->id = ++W.next_pool_id;
	tp->process = W.process_round && (process_only || chance(rs, 80));
	tp->prio = chance(rs, 50);
	tp->base_idx = chance(rs, 15) ? -1 : (int)rndn(rs, NLOOPS);
	atomic_store(&tp->free_on_loop, -1);
	maxw = 1 + rndn(rs, 4);
	minw = chance(rs, 30) ? rndn(rs, maxw + 1) : 0;
	if (tp->process && minw > 2)
		minw = 2;
	evpool_config_set_workers(cfg, minw, maxw);
	if (tp->process)
		evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
	if (chance(rs, 30))
		evpool_config_set_max_queued(cfg, 1 + rndn(rs, 64));
	evpool_config_set_idle_timeout(cfg, chance(rs, 50) ? rndn(rs, 20) : 10000);
	if (chance(rs, 25)) {
		tp->job_timeout = 2 + rndn(rs, 20);
		evpool_config_set_job_timeout(cfg, tp->job_timeout);
	}
	evpool_config_set_notify(cfg, (enum evpool_notify)rndn(rs, 3));
	evpool_config_set_emit_window(cfg, 1 + rndn(rs, 4));
	r = evpool_new(&tp->p, tp->base_idx >= 0 ? W.loops[tp->base_idx].base : NULL,
		       cfg);
	evpool_config_free(cfg);
	if (r < 0) {
		tap_diag("evpool_new: %s (%s)", evpool_strerror(r), evpool_errmsg());
		tap_bail("cannot make a pool");
	}
	if (tp->base_idx < 0) {
		tp->dev = event_new(W.loops[0].base, evpool_fd(tp->p),
				    EV_READ | EV_PERSIST, drain_cb, tp);
		if (!tp->dev || event_add(tp->dev, NULL) < 0)
			tap_bail("cannot watch evpool_fd()");
	}
	tp->next = W.pools;
	W.pools = tp;
	W.pools_made++;
	return tp;
}

static void
check_stats(struct tpool *tp)
{
	struct evpool_stats st;
	uint64_t fin;

	tp->stats_checked = true;
	/* A worker stops counting as running just after its job finished:
	 * give it a moment after join(). */
	for (int i = 0; i < 2000; i++) {
		if (evpool_get_stats(tp->p, &st) < 0) {
			snprintf(tp->stats_msg, sizeof(tp->stats_msg),
				 "get_stats failed");
			return;
		}
		if (!st.queued && !st.running)
			break;
		sleep_us(500);
	}
	fin = st.completed + st.failed + st.cancelled + st.timed_out + st.crashed;
	if (st.submitted != fin || st.queued || st.running ||
	    st.submitted != atomic_load(&tp->submitted) ||
	    st.completed != atomic_load(&tp->n_ok) ||
	    st.cancelled != atomic_load(&tp->n_cancelled) ||
	    st.timed_out != atomic_load(&tp->n_timedout) ||
	    st.crashed != atomic_load(&tp->n_crashed) ||
	    st.failed != atomic_load(&tp->n_failed)) {
		snprintf(tp->stats_msg, sizeof(tp->stats_msg),
			 "pool %d (%s): stats submitted %" PRIu64 " completed %"
			 PRIu64 " failed %" PRIu64 " cancelled %" PRIu64
			 " timed_out %" PRIu64 " crashed %" PRIu64 " queued %"
			 PRIu64 " running %" PRIu64 "; seen submitted %u ok %u failed %u"
			 " cancelled %u timed_out %u crashed %u",
			 tp->id, end_names[tp->how], st.submitted, st.completed,
			 st.failed, st.cancelled, st.timed_out, st.crashed,
			 st.queued, st.running, atomic_load(&tp->submitted),
			 atomic_load(&tp->n_ok), atomic_load(&tp->n_failed),
			 atomic_load(&tp->n_cancelled),
			 atomic_load(&tp->n_timedout),
			 atomic_load(&tp->n_crashed));
		return;
	}
	tp->stats_ok = true;
}

static void
free_on_loop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tpool *tp = arg;

	(void)fd;
	(void)what;
	tp->freeing_tid = pthread_self();
	begin_free(tp);
	evpool_free(tp->p);
	atomic_store(&tp->freed, true);
}

static void
stop_drainer(struct tpool *tp)
{
	if (tp->dev) {
		event_del(tp->dev);	/* waits for a running drain_cb */
		event_free(tp->dev);
		tp->dev = NULL;
	}
}

static void
free_here(struct tpool *tp)
{
	tp->freeing_tid = pthread_self();
	begin_free(tp);
	STEP(tp, "evpool_free()");
	evpool_free(tp->p);
	atomic_store(&tp->freed, true);
}

/* A wait of the chaos thread that should end soon: after 60 s, show what
 * is stuck and bail out (a hang is a failure too). */
static void
stuck(struct tpool *tp, const char *what)
{
	struct evpool_stats st;
	unsigned n = atomic_load(&W.nrecs), shown = 0;

	tap_diag("STUCK: pool %d (%s, %s): %s; submitted %u delivered %u",
		 tp->id, tp->process ? "process" : "thread", end_names[tp->how],
		 what, atomic_load(&tp->submitted), atomic_load(&tp->delivered));
	if (!atomic_load(&tp->freeing) && evpool_get_stats(tp->p, &st) == 0)
		tap_diag("stats: submitted %" PRIu64 " completed %" PRIu64
			 " failed %" PRIu64 " cancelled %" PRIu64 " timed_out %"
			 PRIu64 " crashed %" PRIu64 " queued %" PRIu64 " running %"
			 PRIu64 " workers %u idle %u busy %u",
			 st.submitted, st.completed, st.failed, st.cancelled,
			 st.timed_out, st.crashed, st.queued, st.running,
			 st.workers, st.idle_workers, st.busy_workers);
	for (unsigned i = 0; i < n && shown < 10; i++) {
		struct rec *r = &W.recs[i];
		if (r->tp == tp && r->submitted && atomic_load(&r->calls) == 0) {
			struct evpool_job *j = atomic_load(&r->job);
			tap_diag("undelivered record %u: kind %s dur %uus emits %u"
				 " input %zu timeout %d trigger %d cancel %d/%d"
				 " handle %s",
				 i, kind_name(r->hdr.kind), r->hdr.dur_us,
				 r->hdr.nemits, r->in_len, r->timeout_eff,
				 r->is_trigger,
				 r->cancel_called, r->cancel_ret0,
				 !j ? "-" : evpool_job_ready(j) ? "ready"
				 : "not ready");
			shown++;
		}
	}
	tap_bail("a pool delivered nothing for 60 s");
}

#define WAIT_OR_STUCK(cond, tp, what)                                        \
	do {                                                                 \
		double until_ = now_ms() + 60000;                            \
		unsigned seen_ = atomic_load(&(tp)->delivered);              \
		while (!(cond)) {                                            \
			if (atomic_load(&(tp)->delivered) != seen_) {        \
				seen_ = atomic_load(&(tp)->delivered);       \
				until_ = now_ms() + 60000;                   \
			}                                                    \
			if (now_ms() > until_)                               \
				stuck(tp, what);                             \
			sleep_us(200);                                       \
		}                                                            \
	} while (0)

/* Take the pool out of its slot and end it one of the ways. */
static void
pool_end(uint64_t *rs, struct slot *s)
{
	struct tpool *tp = atomic_load(&s->tp);
	enum end_how how = (enum end_how)rndn(rs, END_NHOW);
	int r;

	if (!tp)
		return;
	if (tp->base_idx < 0 && how >= END_FREE)
		how = (enum end_how)rndn(rs, END_FREE); /* see below */
	tp->how = how;
	W.ended[how]++;

	/* No new submit can reach the pool once it is out of the slot and
	 * the submitters that had it have left.  (Before the trigger below:
	 * its callback may free the pool at once.) */
	atomic_store(&s->tp, NULL);
	while (atomic_load(&s->users))
		sleep_us(50);

	if (how == END_FREE_IN_CB) {
		/* A last job whose callback frees the pool. */
		struct evpool_job_spec spec;
		struct rec *rr = rec_new();

		memset(&spec, 0, sizeof(spec));
		if (rr) {
			rr->tp = tp;
			rr->thread_mode = !tp->process;
			rr->hdr.magic = JHDR_MAGIC;
			rr->hdr.kind = K_OK;
			rr->hdr.dur_us = rndn(rs, 2000);
			rr->base_idx = tp->base_idx;
			rr->expect_loop = tp->base_idx;
			rr->timeout_eff = 0;
			rr->sum = fnv(&rr->hdr, sizeof(rr->hdr));
			spec.fn = stress_job;
			spec.arg = tp->process ? NULL : rr;
			spec.input = &rr->hdr;
			spec.input_len = sizeof(rr->hdr);
			spec.done = done_cb;
			spec.emit = emit_cb;
			spec.done_arg = rr;
			spec.priority = tp->prio ? INT32_MIN : 0;
			spec.timeout_ms = -1;
			tp->trigger = NULL;
			rr->is_trigger = true;
			atomic_fetch_add(&tp->submitted, 1);
			rr->submit_ret = evpool_submit_job(tp->p, &spec,
							   &tp->trigger);
			if (rr->submit_ret != 0)
				atomic_fetch_sub(&tp->submitted, 1);
			if (rr->submit_ret == 0) {
				rr->submitted = true;
				atomic_store(&rr->job, evpool_job_ref(tp->trigger));
			}
		}
		if (!rr || rr->submit_ret != 0) {
			tp->trigger = NULL;
			how = tp->how = END_FREE;
		}
	}

	switch (how) {
	case END_CLOSE_JOIN:
		STEP(tp, "evpool_close() + evpool_join(-1)");
		evpool_close(tp->p);
		r = evpool_join(tp->p, -1);
		if (r != 0)
			tap_diag("pool %d: join returned %d", tp->id, r);
		break;
	case END_TERMINATE:
		atomic_store(&tp->cancel_any, true);
		STEP(tp, "evpool_terminate()");
		r = evpool_terminate(tp->p);
		if (r != 0)
			tap_diag("pool %d: terminate returned %d", tp->id, r);
		break;
	case END_SHUTDOWN:
		atomic_store(&tp->cancel_any, true);
		STEP(tp, "evpool_shutdown() + evpool_join(-1)");
		r = evpool_shutdown(tp->p, (int)rndn(rs, 5));
		if (r != 0 && r != -ETIMEDOUT)
			tap_diag("pool %d: shutdown returned %d", tp->id, r);
		r = evpool_join(tp->p, -1);
		if (r != 0)
			tap_diag("pool %d: join after shutdown returned %d",
				 tp->id, r);
		break;
	default:
		break;
	}
	if (how <= END_SHUTDOWN) {
		/* Everything finished: once the loops have delivered it,
		 * the counters must balance and match the callbacks. */
		WAIT_OR_STUCK(atomic_load(&tp->delivered) >=
			      atomic_load(&tp->submitted), tp,
			      "waiting for the completions after join");
		check_stats(tp);
		stop_drainer(tp);
		free_here(tp);
		return;
	}
	atomic_store(&tp->cancel_any, true);
	switch (how) {
	case END_FREE:
		free_here(tp);
		break;
	case END_FREE_ON_LOOP: {
		struct timeval zero = { 0, 0 };
		int li = (int)rndn(rs, NLOOPS);

		atomic_store(&tp->free_on_loop, li);
		if (event_base_once(W.loops[li].base, -1, EV_TIMEOUT,
				    free_on_loop_cb, tp, &zero) < 0)
			tap_bail("event_base_once failed");
		WAIT_OR_STUCK(atomic_load(&tp->freed), tp, "free on a loop");
		break;
	}
	case END_FREE_IN_CB:
		evpool_job_unref(tp->trigger);
		/* The free runs on the loop after the trigger's batch; every
		 * job is delivered by then. */
		WAIT_OR_STUCK(atomic_load(&tp->freeing) &&
			      atomic_load(&tp->delivered) >=
			      atomic_load(&tp->submitted), tp,
			      "waiting for the freeing callback");
		break;
	default:
		break;
	}
}

/* ---- chaos ----------------------------------------------------------------- */

static struct rec *
random_kept(uint64_t *rs)
{
	unsigned n = atomic_load(&W.nrecs);

	for (int tries = 0; tries < 8 && n; tries++) {
		struct rec *r = &W.recs[rndn(rs, n)];
		if (atomic_load(&r->job))
			return r;
	}
	return NULL;
}

static void
chaos_step(uint64_t *rs)
{
	struct slot *s = &W.slots[rndn(rs, NSLOTS)];
	struct tpool *tp = atomic_load(&s->tp);
	unsigned k = rndn(rs, 1000);
	struct rec *r;

	if (k < 400) {
		r = random_kept(rs);
		if (r && !r->cancel_called) {
			int c;

			r->cancel_called = true; /* before: the callback reads it
						  * only at the end of the round */
			c = evpool_job_cancel(atomic_load(&r->job));
			r->cancel_ret0 = c == 0;
			if (c != 0 && c != -EBUSY && c != -EALREADY)
				tap_diag("evpool_job_cancel returned %d", c);
		}
	} else if (k < 500) {
		r = random_kept(rs);
		if (r) {
			int w = evpool_job_wait(atomic_load(&r->job),
						(int)rndn(rs, 3));
			if (w != 0 && w != -ETIMEDOUT)
				tap_diag("evpool_job_wait returned %d", w);
			if (w == 0 && !evpool_job_ready(atomic_load(&r->job)))
				tap_diag("evpool_job_wait: 0 but not ready");
		}
	} else if (k < 530 && tp) {
		/* Only the chaos thread changes slots, so tp stays alive. */
		atomic_store(&tp->cancel_any, true);
		if (evpool_cancel_all(tp->p) < 0)
			tap_diag("evpool_cancel_all failed");
	} else if (k < 570 && tp) {
		int m = evpool_set_max_workers(tp->p, 1 + rndn(rs, 6));
		if (m != 0)
			tap_diag("evpool_set_max_workers returned %d", m);
	} else if (k < 620 && tp) {
		struct evpool_stats st;
		if (evpool_get_stats(tp->p, &st) == 0 &&
		    st.completed + st.failed + st.cancelled + st.timed_out +
		    st.crashed > st.submitted)
			tap_diag("pool %d: more finished than submitted", tp->id);
	} else if (k < 640) {
		if (tp)
			pool_end(rs, s);
		atomic_store(&s->tp, pool_make(rs));
	}
}

/* ---- checking ---------------------------------------------------------------- */

/* Is @p r's status allowed by what was done to it? */
static bool
status_allowed(struct rec *r)
{
	int st = r->status;
	bool cancelled = r->cancel_called || atomic_load(&r->tp->cancel_any);
	bool crashy = r->hdr.kind >= K_SEGV;

	if (r->cancel_ret0)
		return st == -ECANCELED;
	if (st == -ECANCELED)
		/* A cooperative job that saw the cancel flag set by its
		 * timeout may itself return -ECANCELED first. */
		return cancelled ||
		       (r->hdr.kind == K_COOP && r->timeout_eff > 0) ||
		       (r->hdr.nemits && r->timeout_eff > 0);
	if (st == -ETIMEDOUT)
		return r->timeout_eff > 0;
	if (crashy)
		return st == EVPOOL_ECRASHED;
	if (st == 0)
		return r->hdr.kind != K_FAIL;
	if (st == -EIO)
		return r->hdr.kind == K_FAIL;
	return false;
}

struct round_result {
	unsigned submitted, refused, not_once, called_refused, wrong_thread,
		fallback, bad_status, bad_result, bad_emits, multi_run,
		handle_bad, by_status[6];
};

static void
check_records(struct round_result *rr)
{
	unsigned n = atomic_load(&W.nrecs);
	int shown = 0;

	memset(rr, 0, sizeof(*rr));
	for (unsigned i = 0; i < n; i++) {
		struct rec *r = &W.recs[i];
		int calls = atomic_load(&r->calls);
		struct evpool_job *job = atomic_load(&r->job);
		bool bad = false;

		if (!r->tp)
			continue; /* claimed by rec_new(), never filled */
		if (!r->submitted) {
			rr->refused++;
			if (calls != 0) {
				rr->called_refused++;
				bad = true;
			}
			if (r->submit_ret != -EAGAIN &&
			    r->submit_ret != -ESHUTDOWN &&
			    r->submit_ret != -ETIMEDOUT) {
				rr->bad_status++;
				bad = true;
			}
			goto show;
		}
		rr->submitted++;
		if (calls != 1) {
			rr->not_once++;
			bad = true;
		}
		if (r->wrong_thread) {
			rr->wrong_thread++;
			bad = true;
		}
		if (r->fallback_thread)
			rr->fallback++;
		if (calls == 1 && !status_allowed(r)) {
			rr->bad_status++;
			bad = true;
		}
		if (r->bad_result) {
			rr->bad_result++;
			bad = true;
		}
		if (r->emits_bad || r->emits_late) {
			rr->bad_emits++;
			bad = true;
		}
		if (atomic_load(&r->runs) > 1) {
			rr->multi_run++;
			bad = true;
		}
		if (job && (evpool_job_ready(job) != 1 ||
			    (calls == 1 && evpool_job_status(job) != r->status))) {
			if (rr->handle_bad < 5)
				tap_diag("record %u: kept handle says ready %d status %d,"
					 " the callback saw %d", i,
					 evpool_job_ready(job), evpool_job_status(job),
					 r->status);
			rr->handle_bad++;
			bad = true;
		}
		switch (r->status) {
		case 0: rr->by_status[0]++; break;
		case -ECANCELED: rr->by_status[1]++; break;
		case -ETIMEDOUT: rr->by_status[2]++; break;
		case EVPOOL_ECRASHED: rr->by_status[3]++; break;
		case -EIO: rr->by_status[4]++; break;
		default: rr->by_status[5]++; break;
		}
	show:
		if (bad && shown++ < 10)
			tap_diag("record %u: pool %d (%s, %s) kind %s dur %uus emits %u/%u"
				 " timeout %d submit %d calls %d status %d (%s)"
				 " cancel %d/%d pool-cancel %d thread %s%s runs %d",
				 i, r->tp->id, r->tp->process ? "process" : "thread",
				 end_names[r->tp->how], kind_name(r->hdr.kind),
				 r->hdr.dur_us, r->emits_seen, r->hdr.nemits,
				 r->timeout_eff, r->submit_ret, calls, r->status,
				 evpool_err_name(r->status), r->cancel_called,
				 r->cancel_ret0, (int)atomic_load(&r->tp->cancel_any),
				 r->wrong_thread ? "WRONG" : "ok",
				 r->bad_result ? " bad-result" : "",
				 atomic_load(&r->runs));
	}
	/* Drop the kept handles only now: a handle seen twice (a job handed
	 * to two submits) must not be read after its release. */
	for (unsigned i = 0; i < n; i++) {
		struct evpool_job *job = atomic_load(&W.recs[i].job);
		if (job)
			evpool_job_unref(job);
	}
}

/* ---- a round ---------------------------------------------------------------- */

/* A round that hangs (a blocking call that never returns) fails fast. */
static char hung_msg[128];

static void
on_alarm(int sig)
{
	ssize_t n;

	(void)sig;
	n = write(1, "# the chaos thread was in: ", 27);
	n = write(1, step_msg, strlen(step_msg));
	n = write(1, "\n", 1);
	n = write(1, hung_msg, strlen(hung_msg));
	(void)n;
	_exit(255);
}

static void
run_round(int round, double ms, bool process)
{
	int fd0 = count_dir("/proc/self/fd");
	int th0 = count_dir("/proc/self/task");
	int ch0 = count_children();
	pthread_t subs[NSUBMITTERS];
	struct round_result rr;
	uint64_t rs = W.seed ^ ((uint64_t)round * 0x9E3779B97F4A7C15ULL);
	double end;
	int fd1, th1, ch1;
	bool stats_all = true;
	unsigned stats_n = 0;
	char what[32];

	rnd(&rs);
	snprintf(hung_msg, sizeof(hung_msg),
		 "Bail out! round %d (%s) still running after %.0f s: a hang\n",
		 round, process ? "process+thread" : "thread", ms / 1000 + 120);
	alarm((unsigned)(ms / 1000) + 120);
	memset(W.recs, 0, sizeof(struct rec) * MAX_RECS);
	atomic_store(&W.nrecs, 0);
	atomic_store(&W.stop_submit, false);
	W.pools = NULL;
	W.process_round = process;
	snprintf(what, sizeof(what), "round %d (%s)", round,
		 process ? "process+thread" : "thread");

	for (int i = 0; i < NLOOPS; i++) {
		struct loop *l = &W.loops[i];
		l->base = event_base_new();
		if (!l->base)
			tap_bail("event_base_new failed");
		atomic_store(&l->running, false);
		if (pthread_create(&l->tid, NULL, loop_main, l))
			tap_bail("pthread_create failed");
		while (!atomic_load(&l->running))
			sleep_us(100);
	}
	for (int i = 0; i < NSLOTS; i++) {
		atomic_store(&W.slots[i].users, 0);
		atomic_store(&W.slots[i].tp, pool_make(&rs));
	}
	for (int i = 0; i < NSUBMITTERS; i++)
		if (pthread_create(&subs[i], NULL, submitter_main,
				   (void *)(uintptr_t)(rnd(&rs) | 1)))
			tap_bail("pthread_create failed");

	end = now_ms() + ms;
	while (now_ms() < end && atomic_load(&W.nrecs) < MAX_RECS) {
		chaos_step(&rs);
		if (chance(&rs, 70))
			sleep_us(rndn(&rs, 2000));
	}

	atomic_store(&W.stop_submit, true);
	for (int i = 0; i < NSUBMITTERS; i++)
		pthread_join(subs[i], NULL);
	for (int i = 0; i < NSLOTS; i++)
		pool_end(&rs, &W.slots[i]);
	for (int i = 0; i < NLOOPS; i++) {
		event_base_loopbreak(W.loops[i].base);
		pthread_join(W.loops[i].tid, NULL);
	}
	for (int i = 0; i < NLOOPS; i++) {
		event_base_free(W.loops[i].base);
		W.loops[i].base = NULL;
		W.loops[i].tid = (pthread_t)0;
	}

	check_records(&rr);
	while (W.pools) {
		struct tpool *tp = W.pools;
		W.pools = tp->next;
		if (tp->stats_checked) {
			stats_n++;
			if (!tp->stats_ok) {
				stats_all = false;
				tap_diag("%s", tp->stats_msg);
			}
		}
		free(tp);
	}

	tap_diag("%s: %u submitted, %u refused; ok %u cancelled %u timed out %u"
		 " crashed %u failed %u other %u; %u delivered by evpool_free()'s"
		 " caller (documented)", what, rr.submitted, rr.refused,
		 rr.by_status[0], rr.by_status[1], rr.by_status[2],
		 rr.by_status[3], rr.by_status[4], rr.by_status[5], rr.fallback);
	tap_ok(rr.not_once == 0 && rr.called_refused == 0,
	       "%s: every successful submit completed exactly once, no refused one"
	       " ever (%u not once, %u refused but called)", what, rr.not_once,
	       rr.called_refused);
	tap_ok(rr.wrong_thread == 0,
	       "%s: every completion ran on its base's loop thread (%u wrong)",
	       what, rr.wrong_thread);
	tap_ok(rr.bad_status == 0 && rr.multi_run == 0,
	       "%s: every status is consistent with what was done to the job"
	       " (%u not, %u ran twice)", what, rr.bad_status, rr.multi_run);
	tap_ok(rr.bad_result == 0 && rr.bad_emits == 0 && rr.handle_bad == 0,
	       "%s: results, partial results and kept handles are right"
	       " (%u bad results, %u bad emits, %u bad handles)", what,
	       rr.bad_result, rr.bad_emits, rr.handle_bad);
	tap_ok(stats_all, "%s: stats balance and match the callbacks in the %u"
	       " pools ended by join", what, stats_n);

	/* Children may take a moment to be reaped; threads to vanish. */
	for (int i = 0; i < 200; i++) {
		fd1 = count_dir("/proc/self/fd");
		th1 = count_dir("/proc/self/task");
		ch1 = count_children();
		if (fd1 == fd0 && th1 == th0 && ch1 == ch0)
			break;
		sleep_us(10000);
	}
	tap_ok(fd1 == fd0, "%s: no fd leaked (%d before, %d after)", what, fd0, fd1);
	tap_ok(th1 == th0, "%s: no thread leaked (%d before, %d after)", what,
	       th0, th1);
	tap_ok(ch1 == ch0, "%s: no child process leaked (%d before, %d after)",
	       what, ch0, ch1);
	alarm(0);
}

static void *
warm_up(void *arg)
{
	return arg;
}

static bool
process_mode_available(void)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *p = NULL;
	int r;

	if (!cfg)
		return false;
	evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
	r = evpool_new(&p, NULL, cfg);
	evpool_config_free(cfg);
	if (r < 0)
		return false;
	evpool_free(p);
	return true;
}

int
main(void)
{
	const char *e = getenv("EVPOOL_STRESS_SECONDS");
	double secs = e ? atof(e) : 15;
	double start = now_ms(), round_ms;
	int round = 0;
	struct rlimit rl;

	/* Crashing workers must not leave core files behind. */
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (evthread_use_pthreads() < 0)
		tap_bail("evthread_use_pthreads failed");
	e = getenv("EVPOOL_STRESS_SEED");
	W.seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	if (!W.seed)
		W.seed = 1;
	W.recs = calloc(MAX_RECS, sizeof(struct rec));
	if (!W.recs)
		tap_bail("out of memory");
	/* Also warms up what starts with the first thread or pool (TSan's
	 * background thread), so round 1 counts threads like the others. */
	W.process_ok = process_mode_available();
	{
		pthread_t t;

		if (pthread_create(&t, NULL, warm_up, NULL) == 0)
			pthread_join(t, NULL);
	}
	racy = getenv("EVPOOL_STRESS_RACY") != NULL;
	process_only = getenv("EVPOOL_STRESS_PROCESS_ONLY") != NULL;
	e = getenv("EVPOOL_STRESS_BIG_PERCENT");
	if (e)
		big_percent = atoi(e) < 0 ? 0 : atoi(e) > 30 ? 30 : (unsigned)atoi(e);
	tap_diag("seed %" PRIu64 " (EVPOOL_STRESS_SEED), %.0f s (EVPOOL_STRESS_SECONDS),"
		 " process mode %s", W.seed, secs,
		 W.process_ok ? "available" : "not available: thread rounds only");
	round_ms = secs < 10 ? secs * 1000 / 4 : 2500;
	e = getenv("EVPOOL_STRESS_ROUND_MS");
	if (e)
		round_ms = atof(e);
	if (round_ms < 300)
		round_ms = 300;

	do {
		bool process = W.process_ok && (process_only || round % 2 == 1);
		run_round(++round, round_ms, process);
	} while (now_ms() - start + round_ms < secs * 1000);

	tap_diag("%d rounds in %.1f s; %lu pools; ended by close+join %lu,"
		 " terminate %lu, shutdown %lu, free %lu, free-on-loop %lu,"
		 " free-in-callback %lu; %lu child submits, %lu nested waits",
		 round, (now_ms() - start) / 1000, W.pools_made,
		 W.ended[END_CLOSE_JOIN], W.ended[END_TERMINATE],
		 W.ended[END_SHUTDOWN], W.ended[END_FREE],
		 W.ended[END_FREE_ON_LOOP], W.ended[END_FREE_IN_CB],
		 atomic_load(&W.child_submits), atomic_load(&W.nested_waits));
	printf("1..%lu\n", tap_n);
	free(W.recs);
	return tap_failed ? 1 : 0;
}

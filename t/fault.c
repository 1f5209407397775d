/*
 * fault.c — fault-injection sweep (built only with --enable-fault-injection).
 *
 * DESIGN: one scenario walks the whole life of a pool — config, evpool_new()
 * on a base, six submits (byte input, partial results, one with a timeout so
 * the timer thread starts, one that waits for a worker), delivery on the
 * loop, evpool_free().  For each kind of failing call (malloc, thread
 * creation, eventfd/pipe, fork, write) the scenario first runs with the
 * hook counting only, to learn how many such calls the path makes; then it
 * runs once per N with the N-th call failing.  After each run:
 *   - every step returned 0 or a negative error code the header documents;
 *   - a refused submit was never called back, an accepted one exactly once,
 *     with status 0 or an error (never lost: the loop gives up after 10 s);
 *   - in thread mode one fault fails at most one submit or job: the others
 *     complete with status 0 (no other job lost);
 *   - no fd or thread is left behind (no leak of memory either: this build
 *     runs under ASan/LeakSanitizer in `make check`).
 * Both modes when process mode is there.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

/* The test-only API of lib/fault/fault.h (exported by the fault build). */
#define EVPOOL_FAULT_MALLOC 0x01u
#define EVPOOL_FAULT_THREAD 0x02u
#define EVPOOL_FAULT_FD 0x04u
#define EVPOOL_FAULT_FORK 0x08u
#define EVPOOL_FAULT_WRITE 0x10u
void evpool__fault_arm(unsigned kinds, long nth, int err);
void evpool__fault_disarm(void);
long evpool__fault_calls(void);
unsigned evpool__fault_fired(void);

#define NJOBS 6

struct run {
	int calls[NJOBS];
	int status[NJOBS];
	int submit[NJOBS];
	int emits[NJOBS];
	int new_ret;
	int bad_code;		/* a step returned an undocumented code */
	bool lost;		/* the loop waited 10 s for a completion */
};

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
	return n;
}

static bool
documented(int code)
{
	switch (code) {
	case 0:
	case -EINVAL:
	case -ENOMEM:
	case -EAGAIN:
	case -ESHUTDOWN:
	case -ECANCELED:
	case -ETIMEDOUT:
	case -EMFILE:
	case -ENFILE:
	case EVPOOL_ECRASHED:
	case EVPOOL_EPROTO:
	case EVPOOL_ESPAWN:
		return true;
	default:
		return false;
	}
}

static int
job_fn(struct evpool_ctx *ctx)
{
	size_t len;
	const unsigned char *in = evpool_ctx_input(ctx, &len);
	int r;

	if (!in || len < 2)
		return -EPROTO;
	if (in[1] == 'S')
		usleep(30000); /* the timed job: finishes before its timeout */
	for (int i = 0; i < in[0] % 3; i++) {
		r = evpool_ctx_emit(ctx, &i, sizeof(i));
		if (r < 0)
			return r;
	}
	return evpool_ctx_set_result_bytes(ctx, in, len);
}

struct slot {
	struct run *run;
	int idx;
};

static void
done_cb(struct evpool_job *job, void *arg)
{
	struct slot *s = arg;

	s->run->calls[s->idx]++;
	s->run->status[s->idx] = evpool_job_status(job);
}

static void
emit_cb(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	struct slot *s = arg;

	(void)job;
	(void)data;
	(void)len;
	s->run->emits[s->idx]++;
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
scenario(bool process, struct run *run)
{
	struct event_base *base = event_base_new();
	struct evpool_config *cfg;
	struct evpool *pool = NULL;
	struct slot slots[NJOBS];
	struct event *ev;
	struct timeval ms10 = { 0, 10000 };
	double until;
	int ok = 0, seen;

	memset(run, 0, sizeof(*run));
	if (!base)
		bail("event_base_new failed");
	ev = event_new(base, -1, EV_PERSIST, tick, NULL);
	if (!ev)
		bail("event_new failed");
	event_add(ev, &ms10);
	cfg = evpool_config_new();
	if (!cfg) {
		run->new_ret = -ENOMEM;
		goto out;
	}
	if (process)
		evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
	evpool_config_set_workers(cfg, 1, 2);
	evpool_config_set_emit_window(cfg, 1);
	run->new_ret = evpool_new(&pool, base, cfg);
	evpool_config_free(cfg);
	if (!documented(run->new_ret))
		run->bad_code++;
	if (run->new_ret < 0)
		goto out;
	for (int i = 0; i < NJOBS; i++) {
		struct evpool_job_spec spec;
		unsigned char in[64];

		memset(&spec, 0, sizeof(spec));
		memset(in, 'x', sizeof(in));
		in[0] = (unsigned char)i;
		in[1] = i == 2 ? 'S' : 'F';
		slots[i].run = run;
		slots[i].idx = i;
		spec.fn = job_fn;
		spec.input = in;
		spec.input_len = 8 + (size_t)i * 8;
		spec.done = done_cb;
		spec.emit = emit_cb;
		spec.done_arg = &slots[i];
		spec.priority = i % 2;
		spec.timeout_ms = i == 2 ? 5000 : 0;
		run->submit[i] = evpool_submit_job(pool, &spec, NULL);
		if (!documented(run->submit[i]))
			run->bad_code++;
		if (run->submit[i] == 0)
			ok++;
	}
	/* Deliver on this loop; a completion that never comes is a lost job. */
	until = tap_now_ms() + 10000;
	for (;;) {
		seen = 0;
		for (int i = 0; i < NJOBS; i++)
			seen += run->calls[i];
		if (seen >= ok)
			break;
		if (tap_now_ms() > until) {
			run->lost = true;
			break;
		}
		event_base_loop(base, EVLOOP_ONCE);
	}
	evpool_free(pool);
out:
	event_free(ev);
	event_base_free(base);
	for (int i = 0; i < NJOBS; i++)
		if (run->calls[i] && !documented(run->status[i]))
			run->bad_code++;
}

static const struct {
	unsigned kind;
	const char *name;
} kinds[] = {
	{ EVPOOL_FAULT_MALLOC, "malloc" },
	{ EVPOOL_FAULT_THREAD, "pthread_create" },
	{ EVPOOL_FAULT_FD, "eventfd/pipe/socketpair" },
	{ EVPOOL_FAULT_FORK, "fork" },
	{ EVPOOL_FAULT_WRITE, "write" },
};

/* Sweep one kind in one mode.  @return the number of runs that failed. */
static unsigned
sweep(bool process, unsigned kind, const char *kname)
{
	struct run run;
	long total;
	unsigned bad = 0, fired = 0;
	const char *mode = process ? "process" : "thread";

	evpool__fault_arm(kind, 0, 0); /* count only */
	scenario(process, &run);
	total = evpool__fault_calls();
	evpool__fault_disarm();

	for (long n = 1; n <= total + 1; n++) {
		int fd0 = count_dir("/proc/self/fd");
		int th0 = count_dir("/proc/self/task");
		int fd1 = fd0, th1 = th0, failed = 0, refused = 0;
		bool once = true, ok_run;

		evpool__fault_arm(kind, n, 0);
		scenario(process, &run);
		if (evpool__fault_fired())
			fired++;
		evpool__fault_disarm();
		for (int i = 0; i < NJOBS; i++) {
			if (run.new_ret < 0)
				break;
			if (run.submit[i] < 0) {
				refused++;
				once = once && run.calls[i] == 0;
			} else {
				once = once && run.calls[i] == 1;
				failed += run.status[i] != 0;
			}
		}
		/* Threads of a freed pool are joined; children reaped.  Give
		 * the kernel a moment to drop exited tasks. */
		for (int i = 0; i < 100; i++) {
			fd1 = count_dir("/proc/self/fd");
			th1 = count_dir("/proc/self/task");
			if (fd1 == fd0 && th1 == th0)
				break;
			tap_sleep_ms(10);
		}
		ok_run = once && !run.lost && !run.bad_code && fd1 == fd0 &&
			 th1 == th0 && (process || failed + refused <= 1);
		if (!ok_run) {
			bad++;
			if (bad <= 5)
				diag("%s mode, %s call %ld of %ld failed: new %d (%s),"
				     " %d refused, %d jobs failed, exactly-once %s,"
				     " lost %s, undocumented codes %d, fds %d->%d,"
				     " threads %d->%d", mode, kname, n, total,
				     run.new_ret, evpool_err_name(run.new_ret),
				     refused, failed, once ? "yes" : "NO",
				     run.lost ? "YES" : "no", run.bad_code, fd0,
				     fd1, th0, th1);
			if (bad <= 5)
				for (int i = 0; i < NJOBS; i++)
					diag("  job %d: submit %s, calls %d, status %s",
					     i, evpool_err_name(run.submit[i]),
					     run.calls[i],
					     evpool_err_name(run.status[i]));
		}
	}
	ok(bad == 0, "%s mode: failing each of the %ld %s calls of the path"
	   " in turn: clear errors, every job completed exactly once, none"
	   " lost, nothing leaked (%u bad, %u injected)", mode, total, kname,
	   bad, fired);
	return bad;
}

int
main(void)
{
	struct evpool_config *cfg;
	struct evpool *p;
	bool process;
	size_t nk = sizeof(kinds) / sizeof(kinds[0]);

	cfg = evpool_config_new();
	evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS);
	process = evpool_new(&p, NULL, cfg) == 0;
	if (process)
		evpool_free(p);
	evpool_config_free(cfg);

	plan(2 * nk);
	tap_watchdog(900, "the fault-injection sweep");
	for (size_t k = 0; k < nk; k++)
		sweep(false, kinds[k].kind, kinds[k].name);
	for (size_t k = 0; k < nk; k++) {
		if (!process)
			skip(1, "no process mode in this build");
		else
			sweep(true, kinds[k].kind, kinds[k].name);
	}
	return 0;
}

/*
 * notify.c — the wakeup path, once with an eventfd and once with a pipe (and
 * once with the automatic choice): completions reach the loop, wakeups are
 * coalesced and delivered in batches, and evpool_fd() + evpool_drain() serve
 * programs that run some other loop (here: a plain poll() loop).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"

#define NJOBS 1000
#define NPOLL 2000

static pthread_t main_tid;

struct counts {
	atomic_int calls[NPOLL];
	atomic_int total;
	atomic_int off_thread;	/* callbacks not on the expected thread */
	pthread_t expect_tid;
};

static struct counts C;

static void counts_reset(pthread_t expect)
{
	memset(&C, 0, sizeof(C));
	C.expect_tid = expect;
}

static int job_nop(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static void cb_count(struct evpool_job *job, void *arg)
{
	int i = (int)(intptr_t)arg;

	(void)job;
	if (i >= 0 && i < NPOLL)
		atomic_fetch_add(&C.calls[i], 1);
	if (!pthread_equal(pthread_self(), C.expect_tid))
		atomic_fetch_add(&C.off_thread, 1);
	atomic_fetch_add(&C.total, 1);
}

/* Every one of the first @p n jobs called back exactly once. */
static int exactly_once(int n)
{
	int i, bad = 0;

	for (i = 0; i < n; i++)
		if (atomic_load(&C.calls[i]) != 1)
			bad++;
	if (bad)
		diag("%d of %d jobs did not call back exactly once", bad, n);
	return bad == 0;
}

static int submit_many(struct evpool *pool, struct event_base *base, int n,
		       struct evpool_job **jobs)
{
	struct evpool_job_spec spec;
	int i, fails = 0;

	for (i = 0; i < n; i++) {
		memset(&spec, 0, sizeof(spec));
		spec.fn = job_nop;
		spec.done = cb_count;
		spec.done_arg = (void *)(intptr_t)i;
		spec.base = base;
		if (evpool_submit_job(pool, &spec, jobs ? &jobs[i] : NULL) != 0) {
			fails++;
			if (jobs)
				jobs[i] = NULL;
		}
	}
	return fails;
}

static int all_ready(struct evpool_job **jobs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (jobs[i] && !evpool_job_ready(jobs[i]))
			return 0;
	return 1;
}

static void unref_all(struct evpool_job **jobs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		evpool_job_unref(jobs[i]);
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* "eventfd", "pipe" or "other" */
static const char *fd_kind(int fd)
{
	char path[64], link[128];
	struct stat sb;
	ssize_t n;

	if (fstat(fd, &sb) == 0 && S_ISFIFO(sb.st_mode))
		return "pipe";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (strstr(link, "eventfd") != NULL)
			return "eventfd";
	}
	return "other";
}

/* Wakeups waiting on the fd, read without consuming them: the eventfd
 * counter from /proc/self/fdinfo, or the bytes in the pipe. -1 unknown. */
static long pending_wakeups(int fd)
{
	const char *kind = fd_kind(fd);

	if (strcmp(kind, "pipe") == 0) {
		int n = 0;

		return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
	}
	if (strcmp(kind, "eventfd") == 0) {
		char path[64], line[128];
		FILE *f;
		long v = -1;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		f = fopen(path, "r");
		if (f == NULL)
			return -1;
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "eventfd-count:", 14) == 0)
				v = strtol(line + 14, NULL, 16);
		fclose(f);
		return v;
	}
	return -1;
}

#define PER_MODE 23

static void check_mode(enum evpool_notify mode, const char *mname,
		       const char *want_kind, struct event_base *base)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool = NULL, *dpool = NULL;
	struct evpool_job **jobs = calloc(NJOBS, sizeof(*jobs));
	int fd, rc, iters, drains, n, total, timeouts;
	long wake;
	double deadline;

	if (cfg == NULL || jobs == NULL)
		bail("out of memory");
	evpool_config_set_notify(cfg, mode);
	rc = evpool_new(&pool, base, cfg);
	if (rc == -ENOSYS && mode == EVPOOL_NOTIFY_EVENTFD) {
		skip(PER_MODE, "eventfd is not available here");
		evpool_config_free(cfg);
		free(jobs);
		return;
	}
	is_int(0, rc, "[%s] evpool_new() succeeds", mname);
	if (pool == NULL)
		bail("no pool");

	/* ---- the fd itself ------------------------------------------------- */
	fd = evpool_fd(pool);
	ok(fd >= 0, "[%s] evpool_fd() gives a descriptor (%d)", mname, fd);
	is_string(want_kind, fd_kind(fd), "[%s] and it is a %s", mname, want_kind);
	ok(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK),
	   "[%s] it is non-blocking", mname);

	/* ---- completions on the base ----------------------------------------- */
	counts_reset(main_tid);
	is_int(0, submit_many(pool, NULL, 500, NULL), "[%s] 500 jobs are submitted", mname);
	tap_watchdog(30, "notify: dispatch of 500 jobs");
	event_base_dispatch(base);
	ok(exactly_once(500), "[%s] each of the 500 callbacks ran exactly once", mname);
	is_int(0, atomic_load(&C.off_thread), "[%s] all on the loop thread", mname);

	/* Batches: let 1000 completions pile up, then count loop wakeups. */
	counts_reset(main_tid);
	is_int(0, submit_many(pool, NULL, NJOBS, jobs),
	       "[%s] %d jobs are submitted and left to finish", mname, NJOBS);
	ok(tap_wait_until(all_ready(jobs, NJOBS), 20000),
	   "[%s] all %d have finished while the loop did not run", mname, NJOBS);
	tap_sleep_ms(100);
	is_int(0, atomic_load(&C.total), "[%s] no callback ran outside the loop", mname);
	tap_watchdog(30, "notify: batched delivery");
	for (iters = 0; atomic_load(&C.total) < NJOBS && iters < 5000; iters++)
		event_base_loop(base, EVLOOP_ONCE);
	ok(exactly_once(NJOBS), "[%s] each of them called back exactly once", mname);
	ok(iters <= 10, "[%s] in batches: %d loop wakeups delivered %d completions",
	   mname, iters, NJOBS);
	unref_all(jobs, NJOBS);
	tap_watchdog(10, "notify: dispatch after batches");
	rc = event_base_dispatch(base);
	is_int(1, rc, "[%s] then the loop has nothing left and returns", mname);

	/* ---- a pool without a base: evpool_fd() + evpool_drain() -------------- */
	rc = evpool_new(&dpool, NULL, cfg);
	is_int(0, rc, "[%s] a pool without a base is made", mname);
	if (dpool == NULL)
		bail("no pool");
	fd = evpool_fd(dpool);
	ok(fd >= 0 && !readable(fd, 0) && evpool_drain(dpool) == 0,
	   "[%s] with nothing pending its fd is not readable and drain runs nothing", mname);

	counts_reset(main_tid);
	submit_many(dpool, NULL, NJOBS, jobs);
	tap_wait_until(all_ready(jobs, NJOBS), 20000);
	tap_sleep_ms(100);
	ok(readable(fd, 0), "[%s] with %d completions pending the fd is readable", mname, NJOBS);
	wake = pending_wakeups(fd);
	ok(wake >= 1 && wake <= 10,
	   "[%s] wakeups are coalesced: %d completions left %ld on the fd", mname,
	   NJOBS, wake);
	for (drains = 0, total = 0; total < NJOBS && drains < 1000; drains++) {
		n = evpool_drain(dpool);
		if (n < 0)
			break;
		total += n;
	}
	is_int(NJOBS, total, "[%s] evpool_drain() ran all %d callbacks", mname, NJOBS);
	ok(drains <= 3, "[%s] in %d call(s)", mname, drains);
	ok(exactly_once(NJOBS) && atomic_load(&C.off_thread) == 0,
	   "[%s] each exactly once, in the draining thread", mname);
	ok(evpool_drain(dpool) == 0 && !readable(fd, 0),
	   "[%s] once all is drained the fd is not readable any more", mname);
	unref_all(jobs, NJOBS);

	/* A poll() loop racing with the workers. */
	counts_reset(main_tid);
	submit_many(dpool, NULL, NPOLL, NULL);
	tap_watchdog(30, "notify: poll loop");
	timeouts = 0;
	deadline = tap_now_ms() + 30000;
	while (atomic_load(&C.total) < NPOLL && tap_now_ms() < deadline) {
		if (!readable(fd, 5000)) {
			timeouts++;	/* work pending but no wakeup for 5 s */
			if (atomic_load(&C.total) < NPOLL)
				diag("poll timed out with %d of %d delivered",
				     atomic_load(&C.total), NPOLL);
		}
		evpool_drain(dpool);
	}
	ok(exactly_once(NPOLL) && atomic_load(&C.off_thread) == 0,
	   "[%s] a poll() loop on evpool_fd() delivers %d jobs exactly once", mname, NPOLL);
	is_int(0, timeouts, "[%s] and the fd never failed to wake it while work was pending",
	       mname);

	tap_watchdog(20, "notify: evpool_free");
	evpool_free(dpool);
	evpool_free(pool);
	evpool_config_free(cfg);
	free(jobs);
}

/* A callback that drains again (re-entrant evpool_drain()). */
static struct evpool *nested_pool;
static atomic_int nested_rc = -1000;

static void cb_nested(struct evpool_job *job, void *arg)
{
	cb_count(job, arg);
	if (atomic_load(&nested_rc) == -1000)
		atomic_store(&nested_rc, evpool_drain(nested_pool));
}

/* Drain from another thread: callbacks run in that thread. */
struct drainer {
	struct evpool *pool;
	pthread_t tid;
	int total;
};

static void *thread_drain(void *arg)
{
	struct drainer *d = arg;
	int fd = evpool_fd(d->pool);
	double deadline = tap_now_ms() + 20000;

	while (d->total < 10 && tap_now_ms() < deadline) {
		readable(fd, 100);
		d->total += evpool_drain(d->pool);
	}
	return NULL;
}

static void other_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Loop once at a time until @p n callbacks ran or @p ms passed. */
static int loop_until_total(struct event_base *base, int n, int ms)
{
	double end = tap_now_ms() + ms;

	while (atomic_load(&C.total) < n && tap_now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	return atomic_load(&C.total) == n;
}

/* A pool on a base that has other events keeps its mailbox's event for a
 * moment after the last delivery (so a light load pays no epoll_ctl per
 * job): jobs submitted meanwhile still arrive, and once the other events go
 * the pool's goes too, so dispatch returns. */
static void check_linger(void)
{
	struct event_base *base = event_base_new();
	struct timeval ms1 = { 0, 1000 };
	struct evpool *pool = NULL;
	struct event *other;
	double t0;
	int rc, idle;

	if (!base || evpool_new(&pool, base, NULL) != 0)
		bail("linger: no base or pool");
	other = event_new(base, -1, EV_PERSIST, other_cb, NULL);
	if (!other || event_add(other, &ms1))
		bail("linger: event_add");
	/* Once the loop has run, before any job: the other event and any
	 * the pool keeps; the mailbox's is not among them. */
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	idle = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
	counts_reset(main_tid);
	submit_many(pool, NULL, 1, NULL);
	ok(loop_until_total(base, 1, 10000),
	   "linger: with another event on the base, a job is delivered");
	rc = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
	ok(rc > idle, "linger: after the delivery the pool's event stays added "
	   "beside the other one, no epoll_ctl per job (%d events, %d before)",
	   rc, idle);
	tap_sleep_ms(5);	/* its mailbox lingers now */
	counts_reset(main_tid);
	submit_many(pool, NULL, 3, NULL);
	ok(loop_until_total(base, 3, 10000) && exactly_once(3) &&
		   atomic_load(&C.off_thread) == 0,
	   "linger: jobs submitted after the last delivery still arrive, once each");
	event_del(other);
	t0 = tap_now_ms();
	rc = event_base_dispatch(base);
	ok(rc >= 0 && tap_now_ms() - t0 < 5000 &&
		   event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 0,
	   "linger: once the other event is gone, dispatch returns and the pool "
	   "leaves no event (%.0f ms)", tap_now_ms() - t0);
	event_free(other);
	evpool_free(pool);
	event_base_free(base);
}

int main(void)
{
	struct event_base *base;
	struct evpool *pool = NULL;
	struct evpool_job *job = NULL;
	struct evpool_job_spec spec;
	struct drainer d;

	plan(3 * PER_MODE + 12);
	tap_watchdog(60, "notify");
	main_tid = pthread_self();
	base = event_base_new();
	if (base == NULL)
		bail("event_base_new failed");

	check_mode(EVPOOL_NOTIFY_EVENTFD, "eventfd", "eventfd", base);
	check_mode(EVPOOL_NOTIFY_PIPE, "pipe", "pipe", base);
#ifdef __linux__
	check_mode(EVPOOL_NOTIFY_AUTO, "auto", "eventfd", base);
#else
	check_mode(EVPOOL_NOTIFY_AUTO, "auto", fd_kind(-1), base);
#endif

	/* ---- a base-less pool, drained by another thread ------------------ */
	tap_watchdog(30, "notify: other thread drains");
	is_int(0, evpool_new(&pool, NULL, NULL), "a base-less pool is made");
	if (pool == NULL)
		bail("no pool");
	memset(&d, 0, sizeof(d));
	d.pool = pool;
	if (pthread_create(&d.tid, NULL, thread_drain, &d) != 0)
		sysbail("pthread_create");
	counts_reset(d.tid);
	submit_many(pool, NULL, 10, NULL);
	pthread_join(d.tid, NULL);
	is_int(10, d.total, "another thread's evpool_drain() ran the 10 callbacks");
	ok(exactly_once(10) && atomic_load(&C.off_thread) == 0,
	   "each exactly once, in the thread that called evpool_drain()");

	/* evpool_drain() from inside a callback of evpool_drain(). */
	{
		struct evpool_job **jobs = calloc(100, sizeof(*jobs));
		int total = 0, rounds = 0, n;

		counts_reset(main_tid);
		nested_pool = pool;
		for (n = 0; n < 100; n++) {
			memset(&spec, 0, sizeof(spec));
			spec.fn = job_nop;
			spec.done = n == 0 ? cb_nested : cb_count;
			spec.done_arg = (void *)(intptr_t)n;
			if (evpool_submit_job(pool, &spec, &jobs[n]) != 0)
				jobs[n] = NULL;
		}
		tap_wait_until(all_ready(jobs, 100), 10000);
		tap_sleep_ms(50);
		while (atomic_load(&C.total) < 100 && rounds++ < 1000) {
			n = evpool_drain(pool);
			if (n < 0)
				break;
			total += n;
			if (n == 0)
				tap_sleep_ms(1);
		}
		ok(atomic_load(&nested_rc) >= 0,
		   "evpool_drain() may be called from one of its own callbacks (%d)",
		   atomic_load(&nested_rc));
		ok(exactly_once(100) && atomic_load(&C.off_thread) == 0,
		   "nested drains still run each of 100 callbacks exactly once");
		unref_all(jobs, 100);
		free(jobs);
	}

	/* A job that names a base goes to that base, not to the fd. */
	counts_reset(main_tid);
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_nop;
	spec.done = cb_count;
	spec.base = base;
	is_int(0, evpool_submit_job(pool, &spec, &job),
	       "a job naming a base is submitted to the base-less pool");
	tap_wait_until(evpool_job_ready(job), 10000);
	tap_sleep_ms(50);
	is_int(0, evpool_drain(pool), "evpool_drain() does not run it");
	event_base_dispatch(base);
	ok(atomic_load(&C.total) == 1 && atomic_load(&C.off_thread) == 0,
	   "its base's loop does, once, on the loop thread");
	evpool_job_unref(job);

	tap_watchdog(30, "notify: linger");
	check_linger();

	tap_watchdog(20, "notify: final evpool_free");
	evpool_free(pool);
	event_base_free(base);
	tap_watchdog(0, NULL);
	return 0;
}

/*
 * port-libuv.c — the checks of libuv's thread-pool tests that map onto
 * libevpool, each naming the libuv test it comes from (test/test-threadpool.c
 * and test/test-threadpool-cancel.c; semantics only, no code), run in both
 * modes.  uv_queue_work() is evpool_submit_job(), uv_cancel() is
 * evpool_job_cancel(), uv_run() is event_base_dispatch().
 *
 * Deliberate difference (README "Coming from libuv"): cancelling a RUNNING
 * job is -EBUSY in thread mode, as uv_cancel(); in process mode the worker
 * is killed and the job completes -ECANCELED.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <evpool.h>

#include "tap.h"
#include "pyutil.h"

#define PER_MODE 12

static pthread_t main_tid;

struct done_rec {
	int calls, status, off_loop;
	int32_t value;
};

static void
on_done(struct evpool_job *job, void *arg)
{
	struct done_rec *d = arg;
	size_t len = 0;
	const void *b = evpool_job_result_bytes(job, &len);

	d->calls++;
	d->status = evpool_job_status(job);
	if (b && len == 4)
		memcpy(&d->value, b, 4);
	if (!pthread_equal(pthread_self(), main_tid))
		d->off_loop++;
}

static int
submit(struct evpool *pool, const struct py_task *t, struct done_rec *d,
       struct evpool_job **jobp)
{
	struct evpool_job_spec spec = {
		.fn = py_task_fn, .input = t, .input_len = sizeof(*t),
		.done = on_done, .done_arg = d,
	};

	return evpool_submit_job(pool, &spec, jobp);
}

/* test-threadpool-cancel.c's saturate_threadpool(): every worker blocked
 * on a gate. */
static void
saturate(struct evpool *pool, unsigned n, const char *gate, const char *mark,
	 struct py_task *t, struct done_rec *d)
{
	for (unsigned i = 0; i < n; i++) {
		t[i] = py_task_gated((int32_t)i, gate, mark);
		if (submit(pool, &t[i], &d[i], NULL) < 0)
			bail("submit: %s", evpool_errmsg());
	}
	if (!tap_wait_until(py_size(mark) == (long)n, 10000.0 * tap_slowdown()))
		bail("the pool did not saturate (%ld of %u)", py_size(mark), n);
}

struct cancel_all {
	struct evpool_job **jobs;
	int n, ok, timer_calls;
	char gate[200];
};

static void
timer_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_all *c = arg;

	(void)fd;
	(void)what;
	c->timer_calls++;
	for (int i = 0; i < c->n; i++)
		c->ok += evpool_job_cancel(c->jobs[i]) == 0;
	py_touch(c->gate); /* unblock_threadpool() */
}

/* The files of step @p n: its gate, its start marks, the marks of the jobs
 * that must not run. */
static void
step_paths(const struct py_mode *m, int n, char *gate, char *mark, char *runs)
{
	snprintf(gate, 200, "%s/gate%d-%s", py_dir, n, m->name);
	snprintf(mark, 200, "%s/started%d-%s", py_dir, n, m->name);
	snprintf(runs, 200, "%s/runs%d-%s", py_dir, n, m->name);
}

static void
run_mode(const struct py_mode *m)
{
	struct event_base *base = event_base_new();
	struct evpool *pool;
	char gate[200], mark[200], runs[200];
	struct py_task blk[4], q[16];
	struct done_rec bd[4], d[16];
	struct evpool_job *jobs[16];
	int r;

	if (py_pool(m->mode, base, 2, 0, &pool) < 0) {
		skip(PER_MODE, "%s", py_skip_reason);
		event_base_free(base);
		return;
	}

	/* test-threadpool.c threadpool_queue_work_simple */
	{
		struct py_task t = py_task_value(7);
		struct done_rec dr = { 0 };

		r = submit(pool, &t, &dr, NULL);
		event_base_dispatch(base);
		ok(r == 0 && dr.calls == 1 && dr.status == 0 && dr.off_loop == 0,
		   "%s: threadpool_queue_work_simple: the after-work callback "
		   "ran once, status 0, on the loop", m->name);
		is_int(49, dr.value, "%s: threadpool_queue_work_simple: the work "
		       "ran on its input", m->name);
	}
	/* test-threadpool.c threadpool_queue_work_einval */
	{
		struct done_rec dr = { 0 };
		struct evpool_job_spec spec = { .done = on_done, .done_arg = &dr };

		r = evpool_submit_job(pool, &spec, NULL);
		event_base_dispatch(base);
		ok(r == -EINVAL && dr.calls == 0,
		   "%s: threadpool_queue_work_einval: no work function is "
		   "-EINVAL, and no callback runs", m->name);
	}

	/* test-threadpool-cancel.c threadpool_cancel_work: saturate, queue,
	 * cancel all from a timer on the loop, unblock. */
	step_paths(m, 1, gate, mark, runs);
	memset(bd, 0, sizeof(bd));
	memset(d, 0, sizeof(d));
	saturate(pool, 2, gate, mark, blk, bd);
	for (int i = 0; i < 8; i++) {
		q[i] = py_task_gated(i, NULL, runs);
		if (submit(pool, &q[i], &d[i], &jobs[i]) < 0)
			bail("submit: %s", evpool_errmsg());
	}
	{
		struct cancel_all c = { .jobs = jobs, .n = 8 };
		struct event *tev;
		struct timeval tv = { 0, 10000 };
		int cancelled = 0;

		snprintf(c.gate, sizeof(c.gate), "%s", gate);
		tev = evtimer_new(base, timer_cancel, &c);
		evtimer_add(tev, &tv);
		event_base_dispatch(base);
		event_free(tev);
		for (int i = 0; i < 8; i++)
			cancelled += d[i].calls == 1 && d[i].status == -ECANCELED;
		ok(c.timer_calls == 1 && c.ok == 8 && cancelled == 8,
		   "%s: threadpool_cancel_work: 8 queued jobs cancelled from "
		   "the loop, each called back once with -ECANCELED", m->name);
		ok(py_size(runs) <= 0 && bd[0].calls == 1 && bd[1].calls == 1,
		   "%s: threadpool_cancel_work: no cancelled work ran; the "
		   "blockers finished", m->name);
		for (int i = 0; i < 8; i++)
			evpool_job_unref(jobs[i]);
	}

	/* test-threadpool-cancel.c threadpool_cancel_single */
	step_paths(m, 2, gate, mark, runs);
	memset(bd, 0, sizeof(bd));
	memset(d, 0, sizeof(d));
	saturate(pool, 2, gate, mark, blk, bd);
	q[0] = py_task_gated(0, NULL, runs);
	if (submit(pool, &q[0], &d[0], &jobs[0]) < 0)
		bail("submit: %s", evpool_errmsg());
	r = evpool_job_cancel(jobs[0]);
	ok(r == 0 && d[0].calls == 0,
	   "%s: threadpool_cancel_single: cancel is 0 and calls nothing back "
	   "before the loop runs", m->name);
	py_touch(gate);
	event_base_dispatch(base);
	ok(d[0].calls == 1 && d[0].status == -ECANCELED && py_size(runs) <= 0,
	   "%s: threadpool_cancel_single: the loop then calls back once with "
	   "-ECANCELED; the work never ran", m->name);
	evpool_job_unref(jobs[0]);

	/* test-threadpool-cancel.c threadpool_cancel_when_busy */
	step_paths(m, 3, gate, mark, runs);
	memset(d, 0, sizeof(d));
	q[0] = py_task_gated(3, gate, mark);
	if (submit(pool, &q[0], &d[0], &jobs[0]) < 0)
		bail("submit: %s", evpool_errmsg());
	tap_wait_until(py_size(mark) == 1, 10000.0 * tap_slowdown());
	r = evpool_job_cancel(jobs[0]);
	py_touch(gate);
	event_base_dispatch(base);
	if (m->mode == EVPOOL_MODE_THREAD)
		ok(r == -EBUSY && d[0].calls == 1 && d[0].status == 0,
		   "%s: threadpool_cancel_when_busy: a running job: -EBUSY, it "
		   "completes with its own status (r=%d)", m->name, r);
	else
		ok(r == 0 && d[0].calls == 1 && d[0].status == -ECANCELED,
		   "%s: threadpool_cancel_when_busy (deliberate difference): the "
		   "worker is killed, the job completes -ECANCELED (r=%d)",
		   m->name, r);
	evpool_job_unref(jobs[0]);
	evpool_free(pool);

	/* FIFO among equals, which threadpool_cancel_work relies on (issue
	 * 15 item 1): 4 workers, 4 blockers, then 16 quick jobs: none of the
	 * quick ones runs before every blocker has started. */
	if (py_pool(m->mode, base, 4, 0, &pool) < 0)
		bail("pool: %s", py_skip_reason);
	step_paths(m, 4, gate, mark, runs);
	memset(bd, 0, sizeof(bd));
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 4; i++) {
		blk[i] = py_task_gated(i, gate, mark);
		if (submit(pool, &blk[i], &bd[i], NULL) < 0)
			bail("submit: %s", evpool_errmsg());
	}
	for (int i = 0; i < 16; i++) {
		q[i] = py_task_gated(i, NULL, runs);
		if (submit(pool, &q[i], &d[i], NULL) < 0)
			bail("submit: %s", evpool_errmsg());
	}
	tap_wait_until(py_size(mark) == 4, 2000.0 * tap_slowdown());
	tap_sleep_ms(20);
	{
		long started = py_size(mark), quick = py_size(runs);

		ok(started == 4 && quick <= 0, "%s: FIFO across workers "
		   "(threadpool_cancel_work's premise): all 4 blockers started, "
		   "no later job ran (%ld started, %ld quick)", m->name, started,
		   quick);
	}
	py_touch(gate);
	event_base_dispatch(base);
	evpool_free(pool);
	event_base_free(base);
}

/* test-thread-name.c thread_name_threadpool: the pool's workers carry a
 * name of their own ("libuv-worker" there; "<prefix>/<n>" here, "<prefix>/p<n>"
 * for a worker process). */
static int
job_name(struct evpool_ctx *ctx)
{
	char name[32] = "";
	FILE *f = fopen("/proc/thread-self/comm", "r");

	if (!f)
		f = fopen("/proc/self/comm", "r");
	if (f) {
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
	}
	name[strcspn(name, "\n")] = '\0';
	return evpool_ctx_set_result_bytes(ctx, name, strlen(name) + 1);
}

static void
named_workers(const struct py_mode *m, struct event_base *base)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_result res;
	char want[32];

	if (!cfg || evpool_config_set_name(cfg, "uvport") < 0)
		bail("config: %s", evpool_errmsg());
	if (py_pool_cfg(m->mode, base, cfg, &pool) < 0) {
		skip(1, "%s", py_skip_reason);
		evpool_config_free(cfg);
		return;
	}
	evpool_config_free(cfg);
	memset(&res, 0, sizeof(res));
	evpool_apply(pool, job_name, NULL, &res);
	snprintf(want, sizeof(want), "uvport/%s",
		 m->mode == EVPOOL_MODE_THREAD ? "" : "p");
	ok(res.status == 0 && res.data &&
	   strncmp(res.data, want, strlen(want)) == 0,
	   "%s: test-thread-name.c thread_name_threadpool: the worker is named "
	   "\"%s\" (want \"%s<n>\")", m->name, res.data ? (const char *)res.data : "",
	   want);
	evpool_result_release(&res);
	evpool_free(pool);
}

/* test-loop-alive.c loop_alive: work in flight keeps the loop alive, and
 * only then. */
static void
loop_alive(const struct py_mode *m, struct event_base *base)
{
	struct evpool *pool;
	struct py_task t = py_task_value(2);
	struct done_rec d = { 0 };
	int before, during, after, r;

	if (py_pool(m->mode, base, 1, 0, &pool) < 0) {
		skip(2, "%s", py_skip_reason);
		return;
	}
	event_base_loop(base, EVLOOP_NONBLOCK); /* the pool's one-off events */
	before = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
	if (submit(pool, &t, &d, NULL) < 0)
		bail("submit: %s", evpool_errmsg());
	during = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
	r = event_base_dispatch(base);
	after = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
	ok(during > before,
	   "%s: test-loop-alive.c loop_alive: a queued job keeps the loop "
	   "alive (%d event(s) before, %d with the job)", m->name, before,
	   during);
	ok(r >= 0 && d.calls == 1 && after == 0,
	   "%s: test-loop-alive.c loop_alive: dispatch returns once it is "
	   "delivered, leaving the loop not alive (%d)", m->name, after);
	evpool_free(pool);
}

int
main(void)
{
	main_tid = pthread_self();
	tap_watchdog(120, "t/port-libuv");
	py_dir_init("port-libuv");
	plan(PER_MODE * PY_NMODES);
	for (size_t i = 0; i < PY_NMODES; i++) {
		struct event_base *base = event_base_new();

		run_mode(&py_modes[i]);
		loop_alive(&py_modes[i], base);
		named_workers(&py_modes[i], base);
		event_base_free(base);
	}
	py_dir_cleanup();
	return tap_failures() ? 1 : 0;
}

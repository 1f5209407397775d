/*
 * contract.c — the contract points of issue 15 that a user ported from
 * Python or libuv relies on, in each mode:
 *  - a blocking wait on a base's own thread delivers that base's
 *    completions even when event_base_dispatch() has never run on it, and
 *    returns after the callback of what it waited for (multiprocessing's
 *    map_async(callback).wait());
 *  - evpool_as_completed() and evpool_wait() count a job given twice once
 *    (concurrent.futures, bpo-20367);
 *  - EVPOOL_FIRST_EXCEPTION ignores cancelled jobs, as CPython's does, and
 *    counts a job timeout as a failure;
 *  - evpool_submit(pool, fn, NULL, ...) works in process mode too;
 *  - an initializer that fails (evpool_config_set_worker_init()) gives
 *    EVPOOL_ESPAWN and runs no job, in both modes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"
#include "pyutil.h"

#define PER_MODE 25

static pthread_t main_tid;

struct tally {
	int calls, off_loop;
	int last_status;
};

static void
tally_job(struct evpool_job *job, void *arg)
{
	struct tally *t = arg;

	t->calls++;
	t->last_status = evpool_job_status(job);
	if (!pthread_equal(pthread_self(), main_tid))
		t->off_loop++;
}

static void
tally_map(struct evpool_map *map, void *arg)
{
	struct tally *t = arg;

	t->calls++;
	t->last_status = evpool_map_status(map);
	if (!pthread_equal(pthread_self(), main_tid))
		t->off_loop++;
}

static struct py_task
task(int value, int sleep_ms, int fail)
{
	struct py_task t;

	memset(&t, 0, sizeof(t));
	t.value = value;
	t.sleep_ms = sleep_ms;
	t.fail = fail;
	return t;
}

static int
submit_task(struct evpool *pool, const struct py_task *t, int timeout_ms,
	    evpool_done_cb done, void *done_arg, struct evpool_job **jobp)
{
	struct evpool_job_spec spec = {
		.fn = py_task_fn,
		.input = t,
		.input_len = sizeof(*t),
		.done = done,
		.done_arg = done_arg,
		.timeout_ms = timeout_ms,
	};

	return evpool_submit_job(pool, &spec, jobp);
}

/* ---- item 3: waits on a base whose loop has never run ------------------- */

static void
waits_before_dispatch(const struct py_mode *m)
{
	struct event_base *base = event_base_new();
	struct evpool *pool;
	struct tally t = { 0 }, t2 = { 0 }, t3 = { 0 }, t4 = { 0 };
	struct py_task tk[3] = { task(2, 20, 0), task(3, 20, 0), task(4, 20, 0) };
	struct evpool_item items[3];
	struct evpool_map *map = NULL;
	struct evpool_job *job = NULL, *jobs[2] = { NULL, NULL };
	struct evpool_result res;
	int r;

	if (py_pool(m->mode, base, 2, 0, &pool) < 0) {
		skip(9, "%s", py_skip_reason);
		event_base_free(base);
		return;
	}
	for (int i = 0; i < 3; i++)
		items[i] = EVPOOL_ITEM_BYTES(&tk[i], sizeof(tk[i]));

	/* CPython _TestPool.test_async_callback / map_async(cb).wait(). */
	r = evpool_map_async(pool, py_task_fn, items, 3, 1, tally_map, NULL,
			     &t, &map);
	if (r < 0)
		bail("map_async: %s", evpool_errmsg());
	r = evpool_map_wait(map, 10000 * (int)tap_slowdown());
	ok(r == 0 && t.calls == 1 && t.off_loop == 0 && t.last_status == 0,
	   "%s: map_async(cb) then map_wait() on a base never dispatched: "
	   "returns after the callback ran on this thread (r=%d, calls=%d)",
	   m->name, r, t.calls);
	evpool_map_unref(map);

	/* apply_async(cb) then job_wait(). */
	r = evpool_apply_async(pool, py_task_fn, &items[0], tally_job, NULL,
			       &t2, &job);
	if (r < 0)
		bail("apply_async: %s", evpool_errmsg());
	r = evpool_job_wait(job, 10000 * (int)tap_slowdown());
	ok(r == 0 && t2.calls == 1 && t2.off_loop == 0,
	   "%s: apply_async(cb) then job_wait(): the callback has run (calls=%d)",
	   m->name, t2.calls);
	evpool_job_unref(job);

	/* submit + job_get. */
	if (submit_task(pool, &tk[1], 0, tally_job, &t3, &job) < 0)
		bail("submit: %s", evpool_errmsg());
	r = evpool_job_get(job, 10000 * (int)tap_slowdown(), NULL);
	ok(r == 0 && t3.calls == 1,
	   "%s: submit then job_get(): the callback has run (calls=%d)",
	   m->name, t3.calls);
	evpool_job_unref(job);

	/* evpool_wait(ALL_COMPLETED) on two jobs. */
	memset(&t4, 0, sizeof(t4));
	for (int i = 0; i < 2; i++)
		if (submit_task(pool, &tk[i], 0, tally_job, &t4, &jobs[i]) < 0)
			bail("submit: %s", evpool_errmsg());
	r = evpool_wait(jobs, 2, EVPOOL_ALL_COMPLETED, 10000 * (int)tap_slowdown());
	ok(r == 2 && t4.calls == 2 && t4.off_loop == 0,
	   "%s: evpool_wait(ALL_COMPLETED) delivers both callbacks (r=%d, calls=%d)",
	   m->name, r, t4.calls);
	for (int i = 0; i < 2; i++)
		evpool_job_unref(jobs[i]);

	/* as_completed_next: yields, and every callback runs by the end. */
	{
		struct evpool_as_completed *ac;
		struct evpool_job *got;
		/* static: a callback still in flight after the check must not
		 * write into a dead stack frame */
		static struct tally t5;
		int n = 0;

		t5 = (struct tally){ 0 };

		for (int i = 0; i < 2; i++)
			if (submit_task(pool, &tk[i], 0, tally_job, &t5,
					&jobs[i]) < 0)
				bail("submit: %s", evpool_errmsg());
		if (evpool_as_completed(jobs, 2, &ac) < 0)
			bail("as_completed: %s", evpool_errmsg());
		while (evpool_as_completed_next(ac, 10000 * (int)tap_slowdown(),
						&got) == 1)
			n++;
		/* Both were done when the last was yielded; the loop has
		 * still not run: a wait with nothing to wait for delivers.
		 * A job is done a moment before its completion reaches the
		 * mailbox, so poll with zero-timeout waits (bounded). */
		for (int k = 0; t5.calls < 2 &&
				k < 10000 * (int)tap_slowdown(); k++) {
			evpool_wait(jobs, 2, EVPOOL_ALL_COMPLETED, 0);
			if (t5.calls < 2)
				usleep(1000);
		}
		ok(n == 2 && t5.calls == 2,
		   "%s: as_completed over jobs of a never-run base yields both, "
		   "callbacks delivered (n=%d, calls=%d)", m->name, n, t5.calls);
		evpool_as_completed_free(ac);
		for (int i = 0; i < 2; i++)
			evpool_job_unref(jobs[i]);
	}

	/* apply (blocking) on a never-run base: the result and no hang. */
	memset(&res, 0, sizeof(res));
	r = evpool_apply(pool, py_task_fn, &items[2], &res);
	ok(r == 0 && res.len == 4 && res.data && *(const int32_t *)res.data == 16,
	   "%s: apply() on a never-run base returns the result (r=%d)",
	   m->name, r);
	evpool_result_release(&res);

	/* imap_next on a never-run base. */
	{
		struct evpool_imap *it;
		struct evpool_result ir;
		int n = 0, sum = 0;

		if (evpool_imap(pool, py_task_fn, items, 3, &it) < 0)
			bail("imap: %s", evpool_errmsg());
		while (evpool_imap_next(it, 10000 * (int)tap_slowdown(), &ir) == 1) {
			if (ir.status == 0 && ir.len == 4)
				sum += *(const int32_t *)ir.data;
			n++;
			evpool_result_release(&ir);
		}
		ok(n == 3 && sum == 4 + 9 + 16,
		   "%s: imap_next() on a never-run base yields every result "
		   "(n=%d, sum=%d)", m->name, n, sum);
		evpool_imap_free(it);
	}

	/* close + join: every callback delivered before join returns. */
	{
		struct tally t6 = { 0 };

		for (int i = 0; i < 3; i++)
			if (submit_task(pool, &tk[i], 0, tally_job, &t6, NULL) < 0)
				bail("submit: %s", evpool_errmsg());
		evpool_close(pool);
		r = evpool_join(pool, 10000 * (int)tap_slowdown());
		/* join's "finished" counts a job the moment it is pushed; the
		 * last drain of the wait takes the pushes. */
		ok(r == 0 && t6.calls == 3 && t6.off_loop == 0,
		   "%s: close + join on a never-run base: all 3 callbacks ran "
		   "here (r=%d, calls=%d)", m->name, r, t6.calls);
	}
	/* Once the loop runs, nothing is left: no callback runs twice. */
	{
		int before = t.calls + t2.calls + t3.calls + t4.calls;

		event_base_loop(base, EVLOOP_NONBLOCK);
		ok(t.calls + t2.calls + t3.calls + t4.calls == before &&
		   before == 5,
		   "%s: a later dispatch runs no callback again", m->name);
	}
	evpool_free(pool);
	event_base_free(base);
}

/* A thread that dispatches the base it is given: the loop runs elsewhere,
 * so a wait in the main thread must not deliver (callbacks on the loop's
 * thread), yet returns. */
struct loop_thread {
	struct event_base *base;
	atomic_int stop, ran;
};

static void
keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct loop_thread *lt = arg;

	(void)fd;
	(void)what;
	atomic_store(&lt->ran, 1);
	if (atomic_load(&lt->stop))
		event_base_loopbreak(lt->base);
}

static void *
run_loop(void *arg)
{
	struct loop_thread *lt = arg;
	struct event *ev = event_new(lt->base, -1, EV_PERSIST, keepalive, lt);
	struct timeval tv = { 0, 2000 };

	event_add(ev, &tv);
	event_base_dispatch(lt->base);
	event_free(ev);
	return NULL;
}

static pthread_t loop_tid;

/* Counts kept by the loop thread and read by the main thread. */
struct atally {
	atomic_int calls, off_loop;
};

static void
tally_loop(struct evpool_job *job, void *arg)
{
	struct atally *t = arg;

	(void)job;
	atomic_fetch_add(&t->calls, 1);
	if (!pthread_equal(pthread_self(), loop_tid))
		atomic_fetch_add(&t->off_loop, 1);
}

static void
wait_while_loop_elsewhere(const struct py_mode *m)
{
	struct loop_thread lt = { .base = event_base_new() };
	struct evpool *pool;
	struct evpool_job *job;
	struct atally t = { 0, 0 };
	struct py_task tk = task(5, 30, 0);
	int r;

	if (py_pool(m->mode, lt.base, 2, 0, &pool) < 0) {
		skip(1, "%s", py_skip_reason);
		event_base_free(lt.base);
		return;
	}
	if (pthread_create(&loop_tid, NULL, run_loop, &lt))
		bail("pthread_create");
	/* The base's loop has run (documented: from then on its thread
	 * delivers; before, the submitting thread's waits would). */
	if (!tap_wait_until(atomic_load(&lt.ran), 10000.0 * tap_slowdown()))
		bail("the loop thread did not run");
	if (submit_task(pool, &tk, 0, tally_loop, &t, &job) < 0)
		bail("submit: %s", evpool_errmsg());
	r = evpool_job_wait(job, 10000 * (int)tap_slowdown());
	tap_wait_until(atomic_load(&t.calls) == 1, 5000);
	ok(r == 0 && atomic_load(&t.calls) == 1 && atomic_load(&t.off_loop) == 0,
	   "%s: the base's loop running on another thread delivers there, "
	   "not in the waiter (r=%d, calls=%d, off loop=%d)", m->name, r,
	   atomic_load(&t.calls), atomic_load(&t.off_loop));
	evpool_job_unref(job);
	atomic_store(&lt.stop, 1);
	pthread_join(loop_tid, NULL);
	evpool_free(pool);
	event_base_free(lt.base);
}

/* The stress test's case: the pool is made, and waited on, while the base's
 * loop runs on another thread but is busy in a callback (it has not run the
 * pool's learn event yet).  The completion must still go to that loop. */
static void
busy_sleep(evutil_socket_t fd, short what, void *arg)
{
	atomic_int *busy = arg;

	(void)fd;
	(void)what;
	atomic_store(busy, 1);
	tap_sleep_ms(60);
	atomic_store(busy, 2);
}

static void
wait_while_loop_busy_elsewhere(const struct py_mode *m)
{
	struct loop_thread lt = { .base = event_base_new() };
	struct evpool *pool = NULL;
	struct evpool_job *job;
	struct atally t = { 0, 0 };
	struct py_task tk = task(5, 5, 0);
	struct timeval now = { 0, 0 };
	atomic_int busy = 0;
	int r;

	if (pthread_create(&loop_tid, NULL, run_loop, &lt))
		bail("pthread_create");
	if (!tap_wait_until(atomic_load(&lt.ran), 10000.0 * tap_slowdown()))
		bail("the loop thread did not run");
	event_base_once(lt.base, -1, EV_TIMEOUT, busy_sleep, &busy, &now);
	if (!tap_wait_until(atomic_load(&busy) == 1, 10000.0 * tap_slowdown()))
		bail("the loop did not get busy");
	if (py_pool(m->mode, lt.base, 2, 0, &pool) < 0) {
		skip(1, "%s", py_skip_reason);
		tap_wait_until(atomic_load(&busy) == 2, 10000.0);
	} else {
		if (submit_task(pool, &tk, 0, tally_loop, &t, &job) < 0)
			bail("submit: %s", evpool_errmsg());
		r = evpool_job_wait(job, 10000 * (int)tap_slowdown());
		tap_wait_until(atomic_load(&t.calls) == 1, 5000);
		ok(r == 0 && atomic_load(&t.calls) == 1 &&
		   atomic_load(&t.off_loop) == 0,
		   "%s: a pool made and waited on while its base's loop is busy "
		   "on another thread: the callback still runs on that loop "
		   "(calls=%d, off loop=%d)", m->name, atomic_load(&t.calls),
		   atomic_load(&t.off_loop));
		evpool_job_unref(job);
	}
	atomic_store(&lt.stop, 1);
	pthread_join(loop_tid, NULL);
	evpool_free(pool);
	event_base_free(lt.base);
}

/* ---- item 4: a job given twice ------------------------------------------ */

static void
duplicates(const struct py_mode *m, struct event_base *base)
{
	struct evpool *pool;
	struct evpool_job *job, *other, *list[4];
	struct evpool_as_completed *ac;
	struct py_task tk = task(3, 0, 0), slow = task(3, 200, 0);
	int n = 0, r;
	struct evpool_job *got;

	if (py_pool(m->mode, base, 2, 0, &pool) < 0) {
		skip(4, "%s", py_skip_reason);
		return;
	}
	if (submit_task(pool, &tk, 0, NULL, NULL, &job) < 0 ||
	    submit_task(pool, &slow, 0, NULL, NULL, &other) < 0)
		bail("submit: %s", evpool_errmsg());
	list[0] = list[1] = list[2] = job;
	/* test_concurrent_futures/test_as_completed.py:
	 * test_duplicate_futures (bpo-20367). */
	if (evpool_as_completed(list, 3, &ac) < 0)
		bail("as_completed: %s", evpool_errmsg());
	while (evpool_as_completed_next(ac, 10000 * (int)tap_slowdown(), &got) == 1)
		n += got == job;
	is_int(1, n, "%s: as_completed([f, f, f]) yields f once "
	       "(test_as_completed.py test_duplicate_futures)", m->name);
	evpool_as_completed_free(ac);

	/* wait() returns sets in Python: the count is of distinct jobs. */
	r = evpool_wait(list, 3, EVPOOL_ALL_COMPLETED, 10000 * (int)tap_slowdown());
	is_int(1, r, "%s: evpool_wait([f, f, f]) counts f once", m->name);

	/* Many repeats (past the small-array path): still once each. */
	{
		struct evpool_job *many[80];

		for (int i = 0; i < 80; i++)
			many[i] = i % 2 ? job : other;
		if (evpool_as_completed(many, 80, &ac) < 0)
			bail("as_completed: %s", evpool_errmsg());
		n = 0;
		while (evpool_as_completed_next(ac, 10000 * (int)tap_slowdown(),
						&got) == 1)
			n++;
		is_int(2, n, "%s: as_completed over 80 entries of 2 jobs yields 2",
		       m->name);
		evpool_as_completed_free(ac);
		r = evpool_wait(many, 80, EVPOOL_ALL_COMPLETED, 0);
		is_int(2, r, "%s: evpool_wait over 80 entries of 2 jobs counts 2",
		       m->name);
	}
	evpool_job_unref(job);
	evpool_job_unref(other);
	evpool_free(pool);
}

/* ---- item 6: FIRST_EXCEPTION and cancelled jobs ------------------------- */

static void
first_exception(const struct py_mode *m, struct event_base *base)
{
	struct evpool *pool;
	struct evpool_job *gate_job, *queued, *slow, *bad, *list[3];
	char gate[200];
	struct py_task gated = task(1, 0, 0), ok_slow = task(2, 300, 0);
	struct py_task fails = task(0, 100, -EIO);
	double t0, dt;
	int r;

	if (py_pool(m->mode, base, 1, 0, &pool) < 0) {
		skip(4, "%s", py_skip_reason);
		return;
	}
	snprintf(gate, sizeof(gate), "%s/fe-gate-%s", py_dir, m->name);
	snprintf(gated.gate, sizeof(gated.gate), "%s", gate);
	/* One worker: the gated job holds it, the second waits queued. */
	if (submit_task(pool, &gated, 0, NULL, NULL, &gate_job) < 0 ||
	    submit_task(pool, &ok_slow, 0, NULL, NULL, &queued) < 0)
		bail("submit: %s", evpool_errmsg());
	r = evpool_job_cancel(queued);
	ok(r == 0 && evpool_job_status(queued) == -ECANCELED,
	   "%s: a queued job is cancelled", m->name);
	/* test_concurrent_futures/test_wait.py test_first_exception: a
	 * CANCELLED future is not an exception; with a cancelled job and a
	 * running one, FIRST_EXCEPTION waits for the running one. */
	list[0] = queued;
	list[1] = gate_job;
	t0 = tap_now_ms();
	r = evpool_wait(list, 2, EVPOOL_FIRST_EXCEPTION, 150);
	dt = tap_now_ms() - t0;
	ok(r == 1 && dt >= 140 && evpool_job_ready(gate_job) == 0,
	   "%s: FIRST_EXCEPTION does not return on a cancelled job "
	   "(waited %.0f ms of 150, %d done)", m->name, dt, r);
	py_touch(gate);
	evpool_job_wait(gate_job, 10000 * (int)tap_slowdown());

	/* A real failure still ends the wait early. */
	if (submit_task(pool, &fails, 0, NULL, NULL, &bad) < 0 ||
	    submit_task(pool, &ok_slow, 0, NULL, NULL, &slow) < 0)
		bail("submit: %s", evpool_errmsg());
	list[0] = queued;
	list[1] = slow;
	list[2] = bad;
	r = evpool_wait(list, 3, EVPOOL_FIRST_EXCEPTION, 10000 * (int)tap_slowdown());
	ok(r == 2 && evpool_job_status(bad) == -EIO && !evpool_job_ready(slow),
	   "%s: FIRST_EXCEPTION returns at the first failure (%d done)",
	   m->name, r);
	evpool_job_unref(bad);
	evpool_job_wait(slow, 10000 * (int)tap_slowdown());
	evpool_job_unref(slow);

	/* A job timeout is a failure (the job gave no result). */
	{
		struct evpool_job *late, *keep;
		struct py_task sleeps = task(1, 400, 0);

		if (submit_task(pool, &sleeps, 50, NULL, NULL, &late) < 0)
			bail("submit: %s", evpool_errmsg());
		if (submit_task(pool, &ok_slow, 0, NULL, NULL, &keep) < 0)
			bail("submit: %s", evpool_errmsg());
		list[0] = late;
		list[1] = keep;
		r = evpool_wait(list, 2, EVPOOL_FIRST_EXCEPTION,
				10000 * (int)tap_slowdown());
		ok(evpool_job_status(late) == -ETIMEDOUT && r >= 1,
		   "%s: FIRST_EXCEPTION returns on a job timeout (status %d)",
		   m->name, evpool_job_status(late));
		evpool_job_wait(keep, 10000 * (int)tap_slowdown());
		evpool_job_unref(late);
		evpool_job_unref(keep);
	}
	evpool_job_unref(gate_job);
	evpool_job_unref(queued);
	evpool_free(pool);
}

/* ---- item 8: evpool_submit() with a NULL arg ---------------------------- */

static int
job_no_input(struct evpool_ctx *ctx)
{
	size_t len = 99;
	const void *in = evpool_ctx_input(ctx, &len);
	int32_t v = 42;

	if (in || len || evpool_ctx_arg(ctx))
		return -EINVAL;
	return evpool_ctx_set_result_bytes(ctx, &v, sizeof(v));
}

static int got_bytes;

static void
read_bytes(struct evpool_job *job, void *arg)
{
	size_t len = 0;
	const void *b = evpool_job_result_bytes(job, &len);

	(void)arg;
	got_bytes = evpool_job_status(job) == 0 && len == 4 && b
		    ? *(const int32_t *)b : -1;
}

static void
submit_null_arg(const struct py_mode *m, struct event_base *base)
{
	struct evpool *pool;
	int r, dummy = 0;

	if (py_pool(m->mode, base, 1, 0, &pool) < 0) {
		skip(2, "%s", py_skip_reason);
		return;
	}
	got_bytes = 0;
	r = evpool_submit(pool, job_no_input, NULL, read_bytes, NULL);
	if (r == 0)
		event_base_dispatch(base);
	ok(r == 0 && got_bytes == 42,
	   "%s: evpool_submit(pool, fn, NULL, cb, arg) runs fn with no input "
	   "(r=%d, result %d)", m->name, r, got_bytes);
	r = evpool_submit(pool, job_no_input, &dummy, read_bytes, NULL);
	if (m->mode == EVPOOL_MODE_PROCESS)
		ok(r == -EINVAL && strstr(evpool_errmsg(), "pointer"),
		   "%s: a pointer arg is still -EINVAL (%s)", m->name,
		   evpool_errmsg());
	else {
		if (r == 0)
			event_base_dispatch(base);
		ok(r == 0, "%s: a pointer arg is taken in thread mode", m->name);
	}
	evpool_free(pool);
}

/* ---- item 9: an initializer that fails ---------------------------------- */

struct init_ctl {
	char fail_path[200];	/* exists: the initializer fails */
	char fini_path[200];	/* the finalizer appends a byte here */
};

static struct init_ctl ictl;

static int
init_may_fail(void *arg)
{
	struct init_ctl *c = arg;

	return access(c->fail_path, F_OK) == 0 ? -1 : 0;
}

static void
fini_mark(void *arg)
{
	struct init_ctl *c = arg;

	py_mark(c->fini_path);
}

static void
failing_initializer(const struct py_mode *m, struct event_base *base)
{
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_job *job;
	struct tally t = { 0 };
	char mark[200];
	struct py_task tk = task(6, 0, 0);
	int r;

	py_path(ictl.fail_path, sizeof(ictl.fail_path), "init-fails");
	py_path(ictl.fini_path, sizeof(ictl.fini_path), "fini");
	py_path(mark, sizeof(mark), "init-ran");
	unlink(mark);
	unlink(ictl.fini_path);
	py_touch(ictl.fail_path);
	snprintf(tk.mark, sizeof(tk.mark), "%s", mark);
	if (!cfg || evpool_config_set_workers(cfg, 1, 1) < 0 ||
	    evpool_config_set_worker_init(cfg, init_may_fail, fini_mark,
					  &ictl) < 0)
		bail("config: %s", evpool_errmsg());
	if (py_pool_cfg(m->mode, base, cfg, &pool) < 0) {
		skip(4, "%s", py_skip_reason);
		evpool_config_free(cfg);
		return;
	}
	evpool_config_free(cfg);
	if (submit_task(pool, &tk, 0, tally_job, &t, &job) < 0)
		bail("submit: %s", evpool_errmsg());
	r = evpool_job_get(job, 10000 * (int)tap_slowdown(), NULL);
	is_int(EVPOOL_ESPAWN, r,
	       "%s: a job on a worker whose initializer failed ends "
	       "EVPOOL_ESPAWN", m->name);
	ok(t.calls == 1 && py_size(mark) <= 0,
	   "%s: its callback ran once and the job did not run", m->name);
	evpool_job_unref(job);

	/* The resource comes back: the next job runs. */
	unlink(ictl.fail_path);
	memset(&t, 0, sizeof(t));
	if (submit_task(pool, &tk, 0, tally_job, &t, &job) < 0)
		bail("submit: %s", evpool_errmsg());
	r = evpool_job_get(job, 10000 * (int)tap_slowdown(), NULL);
	ok(r == 0 && py_size(mark) == 1,
	   "%s: once the initializer succeeds, jobs run (r=%d)", m->name, r);
	evpool_job_unref(job);
	evpool_free(pool);
	ok(py_size(ictl.fini_path) == 1,
	   "%s: the finalizer ran once, for the worker that initialized "
	   "(%ld)", m->name, py_size(ictl.fini_path));
}

int
main(void)
{
	main_tid = pthread_self();
	/* Bases used from two threads (a loop thread and this one). */
	if (evthread_use_pthreads() < 0)
		bail("evthread_use_pthreads");
	tap_watchdog(120, "t/contract");
	py_dir_init("contract");
	plan(PER_MODE * PY_NMODES + 1);

	for (size_t i = 0; i < PY_NMODES; i++) {
		const struct py_mode *m = &py_modes[i];
		struct event_base *base = event_base_new();

		if (!base)
			bail("event_base_new");
		waits_before_dispatch(m);
		wait_while_loop_elsewhere(m);
		wait_while_loop_busy_elsewhere(m);
		duplicates(m, base);
		first_exception(m, base);
		submit_null_arg(m, base);
		failing_initializer(m, base);
		event_base_free(base);
	}
	{
		struct evpool_config *cfg = evpool_config_new();

		is_int(-EINVAL, evpool_config_set_worker_init(NULL, init_may_fail,
							      NULL, NULL),
		       "evpool_config_set_worker_init(NULL, ...) is -EINVAL");
		evpool_config_free(cfg);
	}
	py_dir_cleanup();
	return tap_failures() ? 1 : 0;
}

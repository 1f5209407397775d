/*
 * apply.c — ThreadPool's apply / apply_async and AsyncResult (ready,
 * successful, wait, get), the worker initializer and finalizer, and
 * concurrent.futures' wait() and as_completed() — in each mode.
 *
 * Error paths: successful() before the job is ready, get() timing out, a
 * failed job's status through apply and through the error callback, apply on
 * a closed pool, pointer input to a process pool, wait() over jobs of two
 * pools.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"
#include "pyutil.h"

#define PER_MODE 51

static pthread_t main_tid;

/* ---- apply_async callbacks ---------------------------------------------- */

struct seen {
	int ok_calls, err_calls, off_loop;
	int status;
	int32_t value;
	void *arg;
};

static void
on_ok(struct evpool_job *job, void *arg)
{
	struct seen *s = arg;
	size_t len;
	const void *b = evpool_job_result_bytes(job, &len);

	s->ok_calls++;
	if (!pthread_equal(pthread_self(), main_tid))
		s->off_loop++;
	s->status = evpool_job_status(job);
	s->value = py_int(b, len);
	s->arg = arg;
}

static void
on_err(struct evpool_job *job, void *arg)
{
	struct seen *s = arg;

	s->err_calls++;
	if (!pthread_equal(pthread_self(), main_tid))
		s->off_loop++;
	s->status = evpool_job_status(job);
}

/* ---- initializer -------------------------------------------------------- */

/* Set by the initializer in the worker (a thread or a process): the job
 * reports it, proving the initializer ran there before the job. */
static __thread int init_value;
static char init_log[200];	/* set before the pool: a worker process
				   sees it as it was at fork time */

static void
worker_init(void *arg)
{
	init_value = *(int *)arg;
	py_mark(init_log);
}

static void
worker_fini(void *arg)
{
	char path[220];

	(void)arg;
	snprintf(path, sizeof(path), "%s.fini", init_log);
	py_mark(path);
}

static int
job_init_value(struct evpool_ctx *ctx)
{
	int32_t v = init_value;

	return evpool_ctx_set_result_bytes(ctx, &v, sizeof(v));
}

/* ---- the checks of one mode --------------------------------------------- */

static void
run_mode(const struct py_mode *m)
{
	struct event_base *base = event_base_new();
	struct evpool *pool, *other;
	struct py_task t, tg, tf;
	struct evpool_result res;
	struct evpool_item item;
	struct seen s;
	struct evpool_job *job, *jobs[3], *a, *b, *c, *got;
	struct evpool_as_completed *ac;
	char gate[200], gate2[200];
	double t0;
	int r, n, init_arg = 4242;
	struct evpool_config *cfg;
	char fini_path[220];

	if (!base)
		bail("event_base_new");
	if (py_pool(m->mode, base, 4, 0, &pool) < 0) {
		skip(PER_MODE, "%s", py_skip_reason);
		event_base_free(base);
		return;
	}
	diag("mode %s", m->name);
	tap_watchdog(60, "apply");

	/* apply: blocking, bytes in and out */
	t = py_task_value(7);
	item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
	r = evpool_apply(pool, py_task_fn, &item, &res);
	is_int(0, r, "%s: apply returns the job's status 0", m->name);
	is_int(0, res.status, "%s: apply fills res.status", m->name);
	is_int(49, py_int(res.data, res.len), "%s: apply gives the byte result",
	       m->name);
	evpool_result_release(&res);
	ok(res.data == NULL && res.len == 0,
	   "%s: evpool_result_release clears the result", m->name);

	/* apply: the job's own failure */
	t.fail = -EDOM;
	r = evpool_apply(pool, py_task_fn, &item, &res);
	is_int(-EDOM, r, "%s: apply returns the job's own error", m->name);
	is_int(-EDOM, res.status, "%s: ... and res.status says it too", m->name);
	evpool_result_release(&res);
	r = evpool_apply(pool, py_task_fn, &item, NULL);
	is_int(-EDOM, r, "%s: apply works without a result struct", m->name);

	/* apply: pointer input */
	t = py_task_value(9);
	item = EVPOOL_ITEM_PTR(&t);
	r = evpool_apply(pool, py_task_fn, &item, &res);
	if (m->mode == EVPOOL_MODE_THREAD) {
		is_int(0, r, "%s: apply with a pointer input", m->name);
		is_int(81, py_int(res.data, res.len), "%s: ... gives its result",
		       m->name);
		ok(res.arg == &t, "%s: ... and res.arg is the input pointer",
		   m->name);
	} else {
		is_int(-EINVAL, r,
		       "%s: apply with a pointer input is refused", m->name);
		is_int(-EINVAL, res.status, "%s: ... in res.status too",
		       m->name);
		ok(strstr(evpool_errmsg(), "bytes") != NULL,
		   "%s: ... with a message about bytes: %s", m->name,
		   evpool_errmsg());
	}
	evpool_result_release(&res);
	r = evpool_apply(pool, NULL, NULL, &res);
	is_int(-EINVAL, r, "%s: apply without a function is refused", m->name);
	is_int(-EINVAL, evpool_apply(NULL, py_task_fn, NULL, NULL),
	       "%s: apply on a NULL pool is refused", m->name);

	/* apply_async: callback on success, on the loop thread */
	memset(&s, 0, sizeof(s));
	t = py_task_value(5);
	item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
	r = evpool_apply_async(pool, py_task_fn, &item, on_ok, on_err, &s, &job);
	is_int(0, r, "%s: apply_async accepted", m->name);
	event_base_dispatch(base);
	ok(s.ok_calls == 1 && s.err_calls == 0,
	   "%s: apply_async: the callback ran once, the error callback never",
	   m->name);
	is_int(0, s.off_loop, "%s: ... on the loop thread", m->name);
	is_int(25, s.value, "%s: ... with the result", m->name);
	ok(s.arg == &s, "%s: ... and its arg", m->name);
	is_int(1, evpool_job_successful(job), "%s: successful() is 1", m->name);
	evpool_job_unref(job);

	/* apply_async: error callback on failure */
	memset(&s, 0, sizeof(s));
	t.fail = -EPERM;
	r = evpool_apply_async(pool, py_task_fn, &item, on_ok, on_err, &s, &job);
	is_int(0, r, "%s: failing apply_async accepted", m->name);
	event_base_dispatch(base);
	ok(s.ok_calls == 0 && s.err_calls == 1,
	   "%s: apply_async: the error callback ran once, the callback never",
	   m->name);
	is_int(-EPERM, s.status, "%s: ... seeing the job's status", m->name);
	is_int(0, evpool_job_successful(job), "%s: successful() is 0", m->name);
	is_int(-EPERM, evpool_job_get(job, 0, NULL),
	       "%s: get() returns the job's error", m->name);
	evpool_job_unref(job);

	/* apply_async: no error callback: the callback gets the failure */
	memset(&s, 0, sizeof(s));
	r = evpool_apply_async(pool, py_task_fn, &item, on_ok, NULL, &s, NULL);
	is_int(0, r, "%s: apply_async without error callback accepted", m->name);
	event_base_dispatch(base);
	ok(s.ok_calls == 1 && s.status == -EPERM,
	   "%s: ... the callback runs on failure (exactly one callback)",
	   m->name);

	/* AsyncResult before it is ready */
	py_path(gate, sizeof(gate), "gate-async");
	unlink(gate);
	tg = py_task_gated(3, gate, NULL);
	item = EVPOOL_ITEM_BYTES(&tg, sizeof(tg));
	memset(&s, 0, sizeof(s));
	r = evpool_apply_async(pool, py_task_fn, &item, on_ok, on_err, &s, &job);
	is_int(0, r, "%s: gated apply_async accepted", m->name);
	is_int(0, evpool_job_ready(job), "%s: ready() is 0 while it runs",
	       m->name);
	is_int(EVPOOL_ENOTREADY, evpool_job_successful(job),
	       "%s: successful() before ready is EVPOOL_ENOTREADY", m->name);
	t0 = tap_now_ms();
	is_int(EVPOOL_ENOTREADY, evpool_job_get(job, 50, NULL),
	       "%s: get(50 ms) times out with EVPOOL_ENOTREADY", m->name);
	ok(tap_now_ms() - t0 >= 45, "%s: ... after waiting its timeout",
	   m->name);
	is_int(-ETIMEDOUT, evpool_job_wait(job, 0),
	       "%s: wait(0) polls: -ETIMEDOUT", m->name);
	py_touch(gate);
	is_int(0, evpool_job_get(job, -1, NULL),
	       "%s: get(-1) returns 0 once the gate opens", m->name);
	is_int(1, evpool_job_successful(job), "%s: ... then successful() is 1",
	       m->name);
	event_base_dispatch(base);
	is_int(1, s.ok_calls, "%s: ... and the callback ran once", m->name);
	evpool_job_unref(job);

	/* concurrent.futures.wait / as_completed */
	py_path(gate2, sizeof(gate2), "gate-wait");
	unlink(gate2);
	tg = py_task_gated(2, gate2, NULL);
	t = py_task_value(4);
	tf = py_task_value(1);
	tf.fail = -EIO;
	tf.sleep_ms = 20;
	item = EVPOOL_ITEM_BYTES(&tg, sizeof(tg));
	if (evpool_apply_async(pool, py_task_fn, &item, NULL, NULL, NULL, &a))
		bail("apply_async a: %s", evpool_errmsg());
	item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
	if (evpool_apply_async(pool, py_task_fn, &item, NULL, NULL, NULL, &b))
		bail("apply_async b: %s", evpool_errmsg());
	item = EVPOOL_ITEM_BYTES(&tf, sizeof(tf));
	if (evpool_apply_async(pool, py_task_fn, &item, NULL, NULL, NULL, &c))
		bail("apply_async c: %s", evpool_errmsg());
	jobs[0] = a;
	jobs[1] = b;
	jobs[2] = c;
	n = evpool_wait(jobs, 3, EVPOOL_FIRST_COMPLETED, 10000);
	if (!ok(n >= 1 && !evpool_job_ready(a),
		"%s: wait(FIRST_COMPLETED) returns with a job done (%d) while one blocks",
		m->name, n))
		diag("a: status %d (%s), b %d, c %d", evpool_job_status(a),
		     evpool_strerror(evpool_job_status(a)), evpool_job_status(b),
		     evpool_job_status(c));
	n = evpool_wait(jobs, 3, EVPOOL_FIRST_EXCEPTION, 10000);
	ok(evpool_job_ready(c) && evpool_job_status(c) == -EIO &&
	   !evpool_job_ready(a),
	   "%s: wait(FIRST_EXCEPTION) returns at the failure, not waiting for all",
	   m->name);
	is_int(2, n, "%s: ... counting the two finished jobs", m->name);
	t0 = tap_now_ms();
	n = evpool_wait(jobs, 3, EVPOOL_ALL_COMPLETED, 50);
	ok(n == 2 && tap_now_ms() - t0 >= 45,
	   "%s: wait(ALL_COMPLETED, 50 ms) gives up after its timeout with 2 of 3",
	   m->name);
	if (evpool_as_completed(jobs, 3, &ac))
		bail("as_completed: %s", evpool_errmsg());
	r = evpool_as_completed_next(ac, 10000, &got);
	ok(r == 1 && got == b, "%s: as_completed yields the finished jobs first, in array order (b)",
	   m->name);
	r = evpool_as_completed_next(ac, 10000, &got);
	ok(r == 1 && got == c, "%s: ... then c", m->name);
	is_int(-ETIMEDOUT, evpool_as_completed_next(ac, 30, &got),
	       "%s: as_completed_next times out while the last one blocks",
	       m->name);
	py_touch(gate2);
	r = evpool_as_completed_next(ac, -1, &got);
	ok(r == 1 && got == a, "%s: ... and yields it once it finishes", m->name);
	is_int(0, evpool_as_completed_next(ac, -1, &got),
	       "%s: ... then reports the end", m->name);
	evpool_as_completed_free(ac);
	is_int(3, evpool_wait(jobs, 3, EVPOOL_ALL_COMPLETED, -1),
	       "%s: wait(ALL_COMPLETED) counts all three", m->name);
	is_int(-EINVAL, evpool_wait(jobs, 3, (enum evpool_wait_for)9, 0),
	       "%s: wait with an unknown condition is refused", m->name);
	if (py_pool(m->mode, NULL, 1, 0, &other) < 0)
		bail("second pool");
	item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
	if (evpool_apply_async(other, py_task_fn, &item, NULL, NULL, NULL,
			       &jobs[1]))
		bail("apply_async other: %s", evpool_errmsg());
	is_int(-EINVAL, evpool_wait(jobs, 2, EVPOOL_ALL_COMPLETED, -1),
	       "%s: wait over jobs of two pools is refused", m->name);
	evpool_job_unref(jobs[1]);
	evpool_free(other);
	evpool_job_unref(a);
	evpool_job_unref(b);
	evpool_job_unref(c);
	event_base_dispatch(base);

	/* apply on a closed pool */
	evpool_close(pool);
	item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
	r = evpool_apply(pool, py_task_fn, &item, &res);
	ok(r == -ESHUTDOWN && res.status == -ESHUTDOWN,
	   "%s: apply on a closed pool: -ESHUTDOWN", m->name);
	memset(&s, 0, sizeof(s));
	r = evpool_apply_async(pool, py_task_fn, &item, on_ok, on_err, &s, NULL);
	is_int(-ESHUTDOWN, r, "%s: apply_async on a closed pool: -ESHUTDOWN",
	       m->name);
	evpool_free(pool);
	ok(s.ok_calls == 0 && s.err_calls == 0,
	   "%s: ... and its callbacks never run", m->name);

	/* the worker initializer and finalizer, with their argument */
	py_path(init_log, sizeof(init_log), "init");
	unlink(init_log);
	snprintf(fini_path, sizeof(fini_path), "%s.fini", init_log);
	unlink(fini_path);
	cfg = evpool_config_new();
	if (!cfg || evpool_config_set_workers(cfg, 0, 2) < 0 ||
	    evpool_config_set_initializer(cfg, worker_init, worker_fini,
					  &init_arg) < 0)
		bail("config: %s", evpool_errmsg());
	if (py_pool_cfg(m->mode, NULL, cfg, &pool) < 0)
		bail("pool with an initializer");
	evpool_config_free(cfg);
	r = evpool_apply(pool, job_init_value, NULL, &res);
	ok(r == 0 && py_int(res.data, res.len) == 4242,
	   "%s: the initializer ran in the worker, with its argument, before the job",
	   m->name);
	evpool_result_release(&res);
	evpool_free(pool);
	ok(py_size(init_log) >= 1 && py_size(init_log) == py_size(fini_path),
	   "%s: each worker ran the finalizer as it exited (%ld init, %ld fini)",
	   m->name, py_size(init_log), py_size(fini_path));
	event_base_free(base);
}

int
main(void)
{
	main_tid = pthread_self();
	evthread_use_pthreads();
	py_dir_init("apply");
	plan(PER_MODE * PY_NMODES);
	for (size_t i = 0; i < PY_NMODES; i++)
		run_mode(&py_modes[i]);
	py_dir_cleanup();
	return 0;
}

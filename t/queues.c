/*
 * queues.c — named queues (add_queue, add_queues, set_fn, put, get,
 * add_workers, kill_workers, submit by name), in each mode.  The central
 * check: a queue whose jobs all block never delays another queue's jobs.
 * Also: names and limits refused, get() timing out, pool-wide stats and
 * cancel_all covering named queues, a queue with no worker holding its jobs,
 * and evpool_free() with jobs still queued in a named queue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evpool.h>

#include "tap.h"
#include "pyutil.h"

/* Touch the gate file @p arg after 200 ms. */
static void *
open_gate_later(void *arg)
{
	tap_sleep_ms(200);
	py_touch(arg);
	return NULL;
}

#define PER_MODE 51

static struct evpool_stats
qstats(struct evpool_queue *q)
{
	struct evpool_stats st;

	if (evpool_queue_get_stats(q, &st) < 0)
		bail("evpool_queue_get_stats: %s", evpool_errmsg());
	return st;
}

static void
put_task(struct evpool_queue *q, struct py_task *t)
{
	struct evpool_item item = EVPOOL_ITEM_BYTES(t, sizeof(*t));
	int r = evpool_queue_put(q, &item);

	if (r < 0)
		bail("put on %s: %s", evpool_queue_name(q), evpool_errmsg());
}

static int done_calls;

static void
on_done(struct evpool_job *job, void *arg)
{
	(void)arg;
	if (evpool_job_status(job) == 0)
		done_calls++;
}

static void
run_mode(const struct py_mode *m)
{
	static const char *abc[] = { "a", "b", "c" };
	static const char *xyx[] = { "x", "y", "x" };
	static const char *za[] = { "z", "a" };
	struct evpool *pool;
	struct evpool_queue *q, *slow, *fast, *w, *dq;
	struct evpool_result res;
	struct evpool_stats st;
	struct py_task t, tasks[6];
	unsigned char seen[10];
	char gate[200], gate2[200];
	int r, ok_count, cancelled;
	double t0;

	if (py_pool(m->mode, NULL, 2, 0, &pool) < 0) {
		skip(PER_MODE, "%s", py_skip_reason);
		return;
	}
	diag("mode %s", m->name);
	tap_watchdog(120, "queues");

	/* add_queue, find, names */
	r = evpool_queue_new(pool, "dns", 2, &q);
	is_int(0, r, "%s: add a queue named dns", m->name);
	ok(evpool_queue_find(pool, "dns") == q, "%s: find it by name", m->name);
	is_string("dns", evpool_queue_name(q), "%s: its name", m->name);
	dq = evpool_queue_find(pool, "default");
	ok(dq && dq != q && strcmp(evpool_queue_name(dq), "default") == 0,
	   "%s: the default queue is found as \"default\"", m->name);
	ok(evpool_queue_find(pool, "nope") == NULL &&
	   strstr(evpool_errmsg(), "nope"),
	   "%s: an unknown name finds nothing: %s", m->name, evpool_errmsg());
	is_int(-EEXIST, evpool_queue_new(pool, "dns", 1, NULL),
	       "%s: a second dns queue: -EEXIST", m->name);
	is_int(-EEXIST, evpool_queue_new(pool, "default", 1, NULL),
	       "%s: a queue named default: -EEXIST", m->name);
	is_int(-EINVAL, evpool_queue_new(pool, "", 1, NULL),
	       "%s: an empty name: -EINVAL", m->name);
	is_int(-EINVAL,
	       evpool_queue_new(pool, "0123456789abcdef0123456789abcdef", 1, NULL),
	       "%s: a 32-character name: -EINVAL", m->name);
	is_int(-EINVAL, evpool_queue_new(pool, "a\tb", 1, NULL),
	       "%s: a name with a tab: -EINVAL", m->name);
	is_int(-EINVAL, evpool_queue_new(pool, "big", 5000, NULL),
	       "%s: max_workers 5000: -EINVAL", m->name);

	/* add_queues: all or nothing */
	r = evpool_queue_add_many(pool, abc, 3, 1);
	ok(r == 0 && evpool_queue_find(pool, "a") && evpool_queue_find(pool, "b") &&
	   evpool_queue_find(pool, "c"),
	   "%s: add_queues a, b, c", m->name);
	r = evpool_queue_add_many(pool, xyx, 3, 1);
	ok(r == -EEXIST && !evpool_queue_find(pool, "x") &&
	   !evpool_queue_find(pool, "y"),
	   "%s: add_queues x, y, x: -EEXIST and none added", m->name);
	r = evpool_queue_add_many(pool, za, 2, 1);
	ok(r == -EEXIST && !evpool_queue_find(pool, "z"),
	   "%s: add_queues z, a (a exists): -EEXIST and z not added", m->name);

	/* put / get */
	t = py_task_value(3);
	{
		struct evpool_item item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
		is_int(-EINVAL, evpool_queue_put(q, &item),
		       "%s: put without a default function: -EINVAL", m->name);
	}
	is_int(0, evpool_queue_set_fn(q, py_task_fn), "%s: set_fn", m->name);
	for (int i = 0; i < 10; i++) {
		tasks[i % 6] = py_task_value(i);
		put_task(q, &tasks[i % 6]);
	}
	memset(seen, 0, sizeof(seen));
	ok_count = 0;
	for (int i = 0; i < 10; i++) {
		r = evpool_queue_get(q, 10000, &res);
		if (r == 0 && res.status == 0 && res.index < 10 &&
		    !seen[res.index]++ &&
		    py_int(res.data, res.len) == (int32_t)(res.index * res.index))
			ok_count++;
		evpool_result_release(&res);
	}
	is_int(10, ok_count,
	       "%s: 10 puts, 10 gets: every result once, .index = put number",
	       m->name);
	is_int(-EAGAIN, evpool_queue_get(q, 0, &res),
	       "%s: get(0) on an empty queue: -EAGAIN", m->name);
	t0 = tap_now_ms();
	r = evpool_queue_get(q, 50, &res);
	ok(r == -ETIMEDOUT && tap_now_ms() - t0 >= 45,
	   "%s: get(50 ms) on an empty queue times out: -ETIMEDOUT", m->name);
	t.fail = -EDOM;
	put_task(q, &t);
	r = evpool_queue_get(q, 10000, &res);
	ok(r == 0 && res.status == -EDOM,
	   "%s: a failed job's result comes through get() too", m->name);
	evpool_result_release(&res);

	/* a blocked queue does not delay another queue */
	py_path(gate, sizeof(gate), "gate-slow");
	unlink(gate);
	if (evpool_queue_new(pool, "slow", 2, &slow) ||
	    evpool_queue_new(pool, "fast", 1, &fast))
		bail("queues: %s", evpool_errmsg());
	evpool_queue_set_fn(slow, py_task_fn);
	evpool_queue_set_fn(fast, py_task_fn);
	for (int i = 0; i < 4; i++) {
		tasks[i] = py_task_gated(i, gate, NULL);
		put_task(slow, &tasks[i]);
	}
	ok(tap_wait_until(qstats(slow).running == 2 && qstats(slow).queued == 2,
			  10000),
	   "%s: slow queue: 2 jobs blocked on its 2 workers, 2 waiting", m->name);
	t = py_task_value(6);
	put_task(fast, &t);
	r = evpool_queue_get(fast, 10000, &res);
	ok(r == 0 && py_int(res.data, res.len) == 36,
	   "%s: a job of the fast queue completes meanwhile", m->name);
	evpool_result_release(&res);
	{
		struct evpool_item item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
		r = evpool_apply(pool, py_task_fn, &item, &res);
	}
	ok(r == 0 && py_int(res.data, res.len) == 36,
	   "%s: so does a job of the default queue", m->name);
	evpool_result_release(&res);
	st = qstats(slow);
	ok(st.running == 2 && st.queued == 2,
	   "%s: ... while the slow queue is still blocked", m->name);
	evpool_get_stats(pool, &st);
	ok(st.running >= 2 && st.queued >= 2 && st.workers >= 2,
	   "%s: the pool's stats include the named queues", m->name);
	cancelled = evpool_cancel_all(pool);
	is_int(2, cancelled, "%s: cancel_all cancels the slow queue's 2 waiting jobs",
	       m->name);
	py_touch(gate);
	ok_count = cancelled = 0;
	for (int i = 0; i < 4; i++) {
		r = evpool_queue_get(slow, 10000, &res);
		if (r == 0 && res.status == 0)
			ok_count++;
		else if (r == 0 && res.status == -ECANCELED)
			cancelled++;
		evpool_result_release(&res);
	}
	ok(ok_count == 2 && cancelled == 2,
	   "%s: ... which come back -ECANCELED, the 2 running ones with results",
	   m->name);

	/* add_workers, kill_workers */
	py_path(gate, sizeof(gate), "gate-w1");
	py_path(gate2, sizeof(gate2), "gate-w2");
	unlink(gate);
	unlink(gate2);
	if (evpool_queue_new(pool, "w", 1, &w) < 0)
		bail("queue w: %s", evpool_errmsg());
	evpool_queue_set_fn(w, py_task_fn);
	for (int i = 0; i < 6; i++) {
		tasks[i] = py_task_gated(i, i < 3 ? gate : gate2, NULL);
		put_task(w, &tasks[i]);
	}
	ok(tap_wait_until(qstats(w).running == 1 && qstats(w).queued == 5, 10000),
	   "%s: queue w (1 worker): 1 job runs, 5 wait", m->name);
	is_int(0, evpool_queue_add_workers(w, 2), "%s: add_workers(2)", m->name);
	ok(tap_wait_until(qstats(w).running == 3, 10000) &&
	   qstats(w).max_workers == 3,
	   "%s: ... now 3 jobs run (max_workers 3)", m->name);
	is_int(0, evpool_queue_kill_workers(w, 2), "%s: kill_workers(2)", m->name);
	is_int(1, qstats(w).max_workers, "%s: ... max_workers is 1 again",
	       m->name);
	py_touch(gate);
	ok(tap_wait_until(qstats(w).running == 1 && qstats(w).queued == 2 &&
			  qstats(w).workers == 1,
			  10000),
	   "%s: once the 3 finish, the killed workers are gone: 1 runs, 2 wait",
	   m->name);
	tap_sleep_ms(50);
	st = qstats(w);
	ok(st.running == 1 && st.queued == 2,
	   "%s: ... and it stays so (no surplus worker takes a job)", m->name);
	py_touch(gate2);
	ok_count = 0;
	for (int i = 0; i < 6; i++) {
		r = evpool_queue_get(w, 10000, &res);
		ok_count += r == 0 && res.status == 0;
		evpool_result_release(&res);
	}
	is_int(6, ok_count, "%s: all 6 jobs of w completed", m->name);
	is_int(0, evpool_queue_kill_workers(w, 5),
	       "%s: kill_workers beyond the count", m->name);
	is_int(0, qstats(w).max_workers, "%s: ... leaves max_workers 0", m->name);
	t = py_task_value(2);
	put_task(w, &t);
	tap_sleep_ms(30);
	ok(evpool_queue_get(w, 0, &res) == -EAGAIN && qstats(w).queued == 1,
	   "%s: ... and the queue holds a new job", m->name);
	is_int(0, evpool_queue_add_workers(w, 1), "%s: add_workers(1)", m->name);
	r = evpool_queue_get(w, 10000, &res);
	ok(r == 0 && py_int(res.data, res.len) == 4,
	   "%s: ... runs the held job", m->name);
	evpool_result_release(&res);
	is_int(-EINVAL, evpool_queue_add_workers(w, 0),
	       "%s: add_workers(0): -EINVAL", m->name);
	is_int(-EINVAL, evpool_queue_add_workers(w, 5000),
	       "%s: add_workers(5000): -EINVAL", m->name);
	is_int(-EINVAL, evpool_queue_kill_workers(w, 0),
	       "%s: kill_workers(0): -EINVAL", m->name);

	/* submit by name */
	done_calls = 0;
	t = py_task_value(5);
	r = evpool_submit_to(pool, "fast", py_task_fn, &t, on_done, NULL);
	if (m->mode == EVPOOL_MODE_THREAD) {
		ok(r == 0 && tap_wait_until((evpool_drain(pool), done_calls == 1),
					    10000),
		   "%s: submit_to(\"fast\") runs the job, its callback once",
		   m->name);
	} else {
		ok(r == -EINVAL && strstr(evpool_errmsg(), "byte"),
		   "%s: submit_to a pointer job is refused with -EINVAL: %s",
		   m->name, evpool_errmsg());
	}
	is_int(-ENOENT, evpool_submit_to(pool, "nope", py_task_fn, NULL, on_done,
					 NULL),
	       "%s: submit_to an unknown queue: -ENOENT", m->name);
	{
		struct evpool_job_spec spec = { 0 };
		struct evpool_job *job;

		t = py_task_value(8);
		spec.fn = py_task_fn;
		spec.input = &t;
		spec.input_len = sizeof(t);
		spec.queue = evpool_queue_find(pool, "b");
		r = evpool_submit_job(pool, &spec, &job);
		ok(r == 0 && evpool_job_get(job, -1, NULL) == 0 &&
		   py_int(evpool_job_result_bytes(job, NULL), sizeof(int32_t)) == 64,
		   "%s: submit_job with spec.queue runs on that queue", m->name);
		if (r == 0)
			evpool_job_unref(job);
		evpool_drain(pool);
	}

	/* default functions: the queue's for a map without fn, the pool's for
	 * put() on the default queue */
	{
		struct evpool_map_spec ms = { 0 };
		struct evpool_item items[3];
		struct evpool_map *map;
		struct evpool_config *cfg = evpool_config_new();
		struct evpool *p2;

		for (int i = 0; i < 3; i++) {
			tasks[i] = py_task_value(i + 2);
			items[i] = EVPOOL_ITEM_BYTES(&tasks[i], sizeof(tasks[i]));
		}
		ms.items = items;
		ms.n = 3;
		ms.queue = fast;
		r = evpool_map_submit(pool, &ms, &map);
		if (r == 0)
			evpool_map_wait(map, -1);
		ok(r == 0 && evpool_map_status(map) == 0 &&
		   py_int(evpool_map_result(map, 2)->data,
			  evpool_map_result(map, 2)->len) == 16,
		   "%s: a map without fn on a queue uses the queue's default function",
		   m->name);
		if (r == 0)
			evpool_map_unref(map);
		if (!cfg || evpool_config_set_default_fn(cfg, py_task_fn) < 0 ||
		    py_pool_cfg(m->mode, NULL, cfg, &p2) < 0)
			bail("pool with a default function");
		evpool_config_free(cfg);
		put_task(evpool_queue_find(p2, "default"), &tasks[1]);
		r = evpool_queue_get(evpool_queue_find(p2, "default"), 10000, &res);
		ok(r == 0 && py_int(res.data, res.len) == 9,
		   "%s: put() on the default queue uses the pool's default function",
		   m->name);
		evpool_result_release(&res);
		evpool_free(p2);
	}

	/* free with jobs still queued in a named queue */
	py_path(gate, sizeof(gate), "gate-hold");
	unlink(gate);
	{
		char hold_mark[200];

		py_path(hold_mark, sizeof(hold_mark), "hold-started");
		unlink(hold_mark);
		if (evpool_queue_new(pool, "hold", 1, &q) < 0)
			bail("queue hold: %s", evpool_errmsg());
		evpool_queue_set_fn(q, py_task_fn);
		for (int i = 0; i < 3; i++) {
			tasks[i] = py_task_gated(i, gate, hold_mark);
			put_task(q, &tasks[i]);
		}
	}
	ok(tap_wait_until(qstats(q).running == 1, 10000),
	   "%s: hold queue: 1 job runs, 2 wait", m->name);
	evpool_close(pool);
	is_int(-ESHUTDOWN, evpool_queue_new(pool, "late", 1, NULL),
	       "%s: add_queue on a closed pool: -ESHUTDOWN", m->name);
	{
		char hold_mark[200];
		double t0 = tap_now_ms();
		pthread_t opener;

		py_path(hold_mark, sizeof(hold_mark), "hold-started");
		/* The running job has begun (in process mode "running" is
		 * counted when the job is shipped, before the worker starts
		 * it). */
		tap_wait_until(py_size(hold_mark) == 1, 10000.0 * tap_slowdown());
		/* The gate opens 200 ms into evpool_free(), which has
		 * cancelled the queued jobs by then and waits for the running
		 * one (or kills it, in process mode). */
		if (pthread_create(&opener, NULL, open_gate_later, gate))
			bail("pthread_create");
		evpool_free(pool);
		pthread_join(opener, NULL);
		/* The running job finished; the 2 queued ones were cancelled,
		 * never started (evpool_free() cancels the queues first). */
		ok(py_size(hold_mark) == 1 &&
		   tap_now_ms() - t0 < 10000.0 * tap_slowdown(),
		   "%s: evpool_free with jobs and results left in named queues "
		   "returns, having run only the job that was running (%ld started)",
		   m->name, py_size(hold_mark));
	}
}

int
main(void)
{
	py_dir_init("queues");
	plan(PER_MODE * PY_NMODES);
	for (size_t i = 0; i < PY_NMODES; i++)
		run_mode(&py_modes[i]);
	py_dir_cleanup();
	return 0;
}

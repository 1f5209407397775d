/*
 * results.c — fastthreadpool parity, in each mode: a results collection
 * (done and failed) drained without callbacks, a map feeding it, a map that
 * discards its results, submit_done as a per-job done callback, the
 * pool-wide done/failed callbacks (seeing user jobs only, never the
 * internal jobs of a map), cancel() and shutdown(timeout), a collection
 * outliving its pool; and generator jobs: emission order under two
 * workers, every emission before the completion, backpressure bounded by
 * the emit window, and a cancelled generator stopping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <evpool.h>

#include "tap.h"
#include "pyutil.h"

#define PER_MODE 28
#define WINDOW 4

static pthread_t main_tid;

/* ---- generator jobs ----------------------------------------------------- */

struct gen {
	int32_t id, count, size, forever;
	char mark[120];		/* a byte per emission that returned */
};

struct piece {
	int32_t id, seq;
};

static int
job_gen(struct evpool_ctx *ctx)
{
	size_t len;
	const struct gen *g = evpool_ctx_input(ctx, &len);
	unsigned char *buf;
	int r = 0;

	if (!g || len != sizeof(*g) || g->size < (int32_t)sizeof(struct piece))
		return -EINVAL;
	buf = calloc(1, (size_t)g->size);
	if (!buf)
		return -ENOMEM;
	for (int32_t i = 0; g->forever || i < g->count; i++) {
		struct piece p = { g->id, i };

		memcpy(buf, &p, sizeof(p));
		r = evpool_ctx_emit(ctx, buf, (size_t)g->size);
		if (r < 0)
			break;
		if (g->mark[0])
			py_mark(g->mark);
	}
	free(buf);
	return r;
}

struct stream {
	int32_t next[2];	/* next seq expected per generator id */
	int bad_order, after_done, done_seen[2], emits_at_done[2];
	int calls, off_loop, status[2];
};

static void
on_piece(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	struct stream *s = arg;
	struct piece p;

	(void)job;
	if (!pthread_equal(pthread_self(), main_tid))
		s->off_loop++;
	if (len < sizeof(p)) {
		s->bad_order++;
		return;
	}
	memcpy(&p, data, sizeof(p));
	if (p.id < 0 || p.id > 1 || p.seq != s->next[p.id]) {
		s->bad_order++;
		return;
	}
	if (s->done_seen[p.id])
		s->after_done++;
	s->next[p.id]++;
}

/* done callbacks carrying the generator id in their own arg */
struct gen_done {
	struct stream *s;
	int id;
};

static void
on_gen_done_id(struct evpool_job *job, void *arg)
{
	struct gen_done *d = arg;

	d->s->done_seen[d->id] = 1;
	d->s->emits_at_done[d->id] = d->s->next[d->id];
	d->s->status[d->id] = evpool_job_status(job);
	d->s->calls++;
	if (!pthread_equal(pthread_self(), main_tid))
		d->s->off_loop++;
}

static void
on_piece_id(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	struct gen_done *d = arg;

	on_piece(job, data, len, d->s);
}

static int
submit_gen(struct evpool *pool, struct gen *g, struct gen_done *d,
	   struct evpool_job **jobp)
{
	struct evpool_job_spec spec = { 0 };

	spec.fn = job_gen;
	spec.input = g;
	spec.input_len = sizeof(*g);
	spec.emit = on_piece_id;
	spec.done = on_gen_done_id;
	spec.done_arg = d;
	return evpool_submit_job(pool, &spec, jobp);
}

/* ---- pool-wide callbacks ------------------------------------------------ */

static int pool_done, pool_failed;

static void
pool_done_cb(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
	pool_done++;
}

static void
pool_failed_cb(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
	pool_failed++;
}

static int submit_done_calls, submit_done_off_loop;

static void
submit_done_cb(struct evpool_job *job, void *arg)
{
	(void)arg;
	if (evpool_job_status(job) == 0)
		submit_done_calls++;
	if (!pthread_equal(pthread_self(), main_tid))
		submit_done_off_loop++;
}

/* ---- the checks --------------------------------------------------------- */

static int
rc_put(struct evpool_results *rc, struct py_task *t)
{
	struct evpool_job_spec spec = { 0 };

	spec.fn = py_task_fn;
	spec.input = t;
	spec.input_len = sizeof(*t);
	return evpool_results_submit(rc, &spec, NULL);
}

static void
run_mode(const struct py_mode *m)
{
	static struct py_task tasks[1000];
	static struct evpool_item items[1000];
	struct event_base *base = event_base_new();
	struct evpool_config *cfg;
	struct evpool *pool;
	struct evpool_results *rc;
	struct evpool_result res;
	struct evpool_map *map;
	struct evpool_map_spec ms;
	struct evpool_imap *im;
	struct evpool_job *job;
	struct stream s;
	struct gen g[2];
	struct gen_done d[2];
	char gate[200], mark[200];
	int r, good, bad;
	long marks;

	if (!base)
		bail("event_base_new");
	cfg = evpool_config_new();
	if (!cfg || evpool_config_set_workers(cfg, 0, 2) < 0 ||
	    evpool_config_set_emit_window(cfg, WINDOW) < 0 ||
	    evpool_config_set_callbacks(cfg, pool_done_cb, pool_failed_cb,
					NULL) < 0)
		bail("config: %s", evpool_errmsg());
	r = py_pool_cfg(m->mode, base, cfg, &pool);
	evpool_config_free(cfg);
	if (r < 0) {
		skip(PER_MODE, "%s", py_skip_reason);
		event_base_free(base);
		return;
	}
	diag("mode %s", m->name);
	tap_watchdog(120, "results");

	/* a results collection: done and failed, drained without callbacks */
	is_int(0, evpool_results_new(pool, &rc), "%s: results_new", m->name);
	r = 0;
	for (int i = 0; i < 10; i++) {
		tasks[i] = py_task_value(i);
		tasks[i].fail = i % 2 ? -EDOM : 0;
		r |= rc_put(rc, &tasks[i]);
	}
	is_int(0, r, "%s: 10 jobs submitted into it", m->name);
	ok(tap_wait_until(evpool_results_pending(rc) == 0, 10000) &&
	   evpool_results_count(rc, EVPOOL_RESULTS_DONE) == 5 &&
	   evpool_results_count(rc, EVPOOL_RESULTS_FAILED) == 5 &&
	   evpool_results_count(rc, EVPOOL_RESULTS_ANY) == 10,
	   "%s: once they finish it holds 5 done and 5 failed", m->name);
	good = 0;
	while (evpool_results_get(rc, EVPOOL_RESULTS_DONE, 0, &res) == 0) {
		if (res.status == 0 && res.index % 2 == 0 &&
		    py_int(res.data, res.len) == (int32_t)(res.index * res.index))
			good++;
		evpool_result_release(&res);
	}
	is_int(5, good, "%s: draining done: 5 results, .index the submission number",
	       m->name);
	bad = 0;
	while (evpool_results_get(rc, EVPOOL_RESULTS_FAILED, 0, &res) == 0) {
		if (res.status == -EDOM && res.index % 2 == 1)
			bad++;
		evpool_result_release(&res);
	}
	is_int(5, bad, "%s: draining failed: the 5 errors", m->name);
	is_int(-EAGAIN, evpool_results_get(rc, EVPOOL_RESULTS_ANY, 0, &res),
	       "%s: get(0) on an empty collection: -EAGAIN", m->name);
	is_int(-ETIMEDOUT, evpool_results_get(rc, EVPOOL_RESULTS_ANY, 30, &res),
	       "%s: get(30 ms): -ETIMEDOUT", m->name);
	{
		struct evpool_job_spec spec = { 0 };

		spec.fn = py_task_fn;
		spec.done = submit_done_cb;
		is_int(-EINVAL, evpool_results_submit(rc, &spec, NULL),
		       "%s: a job of a collection with a callback is refused",
		       m->name);
	}

	/* a map feeding the collection */
	for (int i = 0; i < 20; i++) {
		tasks[i] = py_task_value(i);
		tasks[i].fail = i == 4 || i == 15 ? -EIO : 0;
		items[i] = EVPOOL_ITEM_BYTES(&tasks[i], sizeof(tasks[i]));
	}
	memset(&ms, 0, sizeof(ms));
	ms.fn = py_task_fn;
	ms.items = items;
	ms.n = 20;
	ms.chunksize = 3;
	ms.results = rc;
	r = evpool_map_submit(pool, &ms, &map);
	evpool_map_wait(map, -1);
	ok(r == 0 && evpool_map_status(map) == -EIO &&
	   evpool_map_result(map, 0) == NULL,
	   "%s: a map into the collection: status kept, results not", m->name);
	evpool_map_unref(map);
	good = bad = 0;
	while (evpool_results_get(rc, EVPOOL_RESULTS_ANY, 0, &res) == 0) {
		if (res.status == 0 && py_int(res.data, res.len) ==
		    (int32_t)(res.index * res.index))
			good++;
		else if (res.status == -EIO && (res.index == 4 || res.index == 15))
			bad++;
		evpool_result_release(&res);
	}
	ok(good == 18 && bad == 2,
	   "%s: ... the collection got 18 results and 2 failures, with their index",
	   m->name);

	/* map discarding results */
	for (int i = 0; i < 1000; i++) {
		tasks[i] = py_task_value(i % 100);
		tasks[i].fail = i % 400 == 7 ? -ERANGE : 0;
		items[i] = EVPOOL_ITEM_BYTES(&tasks[i], sizeof(tasks[i]));
	}
	memset(&ms, 0, sizeof(ms));
	ms.fn = py_task_fn;
	ms.items = items;
	ms.n = 1000;
	ms.flags = EVPOOL_MAP_DISCARD;
	r = evpool_map_submit(pool, &ms, &map);
	evpool_map_wait(map, -1);
	ok(r == 0 && evpool_map_status(map) == -ERANGE &&
	   evpool_map_failed(map) == 3 && evpool_map_result(map, 1) == NULL,
	   "%s: map with EVPOOL_MAP_DISCARD: 3 failures counted, no results kept",
	   m->name);
	evpool_map_unref(map);

	/* submit_done; pool-wide callbacks see user jobs only */
	event_base_dispatch(base); /* deliver what is owed so far */
	pool_done = pool_failed = 0;
	submit_done_calls = submit_done_off_loop = 0;
	{
		struct evpool_job_spec spec = { 0 };
		struct evpool_item it2 = EVPOOL_ITEM_BYTES(&tasks[1], sizeof(tasks[1]));

		tasks[1] = py_task_value(2);
		spec.fn = py_task_fn;
		spec.input = &tasks[1];
		spec.input_len = sizeof(tasks[1]);
		spec.done = submit_done_cb;
		r = evpool_submit_job(pool, &spec, NULL);
		r |= evpool_submit_job(pool, &spec, NULL);
		tasks[2] = py_task_value(2);
		tasks[2].fail = -EPERM;
		spec.input = &tasks[2];
		r |= evpool_submit_job(pool, &spec, NULL);
		r |= evpool_map_async(pool, py_task_fn, items, 20, 1, NULL, NULL,
				      NULL, NULL);
		r |= evpool_imap(pool, py_task_fn, &it2, 1, &im);
		if (r == 0 && evpool_imap_next(im, -1, &res) == 1)
			evpool_result_release(&res);
		evpool_imap_free(im);
	}
	event_base_dispatch(base);
	ok(r == 0 && submit_done_calls == 2 && submit_done_off_loop == 0,
	   "%s: submit_done: each job's done callback once, on the loop thread",
	   m->name);
	ok(pool_done == 2 && pool_failed == 1,
	   "%s: pool-wide done/failed callbacks saw the 3 user jobs, not the map's (%d, %d)",
	   m->name, pool_done, pool_failed);

	/* cancel(): queued jobs only; shutdown(timeout).  A fresh pool of one
	 * worker: its first job is still running when the next are queued. */
	evpool_results_free(rc);
	evpool_free(pool);
	cfg = evpool_config_new();
	if (!cfg || evpool_config_set_workers(cfg, 1, 1) < 0)
		bail("config: %s", evpool_errmsg());
	if (py_pool_cfg(m->mode, base, cfg, &pool) < 0 ||
	    evpool_results_new(pool, &rc) < 0)
		bail("pool: %s", evpool_errmsg());
	evpool_config_free(cfg);
	py_path(gate, sizeof(gate), "gate-cancel");
	unlink(gate);
	tasks[0] = py_task_gated(1, gate, NULL);
	r = rc_put(rc, &tasks[0]);
	{
		struct evpool_stats st;
		tap_wait_until(evpool_get_stats(pool, &st) == 0 &&
			       st.running == 1, 10000);
	}
	for (int i = 1; i < 4; i++) {
		tasks[i] = py_task_value(i);
		r |= rc_put(rc, &tasks[i]);
	}
	is_int(3, evpool_cancel_all(pool),
	       "%s: cancel_all (fastthreadpool's cancel) cancels the 3 queued jobs",
	       m->name);
	{
		double t0 = tap_now_ms();
		r = evpool_shutdown(pool, 50);
		ok(r == -ETIMEDOUT && tap_now_ms() - t0 >= 45,
		   "%s: shutdown(50 ms) with a job still running: -ETIMEDOUT",
		   m->name);
	}
	py_touch(gate);
	is_int(0, evpool_join(pool, -1), "%s: ... join() then waits for it",
	       m->name);
	good = bad = 0;
	while (evpool_results_get(rc, EVPOOL_RESULTS_ANY, 0, &res) == 0) {
		if (res.status == -ECANCELED)
			bad++;
		else if (res.status == 0 || res.status == -ECANCELED)
			good++;
		evpool_result_release(&res);
	}
	ok(bad >= 3 && good + bad == 4,
	   "%s: the collection holds the 3 cancelled jobs and the running one",
	   m->name);
	is_int(-ESHUTDOWN, evpool_results_get(rc, EVPOOL_RESULTS_ANY, -1, &res),
	       "%s: get(-1) on an empty collection of a closed pool: -ESHUTDOWN",
	       m->name);
	event_base_dispatch(base);
	evpool_free(pool);

	/* a collection outlives its pool */
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 0, 2);
	if (py_pool_cfg(m->mode, NULL, cfg, &pool) < 0)
		bail("pool");
	evpool_config_free(cfg);
	evpool_results_free(rc);
	if (evpool_results_new(pool, &rc) < 0)
		bail("results_new");
	tasks[0] = py_task_value(9);
	rc_put(rc, &tasks[0]);
	evpool_close(pool);
	evpool_join(pool, -1);
	evpool_free(pool);
	r = evpool_results_get(rc, EVPOOL_RESULTS_ANY, -1, &res);
	ok(r == 0 && py_int(res.data, res.len) == 81,
	   "%s: a collection outlives evpool_free(): its results are still there",
	   m->name);
	evpool_result_release(&res);
	is_int(-ESHUTDOWN, evpool_results_get(rc, EVPOOL_RESULTS_ANY, -1, &res),
	       "%s: ... then -ESHUTDOWN, without waiting", m->name);
	evpool_results_free(rc);
	evpool_results_free(NULL);

	/* generator jobs: order under two workers, all before completion */
	cfg = evpool_config_new();
	if (!cfg || evpool_config_set_workers(cfg, 2, 2) < 0 ||
	    evpool_config_set_emit_window(cfg, WINDOW) < 0)
		bail("config");
	if (py_pool_cfg(m->mode, base, cfg, &pool) < 0)
		bail("pool");
	evpool_config_free(cfg);
	memset(&s, 0, sizeof(s));
	for (int id = 0; id < 2; id++) {
		memset(&g[id], 0, sizeof(g[id]));
		g[id].id = id;
		g[id].count = 300;
		g[id].size = 64;
		d[id].s = &s;
		d[id].id = id;
		if (submit_gen(pool, &g[id], &d[id], NULL) < 0)
			bail("submit gen: %s", evpool_errmsg());
	}
	event_base_dispatch(base);
	ok(s.calls == 2 && s.status[0] == 0 && s.status[1] == 0,
	   "%s: two generators on two workers completed", m->name);
	ok(s.bad_order == 0 && s.next[0] == 300 && s.next[1] == 300,
	   "%s: ... each one's 300 pieces arrived in emission order", m->name);
	ok(s.emits_at_done[0] == 300 && s.emits_at_done[1] == 300 &&
	   s.after_done == 0,
	   "%s: ... all of them before its completion callback", m->name);
	is_int(0, s.off_loop, "%s: ... on the loop thread", m->name);

	/* backpressure: a loop that does not run stops the generator */
	py_path(mark, sizeof(mark), "mark-gen");
	unlink(mark);
	memset(&s, 0, sizeof(s));
	memset(&g[0], 0, sizeof(g[0]));
	g[0].count = 100;
	g[0].size = 16384;
	snprintf(g[0].mark, sizeof(g[0].mark), "%s", mark);
	d[0].s = &s;
	d[0].id = 0;
	if (submit_gen(pool, &g[0], &d[0], NULL) < 0)
		bail("submit gen: %s", evpool_errmsg());
	tap_sleep_ms(300);
	marks = py_size(mark);
	if (m->mode == EVPOOL_MODE_THREAD)
		ok(marks >= 1 && marks <= WINDOW,
		   "%s: with the loop away, the generator blocked after the emit window (%ld <= %d)",
		   m->name, marks, WINDOW);
	else
		ok(marks >= 1 && marks < 100,
		   "%s: with the loop away, the generator blocked (%ld of 100 emitted: window + socket)",
		   m->name, marks);
	event_base_dispatch(base);
	ok(s.calls == 1 && s.next[0] == 100 && s.bad_order == 0,
	   "%s: ... and resumed when the loop ran: all 100 in order", m->name);

	/* a cancelled generator stops */
	memset(&s, 0, sizeof(s));
	memset(&g[0], 0, sizeof(g[0]));
	g[0].forever = 1;
	g[0].size = 64;
	d[0].s = &s;
	if (submit_gen(pool, &g[0], &d[0], &job) < 0)
		bail("submit gen: %s", evpool_errmsg());
	tap_wait_until(evpool_get_stats(pool, &(struct evpool_stats){ 0 }) == 0 &&
		       (event_base_loop(base, EVLOOP_NONBLOCK), s.next[0] > 10),
		       10000);
	r = evpool_job_cancel(job);
	ok(r == 0 || r == -EBUSY, "%s: cancel a running generator (%s)",
	   m->name, evpool_err_name(r));
	event_base_dispatch(base);
	ok(s.calls == 1 && s.status[0] == -ECANCELED && s.bad_order == 0,
	   "%s: ... it stops, completing with -ECANCELED after %d pieces",
	   m->name, s.next[0]);
	evpool_job_unref(job);
	evpool_free(pool);
	event_base_free(base);
}

int
main(void)
{
	main_tid = pthread_self();
	evthread_use_pthreads();
	py_dir_init("results");
	plan(PER_MODE * PY_NMODES);
	for (size_t i = 0; i < PY_NMODES; i++)
		run_mode(&py_modes[i]);
	py_dir_cleanup();
	return 0;
}

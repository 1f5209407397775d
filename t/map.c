/*
 * map.c — ThreadPool's map, map_async, starmap, starmap_async and
 * chunksize, in each mode: results in input order, Python's default chunk
 * size, one callback (or error callback once every chunk has finished),
 * the failed item of lowest index, a map with one failing item, maps of
 * zero items, cancel, a bounded queue refusing a map without a callback
 * running, and discarding results (fastthreadpool's done_callback=False).
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

#define PER_MODE 50
#define N 100

static pthread_t main_tid;

struct seen {
	int ok_calls, err_calls, off_loop;
	int status, ready, all_there;
	size_t err_index, size;
	struct evpool_map *kept;
};

/* Every result of @p map is filled in (ready, not EVPOOL_ENOTREADY). */
static int
all_there(struct evpool_map *map)
{
	for (size_t i = 0; i < evpool_map_size(map); i++) {
		const struct evpool_result *r = evpool_map_result(map, i);
		if (!r || r->index != i)
			return 0;
	}
	return 1;
}

static void
note(struct evpool_map *map, struct seen *s)
{
	if (!pthread_equal(pthread_self(), main_tid))
		s->off_loop++;
	s->status = evpool_map_status(map);
	s->ready = evpool_map_ready(map);
	s->all_there = all_there(map);
	s->err_index = evpool_map_error_index(map);
	s->size = evpool_map_size(map);
}

static void
on_ok(struct evpool_map *map, void *arg)
{
	struct seen *s = arg;

	s->ok_calls++;
	note(map, s);
}

static void
on_err(struct evpool_map *map, void *arg)
{
	struct seen *s = arg;

	s->err_calls++;
	note(map, s);
	s->kept = evpool_map_ref(map);
}

/* A starmap record: the arguments of one call. */
struct mul_args {
	int32_t a, b;
};

static int
job_mul(struct evpool_ctx *ctx)
{
	size_t len;
	const struct mul_args *x = evpool_ctx_input(ctx, &len);
	int32_t p;

	if (!x || len != sizeof(*x))
		return -EINVAL;
	p = x->a * x->b;
	return evpool_ctx_set_result_bytes(ctx, &p, sizeof(p));
}

/* Items 0..N-1 of value i; those in @p fail[] fail with -EDOM. */
static void
make_tasks(struct py_task *t, struct evpool_item *it, size_t n,
	   const size_t *fail, size_t nfail)
{
	for (size_t i = 0; i < n; i++) {
		t[i] = py_task_value((int32_t)i);
		for (size_t k = 0; k < nfail; k++)
			if (fail[k] == i)
				t[i].fail = -EDOM;
		it[i] = EVPOOL_ITEM_BYTES(&t[i], sizeof(t[i]));
	}
}

static int
results_ok(struct evpool_map *map, size_t n, size_t skip_index)
{
	for (size_t i = 0; i < n; i++) {
		const struct evpool_result *r = evpool_map_result(map, i);

		if (i == skip_index)
			continue;
		if (!r || r->status != 0 || r->index != i ||
		    py_int(r->data, r->len) != (int32_t)(i * i)) {
			diag("item %zu: %s status %d value %d", i,
			     r ? "" : "no result", r ? r->status : 0,
			     r ? py_int(r->data, r->len) : 0);
			return 0;
		}
	}
	return 1;
}

static void
run_mode(const struct py_mode *m)
{
	static struct py_task t[N];
	static struct evpool_item it[N];
	struct event_base *base = event_base_new();
	struct evpool *pool;
	struct evpool_map *map;
	struct evpool_map_spec spec;
	struct mul_args recs[10];
	struct seen s;
	struct evpool_stats st;
	const struct evpool_result *r0;
	char gate[200];
	size_t fail1[] = { 37 }, fail2[] = { 80, 10 };
	int r;

	if (!base)
		bail("event_base_new");
	if (py_pool(m->mode, base, 4, 0, &pool) < 0) {
		skip(PER_MODE, "%s", py_skip_reason);
		event_base_free(base);
		return;
	}
	diag("mode %s", m->name);
	tap_watchdog(120, "map");

	/* map: blocking, in input order, Python's chunk size */
	make_tasks(t, it, N, NULL, 0);
	r = evpool_map(pool, py_task_fn, it, N, 0, &map);
	is_int(0, r, "%s: map of %d items succeeds", m->name, N);
	is_int(7, (long long)evpool_map_chunksize(map),
	       "%s: chunksize 0 means ceil(100 / (4 x 4 workers)) = 7", m->name);
	is_int(N, (long long)evpool_map_size(map), "%s: map_size", m->name);
	ok(results_ok(map, N, SIZE_MAX), "%s: every result, in input order",
	   m->name);
	is_int(1, evpool_map_successful(map), "%s: successful() is 1", m->name);
	is_int(0, (long long)evpool_map_failed(map), "%s: no item failed",
	       m->name);
	ok(evpool_map_error_index(map) == SIZE_MAX,
	   "%s: error_index is (size_t)-1", m->name);
	ok(evpool_map_result(map, N) == NULL,
	   "%s: map_result out of range is NULL", m->name);
	evpool_map_unref(map);

	/* map with one failing item */
	make_tasks(t, it, N, fail1, 1);
	r = evpool_map(pool, py_task_fn, it, N, 10, &map);
	is_int(-EDOM, r, "%s: map with one failing item returns its error",
	       m->name);
	is_int(37, (long long)evpool_map_error_index(map),
	       "%s: ... error_index names it", m->name);
	is_int(1, (long long)evpool_map_failed(map),
	       "%s: ... one item failed", m->name);
	r0 = evpool_map_result(map, 37);
	ok(r0 && r0->status == -EDOM && !r0->data,
	   "%s: ... its result holds the error", m->name);
	ok(results_ok(map, N, 37), "%s: ... and every other result is there",
	   m->name);
	is_int(0, evpool_map_successful(map), "%s: ... successful() is 0",
	       m->name);
	is_int(10, (long long)evpool_map_chunksize(map),
	       "%s: an explicit chunksize is kept", m->name);
	evpool_map_unref(map);

	/* two failures: the lowest index wins, whatever finished first */
	make_tasks(t, it, N, fail2, 2);
	t[10].sleep_ms = 50;
	r = evpool_map(pool, py_task_fn, it, N, 1, NULL);
	is_int(-EDOM, r, "%s: map without a handle returns the error", m->name);
	r = evpool_map(pool, py_task_fn, it, N, 1, &map);
	is_int(10, (long long)evpool_map_error_index(map),
	       "%s: two failures: the lower index is reported, not the first to finish",
	       m->name);
	is_int(2, (long long)evpool_map_failed(map), "%s: ... both counted",
	       m->name);
	evpool_map_unref(map);

	/* map_async: one callback, on the loop thread, with all results */
	make_tasks(t, it, N, NULL, 0);
	memset(&s, 0, sizeof(s));
	r = evpool_map_async(pool, py_task_fn, it, N, 0, on_ok, on_err, &s, &map);
	is_int(0, r, "%s: map_async accepted", m->name);
	event_base_dispatch(base);
	ok(s.ok_calls == 1 && s.err_calls == 0,
	   "%s: map_async: the callback ran once, the error callback never",
	   m->name);
	is_int(0, s.off_loop, "%s: ... on the loop thread", m->name);
	ok(s.ready && s.all_there && s.status == 0 && s.size == N,
	   "%s: ... with the map ready and every result there", m->name);
	ok(results_ok(map, N, SIZE_MAX), "%s: ... in input order", m->name);
	evpool_map_unref(map);

	/* map_async with a failure: error callback after every chunk */
	make_tasks(t, it, N, fail1, 1);
	t[99].sleep_ms = 50; /* a chunk that finishes well after the failure */
	memset(&s, 0, sizeof(s));
	r = evpool_map_async(pool, py_task_fn, it, N, 1, on_ok, on_err, &s, NULL);
	is_int(0, r, "%s: failing map_async accepted (no handle kept)", m->name);
	event_base_dispatch(base);
	ok(s.ok_calls == 0 && s.err_calls == 1,
	   "%s: the error callback ran once, the callback never", m->name);
	ok(s.ready && s.all_there,
	   "%s: ... once every chunk had finished (the slow one too)", m->name);
	ok(s.status == -EDOM && s.err_index == 37,
	   "%s: ... with the failing item's error and index", m->name);
	r0 = s.kept ? evpool_map_result(s.kept, 99) : NULL;
	ok(r0 && r0->status == 0 && py_int(r0->data, r0->len) == 99 * 99,
	   "%s: ... and a reference taken in the callback keeps the results",
	   m->name);
	evpool_map_unref(s.kept);

	/* no error callback: the callback gets the failure */
	memset(&s, 0, sizeof(s));
	r = evpool_map_async(pool, py_task_fn, it, N, 0, on_ok, NULL, &s, NULL);
	event_base_dispatch(base);
	ok(r == 0 && s.ok_calls == 1 && s.status == -EDOM,
	   "%s: without an error callback the callback gets the failure",
	   m->name);

	/* zero items */
	memset(&s, 0, sizeof(s));
	r = evpool_map_async(pool, py_task_fn, it, 0, 0, on_ok, on_err, &s, NULL);
	event_base_dispatch(base);
	ok(r == 0 && s.ok_calls == 1 && s.size == 0 && s.status == 0,
	   "%s: map_async of 0 items calls back once, with success", m->name);
	r = evpool_map(pool, py_task_fn, NULL, 0, 0, &map);
	ok(r == 0 && evpool_map_ready(map) && evpool_map_size(map) == 0,
	   "%s: map of 0 items is ready at once", m->name);
	evpool_map_unref(map);

	/* starmap: an array of argument records */
	for (int i = 0; i < 10; i++) {
		recs[i].a = i;
		recs[i].b = i + 1;
	}
	r = evpool_starmap(pool, job_mul, recs, 10, sizeof(recs[0]), 3, &map);
	is_int(0, r, "%s: starmap succeeds", m->name);
	r0 = evpool_map_result(map, 9);
	ok(r0 && py_int(r0->data, r0->len) == 90,
	   "%s: ... calling fn with each record (9 x 10)", m->name);
	evpool_map_unref(map);
	memset(&s, 0, sizeof(s));
	r = evpool_starmap_async(pool, job_mul, recs, 10, sizeof(recs[0]), 0,
				 on_ok, on_err, &s, &map);
	event_base_dispatch(base);
	r0 = evpool_map_result(map, 4);
	ok(r == 0 && s.ok_calls == 1 && r0 && py_int(r0->data, r0->len) == 20,
	   "%s: starmap_async calls back with the products", m->name);
	evpool_map_unref(map);
	is_int(-EINVAL, evpool_starmap(pool, job_mul, NULL, 3, 8, 0, NULL),
	       "%s: starmap of NULL records is refused", m->name);

	/* pointer items */
	for (int i = 0; i < 4; i++) {
		t[i] = py_task_value(i + 1);
		it[i] = EVPOOL_ITEM_PTR(&t[i]);
	}
	r = evpool_map(pool, py_task_fn, it, 4, 0, &map);
	if (m->mode == EVPOOL_MODE_THREAD) {
		r0 = evpool_map_result(map, 3);
		ok(r == 0 && r0 && py_int(r0->data, r0->len) == 16 &&
		   r0->arg == &t[3],
		   "%s: map over pointer items, results carry their arg", m->name);
		evpool_map_unref(map);
	} else {
		ok(r == -EINVAL && strstr(evpool_errmsg(), "bytes"),
		   "%s: map over pointer items is refused with -EINVAL: %s",
		   m->name, evpool_errmsg());
	}

	/* the spec's checks */
	make_tasks(t, it, 4, NULL, 0);
	memset(&spec, 0, sizeof(spec));
	spec.fn = py_task_fn;
	spec.n = 3;
	is_int(-EINVAL, evpool_map_submit(pool, &spec, NULL),
	       "%s: map of 3 items without items is refused", m->name);
	spec.items = it;
	spec.records = recs;
	spec.rec_size = sizeof(recs[0]);
	is_int(-EINVAL, evpool_map_submit(pool, &spec, NULL),
	       "%s: items and records together are refused", m->name);
	spec.records = NULL;
	spec.flags = 0x80;
	is_int(-EINVAL, evpool_map_submit(pool, &spec, NULL),
	       "%s: unknown flags are refused", m->name);
	spec.flags = 0;
	spec.fn = NULL;
	is_int(-EINVAL, evpool_map_submit(pool, &spec, NULL),
	       "%s: no function and no default function is refused", m->name);

	/* discard results: only the status and the count remain */
	make_tasks(t, it, N, fail2, 2);
	memset(&spec, 0, sizeof(spec));
	spec.fn = py_task_fn;
	spec.items = it;
	spec.n = N;
	spec.flags = EVPOOL_MAP_DISCARD;
	r = evpool_map_submit(pool, &spec, &map);
	is_int(0, r, "%s: map with EVPOOL_MAP_DISCARD accepted", m->name);
	evpool_map_wait(map, -1);
	ok(evpool_map_status(map) == -EDOM && evpool_map_failed(map) == 2 &&
	   evpool_map_error_index(map) == 10,
	   "%s: ... reports the failures", m->name);
	ok(evpool_map_result(map, 0) == NULL, "%s: ... and keeps no results",
	   m->name);
	evpool_map_unref(map);

	/* cancel: queued chunks complete with -ECANCELED */
	py_path(gate, sizeof(gate), "gate-cancel");
	unlink(gate);
	for (int i = 0; i < 8; i++) {
		t[i] = py_task_gated(i, gate, NULL);
		it[i] = EVPOOL_ITEM_BYTES(&t[i], sizeof(t[i]));
	}
	evpool_set_max_workers(pool, 1);
	if (!tap_wait_until(evpool_get_stats(pool, &st) == 0 && st.workers <= 1,
			    10000))
		diag("%u workers left after max_workers 1", st.workers);
	r = evpool_map_async(pool, py_task_fn, it, 8, 1, NULL, NULL, NULL, &map);
	is_int(0, r, "%s: gated map accepted", m->name);
	ok(tap_wait_until(evpool_get_stats(pool, &st) == 0 && st.running == 1,
			  10000),
	   "%s: ... its first chunk runs", m->name);
	/* Thread mode cannot stop the running chunk; process mode kills its
	 * worker, so that one is cancelled too. */
	r = evpool_map_cancel(map);
	if (m->mode == EVPOOL_MODE_THREAD)
		ok(r == 7, "%s: map_cancel cancels the 7 queued chunks (%d)",
		   m->name, r);
	else
		ok(r == 8, "%s: map_cancel cancels the 7 queued chunks and kills the running one (%d)",
		   m->name, r);
	py_touch(gate);
	evpool_map_wait(map, -1);
	r0 = evpool_map_result(map, 5);
	ok(evpool_map_status(map) == -ECANCELED && r0 &&
	   r0->status == -ECANCELED &&
	   evpool_map_result(map, 0)->status ==
	   (m->mode == EVPOOL_MODE_THREAD ? 0 : -ECANCELED),
	   "%s: ... their items hold -ECANCELED, the running one %s", m->name,
	   m->mode == EVPOOL_MODE_THREAD ? "its result" : "-ECANCELED too");
	evpool_map_unref(map);
	event_base_dispatch(base);
	evpool_free(pool);

	/* a bounded queue: all chunks or none, and no callback on failure */
	if (py_pool(m->mode, base, 1, 2, &pool) < 0)
		bail("bounded pool");
	py_path(gate, sizeof(gate), "gate-bounded");
	unlink(gate);
	for (int i = 0; i < 10; i++) {
		t[i] = py_task_gated(i, gate, NULL);
		it[i] = EVPOOL_ITEM_BYTES(&t[i], sizeof(t[i]));
	}
	memset(&s, 0, sizeof(s));
	r = evpool_map_async(pool, py_task_fn, it, 10, 1, on_ok, on_err, &s, &map);
	is_int(-EAGAIN, r, "%s: map_async of 10 chunks on a queue of 2: -EAGAIN",
	       m->name);
	ok(tap_wait_until(evpool_get_stats(pool, &st) == 0 && st.queued == 0,
			  10000),
	   "%s: ... the chunks it had queued are cancelled", m->name);
	py_touch(gate);
	evpool_close(pool);
	evpool_join(pool, -1);
	event_base_dispatch(base);
	ok(s.ok_calls == 0 && s.err_calls == 0,
	   "%s: ... and no callback runs", m->name);
	evpool_free(pool);
	event_base_free(base);
}

int
main(void)
{
	main_tid = pthread_self();
	evthread_use_pthreads();
	py_dir_init("map");
	plan(PER_MODE * PY_NMODES);
	for (size_t i = 0; i < PY_NMODES; i++)
		run_mode(&py_modes[i]);
	py_dir_cleanup();
	return 0;
}

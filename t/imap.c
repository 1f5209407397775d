/*
 * imap.c — ThreadPool's imap and imap_unordered as lazy iterators with a
 * bounded window, in each mode: input order and completion order,
 * next(timeout), a producer of 10^6 items that never has more than its
 * window in flight (asserted on the in-flight count and on the pool's
 * queue, not on time), producer errors, a bounded queue, and freeing an
 * iterator whose jobs still run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evpool.h>

#include "tap.h"
#include "pyutil.h"

#define PER_MODE 32
#define N 50
#define BIG 1000000
#define BIG_WINDOW 256
#define BIG_CHUNK 64

/* job: int32 x -> int32 x + 1 */
static int
job_inc(struct evpool_ctx *ctx)
{
	size_t len;
	const int32_t *x = evpool_ctx_input(ctx, &len);
	int32_t y;

	if (!x || len != sizeof(*x))
		return -EINVAL;
	y = *x + 1;
	return evpool_ctx_set_result_bytes(ctx, &y, sizeof(y));
}

/* A producer of `limit` int32 items; fails with `fail` after `fail_after`
 * items if fail is set.  Counts what it produced. */
struct producer {
	size_t produced, limit, fail_after;
	int fail;
	int32_t cur;	/* the item's bytes: valid until the next call */
};

static int
produce(void *arg, struct evpool_item *item)
{
	struct producer *p = arg;

	if (p->fail && p->produced == p->fail_after)
		return p->fail;
	if (p->produced == p->limit)
		return 0;
	p->cur = (int32_t)p->produced++;
	item->data = &p->cur;
	item->len = sizeof(p->cur);
	return 1;
}

static void
make_tasks(struct py_task *t, struct evpool_item *it, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		t[i] = py_task_value((int32_t)i);
		it[i] = EVPOOL_ITEM_BYTES(&t[i], sizeof(t[i]));
	}
}

static void
run_mode(const struct py_mode *m)
{
	static struct py_task t[N];
	static struct evpool_item it[N];
	static unsigned char seen[N];
	struct evpool *pool;
	struct evpool_imap *im;
	struct evpool_imap_spec spec;
	struct evpool_result res;
	struct evpool_stats st;
	struct producer p;
	char gate[200];
	size_t got, bad, max_inflight, max_jobs, max_ahead, first_index;
	long long sum;
	double t0;
	int r;

	if (py_pool(m->mode, NULL, 4, 0, &pool) < 0) {
		skip(PER_MODE, "%s", py_skip_reason);
		return;
	}
	diag("mode %s", m->name);
	tap_watchdog(180, "imap");

	/* imap: input order */
	make_tasks(t, it, N);
	r = evpool_imap(pool, py_task_fn, it, N, &im);
	is_int(0, r, "%s: imap started", m->name);
	is_int(16, (long long)evpool_imap_window(im),
	       "%s: the default window is 4 x 4 workers x chunksize 1", m->name);
	got = bad = 0;
	while ((r = evpool_imap_next(im, -1, &res)) == 1) {
		if (res.index != got || res.status != 0 ||
		    py_int(res.data, res.len) != (int32_t)(got * got))
			bad++;
		if (evpool_imap_in_flight(im) > evpool_imap_window(im))
			bad++;
		got++;
		evpool_result_release(&res);
	}
	ok(got == N && bad == 0, "%s: imap yields all %d results in input order",
	   m->name, N);
	is_int(0, r, "%s: ... then 0 (the end)", m->name);
	is_int(0, evpool_imap_next(im, -1, &res), "%s: ... and 0 again", m->name);
	evpool_imap_free(im);

	/* imap_unordered: each result once */
	r = evpool_imap_unordered(pool, py_task_fn, it, N, &im);
	is_int(0, r, "%s: imap_unordered started", m->name);
	memset(seen, 0, sizeof(seen));
	got = bad = 0;
	while ((r = evpool_imap_next(im, -1, &res)) == 1) {
		if (res.index >= N || seen[res.index]++ ||
		    py_int(res.data, res.len) != (int32_t)(res.index * res.index))
			bad++;
		got++;
		evpool_result_release(&res);
	}
	ok(got == N && bad == 0 && r == 0,
	   "%s: imap_unordered yields every result once, then the end", m->name);
	evpool_imap_free(im);

	/* next(timeout) while the next item blocks; completion order */
	py_path(gate, sizeof(gate), "gate-next");
	unlink(gate);
	make_tasks(t, it, 8);
	t[0] = py_task_gated(0, gate, NULL);
	memset(&spec, 0, sizeof(spec));
	spec.fn = py_task_fn;
	spec.items = it;
	spec.n = 8;
	spec.window = 8;
	r = evpool_imap_start(pool, &spec, &im);
	is_int(0, r, "%s: imap with a blocked first item started", m->name);
	t0 = tap_now_ms();
	r = evpool_imap_next(im, 50, &res);
	is_int(-ETIMEDOUT, r, "%s: next(50 ms) times out while item 0 blocks",
	       m->name);
	ok(tap_now_ms() - t0 >= 45, "%s: ... after its timeout", m->name);
	is_int(-ETIMEDOUT, evpool_imap_next(im, 0, &res),
	       "%s: next(0) polls: -ETIMEDOUT", m->name);
	py_touch(gate);
	r = evpool_imap_next(im, -1, &res);
	ok(r == 1 && res.index == 0 && py_int(res.data, res.len) == 0,
	   "%s: ... and yields item 0 first once it finishes", m->name);
	evpool_result_release(&res);
	evpool_imap_free(im);

	unlink(gate);
	spec.flags = EVPOOL_IMAP_UNORDERED;
	r = evpool_imap_start(pool, &spec, &im);
	first_index = SIZE_MAX;
	if (r == 0 && evpool_imap_next(im, -1, &res) == 1)
		first_index = res.index;
	evpool_result_release(&res);
	ok(first_index != 0 && first_index < 8,
	   "%s: imap_unordered yields a finished item (%zu) before the blocked item 0",
	   m->name, first_index);
	py_touch(gate);
	got = 1;
	while (evpool_imap_next(im, -1, &res) == 1) {
		got++;
		evpool_result_release(&res);
	}
	is_int(8, (long long)got, "%s: ... then the rest, item 0 included",
	       m->name);
	evpool_imap_free(im);

	/* 10^6 items from a producer: the window bounds what is in flight */
	memset(&p, 0, sizeof(p));
	p.limit = BIG;
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_inc;
	spec.producer = produce;
	spec.producer_arg = &p;
	spec.window = BIG_WINDOW;
	spec.chunksize = BIG_CHUNK;
	t0 = tap_now_ms();
	r = evpool_imap_start(pool, &spec, &im);
	is_int(0, r, "%s: imap over a producer of 10^6 items started", m->name);
	ok(p.produced <= BIG_WINDOW,
	   "%s: ... having produced only its window (%zu)", m->name, p.produced);
	got = bad = max_inflight = max_jobs = max_ahead = 0;
	sum = 0;
	while ((r = evpool_imap_next(im, -1, &res)) == 1) {
		size_t inflight = evpool_imap_in_flight(im);

		if (res.index != got || res.status != 0 ||
		    py_int(res.data, res.len) != (int32_t)got + 1)
			bad++;
		sum += py_int(res.data, res.len);
		got++;
		if (inflight > max_inflight)
			max_inflight = inflight;
		if (p.produced - got > max_ahead)
			max_ahead = p.produced - got;
		if ((got & 1023) == 0 && evpool_get_stats(pool, &st) == 0 &&
		    st.queued + st.running > max_jobs)
			max_jobs = (size_t)(st.queued + st.running);
		evpool_result_release(&res);
	}
	diag("%s: 10^6 items in %.0f ms; at most %zu in flight, %zu jobs queued+running",
	     m->name, tap_now_ms() - t0, max_inflight, max_jobs);
	ok(got == BIG && bad == 0 && r == 0,
	   "%s: ... all 10^6 results, in order, then the end", m->name);
	is_int((long long)BIG * (BIG + 1) / 2, sum, "%s: ... their sum is right",
	       m->name);
	ok(max_inflight <= BIG_WINDOW,
	   "%s: ... in flight never above the window (max %zu <= %d)", m->name,
	   max_inflight, BIG_WINDOW);
	ok(max_ahead <= BIG_WINDOW,
	   "%s: ... the producer never ran more than the window ahead (%zu)",
	   m->name, max_ahead);
	/* A worker still counts as running for a moment after its chunk's
	 * results are out, so allow one such job per worker. */
	ok(max_jobs <= BIG_WINDOW / BIG_CHUNK + 1 + 4,
	   "%s: ... and the pool held at most window / chunksize jobs (+ 1 per worker) (%zu)",
	   m->name, max_jobs);
	evpool_imap_free(im);

	/* producer errors */
	memset(&p, 0, sizeof(p));
	p.limit = 100;
	p.fail = -EIO;
	p.fail_after = 5;
	spec.window = 16;
	spec.chunksize = 1;
	r = evpool_imap_start(pool, &spec, &im);
	is_int(0, r, "%s: imap over a producer failing after 5 items started",
	       m->name);
	got = 0;
	while ((r = evpool_imap_next(im, -1, &res)) == 1) {
		got++;
		evpool_result_release(&res);
	}
	ok(got == 5 && r == -EIO,
	   "%s: ... yields the 5 results, then the producer's error", m->name);
	is_int(-EIO, evpool_imap_next(im, 0, &res),
	       "%s: ... and keeps reporting it", m->name);
	evpool_imap_free(im);
	memset(&p, 0, sizeof(p));
	p.limit = 100;
	p.fail = -EIO;
	r = evpool_imap_start(pool, &spec, &im);
	is_int(-EIO, r, "%s: a producer failing at once fails imap_start",
	       m->name);

	/* spec checks, pointers */
	spec.items = it;
	spec.n = 1;
	is_int(-EINVAL, evpool_imap_start(pool, &spec, &im),
	       "%s: items and a producer together are refused", m->name);
	for (int i = 0; i < 4; i++)
		it[i] = EVPOOL_ITEM_PTR(&t[i]);
	r = evpool_imap(pool, py_task_fn, it, 4, &im);
	if (m->mode == EVPOOL_MODE_THREAD) {
		got = 0;
		while (r == 0 && evpool_imap_next(im, -1, &res) == 1) {
			if (res.arg == &t[got] && res.status == 0)
				got++;
			evpool_result_release(&res);
		}
		is_int(4, (long long)got,
		       "%s: imap over pointer items, results carry their arg",
		       m->name);
		evpool_imap_free(im);
	} else {
		ok(r == -EINVAL && strstr(evpool_errmsg(), "bytes"),
		   "%s: imap over pointer items is refused with -EINVAL: %s",
		   m->name, evpool_errmsg());
	}

	/* freeing an iterator whose jobs still run does not wait for them */
	py_path(gate, sizeof(gate), "gate-free");
	unlink(gate);
	for (int i = 0; i < 8; i++) {
		t[i] = py_task_gated(i, gate, NULL);
		it[i] = EVPOOL_ITEM_BYTES(&t[i], sizeof(t[i]));
	}
	r = evpool_imap(pool, py_task_fn, it, 8, &im);
	t0 = tap_now_ms();
	evpool_imap_free(im);
	ok(r == 0 && tap_now_ms() - t0 < 1000,
	   "%s: imap_free with jobs running returns at once", m->name);
	py_touch(gate);
	evpool_free(pool);

	/* a bounded queue: the window waits for room instead of failing */
	if (py_pool(m->mode, NULL, 1, 1, &pool) < 0)
		bail("bounded pool");
	make_tasks(t, it, 30);
	memset(&spec, 0, sizeof(spec));
	spec.fn = py_task_fn;
	spec.items = it;
	spec.n = 30;
	spec.window = 8;
	r = evpool_imap_start(pool, &spec, &im);
	is_int(0, r, "%s: imap on a queue bounded to 1 job started", m->name);
	got = bad = 0;
	while ((r = evpool_imap_next(im, -1, &res)) == 1) {
		if (res.index != got++ || res.status != 0)
			bad++;
		evpool_result_release(&res);
	}
	ok(got == 30 && bad == 0 && r == 0,
	   "%s: ... still yields all 30 results in order", m->name);
	evpool_imap_free(im);
	evpool_get_stats(pool, &st);
	is_int(30, (long long)st.completed,
	       "%s: ... each item run exactly once", m->name);
	evpool_close(pool);
	r = evpool_imap(pool, py_task_fn, it, 30, &im);
	is_int(-ESHUTDOWN, r, "%s: imap on a closed pool: -ESHUTDOWN", m->name);
	evpool_free(pool);
}

int
main(void)
{
	py_dir_init("imap");
	plan(PER_MODE * PY_NMODES);
	for (size_t i = 0; i < PY_NMODES; i++)
		run_mode(&py_modes[i]);
	py_dir_cleanup();
	return 0;
}

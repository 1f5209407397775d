/*
 * t/remote-map.c — remote mode's map family, evbuffer input and output,
 * and partial results, against a real redis-server and two evpool-worker
 * processes (t/remote-util.c): map, map_async, starmap, imap and
 * imap_unordered over remote jobs give the results, order and errors of
 * thread mode (the same functions run in a thread pool beside, and the
 * two are compared item by item); chunksize is honoured; an unregistered
 * function is -EINVAL with a message; an evbuffer input is sent and
 * bounded by max_input; evpool_job_result_evbuffer() gives a remote
 * result; evpool_ctx_emit() in a worker reaches the emit callback; a
 * worker reads short jobs and acknowledges them in batches.
 * Skipped only if the build has no remote mode or redis-server is absent.
 */
#include "tap.h"

#include <evpool.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/remote-jobs.h"
#include "remote-util.h"

#define N 1000

static struct event_base *base;
static uint64_t xs[N];
static struct evpool_item items[N];

/* Only the client has it: workers answer EVPOOL_ENOFUNC for its chunks. */
static int
client_only(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

/* Does map @p m give item by item what @p ref (thread mode) gave? */
static bool
same_results(const struct evpool_map *m, const struct evpool_map *ref,
	     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct evpool_result *a = evpool_map_result(m, i);
		const struct evpool_result *b = evpool_map_result(ref, i);

		if (!a || !b || a->status != b->status || a->len != b->len ||
		    a->index != i ||
		    (a->len && memcmp(a->data, b->data, a->len) != 0)) {
			diag("item %zu: status %d/%d, %zu/%zu bytes", i,
			     a ? a->status : -999, b ? b->status : -999,
			     a ? a->len : 0, b ? b->len : 0);
			return false;
		}
	}
	return true;
}

static bool
squares_right(const struct evpool_map *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct evpool_result *r = evpool_map_result(m, i);
		uint64_t want = xs[i] * xs[i], got = 0;

		if (r && r->len == 8)
			memcpy(&got, r->data, 8);
		if (!r || r->status || r->len != 8 || got != want) {
			diag("item %zu: status %d, %zu bytes", i,
			     r ? r->status : -999, r ? r->len : 0);
			return false;
		}
	}
	return true;
}

static unsigned async_calls;

static void
on_map(struct evpool_map *m, void *arg)
{
	(void)m;
	(void)arg;
	async_calls++;
}

/* ---- partial results ---- */

static char parts[8][16];
static unsigned nparts, parts_done, parts_after;

static void
on_emit(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	(void)job;
	(void)arg;
	if (parts_done)
		parts_after++;
	if (nparts < 8 && len < sizeof(parts[0]))
		memcpy(parts[nparts], data, len);
	nparts++;
}

static void
on_parts_done(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
	parts_done++;
}

static void
on_noop(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
}

int
main(void)
{
	struct evpool *pool, *tp, *small;
	struct evpool_config *cfg;
	struct evpool_map *m, *ref;
	evpool_fn square, mul, echo;
	int r;

	rt_setup();
	plan(46);
	tap_watchdog(180, "t/remote-map");
	if (evpool_jobs_register() < 0 ||
	    evpool_register_fn("client_only", client_only) < 0)
		bail("register: %s", evpool_errmsg());
	square = evpool_lookup_fn("square");
	mul = evpool_lookup_fn("mul");
	echo = evpool_lookup_fn("echo");
	base = event_base_new();
	for (size_t i = 0; i < N; i++) {
		xs[i] = i * 7 + 3;	/* x % 100 == 99 at i = 28, 128, ... */
		items[i].data = &xs[i];
		items[i].len = sizeof(xs[i]);
	}

	cfg = evpool_config_new();
	evpool_config_set_remote(cfg, rt_url, "t");
	r = evpool_new(&pool, base, cfg);
	evpool_config_free(cfg);
	if (r < 0)
		bail("remote pool: %s", evpool_errmsg());
	cfg = evpool_config_new();
	evpool_config_set_workers(cfg, 2, 2);
	if (evpool_new(&tp, base, cfg) < 0)
		bail("thread pool: %s", evpool_errmsg());
	evpool_config_free(cfg);
	rt_worker_start(NULL, NULL);
	rt_worker_start(NULL, NULL);
	rt_workers_wait(2);

	/* ---- refused at the door ---- */
	r = evpool_map(pool, (evpool_fn)(uintptr_t)on_noop, items, 10, 0, NULL);
	ok(r == -EINVAL && strstr(evpool_errmsg(), "not registered"),
	   "map of an unregistered function: -EINVAL: %s", evpool_errmsg());
	{
		struct evpool_imap *it = NULL;

		r = evpool_imap(pool, (evpool_fn)(uintptr_t)on_noop, items, 10, &it);
		ok(r == -EINVAL && !it && strstr(evpool_errmsg(), "not registered"),
		   "imap of an unregistered function: -EINVAL: %s", evpool_errmsg());
	}
	r = evpool_starmap(pool, (evpool_fn)(uintptr_t)on_noop, xs, 10,
			   sizeof(xs[0]), 0, NULL);
	ok(r == -EINVAL && strstr(evpool_errmsg(), "registered"),
	   "starmap of an unregistered function: -EINVAL");
	{
		struct evpool_item pi = { .arg = &r };

		r = evpool_map(pool, square, &pi, 1, 0, NULL);
		ok(r == -EINVAL && strstr(evpool_errmsg(), "pointer"),
		   "a pointer item: -EINVAL: %s", evpool_errmsg());
	}

	/* ---- map: 1000 items over 2 workers, the default chunk size ---- */
	r = evpool_map(pool, square, items, 28, 0, &m);	/* no failing item */
	ok(r == 0 && squares_right(m, 28), "map of 28 items: right results");
	evpool_map_unref(m);
	r = evpool_map(pool, square, items, N, 0, &m);
	evpool_map(tp, square, items, N, 0, &ref);
	is_int(evpool_map_status(ref), r,
	       "map of %d items: the status thread mode gives (%s)", N,
	       evpool_strerror(r));
	is_int(-EDOM, r, "...the failing items' own error");
	is_int(28, (long long)evpool_map_error_index(m),
	       "...error index: the failed item of lowest index");
	is_int((long long)evpool_map_failed(ref), (long long)evpool_map_failed(m),
	       "...as many failed items as in thread mode (%zu)",
	       evpool_map_failed(m));
	ok(same_results(m, ref, N),
	   "...every item's status and bytes as in thread mode, in input order");
	is_int(16, (long long)evpool_map_chunksize(m),
	       "...default chunk size: ceil(n / 64) for a remote pool");
	evpool_map_unref(m);
	evpool_map_unref(ref);

	/* ---- chunksize honoured, a result per item whatever it is ---- */
	r = evpool_map(pool, square, items, 200, 7, &m);
	evpool_map(tp, square, items, 200, 7, &ref);
	is_int(7, (long long)evpool_map_chunksize(m), "chunksize 7 is used");
	ok(r == -EDOM && same_results(m, ref, 200),
	   "...with the results of thread mode");
	evpool_map_unref(m);
	evpool_map_unref(ref);
	r = evpool_map(pool, square, items, 20, 1, &m);
	ok(r == 0 && squares_right(m, 20), "chunksize 1 (a job per item)");
	evpool_map_unref(m);

	/* ---- map_async: one callback on the loop ---- */
	r = evpool_map_async(pool, square, items, 28, 3, on_map, NULL, NULL, &m);
	is_int(0, r, "map_async submits");
	event_base_dispatch(base);
	ok(async_calls == 1 && evpool_map_ready(m) && squares_right(m, 28),
	   "...its callback runs once, the results right");
	evpool_map_unref(m);

	/* ---- starmap: records ---- */
	{
		static struct remote_jobs_pair recs[300];
		bool right = true;

		for (unsigned i = 0; i < 300; i++) {
			recs[i].a = i + 1;
			recs[i].b = 1000 - i;
		}
		r = evpool_starmap(pool, mul, recs, 300, sizeof(recs[0]), 0, &m);
		for (unsigned i = 0; i < 300 && r == 0; i++) {
			const struct evpool_result *res = evpool_map_result(m, i);
			uint64_t got = 0;

			if (res->len == 8)
				memcpy(&got, res->data, 8);
			right &= res->status == 0 &&
				 got == (uint64_t)recs[i].a * recs[i].b;
		}
		ok(r == 0 && right, "starmap of 300 records: right results");
		evpool_map_unref(m);
	}

	/* ---- a function only the client has: every item fails ---- */
	r = evpool_map(pool, client_only, items, 10, 4, &m);
	ok(r == EVPOOL_ENOFUNC && evpool_map_failed(m) == 10 &&
	   evpool_map_result(m, 9)->status == EVPOOL_ENOFUNC,
	   "a function no worker has: each item EVPOOL_ENOFUNC (%s)",
	   evpool_strerror(r));
	evpool_map_unref(m);

	/* ---- imap: in input order ---- */
	{
		struct evpool_imap *it;
		struct evpool_imap_spec spec = {
			.fn = square, .items = items, .n = 500, .chunksize = 5,
		};
		struct evpool_result res;
		size_t next = 0;
		bool order = true, right = true;

		r = evpool_imap_start(pool, &spec, &it);
		is_int(0, r, "imap of 500 items, chunksize 5, starts");
		while (r == 0 && evpool_imap_next(it, 10000, &res) == 1) {
			uint64_t got = 0;

			order &= res.index == next++;
			if (res.len == 8)
				memcpy(&got, res.data, 8);
			right &= xs[res.index] % 100 == 99
					 ? res.status == -EDOM
					 : res.status == 0 &&
						   got == xs[res.index] * xs[res.index];
			evpool_result_release(&res);
		}
		ok(next == 500 && order, "...yields every item in input order (%zu)",
		   next);
		ok(right, "...each with its result or its own error");
		ok(evpool_imap_window(it) == 4 * 16 * 5,
		   "...default window: 4 x 16 x chunksize (%zu)",
		   evpool_imap_window(it));
		evpool_imap_free(it);
	}

	/* ---- imap_unordered: each once ---- */
	{
		static unsigned seen[N];
		struct evpool_imap *it;
		struct evpool_result res;
		unsigned got_n = 0, twice = 0, wrong = 0;

		r = evpool_imap_unordered(pool, square, items, N, &it);
		is_int(0, r, "imap_unordered of %d items starts", N);
		while (r == 0 && evpool_imap_next(it, 10000, &res) == 1) {
			uint64_t got = 0;

			got_n++;
			if (res.index < N && seen[res.index]++)
				twice++;
			if (res.len == 8)
				memcpy(&got, res.data, 8);
			if (xs[res.index] % 100 != 99 &&
			    (res.status || got != xs[res.index] * xs[res.index]))
				wrong++;
			evpool_result_release(&res);
		}
		ok(got_n == N && twice == 0,
		   "...yields each item once (%u, %u twice)", got_n, twice);
		is_int(0, wrong, "...with the right results");
		evpool_imap_free(it);
	}

	/* ---- apply: one job by its function ---- */
	{
		struct evpool_result res;

		r = evpool_apply(pool, square, &items[5], &res);
		ok(r == 0 && res.len == 8 &&
		   *(const uint64_t *)res.data == xs[5] * xs[5],
		   "apply runs one remote job");
		evpool_result_release(&res);
	}

	/* ---- evbuffer input, evbuffer result ---- */
	{
		struct evbuffer *in = evbuffer_new();
		struct evpool_job_spec spec = { .fn = echo, .done = on_noop };
		struct evpool_job *job;
		struct evbuffer *out;
		unsigned char want[3000], got[3004];
		size_t len;

		/* several chains */
		for (size_t i = 0; i < sizeof(want); i++)
			want[i] = (unsigned char)(i * 13 + 1);
		evbuffer_add(in, want, 1000);
		evbuffer_add_reference(in, want + 1000, 1000, NULL, NULL);
		evbuffer_add(in, want + 2000, 1000);
		spec.input_evbuffer = in;
		r = evpool_submit_job(pool, &spec, &job);
		ok(r == 0 && evbuffer_get_length(in) == 0,
		   "an evbuffer input of 3 chains is taken (moved out)");
		event_base_dispatch(base);
		out = evpool_job_result_evbuffer(job);
		len = out ? evbuffer_get_length(out) : 0;
		if (len == sizeof(got))
			evbuffer_copyout(out, got, len);
		ok(evpool_job_status(job) == 0 && len == sizeof(got) &&
		   got[0] == (3000 & 0xff) && got[1] == 3000 >> 8 &&
		   memcmp(got + 4, want, sizeof(want)) == 0,
		   "...the worker read it whole as an evbuffer; the result comes back as an evbuffer (%zu bytes)",
		   len);
		evpool_job_unref(job);

		/* evpool_ctx_input_evbuffer() over byte input, and the
		 * result read as bytes */
		spec.input_evbuffer = NULL;
		spec.input = want;
		spec.input_len = 10;
		r = evpool_submit_job(pool, &spec, &job);
		event_base_dispatch(base);
		{
			const unsigned char *b = evpool_job_result_bytes(job, &len);

			ok(r == 0 && len == 14 && b && b[0] == 10 &&
			   memcmp(b + 4, want, 10) == 0,
			   "byte input seen as an evbuffer by the worker; the result as bytes");
		}
		evpool_job_unref(job);

		/* bounded by max_input like bytes */
		cfg = evpool_config_new();
		evpool_config_set_remote(cfg, rt_url, "t");
		evpool_config_set_remote_limits(cfg, 1024, 16);
		r = evpool_new(&small, base, cfg);
		evpool_config_free(cfg);
		if (r < 0)
			bail("small pool: %s", evpool_errmsg());
		evbuffer_add(in, want, 1025);
		spec.input = NULL;
		spec.input_len = 0;
		spec.input_evbuffer = in;
		r = evpool_submit_job(small, &spec, NULL);
		ok(r == -EMSGSIZE && strstr(evpool_errmsg(), "1025"),
		   "an evbuffer input over max_input: -EMSGSIZE: %s",
		   evpool_errmsg());
		is_int(1025, (long long)evbuffer_get_length(in),
		       "...and the caller keeps its evbuffer");
		evbuffer_drain(in, 1);
		r = evpool_submit_job(small, &spec, &job);
		is_int(0, r, "an evbuffer input of exactly max_input is taken");
		event_base_dispatch(base);
		out = evpool_job_result_evbuffer(job);
		ok(evpool_job_status(job) == 0 && out &&
		   evbuffer_get_length(out) == 1028,
		   "...and runs (%zu bytes back)", out ? evbuffer_get_length(out) : 0);
		evpool_job_unref(job);
		spec.input_evbuffer = NULL;
		spec.input = want;
		spec.input_len = 1025;
		is_int(-EMSGSIZE, evpool_submit_job(small, &spec, NULL),
		       "...as byte input over it is -EMSGSIZE");
		/* a map's chunk is one job: bounded the same way */
		{
			static unsigned char blob[600];
			struct evpool_item two[2] = { { NULL, blob, 600 },
						      { NULL, blob, 600 } };

			r = evpool_map(small, echo, two, 2, 2, NULL);
			is_int(-EMSGSIZE, r, "a map chunk over max_input: -EMSGSIZE");
			r = evpool_map(small, echo, two, 2, 1, &m);
			ok(r == 0 && evpool_map_result(m, 1)->len == 604,
			   "...one item a chunk fits, and runs");
			evpool_map_unref(m);
		}
		evpool_free(small);
		evbuffer_free(in);
	}

	/* ---- partial results from a remote worker ---- */
	{
		struct evpool_job_spec spec = {
			.done = on_parts_done, .emit = on_emit,
		};
		struct evpool_job *job;

		r = evpool_submit_named(pool, "parts", &spec, &job);
		event_base_dispatch(base);
		ok(r == 0 && parts_done == 1 && evpool_job_status(job) == 0,
		   "a job that emits completes once");
		is_int(3, nparts, "...its 3 partial results reach the emit callback");
		ok(strcmp(parts[0], "part 0") == 0 && strcmp(parts[1], "part 1") == 0 &&
		   strcmp(parts[2], "part 2") == 0,
		   "...in order: %s, %s, %s", parts[0], parts[1], parts[2]);
		is_int(0, parts_after, "...all before the completion");
		evpool_job_unref(job);
		/* no emit callback: none asked for, the result still comes */
		spec.emit = NULL;
		nparts = 0;
		r = evpool_submit_named(pool, "parts", &spec, &job);
		event_base_dispatch(base);
		ok(r == 0 && parts_done == 2 && nparts == 0 &&
		   evpool_job_status(job) == 0,
		   "without an emit callback: the job completes, nothing emitted");
		evpool_job_unref(job);
	}

	/* ---- a worker reads short jobs in batches and acknowledges them in
	 * batches (it read 1.6 entries a XREADGROUP and sent an XACK and an
	 * XDEL per job before) ---- */
	{
		long reads0 = rt_redis_calls("xreadgroup"),
		     acks0 = rt_redis_calls("xack"), reads, acks;
		unsigned slow = tap_slowdown();

		r = evpool_map(pool, square, items, N, 1, NULL);	/* N jobs */
		reads = rt_redis_calls("xreadgroup") - reads0;
		acks = rt_redis_calls("xack") - acks0;
		if (slow > 1) {
			skip(2, "timings stretched (slowdown %u): batches are smaller", slow);
		} else {
			/* the old worker read 1.6 entries a XREADGROUP (about
			 * 625 reads); how many more the new one takes at once
			 * depends on the load (32 reads quiet, 156 with two CPU
			 * burners beside the suite), so the bound is far from
			 * both */
			ok(r == -EDOM && reads > 0 && reads <= N / 3,
			   "%d jobs of a map: %ld XREADGROUP (at most %d)", N,
			   reads, N / 3);
			/* fewer than one a job: how much fewer depends on how
			 * many jobs wait when the worker looks (614 of 1000
			 * with two CPU burners beside the suite, under 500
			 * on a quiet machine) */
			ok(acks > 0 && acks < N,
			   "...%ld XACK (fewer than the %d jobs)", acks, N);
		}
	}

	/* ---- a live worker keeps its jobs: one that runs 3 x the visibility
	 * timeout (400 ms) is not taken over and run again ---- */
	{
		struct evpool_remote_stats rs0, rs1;
		unsigned char in[64];
		size_t len = remote_jobs_input(in, sizeof(in), 1200, 7);
		uint64_t want = remote_jobs_hash(in, len);
		struct evpool_job_spec spec = {
			.input = in, .input_len = len, .done = on_noop,
		};
		struct evpool_job *job;
		const void *res;

		evpool_remote_get_stats(pool, &rs0);
		r = evpool_submit_named(pool, "hash", &spec, &job);
		event_base_dispatch(base);
		res = evpool_job_result_bytes(job, &len);
		ok(r == 0 && evpool_job_status(job) == 0 && len == 8 &&
		   memcmp(res, &want, 8) == 0,
		   "a job of 1200 ms (visibility timeout 400 ms) completes");
		evpool_job_unref(job);
		tap_sleep_ms(1000);	/* a second run would answer by now */
		evpool_remote_get_stats(pool, &rs1);
		ok(rs1.redelivered == rs0.redelivered &&
		   rs1.duplicates == rs0.duplicates,
		   "...its worker kept it: not redelivered (%llu), no second result (%llu)",
		   (unsigned long long)(rs1.redelivered - rs0.redelivered),
		   (unsigned long long)(rs1.duplicates - rs0.duplicates));
	}

	/* ---- thread mode still refuses nothing of this ---- */
	{
		struct evpool_imap *it;

		ok(evpool_imap(tp, (evpool_fn)(uintptr_t)on_noop, items, 0, &it) == 0,
		   "thread mode: an unregistered function maps as before");
		evpool_imap_free(it);
	}

	evpool_free(pool);
	evpool_free(tp);
	event_base_free(base);
	rt_teardown();
	return 0;
}

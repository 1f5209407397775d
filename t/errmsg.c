/*
 * errmsg.c — evpool_errmsg() names the function the user called, not the
 * internal one that found the problem (issue 18: a failure in
 * evpool_submit_job() said "evpool_submit: ...").  Every public entry that
 * submits through the core is called on a closed pool and with a bad
 * argument the core catches; its message must start with its own name.
 */
#include <evpool.h>
#include <event2/event.h>

#include <errno.h>
#include <string.h>

#include "tap.h"

static int
job_fn(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

/* named(WANT, R, WHAT): R is an error and the message starts "WANT: ". */
static void
named(const char *want, int r, const char *what)
{
	const char *msg = evpool_errmsg();
	size_t n = strlen(want);

	if (!ok(r < 0 && strncmp(msg, want, n) == 0 && strncmp(msg + n, ": ", 2) == 0,
		"%s: the message names %s", what, want))
		diag("returned %d, message \"%s\"", r, msg);
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evpool *pool = NULL, *closed = NULL;
	struct evpool_item item = EVPOOL_ITEM_BYTES("x", 1);
	struct evpool_job_spec spec = { .fn = job_fn };
	struct evpool_map_spec mspec = { .fn = job_fn, .items = &item, .n = 1 };
	struct evpool_imap_spec ispec = { .fn = job_fn, .items = &item, .n = 1 };
	struct evpool_results *rc = NULL;
	struct evpool_queue *q = NULL;
	struct evpool_result res;
	struct evpool_map *map = NULL;
	struct evpool_imap *it = NULL;
	struct evpool_job *job = NULL;

	plan(17);
	if (!base || evpool_new(&pool, base, NULL) < 0 ||
	    evpool_new(&closed, base, NULL) < 0 ||
	    evpool_queue_new(closed, "q", 1, &q) < 0 ||
	    evpool_results_new(closed, &rc) < 0)
		bail("setup failed: %s", evpool_errmsg());
	evpool_close(closed);

	/* A closed pool: the core's submit refuses, the caller is named. */
	named("evpool_submit", evpool_submit(closed, job_fn, NULL, NULL, NULL),
	      "evpool_submit on a closed pool");
	named("evpool_submit_job", evpool_submit_job(closed, &spec, NULL),
	      "evpool_submit_job on a closed pool");
	named("evpool_submit_to",
	      evpool_submit_to(closed, "q", job_fn, NULL, NULL, NULL),
	      "evpool_submit_to on a closed pool");
	named("evpool_apply", evpool_apply(closed, job_fn, &item, &res),
	      "evpool_apply on a closed pool");
	named("evpool_apply_async",
	      evpool_apply_async(closed, job_fn, &item, NULL, NULL, NULL, &job),
	      "evpool_apply_async on a closed pool");
	named("evpool_results_submit", evpool_results_submit(rc, &spec, NULL),
	      "evpool_results_submit on a closed pool");
	named("evpool_queue_put", evpool_queue_put(q, &item),
	      "evpool_queue_put on a closed pool");
	named("evpool_map", evpool_map(closed, job_fn, &item, 1, 0, &map),
	      "evpool_map on a closed pool");
	named("evpool_map_async",
	      evpool_map_async(closed, job_fn, &item, 1, 0, NULL, NULL, NULL, &map),
	      "evpool_map_async on a closed pool");
	named("evpool_map_submit", evpool_map_submit(closed, &mspec, &map),
	      "evpool_map_submit on a closed pool");
	named("evpool_imap", evpool_imap(closed, job_fn, &item, 1, &it),
	      "evpool_imap on a closed pool");
	named("evpool_imap_unordered",
	      evpool_imap_unordered(closed, job_fn, &item, 1, &it),
	      "evpool_imap_unordered on a closed pool");
	named("evpool_imap_start", evpool_imap_start(closed, &ispec, &it),
	      "evpool_imap_start on a closed pool");

	/* Bad arguments found by the core's checks. */
	spec.flags = 0x8000;
	named("evpool_submit_job", evpool_submit_job(pool, &spec, NULL),
	      "evpool_submit_job with unknown flags");
	spec.flags = 0;
	spec.timeout_ms = -7;
	named("evpool_submit_job", evpool_submit_job(pool, &spec, NULL),
	      "evpool_submit_job with timeout_ms -7");
	named("evpool_starmap_async",
	      evpool_starmap_async(pool, job_fn, NULL, 1, 4, 0, NULL, NULL, NULL, &map),
	      "evpool_starmap_async with NULL records");
	is_int(-EINVAL, evpool_submit_job(pool, NULL, NULL),
	       "and a NULL spec is still -EINVAL");

	evpool_results_free(rc);
	evpool_free(closed);
	evpool_free(pool);
	event_base_free(base);
	return tap_failures() != 0;
}

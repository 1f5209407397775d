/*
 * badinput.c — the bad-input table for the API beyond the core (t/errors.c
 * covers the core): every public function of the Python-style API, named
 * queues, results collections and the process-mode setters, called with
 * NULL, zero, negative and out-of-range arguments.  Each returns the
 * documented error (-EINVAL and a message, or the documented NULL/0 value);
 * none crashes, and none calls a callback.
 */
#include <evpool.h>
#include <event2/event.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "tap.h"
#include "ignored.h"

static int calls;

static int
job_fn(struct evpool_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static void
done_cb(struct evpool_job *job, void *arg)
{
	(void)job;
	(void)arg;
	calls++;
}

static void
map_cb(struct evpool_map *map, void *arg)
{
	(void)map;
	(void)arg;
	calls++;
}

#define EINV(expr, what) is_int(-EINVAL, (expr), "%s is -EINVAL", what)

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool = NULL;
	struct evpool_item item = EVPOOL_ITEM_BYTES("x", 1);
	struct evpool_result res;
	struct evpool_map *map = NULL;
	struct evpool_imap *it = NULL;
	struct evpool_as_completed *ac = NULL;
	struct evpool_results *rc = NULL;
	struct evpool_queue *q = NULL;
	struct evpool_job *job = NULL;
	struct evpool_stats st;
	const char *names[] = { "a", NULL };
	char *argv[] = { (char *)"prog", NULL };
	int argc = 1;

	plan(71);
	if (!base || !cfg || evpool_new(&pool, base, NULL) < 0)
		bail("setup failed");

	/* versions */
	ok(evpool_version() && strlen(evpool_version()) > 0,
	   "evpool_version() is a non-empty string");
	is_int((int)EVPOOL_VERSION_HEX, (int)evpool_version_hex(),
	       "evpool_version_hex() matches the header");

	/* process-mode setters */
	EINV(evpool_config_set_max_jobs_per_worker(NULL, 1),
	     "set_max_jobs_per_worker(NULL cfg)");
	EINV(evpool_config_set_worker_rlimit(NULL, RLIMIT_NOFILE, 64),
	     "set_worker_rlimit(NULL cfg)");
	EINV(evpool_config_set_worker_rlimit(cfg, -1, 64),
	     "set_worker_rlimit(resource -1)");
	EINV(evpool_config_set_worker_rlimit(cfg, 100000, 64),
	     "set_worker_rlimit(resource 100000)");
	ok(strlen(evpool_errmsg()) > 0, "... with a message: %s", evpool_errmsg());

	/* apply */
	EINV(evpool_apply(NULL, job_fn, &item, &res), "apply(NULL pool)");
	EINV(evpool_apply(pool, NULL, &item, &res), "apply(NULL fn, no default)");
	is_int(0, evpool_apply(pool, job_fn, NULL, NULL),
	       "apply(NULL item, NULL result) runs the job with no input (documented)");
	EINV(evpool_apply_async(NULL, job_fn, &item, done_cb, NULL, NULL, &job),
	     "apply_async(NULL pool)");
	EINV(evpool_apply_async(pool, NULL, &item, done_cb, NULL, NULL, &job),
	     "apply_async(NULL fn, no default)");
	IGNORES(evpool_result_release(NULL), "evpool_result_release(NULL)");

	/* map family */
	EINV(evpool_map_submit(NULL, NULL, &map), "map_submit(NULL pool)");
	EINV(evpool_map_submit(pool, NULL, &map), "map_submit(NULL spec)");
	EINV(evpool_map(NULL, job_fn, &item, 1, 0, &map), "map(NULL pool)");
	EINV(evpool_map(pool, job_fn, NULL, 1, 0, &map), "map(NULL items, n 1)");
	EINV(evpool_map(pool, NULL, &item, 1, 0, &map), "map(NULL fn, no default)");
	EINV(evpool_map_async(NULL, job_fn, &item, 1, 0, map_cb, NULL, NULL, &map),
	     "map_async(NULL pool)");
	EINV(evpool_starmap(pool, job_fn, NULL, 1, 8, 0, &map),
	     "starmap(NULL records, n 1)");
	EINV(evpool_starmap(pool, job_fn, "abcdefgh", 1, 0, 0, &map),
	     "starmap(record size 0)");
	EINV(evpool_starmap_async(NULL, job_fn, "abcdefgh", 1, 8, 0, map_cb, NULL,
				  NULL, &map),
	     "starmap_async(NULL pool)");
	ok(evpool_map_ref(NULL) == NULL, "map_ref(NULL) is NULL");
	IGNORES(evpool_map_unref(NULL), "map_unref(NULL)");
	is_int(0, evpool_map_ready(NULL), "map_ready(NULL) is 0");
	EINV(evpool_map_successful(NULL), "map_successful(NULL)");
	EINV(evpool_map_wait(NULL, 0), "map_wait(NULL)");
	EINV(evpool_map_status(NULL), "map_status(NULL)");
	is_int(0, (int)evpool_map_size(NULL), "map_size(NULL) is 0");
	is_int(0, (int)evpool_map_failed(NULL), "map_failed(NULL) is 0");
	ok(evpool_map_error_index(NULL) == (size_t)-1,
	   "map_error_index(NULL) is (size_t)-1 (none)");
	is_int(0, (int)evpool_map_chunksize(NULL), "map_chunksize(NULL) is 0");
	ok(evpool_map_result(NULL, 0) == NULL, "map_result(NULL, 0) is NULL");
	EINV(evpool_map_cancel(NULL), "map_cancel(NULL)");

	/* imap */
	EINV(evpool_imap_start(NULL, NULL, &it), "imap_start(NULL pool)");
	EINV(evpool_imap_start(pool, NULL, &it), "imap_start(NULL spec)");
	EINV(evpool_imap(NULL, job_fn, &item, 1, &it), "imap(NULL pool)");
	EINV(evpool_imap_unordered(pool, job_fn, &item, 1, NULL),
	     "imap_unordered(NULL iterator pointer)");
	EINV(evpool_imap_next(NULL, 0, &res), "imap_next(NULL)");
	is_int(0, (int)evpool_imap_in_flight(NULL), "imap_in_flight(NULL) is 0");
	is_int(0, (int)evpool_imap_window(NULL), "imap_window(NULL) is 0");
	IGNORES(evpool_imap_free(NULL), "imap_free(NULL)");

	/* futures */
	EINV(evpool_wait(NULL, 1, EVPOOL_ALL_COMPLETED, 0), "wait(NULL jobs, n 1)");
	EINV(evpool_as_completed(NULL, 1, &ac), "as_completed(NULL jobs, n 1)");
	EINV(evpool_as_completed_next(NULL, 0, &job), "as_completed_next(NULL)");
	IGNORES(evpool_as_completed_free(NULL), "as_completed_free(NULL)");

	/* scoped helpers: NULL and pointers to NULL */
	IGNORES((evpool_scoped_free(NULL), evpool_scoped_config_free(NULL),
		 evpool_scoped_job_unref(NULL)),
		"each scoped cleanup given NULL");

	/* results collections */
	EINV(evpool_results_new(NULL, &rc), "results_new(NULL pool)");
	EINV(evpool_results_new(pool, NULL), "results_new(NULL pointer)");
	EINV(evpool_results_submit(NULL, NULL, NULL), "results_submit(NULL)");
	EINV(evpool_results_get(NULL, EVPOOL_RESULTS_ANY, 0, &res),
	     "results_get(NULL)");
	is_int(0, (int)evpool_results_count(NULL, EVPOOL_RESULTS_ANY),
	       "results_count(NULL) is 0");
	is_int(0, (int)evpool_results_pending(NULL), "results_pending(NULL) is 0");
	IGNORES(evpool_results_free(NULL), "results_free(NULL)");

	/* configuration from env / argv */
	EINV(evpool_config_from_env(NULL), "config_from_env(NULL)");
	EINV(evpool_config_from_argv(NULL, &argc, argv), "config_from_argv(NULL cfg)");
	EINV(evpool_config_from_argv(cfg, NULL, argv), "config_from_argv(NULL argc)");
	ok(evpool_config_usage() && strstr(evpool_config_usage(), "--evpool-"),
	   "config_usage() lists the --evpool- options");

	/* named queues */
	EINV(evpool_queue_new(NULL, "a", 1, &q), "queue_new(NULL pool)");
	EINV(evpool_queue_new(pool, NULL, 1, &q), "queue_new(NULL name)");
	EINV(evpool_queue_add_many(NULL, names, 1, 1), "queue_add_many(NULL pool)");
	ok(evpool_queue_find(NULL, "a") == NULL, "queue_find(NULL pool) is NULL");
	is_string("", evpool_queue_name(NULL), "queue_name(NULL) is \"\"");
	EINV(evpool_queue_set_fn(NULL, job_fn), "queue_set_fn(NULL)");
	EINV(evpool_queue_add_workers(NULL, 1), "queue_add_workers(NULL)");
	EINV(evpool_queue_kill_workers(NULL, 1), "queue_kill_workers(NULL)");
	EINV(evpool_submit_to(NULL, "a", job_fn, NULL, done_cb, NULL),
	     "submit_to(NULL pool)");
	EINV(evpool_queue_put(NULL, &item), "queue_put(NULL)");
	EINV(evpool_queue_get(NULL, 0, &res), "queue_get(NULL)");
	EINV(evpool_queue_get_stats(NULL, &st), "queue_get_stats(NULL)");

	/* Nothing above may have run a callback. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(0, calls, "no callback ran for any refused call");

	evpool_free(pool);
	evpool_config_free(cfg);
	event_base_free(base);
	return 0;
}

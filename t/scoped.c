/*
 * scoped.c — the context-manager form: EVPOOL_SCOPED shuts the pool down
 * when its variable leaves the scope, on every path out, with close + join
 * (queued work is done, as with concurrent.futures' `with`), not terminate
 * (multiprocessing's `with`, which drops it).  Also EVPOOL_SCOPED_CONFIG and
 * EVPOOL_SCOPED_JOB, in each mode.
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
#include "ignored.h"
#include "pyutil.h"

#define PER_MODE 14

static pthread_t main_tid;

struct tally {
	int calls, ok, cancelled, other, off_loop;
};

static void
count(struct evpool_job *job, void *arg)
{
	struct tally *t = arg;
	int st = evpool_job_status(job);

	t->calls++;
	if (st == 0)
		t->ok++;
	else if (st == -ECANCELED)
		t->cancelled++;
	else
		t->other++;
	if (!pthread_equal(pthread_self(), main_tid))
		t->off_loop++;
}

static struct py_task slow_task;	/* 30 ms */

static void
submit_slow(struct evpool *pool, struct tally *t, int n)
{
	struct evpool_item item = EVPOOL_ITEM_BYTES(&slow_task, sizeof(slow_task));

	for (int i = 0; i < n; i++)
		if (evpool_apply_async(pool, py_task_fn, &item, count, NULL, t,
				       NULL) < 0)
			bail("apply_async: %s", evpool_errmsg());
}

static struct evpool_config *
config(const struct py_mode *m, unsigned workers)
{
	struct evpool_config *c = evpool_config_new();

	if (!c || evpool_config_set_mode(c, m->mode) < 0 ||
	    evpool_config_set_workers(c, 0, workers) < 0)
		bail("config: %s", evpool_errmsg());
	return c;
}

/* Leaves its scope by an early return, with jobs still queued. */
static int
early_return(const struct py_mode *m, struct event_base *base,
	     struct tally *t)
{
	EVPOOL_SCOPED_CONFIG struct evpool_config *cfg = config(m, 1);
	EVPOOL_SCOPED struct evpool *pool = NULL;

	if (evpool_new(&pool, base, cfg) < 0)
		return -1;
	submit_slow(pool, t, 3);
	if (t->calls == 0)
		return 1; /* the cleanup runs here */
	return 2;
}

/* Terminates before its scope ends: queued work is dropped then. */
static void
terminate_first(const struct py_mode *m, struct event_base *base,
		struct tally *t)
{
	EVPOOL_SCOPED_CONFIG struct evpool_config *cfg = config(m, 1);
	EVPOOL_SCOPED struct evpool *pool = NULL;

	if (evpool_new(&pool, base, cfg) < 0)
		bail("evpool_new: %s", evpool_errmsg());
	submit_slow(pool, t, 4);
	evpool_terminate(pool);
}

static void
run_mode(const struct py_mode *m)
{
	struct event_base *base = event_base_new();
	struct tally t, last;
	struct evpool *p;
	struct evpool_config *c;
	int r;

	if (!base)
		bail("event_base_new");
	c = config(m, 2);
	r = evpool_new(&p, base, c);
	evpool_config_free(c);
	if (r == -EINVAL && m->mode == EVPOOL_MODE_PROCESS) {
		skip(PER_MODE, "process mode refused: %s", evpool_errmsg());
		event_base_free(base);
		return;
	}
	if (r < 0)
		bail("evpool_new: %s", evpool_errmsg());
	evpool_free(p);
	diag("mode %s", m->name);
	tap_watchdog(60, "scoped");

	/* the plain scope: every job done when it ends */
	memset(&t, 0, sizeof(t));
	{
		EVPOOL_SCOPED struct evpool *pool = NULL;

		c = config(m, 2);
		r = evpool_new(&pool, base, c);
		evpool_config_free(c);
		submit_slow(pool, &t, 5);
		is_int(0, t.calls, "%s: no callback before the scope ends",
		       m->name);
	}
	is_int(5, t.calls, "%s: the end of the scope delivered all 5 callbacks",
	       m->name);
	is_int(5, t.ok, "%s: ... every job ran to success: close + join, not terminate",
	       m->name);
	is_int(0, t.off_loop, "%s: ... on this (the loop's) thread", m->name);

	/* leaving early */
	memset(&t, 0, sizeof(t));
	r = early_return(m, base, &t);
	ok(r == 1 && t.calls == 3 && t.ok == 3,
	   "%s: an early return runs the cleanup: the 3 queued jobs completed",
	   m->name);

	/* terminate first, then the scope ends */
	memset(&t, 0, sizeof(t));
	terminate_first(m, base, &t);
	ok(t.calls == 4 && t.cancelled >= 3,
	   "%s: evpool_terminate() before the end drops the queued jobs (%d cancelled)",
	   m->name, t.cancelled);

	/* an empty scope, a NULL pool */
	{
		char saved[256];

		ignored_arm(saved, sizeof(saved));
		{
			EVPOOL_SCOPED struct evpool *pool = NULL;

			(void)pool;
		}
		ignored_check(saved, m->mode == EVPOOL_MODE_THREAD
				     ? "thread: a scope whose pool stayed NULL"
				     : "process: a scope whose pool stayed NULL");
	}
	p = NULL;
	evpool_scoped_free(&p);
	evpool_scoped_free(NULL);
	ok(p == NULL, "%s: evpool_scoped_free(NULL pool) is a no-op", m->name);
	c = config(m, 1);
	if (evpool_new(&p, NULL, c) < 0)
		bail("evpool_new: %s", evpool_errmsg());
	evpool_free(NULL);
	evpool_scoped_free(&p);
	ok(p == NULL, "%s: evpool_scoped_free() clears the variable", m->name);
	evpool_scoped_config_free(&c);
	ok(c == NULL, "%s: evpool_scoped_config_free() frees and clears",
	   m->name);

	/* a scoped job reference */
	{
		EVPOOL_SCOPED_CONFIG struct evpool_config *cfg = config(m, 1);
		EVPOOL_SCOPED struct evpool *pool = NULL;
		struct evpool_job *kept = NULL;

		if (evpool_new(&pool, NULL, cfg) < 0)
			bail("evpool_new: %s", evpool_errmsg());
		{
			EVPOOL_SCOPED_JOB struct evpool_job *job = NULL;
			struct evpool_item item = EVPOOL_ITEM_BYTES(&slow_task,
								  sizeof(slow_task));

			r = evpool_apply_async(pool, py_task_fn, &item, NULL,
					       NULL, NULL, &job);
			is_int(0, evpool_job_get(job, -1, NULL),
			       "%s: a scoped job handle can be waited on", m->name);
			kept = evpool_job_ref(job);
		}
		ok(evpool_job_ready(kept) && evpool_job_status(kept) == 0,
		   "%s: ... and another reference outlives its scope", m->name);
		evpool_scoped_job_unref(&kept);
		ok(kept == NULL, "%s: evpool_scoped_job_unref() clears the variable",
		   m->name);
		evpool_scoped_job_unref(NULL);
		{
			struct evpool_item item = EVPOOL_ITEM_BYTES(&slow_task,
								  sizeof(slow_task));

			memset(&last, 0, sizeof(last));
			if (evpool_apply_async(pool, py_task_fn, &item, count,
					       NULL, &last, NULL) < 0)
				bail("apply_async: %s", evpool_errmsg());
		}
	}
	/* The end of the scope closed and joined the pool and delivered the
	 * job still running in it, here. */
	ok(last.calls == 1 && last.ok == 1 && last.off_loop == 0,
	   "%s: a scope with a config, a pool and a job ends by delivering the "
	   "job left in it (%d call)", m->name, last.calls);
	event_base_free(base);
}

int
main(void)
{
	main_tid = pthread_self();
	evthread_use_pthreads();
	slow_task = py_task_value(3);
	slow_task.sleep_ms = 30;
	plan(PER_MODE * PY_NMODES);
	for (size_t i = 0; i < PY_NMODES; i++)
		run_mode(&py_modes[i]);
	return 0;
}

/*
 * named-queues.c — named queues: a pool's extra queues, each with its own
 * workers and limits (evpool_queue_new(), _add_many(), _find(), _set_fn(),
 * _add_workers(), _kill_workers(), _put(), _get()), and evpool_submit_to().
 *
 * DESIGN: a named queue IS a core struct evpool_queue (queue.c): its own
 * mutex, priority levels, workers and limits; here we only make them, link
 * them into pool->queues under pool->mu (so stats, cancel_all, terminate,
 * shutdown and free, which all walk that list, cover them), find them by
 * name and change their limits.  Isolation between queues is structural:
 * a worker serves one queue only, so blocked jobs of one queue hold only
 * that queue's workers.  put()/get() of a queue are a results collection
 * (results.c) that the queue makes on first use and frees with itself.
 */
#include "pyapi/pyapi-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- named queues ------------------------------------------------------- */

#define QUEUE_NAME_MAX 31 /* struct evpool_queue's name[32] */

static int
check_name(const char *who, const char *name)
{
	size_t len;

	if (!name)
		return evpool__err(-EINVAL, "%s: NULL queue name", who);
	len = strlen(name);
	if (len == 0 || len > QUEUE_NAME_MAX)
		return evpool__err(-EINVAL,
				   "%s: a queue name has 1..%d characters, got %zu",
				   who, QUEUE_NAME_MAX, len);
	for (size_t i = 0; i < len; i++)
		if (!isprint((unsigned char)name[i]))
			return evpool__err(-EINVAL,
					   "%s: a queue name must be printable",
					   who);
	return 0;
}

static int
check_workers(const char *who, unsigned *max_workers)
{
	if (*max_workers > EVPOOL__MAX_WORKERS)
		return evpool__err(-EINVAL, "%s: max_workers must be 0..%d, got %u",
				   who, EVPOOL__MAX_WORKERS, *max_workers);
	if (*max_workers == 0)
		*max_workers = evpool__online_cpus();
	return 0;
}

/* pool->mu held */
static struct evpool_queue *
find_locked(struct evpool *pool, const char *name)
{
	for (struct evpool_queue *q = pool->queues; q; q = q->next)
		if (strcmp(q->name, name) == 0)
			return q;
	return NULL;
}

/* Make the queues and link them at the end of pool->queues: all or
 * nothing.  pool->mu held. */
static int
add_locked(struct evpool *pool, const char *who, const char *const *names,
	   size_t n, unsigned max_workers, struct evpool_queue **qp)
{
	struct evpool_queue *first = NULL, **tail, *q;
	int r = 0;

	if (atomic_load(&pool->closed))
		return evpool__err(-ESHUTDOWN, "%s: the pool is closed", who);
	for (size_t i = 0; i < n; i++) {
		if (find_locked(pool, names[i]))
			return evpool__err(-EEXIST, "%s: a queue named '%s' exists",
					   who, names[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				return evpool__err(-EEXIST,
						   "%s: the name '%s' is given twice",
						   who, names[i]);
	}
	tail = &first;
	for (size_t i = 0; i < n; i++) {
		r = evpool__queue_new(pool, names[i], 0, max_workers, &q);
		if (r < 0)
			break;
		*tail = q;
		tail = &q->next;
	}
	if (r < 0) {
		while ((q = first) != NULL) {
			first = q->next;
			evpool__queue_free(q);
		}
		return r;
	}
	for (tail = &pool->queues; *tail; tail = &(*tail)->next)
		;
	*tail = first;
	if (qp)
		*qp = first;
	return 0;
}

int
evpool_queue_new(struct evpool *pool, const char *name, unsigned max_workers,
		 struct evpool_queue **qp)
{
	int r;

	if (!pool)
		return evpool__err(-EINVAL, "evpool_queue_new: NULL pool");
	r = check_name("evpool_queue_new", name);
	if (r == 0)
		r = check_workers("evpool_queue_new", &max_workers);
	if (r < 0)
		return r;
	pthread_mutex_lock(&pool->mu);
	r = add_locked(pool, "evpool_queue_new", &name, 1, max_workers, qp);
	pthread_mutex_unlock(&pool->mu);
	return r;
}

int
evpool_queue_add_many(struct evpool *pool, const char *const *names, size_t n,
		      unsigned max_workers)
{
	int r;

	if (!pool || (n && !names))
		return evpool__err(-EINVAL, "evpool_queue_add_many: NULL %s",
				   pool ? "names" : "pool");
	for (size_t i = 0; i < n; i++) {
		r = check_name("evpool_queue_add_many", names[i]);
		if (r < 0)
			return r;
	}
	r = check_workers("evpool_queue_add_many", &max_workers);
	if (r < 0)
		return r;
	pthread_mutex_lock(&pool->mu);
	r = add_locked(pool, "evpool_queue_add_many", names, n, max_workers,
		       NULL);
	pthread_mutex_unlock(&pool->mu);
	return r;
}

struct evpool_queue *
evpool_queue_find(struct evpool *pool, const char *name)
{
	struct evpool_queue *q;

	if (!pool || !name) {
		evpool__err(-EINVAL, "evpool_queue_find: NULL %s",
			    pool ? "name" : "pool");
		return NULL;
	}
	pthread_mutex_lock(&pool->mu);
	q = find_locked(pool, name);
	pthread_mutex_unlock(&pool->mu);
	if (!q)
		evpool__err(-ENOENT, "evpool_queue_find: no queue named '%s'",
			    name);
	return q;
}

const char *
evpool_queue_name(const struct evpool_queue *q)
{
	return q ? q->name : "";
}

int
evpool_queue_set_fn(struct evpool_queue *q, evpool_fn fn)
{
	if (!q)
		return evpool__err(-EINVAL, "evpool_queue_set_fn: NULL queue");
	pthread_mutex_lock(&q->mu);
	q->default_fn = fn;
	pthread_mutex_unlock(&q->mu);
	return 0;
}

int
evpool_queue_add_workers(struct evpool_queue *q, unsigned n)
{
	int r = 0;

	if (!q)
		return evpool__err(-EINVAL, "evpool_queue_add_workers: NULL queue");
	pthread_mutex_lock(&q->mu);
	if (n == 0 || n > EVPOOL__MAX_WORKERS - q->max_workers) {
		pthread_mutex_unlock(&q->mu);
		return evpool__err(-EINVAL,
				   "evpool_queue_add_workers: %u more workers for queue '%s' (max %u now) exceed %d",
				   n, q->name, q->max_workers, EVPOOL__MAX_WORKERS);
	}
	if (q->stopping) {
		pthread_mutex_unlock(&q->mu);
		return evpool__err(-ESHUTDOWN,
				   "evpool_queue_add_workers: the pool is being freed");
	}
	q->max_workers += n;
	q->min_workers += n;
	for (unsigned i = 0; i < n && q->nworkers < q->max_workers && r == 0; i++)
		r = evpool__worker_spawn(q);
	pthread_cond_broadcast(&q->work_cv);
	pthread_mutex_unlock(&q->mu);
	if (r < 0)
		return evpool__err(-EAGAIN,
				   "evpool_queue_add_workers: a worker could not be started: %s",
				   evpool_strerror(r));
	return 0;
}

int
evpool_queue_kill_workers(struct evpool_queue *q, unsigned n)
{
	if (!q)
		return evpool__err(-EINVAL, "evpool_queue_kill_workers: NULL queue");
	if (n == 0)
		return evpool__err(-EINVAL, "evpool_queue_kill_workers: 0 workers");
	pthread_mutex_lock(&q->mu);
	q->max_workers = q->max_workers > n ? q->max_workers - n : 0;
	if (q->min_workers > q->max_workers)
		q->min_workers = q->max_workers;
	/* Sleepers above the limit wake and leave; busy ones leave after
	 * their job (worker.c checks the limit before taking the next). */
	pthread_cond_broadcast(&q->work_cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

int
evpool_submit_to(struct evpool *pool, const char *queue, evpool_fn fn,
		 void *arg, evpool_done_cb done, void *done_arg)
{
	struct evpool_job_spec spec = {
		.fn = fn, .arg = arg, .done = done, .done_arg = done_arg,
	};

	if (!pool || !queue)
		return evpool__err(-EINVAL, "evpool_submit_to: NULL %s",
				   pool ? "queue name" : "pool");
	spec.queue = evpool_queue_find(pool, queue);
	if (!spec.queue)
		return -ENOENT;
	if (pool->cfg.mode == EVPOOL_MODE_PROCESS && arg)
		return evpool__err(-EINVAL,
				   "evpool_submit_to: process-mode pools take byte input, not a pointer; use evpool_submit_job() with spec.queue and spec.input");
	return evpool__err_as(evpool_submit_job(pool, &spec, NULL),
			      "evpool_submit_to");
}

/* The queue's put()/get() collection, made on first use. */
static int
queue_results(struct evpool_queue *q, struct evpool_results **rcp)
{
	int r = 0;

	pthread_mutex_lock(&q->mu);
	if (!q->results)
		r = evpool_results_new(q->pool, &q->results);
	*rcp = q->results;
	pthread_mutex_unlock(&q->mu);
	return r;
}

void
evpool__queue_results_free(struct evpool_queue *q)
{
	if (q->results) {
		evpool_results_free(q->results);
		q->results = NULL;
	}
}

int
evpool_queue_put(struct evpool_queue *q, const struct evpool_item *item)
{
	struct evpool_job_spec spec = { 0 };
	struct evpool_results *rc;
	int r;

	if (!q)
		return evpool__err(-EINVAL, "evpool_queue_put: NULL queue");
	if (item) {
		r = evpool__check_items(q->pool, "evpool_queue_put", item, 1);
		if (r < 0)
			return r;
		spec.arg = item->arg;
		spec.input = item->data;
		spec.input_len = item->len;
	}
	r = queue_results(q, &rc);
	if (r < 0)
		return r;
	spec.queue = q;
	return evpool__err_as(evpool__results_submit_spec(rc, &spec, NULL),
			      "evpool_queue_put");
}

int
evpool_queue_get(struct evpool_queue *q, int timeout_ms,
		 struct evpool_result *res)
{
	struct evpool_results *rc;
	int r;

	if (!q || !res)
		return evpool__err(-EINVAL, "evpool_queue_get: NULL %s",
				   q ? "result" : "queue");
	r = queue_results(q, &rc);
	if (r < 0)
		return r;
	return evpool_results_get(rc, EVPOOL_RESULTS_ANY, timeout_ms, res);
}

int
evpool_queue_get_stats(struct evpool_queue *q, struct evpool_stats *st)
{
	if (!q || !st)
		return evpool__err(-EINVAL, "evpool_queue_get_stats: NULL %s",
				   q ? "stats" : "queue");
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&q->mu);
	st->queued = evpool__queue_len(q);
	st->running = q->nrunning;
	st->workers = q->nworkers;
	st->busy_workers = q->nrunning;
	st->idle_workers = q->nworkers - q->nrunning;
	st->max_workers = q->max_workers;
	pthread_mutex_unlock(&q->mu);
	return 0;
}

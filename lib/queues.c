/*
 * queues.c — named queues (the seed's add_queue, add_queues, set_fn,
 * add_workers, kill_workers, put, get) and results collections
 * (fastthreadpool's done / failed).
 *
 * DESIGN: a named queue IS a core struct evpool_queue (queue.c): its own
 * mutex, priority levels, workers and limits; here we only make them, link
 * them into pool->queues under pool->mu (so stats, cancel_all, terminate,
 * shutdown and free, which all walk that list, cover them), find them by
 * name and change their limits.  Isolation between queues is structural:
 * a worker serves one queue only, so blocked jobs of one queue hold only
 * that queue's workers.
 *
 * A results collection is two FIFO lists (done, failed) under one mutex,
 * plus a count of results still to come.  Its jobs are submitted with a
 * sink that moves the job's outcome into a node allocated at submit time
 * (the sink never allocates), so it works without a loop and from any
 * thread.  get() waits through the pool's wait (woken by every finished
 * job); a global sequence number keeps EVPOOL_RESULTS_ANY in finishing
 * order across the two lists.  put()/get() of a queue are a collection that
 * the queue makes on first use and frees with itself.
 *
 * Lifetime: the user and every pending job hold a reference; the
 * collection pins the pool's memory, so it may outlive evpool_free().
 */
#include "pyapi-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- results collections ------------------------------------------------ */

struct rc_node {
	struct rc_node *next;
	struct evpool_results *rc;	/* while pending: a reference */
	uint64_t seq;			/* finishing order */
	struct evpool_result r;
};

struct rc_list {
	struct rc_node *head, *tail;
	size_t n;
};

struct evpool_results {
	struct evpool *pool;		/* pinned */
	atomic_uint refs;
	pthread_mutex_t mu;
	struct rc_list done, failed;
	size_t pending;			/* results still to come */
	size_t next_index;		/* submission numbers */
	uint64_t next_seq;
	bool closed;			/* freed by its owner */
};

int
evpool_results_new(struct evpool *pool, struct evpool_results **rcp)
{
	struct evpool_results *rc;

	if (!pool || !rcp)
		return evpool__err(-EINVAL, "evpool_results_new: NULL %s",
				   pool ? "collection pointer" : "pool");
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return evpool__err(-ENOMEM, "evpool_results_new: out of memory");
	rc->pool = pool;
	atomic_init(&rc->refs, 1);
	pthread_mutex_init(&rc->mu, NULL);
	evpool__pool_pin(pool);
	*rcp = rc;
	return 0;
}

struct evpool *
evpool__results_pool(struct evpool_results *rc)
{
	return rc->pool;
}

void
evpool__results_ref(struct evpool_results *rc)
{
	atomic_fetch_add_explicit(&rc->refs, 1, memory_order_relaxed);
}

static void
list_free(struct rc_list *l)
{
	struct rc_node *n;

	while ((n = l->head) != NULL) {
		l->head = n->next;
		evpool_result_release(&n->r);
		free(n);
	}
	l->tail = NULL;
	l->n = 0;
}

void
evpool__results_unref(struct evpool_results *rc)
{
	struct evpool *pool;

	if (atomic_fetch_sub_explicit(&rc->refs, 1, memory_order_acq_rel) != 1)
		return;
	pool = rc->pool;
	list_free(&rc->done);
	list_free(&rc->failed);
	pthread_mutex_destroy(&rc->mu);
	free(rc);
	evpool__pool_unpin(pool);
}

void
evpool__results_expect(struct evpool_results *rc, size_t n)
{
	pthread_mutex_lock(&rc->mu);
	rc->pending += n;
	pthread_mutex_unlock(&rc->mu);
}

void
evpool__results_unexpect(struct evpool_results *rc, size_t n)
{
	pthread_mutex_lock(&rc->mu);
	rc->pending -= n;
	pthread_mutex_unlock(&rc->mu);
	evpool__pool_wake(rc->pool); /* a get() may now see -ESHUTDOWN */
}

/* Link @p n (its .r filled); the node's memory passes to the list. */
static void
rc_link(struct evpool_results *rc, struct rc_node *n)
{
	struct rc_list *l;

	pthread_mutex_lock(&rc->mu);
	rc->pending--;
	if (rc->closed) {
		pthread_mutex_unlock(&rc->mu);
		evpool_result_release(&n->r);
		free(n);
		return;
	}
	l = n->r.status == 0 ? &rc->done : &rc->failed;
	n->next = NULL;
	n->seq = rc->next_seq++;
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
	l->n++;
	pthread_mutex_unlock(&rc->mu);
}

void
evpool__results_add(struct evpool_results *rc, struct evpool_result *res)
{
	struct rc_node *n = malloc(sizeof(*n));

	if (!n) { /* the result is lost; say so in the count at least */
		evpool_result_release(res);
		pthread_mutex_lock(&rc->mu);
		rc->pending--;
		pthread_mutex_unlock(&rc->mu);
		return;
	}
	n->rc = rc;
	n->r = *res;
	rc_link(rc, n);
}

/* The sink of a job submitted into a collection: done_arg is its node. */
static void
rc_sink(struct evpool_job *job)
{
	struct rc_node *n = job->done_arg;
	struct evpool_results *rc = n->rc;

	memset(&n->r, 0, sizeof(n->r));
	evpool__result_take(&n->r, job); /* an internal handle reads nothing */
	n->r.index = (size_t)n->seq; /* the submission number, see below */
	rc_link(rc, n);
	evpool__sink_release(job);
	evpool__results_unref(rc);
}

/* Submit @p spec into @p rc.  The node carries the submission number in
 * .seq until the sink moves it to .index. */
static int
rc_submit(struct evpool_results *rc, const struct evpool_job_spec *spec,
	  struct evpool_job **jobp)
{
	struct evpool_job_spec s = *spec;
	struct rc_node *n = malloc(sizeof(*n));
	int r;

	if (!n)
		return evpool__err(-ENOMEM, "results: out of memory");
	n->rc = rc;
	pthread_mutex_lock(&rc->mu);
	n->seq = rc->next_index++;
	rc->pending++;
	pthread_mutex_unlock(&rc->mu);
	evpool__results_ref(rc);
	s.done_arg = n;
	r = evpool__submit(rc->pool, &s, rc_sink, jobp);
	if (r < 0) {
		pthread_mutex_lock(&rc->mu);
		if (rc->next_index == n->seq + 1)
			rc->next_index--; /* a refused job takes no number */
		pthread_mutex_unlock(&rc->mu);
		free(n);
		evpool__results_unexpect(rc, 1);
		evpool__results_unref(rc);
	}
	return r;
}

int
evpool_results_submit(struct evpool_results *rc,
		      const struct evpool_job_spec *spec,
		      struct evpool_job **jobp)
{
	if (!rc || !spec)
		return evpool__err(-EINVAL, "evpool_results_submit: NULL %s",
				   rc ? "spec" : "collection");
	if (spec->done || spec->emit)
		return evpool__err(-EINVAL,
				   "evpool_results_submit: a job of a results collection takes no callback");
	return rc_submit(rc, spec, jobp);
}

/* Pop the oldest result of kind @p which (rc->mu held). */
static bool
rc_take(struct evpool_results *rc, unsigned which, struct evpool_result *res)
{
	struct rc_list *l;
	struct rc_node *n;

	if (which == EVPOOL_RESULTS_DONE)
		l = &rc->done;
	else if (which == EVPOOL_RESULTS_FAILED)
		l = &rc->failed;
	else if (!rc->done.head)
		l = &rc->failed;
	else if (!rc->failed.head)
		l = &rc->done;
	else
		l = rc->done.head->seq < rc->failed.head->seq ? &rc->done
							      : &rc->failed;
	n = l->head;
	if (!n)
		return false;
	l->head = n->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	*res = n->r;
	free(n);
	return true;
}

static bool
rc_has(struct evpool_results *rc, unsigned which)
{
	return ((which & EVPOOL_RESULTS_DONE) && rc->done.head) ||
	       ((which & EVPOOL_RESULTS_FAILED) && rc->failed.head);
}

struct rc_wait {
	struct evpool_results *rc;
	unsigned which;
};

/* Something to take, or nothing can ever come. */
static bool
rc_wait_pred(void *arg)
{
	struct rc_wait *w = arg;
	bool r;

	pthread_mutex_lock(&w->rc->mu);
	r = rc_has(w->rc, w->which) ||
	    (w->rc->pending == 0 && atomic_load(&w->rc->pool->closed));
	pthread_mutex_unlock(&w->rc->mu);
	return r;
}

int
evpool_results_get(struct evpool_results *rc, unsigned which, int timeout_ms,
		   struct evpool_result *res)
{
	struct rc_wait w = { rc, which };
	uint64_t deadline;

	if (!rc || !res)
		return evpool__err(-EINVAL, "evpool_results_get: NULL %s",
				   rc ? "result" : "collection");
	if (which < EVPOOL_RESULTS_DONE || which > EVPOOL_RESULTS_ANY)
		return evpool__err(-EINVAL, "evpool_results_get: unknown kind %u",
				   which);
	if (timeout_ms < -1)
		return evpool__err(-EINVAL, "evpool_results_get: timeout %d (use -1 for none)",
				   timeout_ms);
	memset(res, 0, sizeof(*res));
	deadline = evpool__deadline_ns(timeout_ms);
	for (;;) {
		bool none_can_come;
		uint64_t now;

		pthread_mutex_lock(&rc->mu);
		if (rc_take(rc, which, res)) {
			pthread_mutex_unlock(&rc->mu);
			return 0;
		}
		none_can_come = rc->pending == 0 && atomic_load(&rc->pool->closed);
		pthread_mutex_unlock(&rc->mu);
		if (none_can_come)
			return evpool__err(-ESHUTDOWN,
					   "evpool_results_get: nothing there, nothing pending, and the pool is closed");
		if (timeout_ms == 0)
			return -EAGAIN;
		now = evpool__now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		evpool__pool_wait(rc->pool, rc_wait_pred, &w,
				  deadline == UINT64_MAX ? -1
				  : (int)((deadline - now + 999999) / 1000000));
	}
}

size_t
evpool_results_count(const struct evpool_results *rc, unsigned which)
{
	struct evpool_results *m = (struct evpool_results *)rc;
	size_t n = 0;

	if (!rc)
		return 0;
	pthread_mutex_lock(&m->mu);
	if (which & EVPOOL_RESULTS_DONE)
		n += m->done.n;
	if (which & EVPOOL_RESULTS_FAILED)
		n += m->failed.n;
	pthread_mutex_unlock(&m->mu);
	return n;
}

size_t
evpool_results_pending(const struct evpool_results *rc)
{
	struct evpool_results *m = (struct evpool_results *)rc;
	size_t n;

	if (!rc)
		return 0;
	pthread_mutex_lock(&m->mu);
	n = m->pending;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void
evpool_results_free(struct evpool_results *rc)
{
	if (!rc)
		return;
	pthread_mutex_lock(&rc->mu);
	rc->closed = true;
	list_free(&rc->done);
	list_free(&rc->failed);
	pthread_mutex_unlock(&rc->mu);
	evpool__results_unref(rc);
}

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
	if (pool->cfg.mode == EVPOOL_MODE_PROCESS)
		return evpool__err(-EINVAL,
				   "evpool_submit_to: process-mode pools take byte input; use evpool_submit_job() with spec.queue");
	return evpool_submit_job(pool, &spec, NULL);
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
	return rc_submit(rc, &spec, NULL);
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

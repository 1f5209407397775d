/*
 * priority.c — priorities and a bounded queue under load.  It mirrors a
 * priority executor such as ThreadRipper's, or in plain Python:
 *
 *     q = queue.PriorityQueue(maxsize=4)        # bounded
 *     q.put_nowait((-prio, job))                # raises queue.Full
 *     q.put((-prio, job), timeout=1.0)          # waits for room
 *     # one worker takes the most urgent job first, FIFO among equals
 *
 * One worker is held busy while jobs of mixed priority queue up: they then
 * run most urgent first, FIFO among equal priorities.  The queue holds 4
 * jobs: a fifth submit fails at once with -EAGAIN, or with
 * EVPOOL_SUBMIT_BLOCK waits for room.  Settings come from the environment
 * too (EVPOOL_MODE=process runs it on a worker process).
 *
 *   cc priority.c $(pkg-config --cflags --libs libevpool libevent)
 */
#include <evpool.h>
#include <event2/event.h>
#include <event2/thread.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The job: sleep the given ms, return its own label. */
struct work {
	int32_t ms;
	char label[12];
};

static int
run_work(struct evpool_ctx *ctx)
{
	size_t len;
	const struct work *w = evpool_ctx_input(ctx, &len);

	if (!w || len != sizeof(*w))
		return -EINVAL;
	usleep((useconds_t)w->ms * 1000);
	return evpool_ctx_set_result_bytes(ctx, w->label, sizeof(w->label));
}

static char order[256];

/* On the loop thread, in completion order. */
static void
on_done(struct evpool_job *job, void *arg)
{
	const char *label = evpool_job_result_bytes(job, NULL);

	(void)arg;
	if (evpool_job_status(job) == 0 && label) {
		strncat(order, label, sizeof(order) - strlen(order) - 2);
		strcat(order, " ");
	}
}

static int
submit(struct evpool *pool, int ms, const char *label, int prio,
       unsigned flags, int wait_ms)
{
	struct work w = { .ms = ms };
	struct evpool_job_spec spec = { 0 };

	snprintf(w.label, sizeof(w.label), "%s", label);
	spec.fn = run_work;
	spec.input = &w;
	spec.input_len = sizeof(w);
	spec.done = on_done;
	spec.priority = prio;
	spec.flags = flags;
	spec.wait_ms = wait_ms;
	return evpool_submit_job(pool, &spec, NULL);
}

static void *
late_submitter(void *arg)
{
	/* Another thread may wait for room; the loop thread must not. */
	intptr_t r = submit(arg, 1, "late", -10, EVPOOL_SUBMIT_BLOCK, 5000);
	return (void *)r;
}

int
main(void)
{
	struct event_base *base;
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_stats st;
	pthread_t th;
	void *late;
	int r, n = 0, failed = 0;

	evthread_use_pthreads(); /* the late submitter runs on another thread */
	base = event_base_new();
	if (!base || !cfg || evpool_config_from_env(cfg) < 0 ||
	    evpool_config_set_workers(cfg, 1, 1) < 0 ||
	    evpool_config_set_max_queued(cfg, 4) < 0 ||
	    evpool_new(&pool, base, cfg) < 0) {
		fprintf(stderr, "priority: %s\n", evpool_errmsg());
		return 1;
	}
	evpool_config_free(cfg);
	printf("1..5\n");

	/* Hold the only worker, then queue jobs of mixed priority. */
	submit(pool, 150, "busy", 0, 0, 0);
	while (evpool_get_stats(pool, &st) == 0 && st.running == 0)
		usleep(1000);
	r = submit(pool, 1, "low1", -5, 0, 0);
	r |= submit(pool, 1, "low2", -5, 0, 0);
	r |= submit(pool, 1, "urgent", 10, 0, 0);
	r |= submit(pool, 1, "normal", 0, 0, 0);
	printf("%s %d - four jobs queued behind the busy one\n",
	       r == 0 ? "ok" : "not ok", ++n);
	failed += r != 0;

	/* The queue is full (4): a fifth fails at once... */
	r = submit(pool, 1, "extra", 0, 0, 0);
	printf("%s %d - a fifth submit fails at once: %s (%s)\n",
	       r == -EAGAIN ? "ok" : "not ok", ++n, evpool_err_name(r),
	       evpool_errmsg());
	failed += r != -EAGAIN;

	/* ... or, from another thread, waits for room. */
	pthread_create(&th, NULL, late_submitter, pool);
	event_base_dispatch(base);
	pthread_join(th, &late);
	printf("%s %d - with EVPOOL_SUBMIT_BLOCK it waited for room\n",
	       late == NULL ? "ok" : "not ok", ++n);
	failed += late != NULL;
	event_base_dispatch(base);

	printf("# completion order: %s\n", order);
	r = strcmp(order, "busy urgent normal low1 low2 late ") == 0;
	printf("%s %d - most urgent first, FIFO among equals\n", r ? "ok" : "not ok",
	       ++n);
	failed += !r;
	evpool_get_stats(pool, &st);
	printf("%s %d - the queue never held more than 4 (peak %llu)\n",
	       st.peak_queued <= 4 ? "ok" : "not ok", ++n,
	       (unsigned long long)st.peak_queued);
	failed += st.peak_queued > 4;

	evpool_free(pool);
	event_base_free(base);
	return failed ? 1 : 0;
}

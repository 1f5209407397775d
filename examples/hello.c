/*
 * hello.c — the smallest libevpool program: offload a blocking call from a
 * libevent loop and print its result in the completion callback, which runs
 * on the loop thread.  (Python: `await loop.run_in_executor(None, fn)`.)
 *
 *   cc hello.c $(pkg-config --cflags --libs libevpool)
 */
#include <evpool.h>
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs on a worker thread: a blocking call the loop must not make. */
static int
slow_hostname(struct evpool_ctx *ctx)
{
	char name[256];

	usleep(100 * 1000); /* pretend the call is slow */
	if (gethostname(name, sizeof(name)) < 0)
		return -1;
	name[sizeof(name) - 1] = '\0';
	return evpool_ctx_set_result_bytes(ctx, name, strlen(name) + 1);
}

/* Runs on the loop thread once the job has finished. */
static void
on_done(struct evpool_job *job, void *arg)
{
	int *answered = arg;
	int status = evpool_job_status(job);

	if (status != 0) {
		fprintf(stderr, "hello: job failed: %s\n", evpool_strerror(status));
		return;
	}
	printf("hello from %s (computed off the loop)\n",
	       (const char *)evpool_job_result_bytes(job, NULL));
	(*answered)++;
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evpool *pool;
	int answered = 0, r;

	if (!base)
		return 1;
	r = evpool_new(&pool, base, NULL);
	if (r < 0) {
		fprintf(stderr, "evpool_new: %s\n", evpool_strerror(r));
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		r = evpool_submit(pool, slow_hostname, NULL, on_done, &answered);
		if (r < 0) {
			fprintf(stderr, "submit: %s (%s)\n", evpool_strerror(r),
				evpool_errmsg());
			return 1;
		}
	}
	/* Returns when no job is outstanding any more. */
	event_base_dispatch(base);
	evpool_free(pool);
	event_base_free(base);
	/* make check reads this as TAP. */
	printf("1..1\n%s 1 - three jobs answered on the loop thread\n",
	       answered == 3 ? "ok" : "not ok");
	return answered == 3 ? 0 : 1;
}

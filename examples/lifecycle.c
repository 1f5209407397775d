/*
 * lifecycle.c — a pool's life: create, submit synchronously and
 * asynchronously, wait, shut down; then the same in the scoped form.
 * It mirrors this Python:
 *
 *     from multiprocessing.pool import ThreadPool
 *
 *     pool = ThreadPool(4)
 *     print(pool.apply(slow_square, (7,)))                   # blocking
 *     r = pool.apply_async(slow_square, (8,),
 *                          callback=on_result, error_callback=on_error)
 *     r.wait(); print(r.successful(), r.get())
 *     pool.close(); pool.join()
 *
 *     with ThreadPoolExecutor(4) as ex:     # the scope waits for the work
 *         futures = [ex.submit(slow_square, i) for i in range(5)]
 *
 * Inputs and results are bytes, so `EVPOOL_MODE=process examples/lifecycle`
 * runs the same program on worker processes.
 *
 *   cc lifecycle.c $(pkg-config --cflags --libs libevpool libevent)
 */
#include <evpool.h>
#include <event2/event.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The job: int32 in, its square out, slowly. */
static int
slow_square(struct evpool_ctx *ctx)
{
	size_t len;
	const int32_t *x = evpool_ctx_input(ctx, &len);
	int32_t y;

	if (!x || len != sizeof(*x))
		return -EINVAL;
	usleep(20 * 1000);
	y = *x * *x;
	return evpool_ctx_set_result_bytes(ctx, &y, sizeof(y));
}

static int32_t
as_int(const void *data, size_t len)
{
	int32_t v = -1;

	if (data && len == sizeof(v))
		memcpy(&v, data, sizeof(v));
	return v;
}

static int ok_calls, err_calls, scoped_done;

/* apply_async's callback and error callback: on the loop thread. */
static void
on_result(struct evpool_job *job, void *arg)
{
	size_t len;
	const void *b = evpool_job_result_bytes(job, &len);

	(void)arg;
	printf("# apply_async: callback, result %d\n", as_int(b, len));
	ok_calls++;
}

static void
on_error(struct evpool_job *job, void *arg)
{
	(void)arg;
	printf("# apply_async: error callback: %s\n",
	       evpool_strerror(evpool_job_status(job)));
	err_calls++;
}

static void
on_scoped(struct evpool_job *job, void *arg)
{
	(void)arg;
	scoped_done += evpool_job_status(job) == 0;
}

static struct evpool_config *
make_config(void)
{
	struct evpool_config *cfg = evpool_config_new();

	if (!cfg)
		return NULL;
	evpool_config_set_workers(cfg, 0, 4);
	if (evpool_config_from_env(cfg) < 0) { /* EVPOOL_MODE=process ... */
		fprintf(stderr, "lifecycle: %s\n", evpool_errmsg());
		evpool_config_free(cfg);
		return NULL;
	}
	return cfg;
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evpool_config *cfg = make_config();
	struct evpool *pool;
	struct evpool_result res;
	struct evpool_job *job;
	int32_t x = 7, y = 8;
	struct evpool_item item;
	int r, n = 0, failed = 0;

	if (!base || !cfg || evpool_new(&pool, base, cfg) < 0) {
		fprintf(stderr, "lifecycle: %s\n", evpool_errmsg());
		return 1;
	}
	printf("1..6\n");

	/* pool.apply(): blocks, returns the result */
	item = EVPOOL_ITEM_BYTES(&x, sizeof(x));
	r = evpool_apply(pool, slow_square, &item, &res);
	printf("%s %d - apply(7) = %d\n", r == 0 && as_int(res.data, res.len) == 49
	       ? "ok" : "not ok", ++n, as_int(res.data, res.len));
	failed += !(r == 0 && as_int(res.data, res.len) == 49);
	evpool_result_release(&res);

	/* pool.apply_async(): the callback runs on the loop thread */
	item = EVPOOL_ITEM_BYTES(&y, sizeof(y));
	r = evpool_apply_async(pool, slow_square, &item, on_result, on_error,
			       NULL, &job);
	evpool_job_wait(job, -1);	/* r.wait() */
	printf("%s %d - apply_async(8): successful() %d, get() %d\n",
	       r == 0 && evpool_job_successful(job) == 1 ? "ok" : "not ok", ++n,
	       evpool_job_successful(job), evpool_job_get(job, -1, NULL));
	failed += !(r == 0 && evpool_job_successful(job) == 1);
	evpool_job_unref(job);
	event_base_dispatch(base);	/* runs the callback */
	printf("%s %d - the callback ran once, the error callback never\n",
	       ok_calls == 1 && err_calls == 0 ? "ok" : "not ok", ++n);
	failed += !(ok_calls == 1 && err_calls == 0);

	/* pool.close(); pool.join() */
	evpool_close(pool);
	r = evpool_join(pool, -1);
	printf("%s %d - close() then join()\n", r == 0 ? "ok" : "not ok", ++n);
	failed += r != 0;
	r = evpool_apply(pool, slow_square, &item, NULL);
	printf("%s %d - a closed pool refuses work: %s\n",
	       r == -ESHUTDOWN ? "ok" : "not ok", ++n, evpool_strerror(r));
	failed += r != -ESHUTDOWN;
	evpool_free(pool);

	/* the scoped form: leaving the block closes, joins and frees */
	{
		EVPOOL_SCOPED struct evpool *scoped = NULL;
		int32_t v[5] = { 0, 1, 2, 3, 4 };

		if (evpool_new(&scoped, base, cfg) < 0)
			return 1;
		for (int i = 0; i < 5; i++) {
			item = EVPOOL_ITEM_BYTES(&v[i], sizeof(v[i]));
			evpool_apply_async(scoped, slow_square, &item, on_scoped,
					   NULL, NULL, NULL);
		}
	}	/* <- evpool_close + evpool_join + evpool_free, callbacks delivered */
	printf("%s %d - the scope's end waited for its 5 jobs (%d done)\n",
	       scoped_done == 5 ? "ok" : "not ok", ++n, scoped_done);
	failed += scoped_done != 5;

	evpool_config_free(cfg);
	event_base_free(base);
	return failed ? 1 : 0;
}

/*
 * queues.c — named queues with their own workers, a default function per
 * queue, and put/get without callbacks.  It mirrors the seed's named-queue
 * pool:
 *
 *     pool = Pool()
 *     pool.add_queue("dns", workers=2)          # slow, blocking lookups
 *     pool.add_queues(["img", "mail"], workers=1)
 *     pool.set_fn("dns", resolve)               # put() needs no function
 *     pool.put("dns", "example.org")
 *     print(pool.get("dns", timeout=1.0))
 *     pool.add_workers("dns", 2); pool.kill_workers("dns", 2)
 *
 * The point of separate queues: the "dns" queue's jobs all block here, and
 * the "img" queue's job still runs at once (libuv #28, node #8436).  Inputs
 * and results are bytes, so EVPOOL_MODE=process runs it unchanged.
 *
 *   cc queues.c $(pkg-config --cflags --libs libevpool libevent)
 */
#include <evpool.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* "Resolve" a name: slowly (the blocking call of this queue). */
static int
resolve(struct evpool_ctx *ctx)
{
	size_t len;
	const char *name = evpool_ctx_input(ctx, &len);
	unsigned h = 0;
	char out[96];

	if (!name || !len)
		return -EINVAL;
	usleep(200 * 1000);
	for (size_t i = 0; i < len; i++)
		h = h * 31 + (unsigned char)name[i];
	snprintf(out, sizeof(out), "%.*s -> 192.0.2.%u", (int)len, name,
		 1 + h % 250);
	return evpool_ctx_set_result_bytes(ctx, out, strlen(out) + 1);
}

/* "Thumbnail" an image: fast. */
static int
thumbnail(struct evpool_ctx *ctx)
{
	size_t len;
	const char *name = evpool_ctx_input(ctx, &len);
	char out[96];

	snprintf(out, sizeof(out), "thumb of %.*s", (int)len, name ? name : "");
	return evpool_ctx_set_result_bytes(ctx, out, strlen(out) + 1);
}

static int n, failed;

static void
check(int cond, const char *what)
{
	printf("%s %d - %s\n", cond ? "ok" : "not ok", ++n, what);
	failed += !cond;
}

static void
put_str(struct evpool_queue *q, const char *s)
{
	struct evpool_item item = EVPOOL_ITEM_BYTES(s, strlen(s));

	if (evpool_queue_put(q, &item) < 0)
		fprintf(stderr, "put: %s\n", evpool_errmsg());
}

int
main(void)
{
	static const char *const more[] = { "img", "mail" };
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_queue *dns, *img;
	struct evpool_result res;
	struct evpool_stats st;
	int r, got;

	if (!cfg || evpool_config_from_env(cfg) < 0 ||
	    evpool_new(&pool, NULL, cfg) < 0) {
		fprintf(stderr, "queues: %s\n", evpool_errmsg());
		return 1;
	}
	evpool_config_free(cfg);
	printf("1..6\n");

	r = evpool_queue_new(pool, "dns", 2, &dns);		/* add_queue */
	r |= evpool_queue_add_many(pool, more, 2, 1);		/* add_queues */
	img = evpool_queue_find(pool, "img");
	check(r == 0 && img, "add_queue(dns), add_queues(img, mail)");
	evpool_queue_set_fn(dns, resolve);			/* set_fn */
	evpool_queue_set_fn(img, thumbnail);

	/* Four slow lookups: both dns workers block on them... */
	put_str(dns, "example.org");
	put_str(dns, "example.net");
	put_str(dns, "example.com");
	put_str(dns, "example.edu");
	for (int i = 0; i < 5000; i++) { /* until both have started */
		evpool_queue_get_stats(dns, &st);
		if (st.running == 2)
			break;
		usleep(1000);
	}
	/* ... and the img queue is not held up. */
	put_str(img, "cat.png");
	r = evpool_queue_get(img, 1000, &res);
	evpool_queue_get_stats(dns, &st);
	printf("# img: %s (dns: %llu running, %llu waiting)\n",
	       r == 0 ? (const char *)res.data : evpool_strerror(r),
	       (unsigned long long)st.running, (unsigned long long)st.queued);
	check(r == 0 && st.running == 2,
	      "img's job finished while dns's jobs all blocked");
	evpool_result_release(&res);

	/* get() with a timeout, without callbacks */
	r = evpool_queue_get(dns, 10, &res);
	check(r == -ETIMEDOUT, "get(dns, 10 ms) times out while they run");

	/* add_workers: the two waiting lookups start at once */
	evpool_queue_add_workers(dns, 2);
	got = 0;
	while (got < 4 && evpool_queue_get(dns, 5000, &res) == 0) {
		printf("# dns #%zu: %s\n", res.index, (const char *)res.data);
		got += res.status == 0;
		evpool_result_release(&res);
	}
	check(got == 4, "get() returned the 4 lookups");
	evpool_queue_kill_workers(dns, 2);
	evpool_queue_get_stats(dns, &st);
	check(st.max_workers == 2, "kill_workers(dns, 2): back to 2 workers");

	/* get() without waiting */
	r = evpool_queue_get(img, 0, &res);
	check(r == -EAGAIN, "get(img, 0) on an empty queue: -EAGAIN at once");

	evpool_free(pool);
	return failed ? 1 : 0;
}

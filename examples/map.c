/*
 * map.c — the map family: map, map_async, imap, imap_unordered, starmap.
 * It mirrors this Python:
 *
 *     from multiprocessing.pool import ThreadPool
 *
 *     with ThreadPool(4) as pool:
 *         print(pool.map(square, range(20)))               # in order
 *         pool.map_async(square, range(20), callback=show).wait()
 *         for r in pool.imap(square, range(10)): ...      # lazily, in order
 *         for r in pool.imap_unordered(square, range(10)): ...
 *         print(pool.starmap(power, [(2, 3), (3, 2), (10, 4)]))
 *
 * C has no tuples: starmap takes an array of argument records.  Unlike
 * CPython, imap is lazy: only a bounded window of inputs is in flight.
 * Inputs and results are bytes, so EVPOOL_MODE=process runs it unchanged.
 *
 *   cc map.c $(pkg-config --cflags --libs libevpool libevent)
 */
#include <evpool.h>
#include <event2/event.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int
square(struct evpool_ctx *ctx)
{
	size_t len;
	const int32_t *x = evpool_ctx_input(ctx, &len);
	int32_t y;

	if (!x || len != sizeof(*x))
		return -EINVAL;
	y = *x * *x;
	return evpool_ctx_set_result_bytes(ctx, &y, sizeof(y));
}

/* starmap's argument record: power(base, exp) */
struct power_args {
	int32_t base, exp;
};

static int
power(struct evpool_ctx *ctx)
{
	size_t len;
	const struct power_args *a = evpool_ctx_input(ctx, &len);
	int32_t y = 1;

	if (!a || len != sizeof(*a))
		return -EINVAL;
	for (int i = 0; i < a->exp; i++)
		y *= a->base;
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

static int n, failed;

static void
check(int cond, const char *what)
{
	printf("%s %d - %s\n", cond ? "ok" : "not ok", ++n, what);
	failed += !cond;
}

/* map_async's callback: every result, in input order, on the loop thread */
static void
show(struct evpool_map *map, void *arg)
{
	int *sum = arg;

	printf("# map_async callback:");
	for (size_t i = 0; i < evpool_map_size(map); i++) {
		const struct evpool_result *r = evpool_map_result(map, i);
		printf(" %d", as_int(r->data, r->len));
		*sum += as_int(r->data, r->len);
	}
	printf("\n");
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_map *map;
	struct evpool_imap *it;
	struct evpool_result res;
	int32_t v[20];
	struct evpool_item items[20];
	struct power_args args[3] = { { 2, 3 }, { 3, 2 }, { 10, 4 } };
	int r, sum = 0, good;

	if (!base || !cfg || evpool_config_set_workers(cfg, 0, 4) < 0 ||
	    evpool_config_from_env(cfg) < 0 || evpool_new(&pool, base, cfg) < 0) {
		fprintf(stderr, "map: %s\n", evpool_errmsg());
		return 1;
	}
	evpool_config_free(cfg);
	for (int i = 0; i < 20; i++) {
		v[i] = i;
		items[i] = EVPOOL_ITEM_BYTES(&v[i], sizeof(v[i]));
	}
	printf("1..6\n");

	/* pool.map(): blocking; chunksize 0 is Python's default */
	r = evpool_map(pool, square, items, 20, 0, &map);
	good = r == 0;
	printf("# map:");
	for (int i = 0; i < 20; i++) {
		const struct evpool_result *x = evpool_map_result(map, i);
		printf(" %d", as_int(x->data, x->len));
		good &= as_int(x->data, x->len) == i * i;
	}
	printf("  (chunksize %zu)\n", evpool_map_chunksize(map));
	check(good, "map(square, range(20)) in input order");
	evpool_map_unref(map);

	/* pool.map_async(): one callback with all results */
	r = evpool_map_async(pool, square, items, 20, 0, show, NULL, &sum, NULL);
	event_base_dispatch(base);
	check(r == 0 && sum == 2470, "map_async calls back once with all 20");

	/* pool.imap(): lazily, in input order, next(timeout) */
	r = evpool_imap(pool, square, items, 10, &it);
	good = r == 0;
	printf("# imap:");
	for (int i = 0; good && evpool_imap_next(it, -1, &res) == 1; i++) {
		printf(" %d", as_int(res.data, res.len));
		good &= res.index == (size_t)i && as_int(res.data, res.len) == i * i;
		evpool_result_release(&res);
	}
	printf("\n");
	check(good, "imap yields in input order");
	evpool_imap_free(it);

	/* pool.imap_unordered(): in completion order */
	r = evpool_imap_unordered(pool, square, items, 10, &it);
	sum = 0;
	printf("# imap_unordered:");
	while (r == 0 && evpool_imap_next(it, -1, &res) == 1) {
		printf(" %d", as_int(res.data, res.len));
		sum += as_int(res.data, res.len);
		evpool_result_release(&res);
	}
	printf("\n");
	check(sum == 285, "imap_unordered yields all ten");
	evpool_imap_free(it);

	/* pool.starmap(): an array of argument records */
	r = evpool_starmap(pool, power, args, 3, sizeof(args[0]), 0, &map);
	printf("# starmap: %d %d %d\n",
	       as_int(evpool_map_result(map, 0)->data, evpool_map_result(map, 0)->len),
	       as_int(evpool_map_result(map, 1)->data, evpool_map_result(map, 1)->len),
	       as_int(evpool_map_result(map, 2)->data, evpool_map_result(map, 2)->len));
	check(r == 0 &&
	      as_int(evpool_map_result(map, 2)->data,
		     evpool_map_result(map, 2)->len) == 10000,
	      "starmap(power, [(2, 3), (3, 2), (10, 4)])");
	evpool_map_unref(map);

	/* a failing item (1 byte where square() wants 4): map returns the
	 * item's error and says which item it was */
	items[13] = EVPOOL_ITEM_BYTES(&v[13], 1);
	r = evpool_map(pool, square, items, 20, 5, &map);
	check(r == -EINVAL && evpool_map_error_index(map) == 13,
	      "map with one bad item fails with its error and index");
	evpool_map_unref(map);

	evpool_free(pool);
	event_base_free(base);
	return failed ? 1 : 0;
}

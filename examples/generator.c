/*
 * generator.c — a job that streams partial results while it runs.  It
 * mirrors fastthreadpool, which runs a generator function as a job and
 * hands each value it yields on as it comes:
 *
 *     def count_lines(n):                # runs on a worker
 *         for i in range(n):
 *             yield "line %d" % i        # each is delivered as it comes
 *
 *     pool.submit_done(count_lines, on_piece, 1000)
 *
 * In C the job calls evpool_ctx_emit() for each piece; each piece reaches
 * the emit callback on the loop thread, in emission order, always before
 * the job's completion callback.  A slow loop applies backpressure: at most
 * the emit window (here 4) of pieces wait for it, then the job blocks in
 * evpool_ctx_emit() — memory stays bounded however much the job produces.
 * Works in both modes (EVPOOL_MODE=process).
 *
 *   cc generator.c $(pkg-config --cflags --libs libevpool libevent)
 */
#include <evpool.h>
#include <event2/event.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The job: emit "line 0".."line N-1", then return the count as result. */
static int
count_lines(struct evpool_ctx *ctx)
{
	size_t len;
	const int32_t *n = evpool_ctx_input(ctx, &len);
	char line[32];
	int32_t i;

	if (!n || len != sizeof(*n))
		return -EINVAL;
	for (i = 0; i < *n; i++) {
		int r;

		snprintf(line, sizeof(line), "line %d", (int)i);
		r = evpool_ctx_emit(ctx, line, strlen(line) + 1);
		if (r < 0)
			return r; /* cancelled: stop */
	}
	return evpool_ctx_set_result_bytes(ctx, &i, sizeof(i));
}

struct progress {
	int pieces, in_order, after_done, done;
};

/* Each piece, on the loop thread, in order. */
static void
on_piece(struct evpool_job *job, const void *data, size_t len, void *arg)
{
	struct progress *p = arg;
	char want[32];

	(void)job;
	snprintf(want, sizeof(want), "line %d", p->pieces);
	if (len == strlen(want) + 1 && memcmp(data, want, len) == 0)
		p->in_order++;
	if (p->done)
		p->after_done++;
	if (p->pieces % 250 == 0)
		printf("# piece: %s\n", (const char *)data);
	p->pieces++;
}

/* The completion, after every piece. */
static void
on_done(struct evpool_job *job, void *arg)
{
	struct progress *p = arg;
	size_t len;
	const int32_t *n = evpool_job_result_bytes(job, &len);

	p->done = 1;
	printf("# done: status %s, %d lines, %d pieces seen\n",
	       evpool_err_name(evpool_job_status(job)),
	       n && len == sizeof(*n) ? (int)*n : -1, p->pieces);
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	struct evpool_job_spec spec = { 0 };
	struct progress p = { 0 };
	int32_t lines = 1000;
	int r, n = 0, failed = 0;

	if (!base || !cfg || evpool_config_from_env(cfg) < 0 ||
	    evpool_config_set_emit_window(cfg, 4) < 0 ||
	    evpool_new(&pool, base, cfg) < 0) {
		fprintf(stderr, "generator: %s\n", evpool_errmsg());
		return 1;
	}
	evpool_config_free(cfg);
	printf("1..3\n");

	spec.fn = count_lines;
	spec.input = &lines;
	spec.input_len = sizeof(lines);
	spec.emit = on_piece;
	spec.done = on_done;
	spec.done_arg = &p;
	r = evpool_submit_job(pool, &spec, NULL);
	event_base_dispatch(base);

	printf("%s %d - all %d pieces arrived, in emission order\n",
	       r == 0 && p.in_order == lines ? "ok" : "not ok", ++n, p.in_order);
	failed += !(r == 0 && p.in_order == lines);
	printf("%s %d - every piece before the completion\n",
	       p.done && p.after_done == 0 ? "ok" : "not ok", ++n);
	failed += !(p.done && p.after_done == 0);
	printf("%s %d - the completion callback ran once\n",
	       p.done == 1 ? "ok" : "not ok", ++n);
	failed += p.done != 1;

	evpool_free(pool);
	event_base_free(base);
	return failed ? 1 : 0;
}

/*
 * glib-bench.c — GLib's GTask, g_task_run_in_thread() (GLib's way to run a
 * blocking call off the main loop), on the two figures evpool-bench reports.
 *
 *   burst     N empty tasks started from the main loop at once; the time
 *             until the last callback has run in the main context (jobs/s)
 *   pingpong  one task in flight, each callback starts the next; the median
 *             and p99 round trip (us)
 *
 * The pool is GLib's own.  One line out:
 *   glib GTask run_in_thread: burst N tasks T s = R tasks/s; pingpong p50 X us p99 Y us
 *
 *   cc -O2 glib-bench.c $(pkg-config --cflags --libs gio-2.0)  (libglib2.0-dev)
 *   ./glib-bench [N [M]]
 */
#include <gio/gio.h>

#include <stdio.h>
#include <stdlib.h>

#include "peers.h"

static GMainLoop *main_loop;

/* Runs on GLib's worker thread: an empty job. */
static void
nothing(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
	(void)source;
	(void)data;
	(void)cancel;
	g_task_return_boolean(task, TRUE);
}

static void
start_task(GAsyncReadyCallback done, gpointer arg)
{
	GTask *task = g_task_new(NULL, NULL, done, arg);

	g_task_run_in_thread(task, nothing);
	g_object_unref(task);
}

/* ---- burst ---------------------------------------------------------------- */

struct burst {
	long n, done;
};

static void
burst_done(GObject *source, GAsyncResult *res, gpointer arg)
{
	struct burst *b = arg;

	(void)source;
	g_task_propagate_boolean(G_TASK(res), NULL);
	if (++b->done == b->n)
		g_main_loop_quit(main_loop);
}

static gboolean
burst_start(gpointer arg)
{
	struct burst *b = arg;

	for (long i = 0; i < b->n; i++)
		start_task(burst_done, b);
	return G_SOURCE_REMOVE;
}

/* ---- pingpong ------------------------------------------------------------- */

struct pingpong {
	double *rtt;
	long n, done;
	double sent;
};

static void
pong(GObject *source, GAsyncResult *res, gpointer arg)
{
	struct pingpong *pp = arg;

	(void)source;
	g_task_propagate_boolean(G_TASK(res), NULL);
	pp->rtt[pp->done++] = peer_now() - pp->sent;
	if (pp->done == pp->n) {
		g_main_loop_quit(main_loop);
		return;
	}
	pp->sent = peer_now();
	start_task(pong, pp);
}

int
main(int argc, char **argv)
{
	struct burst b = { .n = argc > 1 ? atol(argv[1]) : 200000 };
	struct pingpong pp = { .n = argc > 2 ? atol(argv[2]) : 20000 };
	double t0, t1, p50, p99;

	if (b.n < 1 || pp.n < 1) {
		fprintf(stderr, "usage: %s [N [M]]\n", argv[0]);
		return 2;
	}
	pp.rtt = calloc((size_t)pp.n, sizeof(*pp.rtt));
	if (pp.rtt == NULL)
		return 1;
	main_loop = g_main_loop_new(NULL, FALSE);

	t0 = peer_now();
	g_idle_add(burst_start, &b);
	g_main_loop_run(main_loop);
	t1 = peer_now();

	pp.sent = peer_now();
	start_task(pong, &pp);
	g_main_loop_run(main_loop);
	peer_percentiles(pp.rtt, pp.n, &p50, &p99);

	printf("glib GTask run_in_thread: burst %ld tasks %.3fs = %.0f tasks/s; "
	       "pingpong p50 %.1f us p99 %.1f us\n",
	       b.n, t1 - t0, (double)b.n / (t1 - t0), p50, p99);
	g_main_loop_unref(main_loop);
	free(pp.rtt);
	return 0;
}

/*
 * glib-latency.c — GLib's side of evpool-bench's latency and lowload
 * scenarios (issues 20 and 22): g_task_run_in_thread() back into the main
 * context, defined as bench/evpool-bench.c defines them and printing the
 * same name=value keys (see uv-latency.c for the figures).  The timer is a
 * timerfd watched with g_unix_fd_add() (GLib's timeouts have millisecond
 * resolution), as evpool-bench and uv-latency watch one.
 * usage: glib-latency [-n N] latency|lowload ...
 * build: cc -O2 glib-latency.c $(pkg-config --cflags --libs gio-2.0)
 */
#define _GNU_SOURCE
#include <gio/gio.h>
#include <glib-unix.h>

static double *lat;
static void window_run(long k, long n);
static void ticker_run(long period_us, long n, double *cpu, double *wall);
static void peer_init(void);
#include "latency.h"

static GMainLoop *ml;
static double *t0s;
static long sent, done, target;
static gboolean windowed;

static void peer_init(void)
{
	ml = g_main_loop_new(NULL, FALSE);
}

static void thr(GTask *t, gpointer s, gpointer d, GCancellable *c)
{
	(void)s; (void)d; (void)c;
	g_task_return_boolean(t, TRUE);
}

static void start(long i);

static void on_done(GObject *s, GAsyncResult *r, gpointer u)
{
	long i = GPOINTER_TO_SIZE(u);

	(void)s;
	g_task_propagate_boolean(G_TASK(r), NULL);
	lat[done++] = peer_now() - t0s[i];
	if (done == target)
		g_main_loop_quit(ml);
	else if (windowed && sent < target)
		start(sent);
}

static void start(long i)
{
	GTask *t = g_task_new(NULL, NULL, on_done, GSIZE_TO_POINTER(i));

	t0s[i] = peer_now();
	sent++;
	g_task_run_in_thread(t, thr);
	g_object_unref(t);
}

static gboolean window_start(gpointer k)
{
	for (long i = 0; i < (long)GPOINTER_TO_SIZE(k) && i < target; i++)
		start(i);
	return G_SOURCE_REMOVE;
}

static void window_run(long k, long n)
{
	sent = done = 0;
	target = n;
	windowed = TRUE;
	g_idle_add(window_start, GSIZE_TO_POINTER(k));
	g_main_loop_run(ml);
}

static gboolean on_tick(gint fd, GIOCondition c, gpointer u)
{
	uint64_t ticks;

	(void)c; (void)u;
	if (read(fd, &ticks, sizeof ticks) != (ssize_t)sizeof ticks)
		return G_SOURCE_CONTINUE;
	start(sent);
	return sent < target ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void ticker_run(long period_us, long n, double *cpu, double *wall)
{
	double c0 = cpu_s(), w0 = peer_now();
	int tfd;

	sent = done = 0;
	target = n;
	windowed = FALSE;
	tfd = peer_timerfd(period_us);
	g_unix_fd_add(tfd, G_IO_IN, on_tick, NULL);
	g_main_loop_run(ml);
	*cpu = cpu_s() - c0;
	*wall = peer_now() - w0;
	close(tfd);
}

int main(int argc, char **argv)
{
	return peer_main(argc, argv, "glib-latency", sizeof *t0s,
			 (void **)&t0s);
}

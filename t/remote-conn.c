/*
 * t/remote-conn.c — remote mode's Redis plumbing (lib/remote/conn.c) at the
 * level of its sockets, against a fake Redis (a unix socket this test
 * listens on): what a round trip's latency rests on.
 *
 *  - evpool__rpair_flush(): a command queued in a callback is on the wire
 *    when that loop turn ends, not one EPOLLOUT turn later (hiredis' own
 *    way), in hiredis' reply callbacks too;
 *  - evpool__rloop(): while *poll_until is ahead it polls, so the thread
 *    does not sleep (no voluntary context switch); otherwise it sleeps; it
 *    returns on loopbreak.
 *
 * conn.c is compiled into this program (its functions are internal to the
 * library); evpool__err() and evpool__now_ns() come from here.
 */
#include "tap.h"

#include "remote/remote-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

int
evpool__err(int code, const char *fmt, ...)
{
	(void)fmt;
	return code;
}

uint64_t
evpool__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct evpool__rpair pair;
static int ups, downs;

static void
on_up(void *owner, bool cmd)
{
	(void)owner;
	(void)cmd;
	ups++;
}

static void
on_down(void *owner, bool cmd)
{
	(void)owner;
	(void)cmd;
	downs++;
}

/* What the fake Redis has received by now (without waiting). */
static size_t
drain(int fd, char *buf, size_t n)
{
	ssize_t r = recv(fd, buf, n - 1, MSG_DONTWAIT);

	buf[r > 0 ? r : 0] = 0;
	return r > 0 ? (size_t)r : 0;
}

static void
queue_ping(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	redisAsyncCommand(pair.cmd, NULL, NULL, "PING %s", (const char *)arg);
	evpool__rpair_flush(&pair);
}

static int got_reply;

static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)priv;
	got_reply++;
	if (reply)	/* a command queued in a reply callback */
		redisAsyncCommand(ac, NULL, NULL, "PING second");
	evpool__rpair_flush(&pair);
}

static int ticks;

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (++ticks == 8)
		event_base_loopbreak(arg);
}

static long
vcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/* Run the loop through 8 ticks of a 3 ms timer, polling or not; the
 * voluntary context switches (sleeps) it made. */
static long
run_ticks(struct event_base *base, bool poll)
{
	struct event *ev = event_new(base, -1, EV_PERSIST, on_tick, base);
	struct timeval tv = { 0, 3000 };
	uint64_t until = poll ? evpool__now_ns() + 10000000000ull : 0;
	long before;

	ticks = 0;
	evtimer_add(ev, &tv);
	before = vcsw();
	evpool__rloop(base, &until);
	before = vcsw() - before;
	event_free(ev);
	return ticks == 8 ? before : -1;
}

int
main(void)
{
	char dir[] = "/tmp/evpool-conn-XXXXXX", buf[512];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct evpool__rurl url;
	struct event_base *base;
	struct event *ev;
	int lfd, cfd, bfd;
	long slept, polled;

	plan(9);
	signal(SIGPIPE, SIG_IGN);	/* the write to the closed socket */
	tap_watchdog(60, "t/remote-conn");
	if (!mkdtemp(dir))
		bail("mkdtemp: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/redis.sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4) < 0)
		bail("listen: %s", strerror(errno));
	ok(evpool__rurl_parse(sa.sun_path, &url) == 0 && url.port == 0,
	   "a bare socket path is a unix URL");

	base = event_base_new();
	if (!base || evpool__rpair_init(&pair, &url, base, NULL, on_up,
					on_down) < 0)
		bail("rpair_init");
	evpool__rpair_connect(&pair);
	cfd = accept(lfd, NULL, NULL);	/* cmd, then blk */
	bfd = accept(lfd, NULL, NULL);
	for (int i = 0; i < 100 && (!pair.cmd_up || !pair.blk_up); i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ok(pair.cmd_up && pair.blk_up && ups == 2 && !downs,
	   "both connections are up");
	(void)bfd;

	/* A command queued in an event callback, then one loop turn. */
	ev = event_new(base, -1, 0, queue_ping, "first");
	event_active(ev, EV_TIMEOUT, 0);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	drain(cfd, buf, sizeof(buf));
	ok(strcmp(buf, "*2\r\n$4\r\nPING\r\n$5\r\nfirst\r\n") == 0,
	   "a flushed command is written within the loop turn that queued it (%zu bytes)",
	   strlen(buf));

	/* The same in a reply callback of hiredis. */
	redisAsyncCommand(pair.cmd, on_reply, NULL, "PING cb");
	evpool__rpair_flush(&pair);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	drain(cfd, buf, sizeof(buf));
	ok(strstr(buf, "PING\r\n$2\r\ncb") != NULL,
	   "the command that asks for a reply is on the wire");
	/* the answers to "PING first" and "PING cb", in order */
	if (write(cfd, "+PONG\r\n+PONG\r\n", 14) != 14)
		bail("write");
	for (int i = 0; i < 100 && !got_reply; i++)
		event_base_loop(base, EVLOOP_ONCE);
	drain(cfd, buf, sizeof(buf));
	ok(got_reply == 1 && strstr(buf, "second") != NULL,
	   "a command queued and flushed in a reply callback is written in that turn");

	/* Polling: the thread never sleeps; otherwise it does. */
	slept = run_ticks(base, false);
	polled = run_ticks(base, true);
	ok(slept >= 4, "a loop that does not poll sleeps between ticks (%ld voluntary switches for 8)",
	   slept);
	ok(polled >= 0 && polled <= 1,
	   "a loop that polls does not sleep (%ld voluntary switches for 8 ticks)",
	   polled);

	/* A dropped connection: a flush finds it down and writes nothing. */
	close(cfd);
	redisAsyncCommand(pair.cmd, NULL, NULL, "PING gone");
	evpool__rpair_flush(&pair);
	for (int i = 0; i < 100 && pair.cmd_up; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ok(!pair.cmd_up && downs == 1,
	   "a write to a closed socket drops the connection once");
	evpool__rpair_flush(&pair);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ok(downs == 1, "a flush with the connection down is harmless");

	event_free(ev);
	evpool__rpair_close(&pair);
	event_base_free(base);
	close(bfd);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
	return 0;
}

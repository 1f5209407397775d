/* evhttp-offload.c — an evhttp service whose requests run as libevpool jobs:
 * the program to copy.  POST /work?ms=N[&deadline=MS]: a job "works" N ms
 * (your blocking call) and answers the body back; GET /stats: counters.  The
 * body moves into the job and the job's output into the reply as evbuffers
 * (the loop copies no byte); a deadline counts queue time (504); a full queue
 * is 503; a client that leaves cancels its job; SIGINT stops accepting, lets
 * requests in flight finish, frees the pool, evhttp, libevent, in that order.
 * Run: evhttp-offload [--port N] [--deadline-ms N] [--evpool-mode=process] */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <evpool.h>

struct request {			/* one in flight */
	struct evhttp_request *req;
	struct evpool_job *job;		/* our reference, for the cancel */
	struct event *watch;		/* the client's socket, for EOF */
};

static struct evpool *pool;
static struct event_base *base;
static struct evhttp *http;
static struct evhttp_bound_socket *sock;
static long in_flight, cancelled_by_close; /* for /stats */
static int stopping, deadline_ms = 2000;

/* The job, on a worker (thread or process): never touches evhttp. */
static int work(struct evpool_ctx *ctx)
{
	struct evbuffer *in = evpool_ctx_input_evbuffer(ctx);
	struct timespec ms = { 0, 1000000 }, now, end;
	int n = 0;
	evbuffer_remove(in, &n, sizeof(n)); /* our header: the work time */
	/* N ms of wall time, not N sleeps of 1 ms: on a loaded host each
	 * sleep's wake-up waits for a CPU, and 200 sleeps took 216-249 ms. */
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += n / 1000;
	end.tv_nsec += (n % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (n <= 0 || now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		if (evpool_ctx_cancelled(ctx))
			return -ECANCELED; /* the client left (thread mode) */
		nanosleep(&ms, NULL);
	}
	return evbuffer_add_buffer(evpool_ctx_output(ctx), in); /* the answer */
}

/* The client went away: cancel its job (its completion still comes).
 * evhttp's closecb fires only when evhttp notices; it does not read the
 * socket while a request is served, so we also watch it for EOF. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct request *r = arg;
	(void)evcon;
	if (evpool_job_cancel(r->job) != -EALREADY)
		cancelled_by_close++;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	char c;
	if (recv(fd, &c, 1, MSG_PEEK) == 0 && what) /* EOF, not a next request */
		on_close(NULL, arg);
}

static void on_sent(struct evhttp_request *req, void *arg)
{
	(void)req, (void)arg;
	if (--in_flight == 0 && stopping)
		event_base_loopexit(base, NULL);
}

/* Completion, on the loop thread. */
static void on_done(struct evpool_job *job, void *arg)
{
	struct request *r = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	int st = evpool_job_status(job);

	if (evcon) { /* in_flight drops once the reply is out */
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		evhttp_request_set_on_complete_cb(r->req, on_sent, NULL);
	} else
		on_sent(r->req, NULL); /* the client is gone: nothing to send */
	if (st == 0) /* moved into the reply, not copied */
		evhttp_send_reply(r->req, 200, "OK", evpool_job_result_evbuffer(job));
	else /* also after a disconnect: evhttp then frees the request */
		evhttp_send_error(r->req, st == -ETIMEDOUT ? 504 : 500,
				  evpool_strerror(st));
	event_free(r->watch);
	evpool_job_unref(r->job);
	free(r);
}

static void on_work(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct request *r;
	int ms = 0, dl = deadline_ms, rc;

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST ||
	    !(r = calloc(1, sizeof(*r)))) {
		evhttp_send_error(req, 405, "POST only");
		return;
	}
	r->req = req;
	if (q)
		sscanf(q, "ms=%d&deadline=%d", &ms, &dl);
	evbuffer_prepend(body, &ms, sizeof(ms));
	rc = evpool_submit_job(pool, &(struct evpool_job_spec){
		.fn = work,
		.input_evbuffer = body,		/* moved into the job */
		.deadline_ms = dl,		/* from now: queue time too */
		.done = on_done, .done_arg = r,
	}, &r->job);
	if (rc < 0) /* the callback will not run */
		return free(r), evhttp_send_error(req, rc == -EAGAIN ? 503 : 500,
						  evpool_strerror(rc));
	in_flight++;
	evhttp_connection_set_closecb(evcon, on_close, r);
	r->watch = event_new(base, bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)),
			     EV_READ, on_readable, r);
	event_add(r->watch, NULL);
}

static void on_stats(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evpool_stats st;
	(void)arg;
	evpool_get_stats(pool, &st);
	evbuffer_add_printf(out, "in_flight %ld\ncancelled_by_close %ld\ncancelled %lu\n"
			    "timed_out %lu\nexpired %lu\nrejected %lu\n", in_flight,
			    cancelled_by_close, (unsigned long)st.cancelled,
			    (unsigned long)st.timed_out, (unsigned long)st.expired,
			    (unsigned long)st.rejected);
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* SIGINT: stop accepting; the loop ends when the last request is done. */
static void on_sigint(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	stopping = 1;
	evhttp_del_accept_socket(http, sock);	/* no new connections */
	evpool_close(pool);	/* new submits: -ESHUTDOWN (500) */
	/* the last reply sent ends the loop; 5 s at most */
	event_base_loopexit(base, in_flight ? &(struct timeval){ 5, 0 } : NULL);
}

int main(int argc, char **argv)
{
	struct evpool_config *cfg = evpool_config_new();
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int port = 8080;

	/* Make the pool first: a process pool's workers see the program as
	 * it is now.  --evpool-* options and EVPOOL_* variables set it. */
	if (!cfg || evpool_config_set_max_queued(cfg, 64) < 0 || /* then 503 */
	    evpool_config_from_env(cfg) < 0 ||
	    evpool_config_from_argv(cfg, &argc, argv) != 0)
		return fprintf(stderr, "%s\n", evpool_errmsg()), 2;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--deadline-ms"))
			deadline_ms = atoi(argv[++i]);
	if (!(base = event_base_new()) || evpool_new(&pool, base, cfg) < 0)
		return fprintf(stderr, "pool: %s\n", evpool_errmsg()), 1;
	evpool_config_free(cfg);
	evhttp_set_cb(http = evhttp_new(base), "/work", on_work, NULL);
	evhttp_set_cb(http, "/stats", on_stats, NULL);
	sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
	if (!sock || getsockname(evhttp_bound_socket_get_fd(sock),
				 (struct sockaddr *)&sin, &slen) < 0)
		return fprintf(stderr, "cannot listen on port %d\n", port), 1;
	struct event *sigint = evsignal_new(base, SIGINT, on_sigint, NULL);
	event_add(sigint, NULL);
	printf("listening on http://127.0.0.1:%d/\n", ntohs(sin.sin_port)), fflush(stdout);
	event_base_dispatch(base);
	/* In order: requests done (evhttp_free() would free those in flight
	 * under their jobs), then the pool, then evhttp, then libevent. */
	evpool_free(pool);
	evhttp_free(http);
	event_free(sigint);
	event_base_free(base);
	return 0;
}

/*
 * https-server.c — an HTTPS server on libevent (evhttp + bufferevent_openssl)
 * that hands every blocking call to a libevpool pool and answers when the
 * result comes back on the loop thread.  Run with --help for the options;
 * GET / lists the endpoints.
 *
 * DESIGN
 * One thread runs the event loop: TLS, HTTP parsing, routing, limits and
 * replies.  Whatever blocks (open/read of files, PBKDF2, getaddrinfo, sleep)
 * is a job (https-jobs.c) whose input and result are bytes, so the pool may
 * run in thread or process mode unchanged; --inline runs the same functions
 * on the loop thread to show what the pool saves us from.
 *
 * A request is a struct rq, made when evhttp hands us the request and freed
 * exactly once, by rq_release(), when the last of these has happened:
 *   - the response was fully written (evhttp's on_complete callback), or the
 *     connection died (evhttp's close callback, see on_conn_close());
 *   - the job it waits for has completed (rq->job_pending is 0).
 * evhttp owns the evhttp_request; rq->req is cleared the moment evhttp frees
 * it, and the one case where evhttp leaves it to us (a connection that fails
 * before we replied "detaches" the request) is freed in on_conn_close().
 *
 * A connection is a struct conn, tied to the lifetime of its SSL object
 * through SSL ex_data: made in the bufferevent callback, freed when OpenSSL
 * frees the SSL.  That is the only hook that sees every connection end,
 * including those that never sent a request, so it also counts connections
 * for --max-conns (the listener is paused at the limit, leaving further
 * clients in the kernel's backlog) and carries the head deadline that drops
 * slowloris clients: a connection has --header-timeout seconds from accept,
 * or from the end of its previous response, to deliver a complete request
 * head, however slowly it trickles bytes.
 *
 * Large files are streamed: the job reads one chunk; the loop sends it and
 * submits the job for the next chunk only once the connection's output buffer
 * has drained, so memory per download stays at one chunk and a slow client
 * does not make us read ahead.
 *
 * Shutdown (SIGINT/SIGTERM): stop accepting, let the requests in flight finish
 * (their responses carry "Connection: close"), close idle connections, and
 * when none is left — or after --grace seconds — leave the loop, evpool_free()
 * the pool (which delivers whatever completions are still owed), then free
 * evhttp, the base and the TLS context.  A second signal skips the grace.
 */
#include "config.h"
#include "https-server.h"

#include <evpool.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HTTPS_WWW_ROOT
#define HTTPS_WWW_ROOT "examples/www"
#endif
#define SERVER_NAME "evpool-https-server/" EVPOOL_VERSION_STRING

struct opts {
	const char *bind, *root, *cert, *key;
	int port;
	enum evpool_mode mode;
	unsigned workers;
	int inline_work;
	unsigned processes;
	size_t max_queued;
	unsigned max_conns;
	size_t max_body, max_header;
	unsigned timeout_s, header_timeout_s, grace_s;
	unsigned job_timeout_ms;
	int quiet;
};

struct rq;

struct conn {
	TAILQ_ENTRY(conn) link;
	struct server *srv;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* known from its first request */
	struct event *deadline;		 /* head deadline (slowloris) */
	struct rq *active;		 /* the request being handled */
	int closing;			 /* evhttp is freeing it */
};

struct server {
	const struct opts *o;
	char root[PATH_MAX];
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	SSL_CTX *ssl;
	struct evpool *pool; /* NULL with --inline */
	struct event *sig_int, *sig_term, *grace;
	TAILQ_HEAD(, conn) conns;
	unsigned nconns, nactive;
	uint64_t nrequests, nbusy, naborted;
	int paused, draining, finished, pool_closed;
	struct timespec started;
};

typedef void (*finish_fn)(struct rq *rq, int err, const unsigned char *data,
			  size_t len);

struct rq {
	struct server *srv;
	struct conn *conn;
	struct evhttp_request *req; /* NULL once evhttp has freed it */
	struct timespec t0;
	char peer[64], method[8], uri[128];
	int status, aborted, logged, head;
	uint64_t bytes;
	int job_pending;
	finish_fn finish;
	/* file streaming */
	char *path;
	const char *ctype;
	uint64_t size, offset, dev, ino;
	int streaming;
	struct event *timer; /* stream retry / abort, off the http callbacks */
	/* hash */
	uint32_t iterations;
	unsigned char salt[HASH_MAX_SALT];
	size_t salt_len;
	/* resolve */
	char host[HOST_MAX_LEN + 1];
};

static int conn_idx = -1; /* SSL ex_data index of struct conn */

/* ------------------------------------------------------------------------ */
/* Small helpers */

static double
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Strict decimal in [lo, hi]. */
static int
parse_num(const char *s, unsigned long long lo, unsigned long long hi,
	  unsigned long long *out)
{
	unsigned long long v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static void
json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static const char *
reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

static const char *
content_type(const char *path)
{
	static const struct { const char *ext, *type; } types[] = {
		{ "html", "text/html; charset=utf-8" },
		{ "htm", "text/html; charset=utf-8" },
		{ "css", "text/css; charset=utf-8" },
		{ "js", "text/javascript; charset=utf-8" },
		{ "json", "application/json" },
		{ "txt", "text/plain; charset=utf-8" },
		{ "md", "text/markdown; charset=utf-8" },
		{ "xml", "application/xml" },
		{ "svg", "image/svg+xml" },
		{ "png", "image/png" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "gif", "image/gif" },
		{ "webp", "image/webp" },
		{ "ico", "image/x-icon" },
		{ "wasm", "application/wasm" },
		{ "pdf", "application/pdf" },
	};
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	size_t i;

	if (dot)
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

/* ------------------------------------------------------------------------ */
/* Requests: lifetime, logging, replies */

static void check_drain_done(struct server *srv);
static void arm_deadline(struct conn *c, int fuse);

static void
rq_log(struct rq *rq)
{
	if (rq->logged)
		return;
	rq->logged = 1;
	if (rq->srv->o->quiet)
		return;
	if (rq->aborted)
		fprintf(stderr, "%s \"%s %s\" %d %llu %.1fms aborted\n",
			rq->peer, rq->method, rq->uri, rq->status,
			(unsigned long long)rq->bytes, ms_since(&rq->t0));
	else
		fprintf(stderr, "%s \"%s %s\" %d %llu %.1fms\n", rq->peer,
			rq->method, rq->uri, rq->status,
			(unsigned long long)rq->bytes, ms_since(&rq->t0));
}

static void
rq_release(struct rq *rq)
{
	struct server *srv = rq->srv;

	if (rq->aborted)
		srv->naborted++;
	rq_log(rq);
	if (rq->conn && rq->conn->active == rq)
		rq->conn->active = NULL;
	if (rq->timer)
		event_free(rq->timer);
	free(rq->path);
	free(rq);
	srv->nactive--;
	check_drain_done(srv);
}

/* evhttp has written the whole response and is about to free the request. */
static void
on_req_complete(struct evhttp_request *req, void *arg)
{
	struct rq *rq = arg;
	struct conn *c = rq->conn;

	(void)req;
	rq->req = NULL;
	if (c) {
		c->active = NULL;
		rq->conn = NULL;
		arm_deadline(c, rq->srv->draining);
	}
	rq_release(rq);
}

static void
common_headers(struct rq *rq)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);

	evhttp_add_header(h, "Server", SERVER_NAME);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (rq->srv->draining)
		evhttp_add_header(h, "Connection", "close");
}

/* Send a complete response (a HEAD request gets the headers only). */
static void
reply(struct rq *rq, int code, const char *ctype, const void *data,
      size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);
	struct evbuffer *b = NULL;

	common_headers(rq);
	if (ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	if (rq->head) {
		char n[32];

		snprintf(n, sizeof(n), "%zu", len);
		evhttp_add_header(h, "Content-Length", n);
	} else if (len) {
		b = evbuffer_new();
		if (!b || evbuffer_add(b, data, len) < 0) {
			/* No memory for the body: say so without one. */
			if (b)
				evbuffer_free(b);
			b = NULL;
			code = 503;
			len = 0;
		}
	}
	rq->status = code;
	rq->bytes = rq->head ? 0 : len;
	evhttp_send_reply(rq->req, code, reason(code), b);
	if (b)
		evbuffer_free(b);
}

static void
reply_buf(struct rq *rq, int code, const char *ctype, struct evbuffer *b)
{
	size_t len = evbuffer_get_length(b);
	const unsigned char *p = evbuffer_pullup(b, -1);

	reply(rq, code, ctype, p, p ? len : 0);
}

static void
reply_error(struct rq *rq, int code, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		reply(rq, code, NULL, NULL, 0);
		return;
	}
	evbuffer_add_printf(b, "{\"status\":%d,\"error\":", code);
	json_str(b, msg);
	evbuffer_add(b, "}\n", 2);
	reply_buf(rq, code, "application/json", b);
	evbuffer_free(b);
}

/* The pool's queue is full (or the pool is closing): back off. */
static void
reply_busy(struct rq *rq, int r)
{
	evhttp_add_header(evhttp_request_get_output_headers(rq->req),
			  "Retry-After", "1");
	rq->srv->nbusy++;
	reply_error(rq, 503, r == -EAGAIN ? "server busy: job queue full"
					  : "server shutting down");
}

/* ------------------------------------------------------------------------ */
/* Jobs: submit, complete */

static void
deliver(struct rq *rq, int status, const unsigned char *res, size_t len)
{
	struct job_res hdr;

	if (status != 0 || len < sizeof(hdr)) {
		if (status == 0)
			status = -EPROTO;
		if (rq->streaming) {
			rq->finish(rq, -EPIPE, NULL, 0);
			return;
		}
		if (status == -ECANCELED)
			reply_error(rq, 503, "job cancelled: server shutting down");
		else if (status == -ETIMEDOUT)
			reply_error(rq, 504, "job timed out");
		else
			reply_error(rq, 500, evpool_strerror(status));
		return;
	}
	memcpy(&hdr, res, sizeof(hdr));
	rq->finish(rq, hdr.err, res + sizeof(hdr), len - sizeof(hdr));
}

/* Completion callback: runs on the loop thread. */
static void
on_job_done(struct evpool_job *job, void *arg)
{
	struct rq *rq = arg;
	size_t len = 0;
	const unsigned char *res;

	rq->job_pending = 0;
	if (!rq->req) { /* the client went away meanwhile */
		rq_release(rq);
		return;
	}
	res = evpool_job_result_bytes(job, &len);
	deliver(rq, evpool_job_status(job), res, res ? len : 0);
}

/*
 * Run @work on @in (@len bytes, copied) in the pool — or inline — and call
 * @finish with its outcome on the loop.  Returns 0, or the submit error
 * (-EAGAIN: queue full), in which case nothing will be called.
 */
static int
rq_submit(struct rq *rq, evpool_fn fn, work_fn work, const void *in,
	  size_t len, finish_fn finish)
{
	struct evpool_job_spec spec;
	int r;

	rq->finish = finish;
	if (!rq->srv->pool) {
		struct outbuf ob;

		work_run_inline(work, in, len, &ob);
		deliver(rq, ob.p ? 0 : -ENOMEM, ob.p, ob.len);
		outbuf_free(&ob);
		return 0;
	}
	memset(&spec, 0, sizeof(spec));
	spec.fn = fn;
	spec.input = in;
	spec.input_len = len;
	spec.done = on_job_done;
	spec.done_arg = rq;
	r = evpool_submit_job(rq->srv->pool, &spec, NULL);
	if (r == 0)
		rq->job_pending = 1;
	return r;
}

static void
submit_or_fail(struct rq *rq, evpool_fn fn, work_fn work, const void *in,
	       size_t len, finish_fn finish)
{
	int r = rq_submit(rq, fn, work, in, len, finish);

	if (r == -EAGAIN || r == -ESHUTDOWN)
		reply_busy(rq, r);
	else if (r < 0)
		reply_error(rq, 500, evpool_strerror(r));
}

/* ------------------------------------------------------------------------ */
/* GET /files/<path> and GET / */

static void file_finish(struct rq *rq, int err, const unsigned char *data,
			size_t len);

/* Input of a file job: struct file_in, the root, the relative path. */
static int
file_submit(struct rq *rq, uint32_t chunk)
{
	struct server *srv = rq->srv;
	size_t rl = strlen(srv->root), pl = strlen(rq->path);
	unsigned char buf[sizeof(struct file_in) + 2 * PATH_MAX];
	struct file_in fi;

	memset(&fi, 0, sizeof(fi));
	fi.offset = rq->offset;
	fi.dev = rq->dev;
	fi.ino = rq->ino;
	fi.chunk = chunk;
	fi.root_len = (uint16_t)rl;
	fi.path_len = (uint16_t)pl;
	memcpy(buf, &fi, sizeof(fi));
	memcpy(buf + sizeof(fi), srv->root, rl);
	memcpy(buf + sizeof(fi) + rl, rq->path, pl);
	return rq_submit(rq, job_file, work_file, buf, sizeof(fi) + rl + pl,
			 file_finish);
}

/* Cut a stream short: the status line is sent, so all we can do is close
 * the connection (which frees the request, see on_conn_close()). */
static void
on_rq_timer(evutil_socket_t fd, short what, void *arg);

static void
stream_later(struct rq *rq, int abort, int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	if (abort)
		rq->aborted = 1;
	if (!rq->timer)
		rq->timer = evtimer_new(rq->srv->base, on_rq_timer, rq);
	if (rq->timer)
		evtimer_add(rq->timer, &tv);
	else if (rq->conn && rq->conn->evcon) /* no memory: cut at once */
		evhttp_connection_free(rq->conn->evcon);
}

static void
stream_next(struct rq *rq)
{
	uint64_t left = rq->size - rq->offset;
	int r = file_submit(rq, left < FILE_CHUNK ? (uint32_t)left : FILE_CHUNK);

	if (r == -EAGAIN)
		stream_later(rq, 0, 10); /* queue full: try again soon */
	else if (r < 0)
		stream_later(rq, 1, 0);
}

static void
on_rq_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rq *rq = arg;

	(void)fd;
	(void)what;
	if (!rq->req)
		return;
	if (rq->aborted) {
		if (!rq->srv->o->quiet)
			fprintf(stderr, "%s: %s: stream cut short\n", rq->peer,
				rq->uri);
		if (rq->conn && rq->conn->evcon)
			evhttp_connection_free(rq->conn->evcon);
		return;
	}
	stream_next(rq);
}

/* The previous chunk has left the output buffer: read the next one. */
static void
on_stream_drained(struct evhttp_connection *evcon, void *arg)
{
	struct rq *rq = arg;

	(void)evcon;
	if (rq->job_pending || !rq->req || rq->offset >= rq->size)
		return;
	if (rq->srv->pool)
		stream_next(rq);
	else
		stream_later(rq, 0, 0); /* inline: not inside evhttp's callback */
}

static void
stream_send(struct rq *rq, const unsigned char *data, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	if (!b || evbuffer_add(b, data, n) < 0) {
		if (b)
			evbuffer_free(b);
		stream_later(rq, 1, 0);
		return;
	}
	rq->offset += n;
	rq->bytes += n;
	if (rq->offset >= rq->size) {
		evhttp_send_reply_chunk(rq->req, b);
		evhttp_send_reply_end(rq->req); /* on_req_complete follows */
	} else {
		evhttp_send_reply_chunk_with_cb(rq->req, b, on_stream_drained,
						rq);
	}
	evbuffer_free(b);
}

static void
file_finish(struct rq *rq, int err, const unsigned char *data, size_t len)
{
	struct evkeyvalq *h;
	struct file_out fo;
	char num[32], date[64];
	struct tm tm;
	time_t mt;

	memset(&fo, 0, sizeof(fo));
	if (err == 0 && len >= sizeof(fo)) {
		memcpy(&fo, data, sizeof(fo));
		if (len - sizeof(fo) < fo.nread)
			err = -EPROTO;
	} else if (err == 0) {
		err = -EPROTO;
	}
	if (rq->streaming) {
		/* A later chunk: an error, a replaced file or a short read
		 * (the file shrank) can only end the connection. */
		if (err || fo.nread == 0 || fo.size != rq->size)
			stream_later(rq, 1, 0);
		else
			stream_send(rq, data + sizeof(fo), fo.nread);
		return;
	}
	switch (err) {
	case 0:
		break;
	case -ENOENT:
	case -ENOTDIR:
	case -ENAMETOOLONG:
		reply_error(rq, 404, "not found");
		return;
	case -EXDEV:
	case -EACCES:
	case -EPERM:
	case -ELOOP:
		reply_error(rq, 403, "forbidden");
		return;
	default:
		reply_error(rq, 500, strerror(-err));
		return;
	}
	h = evhttp_request_get_output_headers(rq->req);
	if (fo.is_index)
		rq->ctype = "text/html; charset=utf-8";
	mt = (time_t)fo.mtime;
	if (gmtime_r(&mt, &tm) &&
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		evhttp_add_header(h, "Last-Modified", date);
	rq->size = fo.size;
	if (rq->head || fo.nread >= fo.size) {
		if (rq->head) {
			/* reply() would say 0: give the file's size. */
			common_headers(rq);
			evhttp_add_header(h, "Content-Type", rq->ctype);
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)fo.size);
			evhttp_add_header(h, "Content-Length", num);
			rq->status = 200;
			evhttp_send_reply(rq->req, 200, "OK", NULL);
			return;
		}
		reply(rq, 200, rq->ctype, data + sizeof(fo), fo.nread);
		return;
	}
	/* Bigger than a chunk: stream it, one chunk in flight at a time. */
	rq->dev = fo.dev;
	rq->ino = fo.ino;
	rq->streaming = 1;
	rq->status = 200;
	common_headers(rq);
	evhttp_add_header(h, "Content-Type", rq->ctype);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)fo.size);
	evhttp_add_header(h, "Content-Length", num);
	evhttp_send_reply_start(rq->req, 200, "OK");
	stream_send(rq, data + sizeof(fo), fo.nread);
}

/* @raw is the percent-encoded path below the root. */
static void
handle_file(struct rq *rq, const char *raw)
{
	size_t n = 0;
	char *p = evhttp_uridecode(raw, 0, &n);
	const char *seg;
	int r;

	if (!p) {
		reply_error(rq, 500, "out of memory");
		return;
	}
	rq->path = p;
	if (memchr(p, '\0', n) || n != strlen(p)) {
		reply_error(rq, 400, "NUL in path");
		return;
	}
	if (n > 1024) {
		reply_error(rq, 414, "path too long");
		return;
	}
	if (p[0] == '/') {
		reply_error(rq, 403, "absolute path");
		return;
	}
	for (seg = p; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
		if (seg[0] == '.' && seg[1] == '.' &&
		    (seg[2] == '/' || seg[2] == '\0')) {
			reply_error(rq, 403, "'..' in path");
			return;
		}
	}
	rq->ctype = content_type(p);
	r = file_submit(rq, rq->head ? 0 : FILE_CHUNK);
	if (r == -EAGAIN || r == -ESHUTDOWN)
		reply_busy(rq, r);
	else if (r < 0)
		reply_error(rq, 500, evpool_strerror(r));
}

/* ------------------------------------------------------------------------ */
/* POST /hash, GET /resolve, GET /sleep, GET /stats */

static void
hex(struct evbuffer *b, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		evbuffer_add_printf(b, "%02x", p[i]);
}

static void
hash_finish(struct rq *rq, int err, const unsigned char *data, size_t len)
{
	struct evbuffer *b;

	if (err || len != HASH_DK_LEN) {
		reply_error(rq, err == -EINVAL ? 400 : 500, "hash failed");
		return;
	}
	b = evbuffer_new();
	if (!b) {
		reply_error(rq, 503, "out of memory");
		return;
	}
	evbuffer_add_printf(b, "{\"algorithm\":\"PBKDF2-HMAC-SHA256\","
			    "\"iterations\":%u,\"salt_hex\":\"",
			    (unsigned)rq->iterations);
	hex(b, rq->salt, rq->salt_len);
	evbuffer_add_printf(b, "\",\"dk_hex\":\"");
	hex(b, data, len);
	evbuffer_add_printf(b, "\"}\n");
	reply_buf(rq, 200, "application/json", b);
	evbuffer_free(b);
}

static void
handle_hash(struct rq *rq, struct evkeyvalq *q)
{
	struct evbuffer *body = evhttp_request_get_input_buffer(rq->req);
	size_t blen = evbuffer_get_length(body);
	const char *it = evhttp_find_header(q, "iterations");
	const char *salt = evhttp_find_header(q, "salt");
	unsigned long long v = HASH_DEFAULT_ITER;
	struct hash_in hi;
	unsigned char *in;

	if (it && parse_num(it, HASH_MIN_ITER, HASH_MAX_ITER, &v) < 0) {
		reply_error(rq, 400, "iterations must be 1..1000000");
		return;
	}
	rq->iterations = (uint32_t)v;
	if (salt) {
		rq->salt_len = strlen(salt);
		if (rq->salt_len == 0 || rq->salt_len > HASH_MAX_SALT) {
			reply_error(rq, 400, "salt must be 1..256 bytes");
			return;
		}
		memcpy(rq->salt, salt, rq->salt_len);
	} else {
		rq->salt_len = 16;
		if (RAND_bytes(rq->salt, 16) != 1) {
			reply_error(rq, 500, "RAND_bytes failed");
			return;
		}
	}
	in = malloc(sizeof(hi) + rq->salt_len + blen);
	if (!in) {
		reply_error(rq, 503, "out of memory");
		return;
	}
	hi.iterations = rq->iterations;
	hi.salt_len = (uint32_t)rq->salt_len;
	memcpy(in, &hi, sizeof(hi));
	memcpy(in + sizeof(hi), rq->salt, rq->salt_len);
	evbuffer_copyout(body, in + sizeof(hi) + rq->salt_len, blen);
	submit_or_fail(rq, job_hash, work_hash, in,
		       sizeof(hi) + rq->salt_len + blen, hash_finish);
	free(in); /* the pool copied it */
}

/* A job whose result is JSON text, or an error message. */
static void
text_finish(struct rq *rq, int err, const unsigned char *data, size_t len,
	    int code)
{
	char msg[256];

	if (err == 0) {
		reply(rq, 200, "application/json", data, len);
		return;
	}
	snprintf(msg, sizeof(msg), "%.*s", (int)(len < 200 ? len : 200),
		 (const char *)data);
	if (!msg[0])
		snprintf(msg, sizeof(msg), "%s", strerror(-err));
	reply_error(rq, err == -EINVAL ? 400 : code, msg);
}

static void
resolve_finish(struct rq *rq, int err, const unsigned char *d, size_t n)
{
	/* NXDOMAIN is the answer to the question; the rest is upstream. */
	text_finish(rq, err, d, n, err == -ENOENT ? 404 : 502);
}

static void
sleep_finish(struct rq *rq, int err, const unsigned char *d, size_t n)
{
	/* The job saw its cancelled flag (shutdown past the grace). */
	if (err == -ECANCELED)
		reply_error(rq, 503, "job cancelled: server shutting down");
	else
		text_finish(rq, err, d, n, 500);
}

static void
handle_resolve(struct rq *rq, struct evkeyvalq *q)
{
	const char *host = evhttp_find_header(q, "host");
	size_t i, n = host ? strlen(host) : 0;

	if (n == 0 || n > HOST_MAX_LEN) {
		reply_error(rq, 400, "host must be 1..253 characters");
		return;
	}
	for (i = 0; i < n; i++) {
		char c = host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == ':' || c == '_')) {
			reply_error(rq, 400, "bad character in host");
			return;
		}
	}
	memcpy(rq->host, host, n + 1);
	submit_or_fail(rq, job_resolve, work_resolve, rq->host, n,
		       resolve_finish);
}

static void
handle_sleep(struct rq *rq, struct evkeyvalq *q)
{
	unsigned long long v;
	struct sleep_in si;

	if (parse_num(evhttp_find_header(q, "ms"), 0, SLEEP_MAX_MS, &v) < 0) {
		reply_error(rq, 400, "ms must be 0..10000");
		return;
	}
	si.ms = (uint32_t)v;
	submit_or_fail(rq, job_sleep, work_sleep, &si, sizeof(si),
		       sleep_finish);
}

static void
handle_stats(struct rq *rq)
{
	struct server *srv = rq->srv;
	struct evbuffer *b = evbuffer_new();
	struct evpool_stats st;

	if (!b) {
		reply_error(rq, 503, "out of memory");
		return;
	}
	evbuffer_add_printf(b,
		"{\"pid\":%ld,\"mode\":\"%s\",\"uptime_ms\":%.0f,"
		"\"connections\":%u,\"requests\":{\"total\":%llu,"
		"\"active\":%u,\"busy_rejected\":%llu,\"aborted\":%llu},"
		"\"pool\":",
		(long)getpid(),
		!srv->pool ? "inline"
		: srv->o->mode == EVPOOL_MODE_PROCESS ? "process" : "thread",
		ms_since(&srv->started), srv->nconns,
		(unsigned long long)srv->nrequests, srv->nactive,
		(unsigned long long)srv->nbusy,
		(unsigned long long)srv->naborted);
	if (srv->pool && evpool_get_stats(srv->pool, &st) == 0)
		evbuffer_add_printf(b,
			"{\"submitted\":%llu,\"completed\":%llu,"
			"\"failed\":%llu,\"cancelled\":%llu,\"timed_out\":%llu,"
			"\"crashed\":%llu,\"respawns\":%llu,\"queued\":%llu,"
			"\"running\":%llu,\"peak_queued\":%llu,\"workers\":%u,"
			"\"idle_workers\":%u,\"busy_workers\":%u,"
			"\"max_workers\":%u}",
			(unsigned long long)st.submitted,
			(unsigned long long)st.completed,
			(unsigned long long)st.failed,
			(unsigned long long)st.cancelled,
			(unsigned long long)st.timed_out,
			(unsigned long long)st.crashed,
			(unsigned long long)st.respawns,
			(unsigned long long)st.queued,
			(unsigned long long)st.running,
			(unsigned long long)st.peak_queued, st.workers,
			st.idle_workers, st.busy_workers, st.max_workers);
	else
		evbuffer_add_printf(b, "null");
	evbuffer_add_printf(b, "}\n");
	reply_buf(rq, 200, "application/json", b);
	evbuffer_free(b);
}

/* ------------------------------------------------------------------------ */
/* Routing */

static struct conn *
conn_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon)
					: NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

	return ssl ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg);

static struct rq *
rq_new(struct server *srv, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct rq *rq = calloc(1, sizeof(*rq));
	const char *u = evhttp_request_get_uri(req);
	char *addr = NULL;
	ev_uint16_t port = 0;
	size_t i;

	if (!rq)
		return NULL;
	rq->srv = srv;
	rq->req = req;
	clock_gettime(CLOCK_MONOTONIC, &rq->t0);
	snprintf(rq->method, sizeof(rq->method), "%s",
		 method_name(evhttp_request_get_command(req)));
	/* The URI as logged: printable ASCII only, cut at 127 bytes. */
	for (i = 0; u && u[i] && i < sizeof(rq->uri) - 1; i++)
		rq->uri[i] = (u[i] > 0x20 && u[i] < 0x7f && u[i] != '"')
				     ? u[i] : '?';
	if (evcon)
		evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(rq->peer, sizeof(rq->peer), "%s:%u", addr ? addr : "?",
		 (unsigned)port);
	rq->conn = conn_of(req);
	if (rq->conn) {
		struct conn *c = rq->conn;

		if (!c->evcon) {
			c->evcon = evcon;
			evhttp_connection_set_closecb(evcon, on_conn_close, c);
		}
		c->active = rq;
		event_del(c->deadline);
	}
	evhttp_request_set_on_complete_cb(req, on_req_complete, rq);
	srv->nactive++;
	srv->nrequests++;
	return rq;
}

static size_t
head_size(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	size_t n = 0;

	TAILQ_FOREACH(kv, h, next)
		n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq q;
	struct rq *rq;
	int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	rq = rq_new(srv, req);
	if (!rq) {
		evhttp_send_error(req, 503, "Out of memory");
		return;
	}
	rq->head = cmd == EVHTTP_REQ_HEAD;
	TAILQ_INIT(&q);
	if (strlen(evhttp_request_get_uri(req)) > srv->o->max_header) {
		reply_error(rq, 414, "URI too long");
	} else if (head_size(req) > srv->o->max_header) {
		reply_error(rq, 431, "request header fields too large");
	} else if (!path || path[0] != '/') {
		reply_error(rq, 400, "bad request target");
	} else if (query && evhttp_parse_query_str(query, &q) < 0) {
		reply_error(rq, 400, "bad query string");
	} else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		if (!get)
			goto not_allowed;
		handle_file(rq, "index.html");
	} else if (strncmp(path, "/files/", 7) == 0) {
		if (!get)
			goto not_allowed;
		handle_file(rq, path + 7);
	} else if (strcmp(path, "/hash") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			goto not_allowed;
		handle_hash(rq, &q);
	} else if (strcmp(path, "/resolve") == 0) {
		if (!get)
			goto not_allowed;
		handle_resolve(rq, &q);
	} else if (strcmp(path, "/sleep") == 0) {
		if (!get)
			goto not_allowed;
		handle_sleep(rq, &q);
	} else if (strcmp(path, "/stats") == 0) {
		if (!get)
			goto not_allowed;
		handle_stats(rq);
	} else {
		reply_error(rq, 404, "no such endpoint");
	}
	evhttp_clear_headers(&q);
	return;
not_allowed:
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			  strcmp(path, "/hash") == 0 ? "POST" : "GET, HEAD");
	reply_error(rq, 405, "method not allowed");
	evhttp_clear_headers(&q);
}

/* ------------------------------------------------------------------------ */
/* Connections */

/* Arm the head deadline: --header-timeout, or a short fuse when draining. */
static void
arm_deadline(struct conn *c, int fuse)
{
	struct timeval tv = { (time_t)c->srv->o->header_timeout_s, 0 };

	if (fuse) {
		tv.tv_sec = 0;
		tv.tv_usec = 250 * 1000;
	}
	if (c->deadline && !c->closing)
		evtimer_add(c->deadline, &tv);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->active || c->closing || !c->bev)
		return;
	fd = bufferevent_getfd(c->bev);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR); /* evhttp sees EOF and frees it */
}

/* evhttp is freeing the connection (client gone, error, timeout, exit). */
static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	struct rq *rq = c->active;

	(void)evcon;
	c->closing = 1;
	c->evcon = NULL;
	event_del(c->deadline);
	if (!rq)
		return;
	c->active = NULL;
	rq->conn = NULL;
	rq->aborted = 1;
	if (rq->req && !evhttp_request_get_connection(rq->req))
		evhttp_request_free(rq->req); /* detached: ours to free */
	rq->req = NULL;
	if (!rq->job_pending)
		rq_release(rq);
}

static void
update_listener(struct server *srv)
{
	struct evconnlistener *lev;

	if (!srv->bound || srv->finished)
		return;
	lev = evhttp_bound_socket_get_listener(srv->bound);
	if (!srv->paused && srv->nconns >= srv->o->max_conns) {
		evconnlistener_disable(lev);
		srv->paused = 1;
	} else if (srv->paused && srv->nconns < srv->o->max_conns) {
		evconnlistener_enable(lev);
		srv->paused = 0;
	}
}

/* OpenSSL frees the SSL of a connection: the connection is gone. */
static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	  void *argp)
{
	struct conn *c = ptr;
	struct server *srv;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (!c)
		return;
	srv = c->srv;
	if (c->active)
		c->active->conn = NULL;
	if (c->deadline)
		event_free(c->deadline);
	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	free(c);
	update_listener(srv);
	check_drain_done(srv);
}

/* evhttp asks for the bufferevent of a new connection. */
static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	struct bufferevent *bev;
	struct conn *c;
	SSL *ssl;

	c = calloc(1, sizeof(*c));
	ssl = SSL_new(srv->ssl);
	if (!c || !ssl)
		goto oom;
	c->srv = srv;
	c->deadline = evtimer_new(base, on_deadline, c);
	if (!c->deadline || !SSL_set_ex_data(ssl, conn_idx, c))
		goto oom;
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl); /* frees c through conn_free() */
		fprintf(stderr, "https-server: out of memory for a connection\n");
		return NULL;
	}
	c->bev = bev;
	arm_deadline(c, srv->draining);
	update_listener(srv);
	return bev;
oom:
	/* evhttp then makes a plain bufferevent; the TLS client's hello
	 * fails to parse as HTTP and the connection is closed. */
	fprintf(stderr, "https-server: out of memory for a connection\n");
	if (c && c->deadline)
		event_free(c->deadline);
	free(c);
	SSL_free(ssl);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Shutdown */

static void
check_drain_done(struct server *srv)
{
	if (srv->draining && !srv->finished && srv->nconns == 0 &&
	    srv->nactive == 0) {
		srv->finished = 1;
		event_base_loopexit(srv->base, NULL);
	}
}

static void
on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval flush = { 0, 500 * 1000 };

	(void)fd;
	(void)what;
	if (srv->pool && !srv->pool_closed) {
		/* Cancel what is queued and flag what runs (sleep jobs watch
		 * the flag), without waiting: the jobs complete on the loop
		 * and their clients get a 503 instead of a cut connection.
		 * Then half a second to flush those replies. */
		fprintf(stderr, "https-server: grace period over: cancelling "
			"the jobs of %u requests\n", srv->nactive);
		srv->pool_closed = 1;
		evpool_shutdown(srv->pool, 0);
		evtimer_add(srv->grace, &flush);
		return;
	}
	fprintf(stderr, "https-server: grace period over: %u requests and %u "
		"connections cut\n", srv->nactive, srv->nconns);
	srv->finished = 1;
	event_base_loopexit(srv->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval tv = { (time_t)srv->o->grace_s, 0 };
	struct conn *c;

	(void)what;
	if (srv->draining) {
		fprintf(stderr, "https-server: second signal: exiting now\n");
		srv->finished = 1;
		event_base_loopexit(srv->base, NULL);
		return;
	}
	fprintf(stderr, "https-server: %s: stopped accepting; finishing %u "
		"requests on %u connections\n", strsignal((int)sig),
		srv->nactive, srv->nconns);
	srv->draining = 1;
	if (srv->bound) {
		evhttp_del_accept_socket(srv->http, srv->bound);
		srv->bound = NULL;
	}
	evtimer_add(srv->grace, &tv);
	TAILQ_FOREACH(c, &srv->conns, link)
		if (!c->active)
			arm_deadline(c, 1);
	check_drain_done(srv);
}

/* ------------------------------------------------------------------------ */
/* Start-up */

/* A TCP socket bound to @bind_addr:@port; *@port gets the real port. */
static int
make_socket(const char *bind_addr, int *port, int reuseport, int backlog)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[16];
	int fd, one = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%d", *port);
	r = getaddrinfo(bind_addr, ps, &hints, &ai);
	if (r != 0) {
		fprintf(stderr, "https-server: %s: %s\n", bind_addr,
			gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* bufferevent_openssl writes a response as several TLS records;
	 * with Nagle each small one after the first waits for the client's
	 * delayed ACK (40 ms).  Accepted sockets inherit this on Linux. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    (backlog > 0 && listen(fd, backlog) < 0) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	*port = ntohs(ss.ss_family == AF_INET6
			      ? ((struct sockaddr_in6 *)&ss)->sin6_port
			      : ((struct sockaddr_in *)&ss)->sin_port);
	freeaddrinfo(ai);
	return fd;
fail:
	fprintf(stderr, "https-server: %s port %s: %s\n", bind_addr, ps,
		strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

static void
print_listening(const struct opts *o, int port, const char *fp)
{
	int v6 = strchr(o->bind, ':') != NULL;

	fprintf(stderr, "listening on https://%s%s%s:%d (sha256 fingerprint %s)\n",
		v6 ? "[" : "", o->bind, v6 ? "]" : "", port, fp);
}

static int
make_pool(struct server *srv)
{
	const struct opts *o = srv->o;
	struct evpool_config *cfg = evpool_config_new();
	int r;

	if (!cfg) {
		fprintf(stderr, "https-server: evpool_config_new: out of memory\n");
		return -1;
	}
	if ((r = evpool_config_set_mode(cfg, o->mode)) < 0 ||
	    (r = evpool_config_set_workers(cfg, o->workers, o->workers)) < 0 ||
	    (r = evpool_config_set_max_queued(cfg, o->max_queued)) < 0 ||
	    (r = evpool_config_set_name(cfg, "https")) < 0 ||
	    (r = evpool_config_set_job_timeout(cfg, o->job_timeout_ms)) < 0) {
		fprintf(stderr, "https-server: pool configuration: %s (%s)\n",
			evpool_strerror(r), evpool_errmsg());
		evpool_config_free(cfg);
		return -1;
	}
	r = evpool_new(&srv->pool, srv->base, cfg);
	evpool_config_free(cfg);
	if (r < 0) {
		fprintf(stderr, "https-server: evpool_new (%s mode) failed: "
			"%s (%s)\n",
			o->mode == EVPOOL_MODE_PROCESS ? "process" : "thread",
			evpool_strerror(r), evpool_errmsg());
		srv->pool = NULL;
		return -1;
	}
	return 0;
}

/*
 * Run one server process until it is told to stop.  @ready_fd (-1 if none)
 * gets a byte once we listen; @fp is printed when we are the only process.
 */
static int
run_server(const struct opts *o, SSL_CTX *ssl, const char *fp, int ready_fd)
{
	struct server *srv;
	struct timeval tv = { (time_t)o->timeout_s, 0 };
	int fd = -1, port = o->port, rc = 1;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return 1;
	srv->o = o;
	srv->ssl = ssl;
	TAILQ_INIT(&srv->conns);
	clock_gettime(CLOCK_MONOTONIC, &srv->started);
	if (!realpath(o->root, srv->root) || strlen(srv->root) > 4000) {
		fprintf(stderr, "https-server: --root %s: %s\n", o->root,
			strerror(errno ? errno : ENAMETOOLONG));
		goto out;
	}
	srv->base = event_base_new();
	if (!srv->base)
		goto out;
	/* The pool first: a process pool's workers must not inherit the
	 * listening socket (they would keep the port open after we close). */
	if (!o->inline_work && make_pool(srv) < 0)
		goto out;
	fd = make_socket(o->bind, &port, o->processes > 1, 511);
	if (fd < 0)
		goto out;
	srv->http = evhttp_new(srv->base);
	srv->sig_int = evsignal_new(srv->base, SIGINT, on_signal, srv);
	srv->sig_term = evsignal_new(srv->base, SIGTERM, on_signal, srv);
	srv->grace = evtimer_new(srv->base, on_grace, srv);
	if (!srv->http || !srv->sig_int || !srv->sig_term || !srv->grace ||
	    evsignal_add(srv->sig_int, NULL) < 0 ||
	    evsignal_add(srv->sig_term, NULL) < 0)
		goto out;
	evhttp_set_bevcb(srv->http, make_bev, srv);
	evhttp_set_gencb(srv->http, on_request, srv);
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)o->max_body);
	/* libevent answers 413 on its own above this hard cap; between
	 * --max-header and it, on_request() answers 431. */
	evhttp_set_max_headers_size(srv->http, (ev_ssize_t)(4 * o->max_header));
	evhttp_set_timeout_tv(srv->http, &tv);
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_PATCH);
	srv->bound = evhttp_accept_socket_with_handle(srv->http, fd);
	if (!srv->bound)
		goto out;
	fd = -1; /* evhttp closes it */

	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			goto out;
		close(ready_fd);
		ready_fd = -1;
	} else {
		print_listening(o, port, fp);
	}
	fprintf(stderr, "https-server: pid %ld, %s, root %s\n", (long)getpid(),
		o->inline_work ? "inline (no pool)"
		: o->mode == EVPOOL_MODE_PROCESS ? "process pool" : "thread pool",
		srv->root);
	event_base_dispatch(srv->base);
	rc = 0;
out:
	if (rc)
		ERR_print_errors_fp(stderr);
	srv->finished = 1;
	/* The pool before evhttp: its last completions still reply. */
	if (srv->pool)
		evpool_free(srv->pool);
	srv->pool = NULL;
	srv->bound = NULL;
	if (srv->http)
		evhttp_free(srv->http);
	if (srv->sig_int)
		event_free(srv->sig_int);
	if (srv->sig_term)
		event_free(srv->sig_term);
	if (srv->grace)
		event_free(srv->grace);
	if (srv->base)
		event_base_free(srv->base); /* runs the last SSL frees */
	if (fd >= 0)
		close(fd);
	if (ready_fd >= 0)
		close(ready_fd);
	if (rc == 0)
		fprintf(stderr, "https-server: pid %ld: stopped (%llu requests)\n",
			(long)getpid(), (unsigned long long)srv->nrequests);
	free(srv);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* --processes N: a parent that forks N servers sharing the port */

static pid_t *children;
static unsigned nchildren;

static void
forward_signal(int sig)
{
	unsigned i;
	int e = errno;

	for (i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], sig);
	errno = e;
}

static int
run_parent(const struct opts *o, SSL_CTX *ssl, const char *fp)
{
	struct sigaction sa;
	sigset_t block, old;
	struct pollfd *pfd;
	unsigned i, ready = 0, alive;
	int port = o->port, fd, rc = 0, status;
	struct opts co = *o;

	/* Reserve the port (it may be 0: ephemeral) for the children. */
	fd = make_socket(o->bind, &port, 1, 0);
	if (fd < 0)
		return 1;
	co.port = port;
	children = calloc(o->processes, sizeof(*children));
	pfd = calloc(o->processes, sizeof(*pfd));
	if (!children || !pfd) {
		close(fd);
		return 1;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < o->processes; i++) {
		int p[2];
		pid_t pid;

		if (pipe(p) < 0 || (pid = fork()) < 0) {
			perror("https-server: fork");
			rc = 1;
			break;
		}
		if (pid == 0) {
			unsigned j;

			close(fd);
			close(p[0]);
			for (j = 0; j < i; j++)
				close(pfd[j].fd);
			sigprocmask(SIG_SETMASK, &old, NULL);
			free(pfd);
			free(children);
			children = NULL;
			nchildren = 0;
			rc = run_server(&co, ssl, fp, p[1]);
			SSL_CTX_free(ssl);
			_exit(rc);
		}
		close(p[1]);
		children[i] = pid;
		pfd[i].fd = p[0];
		pfd[i].events = POLLIN;
		nchildren++;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* Wait for every child to listen, or for one to die trying. */
	for (int waited = 0; rc == 0 && ready < nchildren; waited += 100) {
		int n = poll(pfd, nchildren, 100);

		for (i = 0; n > 0 && i < nchildren; i++) {
			char b;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (read(pfd[i].fd, &b, 1) == 1)
				ready++;
			else
				rc = 1;
			close(pfd[i].fd);
			pfd[i].fd = -1;
		}
		for (i = 0; i < nchildren; i++)
			if (children[i] > 0 &&
			    waitpid(children[i], &status, WNOHANG) ==
				    children[i]) {
				children[i] = -1;
				rc = 1;
			}
		if (waited > 60000)
			rc = 1;
	}
	for (i = 0; i < nchildren; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	free(pfd);
	close(fd);
	if (rc == 0)
		print_listening(o, port, fp);
	else
		forward_signal(SIGTERM);

	/* Wait for the children; we exit 0 only if they all did. */
	for (alive = nchildren; alive > 0;) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < nchildren; i++)
			if (children[i] == pid) {
				children[i] = -1;
				alive--;
				if (!WIFEXITED(status) ||
				    WEXITSTATUS(status) != 0) {
					fprintf(stderr, "https-server: process "
						"%ld ended with status %d\n",
						(long)pid, status);
					rc = 1;
				}
			}
	}
	free(children);
	children = NULL;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Options */

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: https-server [OPTION]...\n"
"An HTTPS server on libevent that runs its blocking work (file reads, PBKDF2,\n"
"DNS lookups, sleeps) in a libevpool pool; results come back on the loop.\n"
"\n"
"  -p, --port N            port (default 8443; 0: any free port, printed)\n"
"  -b, --bind ADDR         address to listen on (default 127.0.0.1)\n"
"  -m, --mode MODE         pool mode: thread (default) or process\n"
"  -w, --workers N         pool workers (default: online CPUs)\n"
"  -r, --root DIR          directory served under /files/\n"
"                          (default %s)\n"
"      --inline            do the blocking work on the loop thread, without\n"
"                          a pool: the \"before\" picture, for comparison\n"
"  -P, --processes N       run N server processes on the same port\n"
"                          (SO_REUSEPORT), each with its own pool\n"
"      --cert FILE         certificate chain, PEM (with --key); default: a\n"
"                          self-signed certificate made in memory\n"
"      --key FILE          private key, PEM\n"
"      --queue N           queued jobs before 503 + Retry-After (default 256;\n"
"                          0: unbounded)\n"
"      --max-conns N       connections at once (default 512)\n"
"      --max-body BYTES    request body limit, else 413 (default 1048576)\n"
"      --max-header BYTES  request head limit, else 431 (default 8192)\n"
"      --timeout SEC       idle read/write timeout (default 30)\n"
"      --header-timeout SEC  time allowed to send a request head (default 10)\n"
"      --grace SEC         on SIGINT/SIGTERM, time for requests in flight\n"
"                          (default 10; a second signal exits at once)\n"
"      --job-timeout MS    limit per job, else 504 (default 30000)\n"
"  -q, --quiet             no per-request log lines\n"
"  -h, --help              this help\n"
"  -V, --version           versions of the server and its libraries\n"
"\n"
"Endpoints:\n"
"  GET  /                  the endpoint list (index.html of the root)\n"
"  GET  /files/PATH        a file under the root (read in the pool)\n"
"  POST /hash?iterations=N&salt=S  PBKDF2-HMAC-SHA256 of the body\n"
"                          (iterations 1..1000000, default 100000)\n"
"  GET  /resolve?host=NAME getaddrinfo(NAME), in the pool\n"
"  GET  /sleep?ms=N        a blocking sleep of N ms (0..10000), in the pool\n"
"  GET  /stats             server and pool statistics (JSON)\n"
"\n"
"Logs one line per request to stderr.  Exit status 0 after a clean shutdown.\n",
		HTTPS_WWW_ROOT);
}

static int
opt_num(const char *name, const char *arg, unsigned long long lo,
	unsigned long long hi, unsigned long long *out)
{
	if (parse_num(arg, lo, hi, out) < 0) {
		fprintf(stderr, "https-server: %s must be a number in %llu..%llu, "
			"got '%s'\n", name, lo, hi, arg);
		return -1;
	}
	return 0;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_INLINE = 256, O_CERT, O_KEY, O_QUEUE, O_MAXCONNS, O_MAXBODY,
	       O_MAXHEADER, O_TIMEOUT, O_HTIMEOUT, O_GRACE, O_JOBTIMEOUT };
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "mode", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "root", required_argument, NULL, 'r' },
		{ "inline", no_argument, NULL, O_INLINE },
		{ "processes", required_argument, NULL, 'P' },
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "queue", required_argument, NULL, O_QUEUE },
		{ "max-conns", required_argument, NULL, O_MAXCONNS },
		{ "max-body", required_argument, NULL, O_MAXBODY },
		{ "max-header", required_argument, NULL, O_MAXHEADER },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "header-timeout", required_argument, NULL, O_HTIMEOUT },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "job-timeout", required_argument, NULL, O_JOBTIMEOUT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	memset(o, 0, sizeof(*o));
	o->bind = "127.0.0.1";
	o->root = HTTPS_WWW_ROOT;
	o->port = 8443;
	o->mode = EVPOOL_MODE_THREAD;
	o->workers = ncpu > 0 && ncpu <= 4096 ? (unsigned)ncpu : 4;
	o->processes = 1;
	o->max_queued = 256;
	o->max_conns = 512;
	o->max_body = 1048576;
	o->max_header = 8192;
	o->timeout_s = 30;
	o->header_timeout_s = 10;
	o->grace_s = 10;
	o->job_timeout_ms = 30000;

	while ((c = getopt_long(argc, argv, "p:b:m:w:r:P:qhV", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (opt_num("--port", optarg, 0, 65535, &v) < 0)
				return -1;
			o->port = (int)v;
			break;
		case 'b': o->bind = optarg; break;
		case 'm':
			if (strcmp(optarg, "thread") == 0) {
				o->mode = EVPOOL_MODE_THREAD;
			} else if (strcmp(optarg, "process") == 0) {
				o->mode = EVPOOL_MODE_PROCESS;
			} else {
				fprintf(stderr, "https-server: --mode must be "
					"thread or process, got '%s'\n", optarg);
				return -1;
			}
			break;
		case 'w':
			if (opt_num("--workers", optarg, 1, 4096, &v) < 0)
				return -1;
			o->workers = (unsigned)v;
			break;
		case 'r': o->root = optarg; break;
		case O_INLINE: o->inline_work = 1; break;
		case 'P':
			if (opt_num("--processes", optarg, 1, 256, &v) < 0)
				return -1;
			o->processes = (unsigned)v;
			break;
		case O_CERT: o->cert = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_QUEUE:
			if (opt_num("--queue", optarg, 0, 1000000, &v) < 0)
				return -1;
			o->max_queued = (size_t)v;
			break;
		case O_MAXCONNS:
			if (opt_num("--max-conns", optarg, 1, 1000000, &v) < 0)
				return -1;
			o->max_conns = (unsigned)v;
			break;
		case O_MAXBODY:
			if (opt_num("--max-body", optarg, 0, 1u << 30, &v) < 0)
				return -1;
			o->max_body = (size_t)v;
			break;
		case O_MAXHEADER:
			if (opt_num("--max-header", optarg, 256, 1u << 20, &v) < 0)
				return -1;
			o->max_header = (size_t)v;
			break;
		case O_TIMEOUT:
			if (opt_num("--timeout", optarg, 1, 86400, &v) < 0)
				return -1;
			o->timeout_s = (unsigned)v;
			break;
		case O_HTIMEOUT:
			if (opt_num("--header-timeout", optarg, 1, 86400, &v) < 0)
				return -1;
			o->header_timeout_s = (unsigned)v;
			break;
		case O_GRACE:
			if (opt_num("--grace", optarg, 0, 86400, &v) < 0)
				return -1;
			o->grace_s = (unsigned)v;
			break;
		case O_JOBTIMEOUT:
			if (opt_num("--job-timeout", optarg, 0, 86400000, &v) < 0)
				return -1;
			o->job_timeout_ms = (unsigned)v;
			break;
		case 'q': o->quiet = 1; break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("https-server (libevpool %s), libevent %s, %s\n",
			       evpool_version(), event_get_version(),
			       OpenSSL_version(OPENSSL_VERSION));
			exit(0);
		default:
			fprintf(stderr, "Try 'https-server --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "https-server: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (!o->cert != !o->key) {
		fprintf(stderr, "https-server: --cert and --key go together\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct tls_identity id;
	struct opts o;
	SSL_CTX *ssl;
	int rc;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free);
	if (conn_idx < 0)
		return 1;
	ssl = tls_context_new(o.cert, o.key, &id);
	if (!ssl)
		return 1;
	if (o.processes > 1)
		rc = run_parent(&o, ssl, id.fingerprint);
	else
		rc = run_server(&o, ssl, id.fingerprint, -1);
	SSL_CTX_free(ssl);
	tls_identity_clear(&id);
	return rc;
}

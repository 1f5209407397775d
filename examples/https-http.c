/*
 * https-http.c — the HTTP side of the example HTTPS server: requests, their
 * routes and replies, the jobs they submit, file streaming, and connections
 * (limits and the head deadline).  The lifetimes of struct rq and struct conn
 * are described in the DESIGN comment of https-server.c.
 */
#include "config.h"
#include "https-server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVER_NAME "evpool-https-server/" EVPOOL_VERSION_STRING

typedef void (*finish_fn)(struct rq *rq, int err, const unsigned char *data,
			  size_t len);
/* The same for a result kept as an evbuffer (files: its chains move on). */
typedef void (*finish_ev_fn)(struct rq *rq, int err, struct evbuffer *data);

struct rq {
	struct server *srv;
	struct conn *conn;
	struct evhttp_request *req; /* NULL once evhttp has freed it */
	struct timespec t0;
	char peer[64], method[8], uri[128];
	int status, aborted, logged, head;
	uint64_t bytes;
	int job_pending;
	enum qkind qk; /* the queue of its (last) job */
	finish_fn finish;
	finish_ev_fn finish_ev; /* instead of finish when set */
	/* file streaming */
	char *path;
	const char *ctype;
	uint64_t size, offset, dev, ino;
	uint64_t end;	/* stream up to here (exclusive): the range's end */
	int ranged;	/* a Range header: the first job only stats */
	int streaming;
	struct event *timer; /* stream retry / abort, off the http callbacks */
	/* hash */
	uint32_t iterations;
	unsigned char salt[HASH_MAX_SALT];
	size_t salt_len;
	/* resolve */
	char host[HOST_MAX_LEN + 1];
};


int conn_idx = -1; /* SSL ex_data index of struct conn */

/* ------------------------------------------------------------------------ */
/* Small helpers */

double
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Strict decimal in [lo, hi]. */
int
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
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 416: return "Range Not Satisfiable";
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

/* The request asks for the connection to end after its response (the
 * test evhttp makes right after our on_complete callback). */
static int
wants_close(struct evhttp_request *req)
{
	const char *in = evhttp_find_header(req->input_headers, "Connection");
	const char *out = evhttp_find_header(req->output_headers, "Connection");

	if (req->major == 1 && req->minor == 0 &&
	    !(in && evutil_ascii_strncasecmp(in, "keep-alive", 10) == 0))
		return 1;
	return (in && evutil_ascii_strcasecmp(in, "close") == 0) ||
	       (out && evutil_ascii_strcasecmp(out, "close") == 0);
}

/* Make evhttp's test say "keep open" (the response is already written). */
static void
keep_open(struct evhttp_request *req)
{
	evhttp_remove_header(req->input_headers, "Connection");
	evhttp_add_header(req->input_headers, "Connection", "keep-alive");
	evhttp_remove_header(req->output_headers, "Connection");
}

/* evhttp has written the whole response and is about to free the request. */
static void
on_req_complete(struct evhttp_request *req, void *arg)
{
	struct rq *rq = arg;
	struct conn *c = rq->conn;

	rq->req = NULL;
	if (c) {
		c->active = NULL;
		rq->conn = NULL;
		arm_deadline(c, rq->srv->draining);
		/* evhttp would close now, with the end of the response still
		 * in the TLS bufferevent under the filter (it has only left
		 * the filter) and without close_notify: keep it open and
		 * close it ourselves once everything is written. */
		if (wants_close(req)) {
			keep_open(req);
			frame_close(c);
		}
		frame_answered(c, 1);
	}
	rq_release(rq);
}

static void
common_headers(struct rq *rq)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);

	evhttp_add_header(h, "Server", SERVER_NAME);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* Say so whenever the connection ends after this response. */
	if (rq->srv->draining || wants_close(rq->req))
		evhttp_add_header(h, "Connection", "close");
}

/* Send a complete response whose body is @b (its chains are moved out, not
 * copied; NULL: no body).  A HEAD request gets the headers only.  Every
 * response says its length: evhttp adds none to an HTTP/1.0 response. */
static void
reply_buf(struct rq *rq, int code, const char *ctype, struct evbuffer *b)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);
	size_t len = b ? evbuffer_get_length(b) : 0;
	char n[32];

	common_headers(rq);
	if (ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	snprintf(n, sizeof(n), "%zu", len);
	evhttp_add_header(h, "Content-Length", n);
	rq->status = code;
	rq->bytes = rq->head ? 0 : len;
	evhttp_send_reply(rq->req, code, reason(code), rq->head ? NULL : b);
}

/* The same with @len bytes at @data, copied. */
static void
reply(struct rq *rq, int code, const char *ctype, const void *data,
      size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (!b || evbuffer_add(b, data, len) < 0) {
		/* No memory for the body: say so without one. */
		reply_buf(rq, 503, NULL, NULL);
	} else {
		reply_buf(rq, code, ctype, b);
	}
	if (b)
		evbuffer_free(b);
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
	char msg[64];

	rq->srv->nbusy++;
	if (r == -EAGAIN) {
		rq->srv->qbusy[rq->qk]++;
		snprintf(msg, sizeof(msg), "server busy: %s queue full",
			 qkind_name[rq->qk]);
	}
	reply_error(rq, 503, r == -EAGAIN ? msg : "server shutting down");
}

/* ------------------------------------------------------------------------ */
/* Jobs: submit, complete */

/* @res: the job's result (NULL: none), a struct job_res then the payload. */
static void
deliver(struct rq *rq, int status, struct evbuffer *res)
{
	struct job_res hdr;
	const unsigned char *data;
	size_t len;

	if (status == 0 &&
	    (!res || evbuffer_remove(res, &hdr, sizeof(hdr)) != sizeof(hdr)))
		status = res ? -EPROTO : -ENOMEM;
	if (status != 0) {
		if (rq->streaming) { /* a file's later chunk */
			rq->finish_ev(rq, -EPIPE, NULL);
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
	if (rq->finish_ev) {
		rq->finish_ev(rq, hdr.err, res);
		return;
	}
	/* A byte result is one chain: no copy. */
	len = evbuffer_get_length(res);
	data = len ? evbuffer_pullup(res, -1) : NULL;
	if (len && !data)
		rq->finish(rq, -ENOMEM, (const unsigned char *)"", 0);
	else
		rq->finish(rq, hdr.err, data ? data : (const unsigned char *)"",
			   len);
}

/* Completion callback: runs on the loop thread. */
static void
on_job_done(struct evpool_job *job, void *arg)
{
	struct rq *rq = arg;

	rq->job_pending = 0;
	if (!rq->req) { /* the client went away meanwhile */
		rq_release(rq);
		return;
	}
	deliver(rq, evpool_job_status(job), evpool_job_result_evbuffer(job));
}

/* --inline: run the job's work on the loop, then deliver its result. */
static void
run_inline(struct rq *rq, work_fn work, const void *in, size_t len)
{
	struct evbuffer *res = evbuffer_new();
	struct outbuf ob;
	int r = -ENOMEM;

	memset(&ob, 0, sizeof(ob));
	if (res && !work) { /* a file: work_file() writes into @res */
		r = work_file(in, len, res);
	} else if (res) {
		work_run_inline(work, in, len, &ob);
		if (ob.p)
			r = evbuffer_add_reference(res, ob.p, ob.len, NULL,
						   NULL);
	}
	deliver(rq, r, res);
	if (work)
		outbuf_free(&ob);
	if (res)
		evbuffer_free(res);
}

/*
 * Run @work on @in (@len bytes, copied) in the pool — or inline — and call
 * @finish (or @finish_ev, with the result as an evbuffer) with its outcome on
 * the loop.  @work NULL: a file job (work_file(), its result an evbuffer).
 * Returns 0, or the submit error (-EAGAIN: queue full), in which case nothing
 * will be called.
 */
static int
rq_submit(struct rq *rq, enum qkind qk, evpool_fn fn, work_fn work,
	  const void *in, size_t len, finish_fn finish, finish_ev_fn finish_ev)
{
	struct evpool_job_spec spec;
	int r;

	rq->finish = finish;
	rq->finish_ev = finish_ev;
	rq->qk = qk;
	if (!rq->srv->pool) {
		run_inline(rq, work, in, len);
		return 0;
	}
	memset(&spec, 0, sizeof(spec));
	spec.fn = fn;
	spec.input = in;
	spec.input_len = len;
	spec.done = on_job_done;
	spec.done_arg = rq;
	spec.queue = rq->srv->q[qk];
	r = evpool_submit_job(rq->srv->pool, &spec, NULL);
	if (r == 0)
		rq->job_pending = 1;
	return r;
}

static void
submit_or_fail(struct rq *rq, enum qkind qk, evpool_fn fn, work_fn work,
	       const void *in, size_t len, finish_fn finish)
{
	int r = rq_submit(rq, qk, fn, work, in, len, finish, NULL);

	if (r == -EAGAIN || r == -ESHUTDOWN)
		reply_busy(rq, r);
	else if (r < 0)
		reply_error(rq, 500, evpool_strerror(r));
}

/* ------------------------------------------------------------------------ */
/* GET /files/<path> and GET / */

static void file_finish(struct rq *rq, int err, struct evbuffer *data);

/* If-None-Match (it wins) or If-Modified-Since says the client's copy is
 * current (RFC 9110 13.1.2, 13.1.3). */
static int
not_modified(struct rq *rq, const char *etag, time_t mtime)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(rq->req);
	const char *inm = evhttp_find_header(in, "If-None-Match");
	const char *ims = evhttp_find_header(in, "If-Modified-Since");
	size_t n = strlen(etag);
	struct tm tm;

	if (inm) {
		const char *p = inm;

		if (strcmp(inm, "*") == 0)
			return 1;
		/* Weak comparison: W/"x" matches "x". */
		while ((p = strstr(p, etag + 0)) != NULL) {
			if (p[n] == '\0' || p[n] == ',' || p[n] == ' ')
				return 1;
			p += n;
		}
		return 0;
	}
	if (!ims)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (!strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return 0;
	return timegm(&tm) >= mtime;
}

/*
 * A single "bytes=" range of a @size-byte file: 1 and [*start, *end) if it
 * is served (206), -1 if it is unsatisfiable (416), 0 to serve the whole
 * file (not a range we take: several ranges, another unit, a bad one, or an
 * If-Range that does not match).
 */
static int
parse_range(struct rq *rq, const char *etag, uint64_t size, uint64_t *start,
	    uint64_t *end)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(rq->req);
	const char *r = evhttp_find_header(in, "Range");
	const char *ifr = evhttp_find_header(in, "If-Range");
	unsigned long long a = 0, b = 0;
	char *e;

	if (!r || strncmp(r, "bytes=", 6) != 0 || strchr(r, ',') ||
	    (ifr && strcmp(ifr, etag) != 0))
		return 0;
	r += 6;
	if (*r == '-') { /* the last N bytes */
		if (r[1] < '0' || r[1] > '9')
			return 0;
		errno = 0;
		b = strtoull(r + 1, &e, 10);
		if (*e || errno)
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*start = b >= size ? 0 : size - b;
		*end = size;
		return 1;
	}
	if (*r < '0' || *r > '9')
		return 0;
	errno = 0;
	a = strtoull(r, &e, 10);
	if (*e != '-' || errno)
		return 0;
	r = e + 1;
	if (*r) {
		if (*r < '0' || *r > '9')
			return 0;
		b = strtoull(r, &e, 10);
		if (*e || errno || b < a)
			return 0;
	} else {
		b = size ? size - 1 : 0;
	}
	if (a >= size)
		return -1;
	*start = a;
	*end = (b >= size ? size - 1 : b) + 1;
	return 1;
}

/* The index page with its "try" commands for the port we serve. */
static void
reply_index(struct rq *rq, const unsigned char *data, size_t len)
{
	static const char from[] = "127.0.0.1:8443";
	struct evbuffer *b = evbuffer_new();
	const unsigned char *p = data, *end = data + len, *hit;
	char to[32];

	if (!b) {
		reply_error(rq, 503, "out of memory");
		return;
	}
	snprintf(to, sizeof(to), "127.0.0.1:%d", rq->srv->port);
	while ((hit = memmem(p, (size_t)(end - p), from,
			     sizeof(from) - 1)) != NULL) {
		evbuffer_add(b, p, (size_t)(hit - p));
		evbuffer_add(b, to, strlen(to));
		p = hit + sizeof(from) - 1;
	}
	evbuffer_add(b, p, (size_t)(end - p));
	reply_buf(rq, 200, rq->ctype, b);
	evbuffer_free(b);
}

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
	return rq_submit(rq, Q_FILES, job_file, NULL, buf, sizeof(fi) + rl + pl,
			 NULL, file_finish);
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
	uint64_t left = rq->end - rq->offset;
	int r = file_submit(rq, left < FILE_CHUNK ? (uint32_t)left : FILE_CHUNK);

	if (r == -EAGAIN) {
		rq->srv->nretries++;
		stream_later(rq, 0, 10); /* queue full: try again soon */
	}
	else if (r < 0)
		stream_later(rq, 1, 0);
}

static void
on_rq_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rq *rq = arg;

	(void)fd;
	(void)what;
	if (!rq->req || rq->job_pending)
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
	/* One chunk in flight: not while a job or the retry timer is due. */
	if (rq->job_pending || !rq->req || rq->offset >= rq->end ||
	    (rq->timer && evtimer_pending(rq->timer, NULL)))
		return;
	if (rq->srv->pool)
		stream_next(rq);
	else
		stream_later(rq, 0, 0); /* inline: not inside evhttp's callback */
}

/* Send the chunk in @b (@n bytes): its chains move into evhttp's output,
 * on to the framing filter and the TLS layer, which encrypts straight from
 * the memory the job read the file into. */
static void
stream_send(struct rq *rq, struct evbuffer *b, size_t n)
{
	rq->offset += n;
	rq->bytes += n;
	if (rq->offset >= rq->end) {
		evhttp_send_reply_chunk(rq->req, b);
		evhttp_send_reply_end(rq->req); /* on_req_complete follows */
	} else {
		evhttp_send_reply_chunk_with_cb(rq->req, b, on_stream_drained,
						rq);
	}
}

/* Count a chunk for /stats: is @b still the memory the job read into? */
static void
count_chunk(struct server *srv, struct evbuffer *b, const struct file_out *fo)
{
	struct evbuffer_iovec v;

	srv->nchunks++;
	if (evbuffer_peek(b, -1, NULL, &v, 1) == 1 &&
	    (uintptr_t)v.iov_base == (uintptr_t)fo->data_at)
		srv->nchunks_in_place++;
}

/* @b: the file's chunk after its struct file_out (see work_file()). */
static void
file_finish(struct rq *rq, int err, struct evbuffer *b)
{
	struct evkeyvalq *h;
	struct file_out fo;
	char num[80], date[64], etag[64];
	uint64_t start;
	struct tm tm;
	time_t mt;
	int code = 200;

	memset(&fo, 0, sizeof(fo));
	if (err == 0 && (evbuffer_remove(b, &fo, sizeof(fo)) != sizeof(fo) ||
			 evbuffer_get_length(b) != fo.nread))
		err = -EPROTO;
	if (err == 0 && fo.nread)
		count_chunk(rq->srv, b, &fo);
	if (rq->streaming) {
		/* A later chunk: an error, a replaced file or a short read
		 * (the file shrank) can only end the connection. */
		if (err || fo.nread == 0 || fo.size != rq->size)
			stream_later(rq, 1, 0);
		else
			stream_send(rq, b, fo.nread);
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
	/* A strong validator from the file's identity, size and mtime. */
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"",
		 (unsigned long long)fo.ino, (unsigned long long)fo.size,
		 (unsigned long long)fo.mtime);
	evhttp_add_header(h, "ETag", etag);
	evhttp_add_header(h, "Accept-Ranges", "bytes");
	rq->size = fo.size;
	rq->dev = fo.dev;
	rq->ino = fo.ino;
	if (not_modified(rq, etag, mt)) {
		common_headers(rq);
		rq->status = 304;
		evhttp_send_reply(rq->req, 304, "Not Modified", NULL);
		return;
	}
	start = 0;
	rq->end = fo.size;
	if (rq->ranged) {
		switch (parse_range(rq, etag, fo.size, &start, &rq->end)) {
		case 1:
			code = 206;
			snprintf(num, sizeof(num), "bytes %llu-%llu/%llu",
				 (unsigned long long)start,
				 (unsigned long long)rq->end - 1,
				 (unsigned long long)fo.size);
			evhttp_add_header(h, "Content-Range", num);
			break;
		case -1:
			snprintf(num, sizeof(num), "bytes */%llu",
				 (unsigned long long)fo.size);
			evhttp_add_header(h, "Content-Range", num);
			reply_error(rq, 416, "range not satisfiable");
			return;
		default: /* none we serve: the whole file */
			break;
		}
	}
	/* Without a range the first job read up to a chunk of the file, and
	 * all of it if nread == size; with one it only stat'd (nread == 0). */
	if (rq->head || (start == 0 && fo.nread >= rq->end)) {
		if (rq->head) {
			/* reply() would say 0: give the content's size. */
			common_headers(rq);
			evhttp_add_header(h, "Content-Type", rq->ctype);
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)(rq->end - start));
			evhttp_add_header(h, "Content-Length", num);
			rq->status = code;
			evhttp_send_reply(rq->req, code, reason(code), NULL);
			return;
		}
		if (fo.is_index || strcmp(rq->path, "index.html") == 0) {
			const unsigned char *p = evbuffer_pullup(b, -1);

			reply_index(rq, p ? p : (const unsigned char *)"",
				    p ? (size_t)rq->end : 0);
		} else {
			reply_buf(rq, code, rq->ctype, b); /* moves @b */
		}
		return;
	}
	/* Bigger than a chunk (or a range): stream it, one chunk in flight
	 * at a time. */
	rq->streaming = 1;
	rq->status = code;
	common_headers(rq);
	evhttp_add_header(h, "Content-Type", rq->ctype);
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)(rq->end - start));
	evhttp_add_header(h, "Content-Length", num);
	evhttp_send_reply_start(rq->req, code, reason(code));
	if (start == 0 && fo.nread) {
		stream_send(rq, b, fo.nread);
	} else {
		rq->offset = start;
		stream_next(rq);
	}
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
	/* With a Range the first job only stats: the range needs the size. */
	rq->ranged = evhttp_find_header(evhttp_request_get_input_headers(
						rq->req), "Range") != NULL;
	r = file_submit(rq, rq->head || rq->ranged ? 0 : FILE_CHUNK);
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
	submit_or_fail(rq, Q_HASH, job_hash, work_hash, in,
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
	submit_or_fail(rq, Q_RESOLVE, job_resolve, work_resolve, rq->host, n,
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
	submit_or_fail(rq, Q_SLEEP, job_sleep, work_sleep, &si, sizeof(si),
		       sleep_finish);
}

/* Each queue: its workers, what waits and runs, its 503s. */
static void
stats_queues(struct server *srv, struct evbuffer *b)
{
	struct evpool_stats st;
	int i;

	if (!srv->pool) {
		evbuffer_add_printf(b, "null");
		return;
	}
	for (i = 0; i < Q_COUNT; i++) {
		memset(&st, 0, sizeof(st));
		evpool_queue_get_stats(srv->q[i], &st);
		evbuffer_add_printf(b,
			"%s\"%s\":{\"queued\":%llu,\"running\":%llu,"
			"\"workers\":%u,\"idle_workers\":%u,"
			"\"max_workers\":%u,\"busy_rejected\":%llu}",
			i ? "," : "{", qkind_name[i],
			(unsigned long long)st.queued,
			(unsigned long long)st.running, st.workers,
			st.idle_workers, st.max_workers,
			(unsigned long long)srv->qbusy[i]);
	}
	evbuffer_add_printf(b, "}");
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
		"\"active\":%u,\"busy_rejected\":%llu,\"aborted\":%llu,"
		"\"stream_retries\":%llu,\"refused\":%llu},"
		"\"file_chunks\":{\"sent\":%llu,\"in_place\":%llu},"
		"\"pool\":",
		(long)getpid(),
		!srv->pool ? "inline"
		: srv->process_mode ? "process" : "thread",
		ms_since(&srv->started), srv->nconns,
		(unsigned long long)srv->nrequests, srv->nactive,
		(unsigned long long)srv->nbusy,
		(unsigned long long)srv->naborted,
		(unsigned long long)srv->nretries,
		(unsigned long long)srv->nrefused,
		(unsigned long long)srv->nchunks,
		(unsigned long long)srv->nchunks_in_place);
	if (srv->pool && evpool_get_stats(srv->pool, &st) == 0)
		evbuffer_add_printf(b,
			"{\"submitted\":%llu,\"completed\":%llu,"
			"\"failed\":%llu,\"cancelled\":%llu,\"timed_out\":%llu,"
			"\"crashed\":%llu,\"respawns\":%llu,\"queued\":%llu,"
			"\"running\":%llu,\"peak_queued\":%llu,\"workers\":%u,"
			"\"idle_workers\":%u,\"busy_workers\":%u,"
			"\"max_workers\":%u,\"forkserver_restarts\":%llu}",
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
			st.idle_workers, st.busy_workers, st.max_workers,
			(unsigned long long)st.forkserver_restarts);
	else
		evbuffer_add_printf(b, "null");
	evbuffer_add_printf(b, ",\"queues\":");
	stats_queues(srv, b);
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
	struct bufferevent *tls = bev ? bufferevent_get_underlying(bev) : NULL;
	SSL *ssl = tls ? bufferevent_openssl_get_ssl(tls) : NULL;

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
	/* An absolute-form target ("GET https://host/path") names us: we
	 * are no proxy (RFC 9112 3.2.2), so no proxy rules for the
	 * connection (evhttp would close it and drop our Connection header). */
	req->flags &= ~EVHTTP_PROXY_REQUEST;
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

void
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
void
arm_deadline(struct conn *c, int fuse)
{
	struct timeval tv = { (time_t)c->srv->o->header_timeout_s, 0 };

	if (fuse) {
		tv.tv_sec = 0;
		tv.tv_usec = 250 * 1000;
	}
	c->extended = 0;
	if (c->deadline && !c->closing)
		evtimer_add(c->deadline, &tv);
}

/* Has the client sent bytes that we have not read yet (in the kernel's
 * socket buffer, in OpenSSL's, or in the TLS bufferevent's input)? */
static int
conn_unread(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	int n = 0;

	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
	    (ssl && SSL_pending(ssl) > 0))
		return 1;
	return fd >= 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if ((c->active && !frame_closing(c)) || c->closing || !c->bev)
		return;
	/* The head deadline, and bytes wait that we have not read: the loop
	 * is behind (a flood of handshakes, a loaded host), not the client
	 * slow; the head may well be complete in them.  One more
	 * --header-timeout, once per head: a trickling client is still
	 * dropped, by twice the time at most (three times for a first head,
	 * see on_tls_info()). */
	if (!c->extended && !frame_closing(c) && !c->srv->draining &&
	    conn_unread(c)) {
		struct timeval tv = { (time_t)c->srv->o->header_timeout_s, 0 };

		c->extended = 1;
		evtimer_add(c->deadline, &tv);
		return;
	}
	tls_close_notify(c);
	fd = bufferevent_getfd(c->bev);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR); /* evhttp sees EOF and frees it */
}

/*
 * OpenSSL's info callback on a connection's handshake.  The first time
 * SSL_do_handshake() returns to wait for the client after its ClientHello
 * (our reply flight is written), the head deadline restarts: the time spent
 * on the ClientHello's cryptography is ours, not the client's (over a second
 * for a first handshake under valgrind on a loaded host).  Once per
 * connection, so a client that trickles its handshake is still dropped.
 */
static void
on_tls_info(const SSL *ssl, int where, int ret)
{
	struct conn *c;
	struct timeval tv;

	if (!(where & SSL_CB_ACCEPT_EXIT) || ret > 0 ||
	    SSL_get_state(ssl) == TLS_ST_BEFORE)
		return;
	c = SSL_get_ex_data(ssl, conn_idx);
	if (!c || c->replied || c->srv->draining || c->closing)
		return;
	c->replied = 1;
	tv.tv_sec = (time_t)c->srv->o->header_timeout_s;
	tv.tv_usec = 0;
	/* Not arm_deadline(): an extension already given stays spent, so a
	 * first head gets three times --header-timeout at most. */
	evtimer_add(c->deadline, &tv);
}

/* evhttp is freeing the connection (client gone, error, timeout, exit). */
static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	struct rq *rq = c->active;

	(void)evcon;
	tls_close_notify(c); /* if all was written: an error cut nothing */
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
void
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
	frame_free(c->fr);
	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	free(c);
	update_listener(srv);
	check_drain_done(srv);
}

/* evhttp asks for the bufferevent of a new connection. */
struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	struct bufferevent *bev, *fbev;
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
	SSL_set_info_callback(ssl, on_tls_info);
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
	/* The filter passes on what evhttp writes only while the TLS side
	 * holds less than this: a stream's chunks wait in the filter. */
	bufferevent_setwatermark(bev, EV_WRITE, 64 * 1024, 256 * 1024);
	arm_deadline(c, srv->draining);
	update_listener(srv);
	fbev = frame_wrap(c, bev);
	if (!fbev) {
		bufferevent_free(bev); /* frees c through conn_free() */
		fprintf(stderr, "https-server: out of memory for a connection\n");
		return NULL;
	}
	return fbev;
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

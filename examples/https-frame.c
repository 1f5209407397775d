/*
 * https-frame.c — strict HTTP/1.1 request framing in front of evhttp, and
 * TLS closes that end with close_notify.
 *
 * DESIGN
 * evhttp's parser is lenient: it takes "Content-Length : 5", obs-folded
 * headers, two different Content-Lengths, "+13", Transfer-Encoding on
 * HTTP/1.0 ... and a lenient server behind a strict proxy (or the reverse)
 * can be made to run a request body as a second request.  So every byte a
 * client sends goes first through a bufferevent filter (the bufferevent
 * evhttp gets is a filter over the TLS one) that runs Node's classic HTTP
 * parser (http_parser, Debian's libhttp-parser-dev) over it, plus the
 * checks that parser leaves to its user (header names are tokens, no
 * obs-fold, one Host, HTTP/1.0 or 1.1, Transfer-Encoding only "chunked",
 * the declared length within --max-body).  Bytes reach evhttp only once
 * http_parser has accepted them; a refused request's bytes never do, so
 * evhttp never completes its head and never runs it.  The refusal (400,
 * 413, 501, 505, or 408 when a declared body does not arrive in time) is
 * written here, straight to the TLS bufferevent, once evhttp has answered
 * every request passed before it; then close_notify, a half close, and the
 * client's remaining bytes are read and dropped for a moment (a lingering
 * close, so our answer is not lost to a TCP reset) before the socket is
 * shut and evhttp frees the connection on the EOF it sees.
 *
 * Why a filter and not a parser of our own or a move off evhttp: the
 * maintained parser does the hard part (chunk sizes, Content-Length
 * overflow, bare CR, NUL, header tokens in values), evhttp keeps doing
 * what it does well (routing, replies, keep-alive), and the two see the
 * same bytes.  http_parser has no position in its message-begin and
 * message-complete callbacks, so the filter pauses the parser at every
 * message end: what it parsed up to there may pass even if a later,
 * pipelined request is refused.
 *
 * Closes.  Below the filter, evhttp's "response written" only means "has
 * left the filter": if evhttp closed then, it would free the TLS
 * bufferevent with the response's end still in it, and send no
 * close_notify.  So when a response ends the connection (HTTP/1.0,
 * "Connection: close", shutdown), the request's on_complete callback in
 * https-http.c tells evhttp to keep it and calls frame_close(): once the
 * TLS output has drained, close_notify, a half close, LINGER_S seconds of
 * reading and dropping (so the client gets our answer rather than a TCP
 * reset), then the socket is shut and evhttp frees the connection on the
 * EOF.  The head and idle deadlines and evhttp's own closes send
 * close_notify too (tls_close_notify()), when nothing is left to write.
 */
#include "config.h"
#include "https-server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define SERVER_NAME "evpool-https-server/" EVPOOL_VERSION_STRING
#define LINGER_S 2 /* a refused client's bytes are dropped this long */

enum hdr { H_OTHER, H_HOST, H_TE };

struct frame {
	http_parser p;
	struct conn *c;
	const char *chunk;	 /* the bytes being parsed now */
	unsigned char last;	 /* the last byte of the previous chunk */
	int last_was_value;	 /* the previous header callback */
	char field[20];		 /* the current header name, lower case */
	size_t field_len;
	enum hdr cur;
	unsigned hosts;
	int has_te, te_over;
	char te[16];
	size_t te_len;
	uint64_t body;		 /* body bytes of this message so far */
	int code;		 /* the request is refused with this status */
	const char *why;
	int sent;		 /* the refusal is written */
	int closing;		 /* we close once the output has drained */
	unsigned passed;	 /* complete requests passed to evhttp */
	unsigned answered;	 /* ... and answered by it */
	struct event *body_timer, *drained;
	struct event *kick;	 /* pushes evhttp's output through */
};

static int
is_tchar(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *
status_text(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* Refuse the current request (the first reason wins). */
static int
refuse(struct frame *f, int code, const char *why)
{
	if (!f->code) {
		f->code = code;
		f->why = why;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* http_parser callbacks */

static int
on_begin(http_parser *p)
{
	struct frame *f = p->data;

	f->hosts = 0;
	f->has_te = f->te_over = 0;
	f->te_len = 0;
	f->field_len = 0;
	f->last_was_value = 1;
	f->body = 0;
	return 0;
}

static int
on_field(http_parser *p, const char *at, size_t n)
{
	struct frame *f = p->data;
	size_t i;

	if (f->last_was_value)
		f->field_len = 0;
	f->last_was_value = 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)at[i];

		/* http_parser takes "Content-Length :" as the header
		 * "Content-Length" (RFC 9112 5.1: such a request is a 400). */
		if (!is_tchar(ch))
			return refuse(f, 400, "bad character in a header name");
		if (f->field_len < sizeof(f->field) - 1)
			f->field[f->field_len++] = (char)tolower(ch);
		else
			f->field_len = sizeof(f->field); /* too long to matter */
	}
	return 0;
}

static int
on_value(http_parser *p, const char *at, size_t n)
{
	struct frame *f = p->data;
	unsigned char before = at > f->chunk ? (unsigned char)at[-1] : f->last;
	size_t i;

	if (!f->last_was_value) {
		size_t l = f->field_len;

		f->last_was_value = 1;
		f->cur = H_OTHER;
		if (l == 4 && memcmp(f->field, "host", 4) == 0) {
			f->cur = H_HOST;
			f->hosts++;
		} else if (l == 17 &&
			   memcmp(f->field, "transfer-encoding", 17) == 0) {
			f->cur = H_TE;
			if (f->has_te++)
				return refuse(f, 400, "two Transfer-Encodings");
		}
	} else if (before == '\n') {
		/* A value that goes on after a line end: obs-fold, which
		 * http_parser joins to the previous header (RFC 9112 5.2:
		 * reject it). */
		return refuse(f, 400, "obs-fold in a header");
	}
	if (f->cur == H_TE)
		for (i = 0; i < n; i++) {
			if (f->te_len < sizeof(f->te) - 1)
				f->te[f->te_len++] = (char)tolower(at[i]);
			else
				f->te_over = 1;
		}
	return 0;
}

static void
arm_body_timer(struct frame *f)
{
	struct timeval tv = { (time_t)f->c->srv->o->header_timeout_s, 0 };

	if (f->body_timer)
		evtimer_add(f->body_timer, &tv);
}

static int
on_headers(http_parser *p)
{
	struct frame *f = p->data;
	uint64_t max = f->c->srv->o->max_body;

	if (f->code)
		return -1;
	if (p->http_major != 1 || p->http_minor > 1)
		return refuse(f, 505, "only HTTP/1.0 and HTTP/1.1");
	switch (p->method) {
	case HTTP_GET: case HTTP_HEAD: case HTTP_POST: case HTTP_PUT:
	case HTTP_DELETE: case HTTP_OPTIONS: case HTTP_PATCH: case HTTP_TRACE:
	case HTTP_CONNECT:
		break;
	default: /* http_parser knows it, evhttp 2.1 would fail on it */
		return refuse(f, 501, "method not implemented");
	}
	if (f->hosts > 1)
		return refuse(f, 400, "two Host headers");
	if (f->hosts == 0 && p->http_minor == 1)
		return refuse(f, 400, "no Host header");
	if (f->has_te) {
		while (f->te_len && (f->te[f->te_len - 1] == ' ' ||
				     f->te[f->te_len - 1] == '\t'))
			f->te_len--;
		if (p->http_minor == 0)
			return refuse(f, 400, "Transfer-Encoding in HTTP/1.0");
		if (f->te_over || f->te_len != 7 ||
		    memcmp(f->te, "chunked", 7) != 0)
			return refuse(f, 501, "Transfer-Encoding other than chunked");
	}
	/* The declared length: refused now, before a byte of the body is
	 * read (and before evhttp could send "100 Continue"). */
	if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
	    p->content_length > max)
		return refuse(f, 413, "body larger than --max-body");
	/* The head is complete: its deadline is over, the body's begins. */
	if (f->c->deadline)
		evtimer_del(f->c->deadline);
	if ((p->flags & F_CHUNKED) ||
	    (p->content_length != ULLONG_MAX && p->content_length > 0))
		arm_body_timer(f);
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct frame *f = p->data;

	(void)at;
	f->body += n;
	if (f->body > f->c->srv->o->max_body)
		return refuse(f, 413, "body larger than --max-body");
	return 0;
}

static int
on_complete(http_parser *p)
{
	struct frame *f = p->data;

	if (f->body_timer)
		evtimer_del(f->body_timer);
	/* Stop here so the caller knows where this request ends. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_begin,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

/* ------------------------------------------------------------------------ */
/* Refusals and closes */

void
tls_close_notify(struct conn *c)
{
	SSL *ssl = c->bev ? bufferevent_openssl_get_ssl(c->bev) : NULL;

	/* Only after everything before it has gone out: the alert is written
	 * straight to the socket, behind what the bufferevent still holds. */
	if (!ssl || evbuffer_get_length(bufferevent_get_output(c->bev)) ||
	    !SSL_is_init_finished(ssl) ||
	    (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
		return;
	SSL_shutdown(ssl);
	ERR_clear_error();
}

/* What we sent has left the output buffer: close_notify, half close, then
 * drop what the client still sends until it closes or LINGER_S pass. */
static void
on_drained(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct timeval tv = { LINGER_S, 0 };

	(void)what;
	tls_close_notify(c);
	fd = bufferevent_getfd(c->bev);
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	if (c->deadline)
		evtimer_add(c->deadline, &tv); /* then on_deadline() shuts it */
}

static void
out_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	if (info->n_deleted && evbuffer_get_length(b) == 0)
		event_active(c->fr->drained, EV_TIMEOUT, 1);
}

int
frame_closing(const struct conn *c)
{
	return c->fr && (c->fr->code || c->fr->closing);
}

void
frame_close(struct conn *c)
{
	struct frame *f = c->fr;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (!f || f->closing)
		return;
	f->closing = 1; /* the filter drops what comes in from now on */
	if (evbuffer_get_length(out) == 0)
		event_active(f->drained, EV_TIMEOUT, 1);
	else
		evbuffer_add_cb(out, out_cb, c);
}

static void
send_refusal(struct conn *c)
{
	struct frame *f = c->fr;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char body[256];
	int n;

	if (f->sent)
		return;
	f->sent = 1;
	c->srv->nrefused++;
	if (!c->srv->o->quiet)
		fprintf(stderr, "refused %d: %s\n", f->code, f->why);
	n = snprintf(body, sizeof(body),
		     "{\"status\":%d,\"error\":\"%s\"}\n", f->code, f->why);
	evbuffer_add_printf(out,
		"HTTP/1.1 %d %s\r\nServer: %s\r\n"
		"X-Content-Type-Options: nosniff\r\n"
		"Content-Type: application/json\r\nContent-Length: %d\r\n"
		"Connection: close\r\n\r\n",
		f->code, status_text(f->code), SERVER_NAME, n);
	evbuffer_add(out, body, (size_t)n);
	bufferevent_enable(c->bev, EV_WRITE);
	if (c->deadline) { /* a client that reads nothing: shut at the fuse */
		struct timeval tv = { (time_t)c->srv->o->header_timeout_s, 0 };

		evtimer_add(c->deadline, &tv);
	}
	frame_close(c);
}

static void
on_body_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	refuse(c->fr, 408, "request body not received in time");
	frame_answered(c, 0);
}

void
frame_answered(struct conn *c, unsigned one)
{
	struct frame *f = c->fr;

	if (!f)
		return;
	f->answered += one;
	/* evhttp has answered everything we passed: our turn. */
	if (f->code && f->answered >= f->passed)
		send_refusal(c);
}

/* ------------------------------------------------------------------------ */
/* The filter */

/*
 * evhttp writes a response into the filter's output before it enables
 * writing on it, and enabling a filter does not look at what is waiting
 * (libevent 2.1): without a push, the response would stay there.  And a
 * chunk added while writing is on goes down at once, before evhttp has set
 * the callback that waits for it.  So every addition schedules one pass of
 * the filter after evhttp's callback, which also tells evhttp in that case.
 */
static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	/* Nothing moved now, nothing waits, and evhttp still writes (it
	 * disables writing once a response is done): what it added went down
	 * at once, before it set the callback it expects for it (a stream's
	 * chunk).  Tell it now.  Not otherwise: its callback may be stale. */
	if (bufferevent_flush(c->fbev, EV_WRITE, BEV_NORMAL) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->fbev)) == 0 &&
	    (bufferevent_get_enabled(c->fbev) & EV_WRITE))
		bufferevent_trigger(c->fbev, EV_WRITE, 0);
}

static void
fout_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	(void)b;
	if (info->n_added)
		event_active(c->fr->kick, EV_TIMEOUT, 1);
}

static enum bufferevent_filter_result
frame_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
	 enum bufferevent_flush_mode mode, void *arg)
{
	struct conn *c = arg;
	struct frame *f = c->fr;
	struct evbuffer_iovec v[16];
	size_t pass = 0, parsed = 0; /* bytes of src */
	unsigned done = 0;	     /* requests completed in them */
	int i, nv;

	(void)lim;
	(void)mode;
	if (f->code || f->closing) { /* the rest is dropped */
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_NEED_MORE;
	}
	nv = evbuffer_peek(src, -1, NULL, v, 16);
	if (nv > 16)
		nv = 16; /* the rest on the next call */
	for (i = 0; i < nv && !f->code; i++) {
		const char *d = v[i].iov_base;
		size_t len = v[i].iov_len, off = 0;

		f->chunk = d;
		while (off < len) {
			size_t k = http_parser_execute(&f->p, &settings,
						       d + off, len - off);
			enum http_errno e = HTTP_PARSER_ERRNO(&f->p);

			off += k;
			if (e == HPE_PAUSED) { /* a request ended at off */
				http_parser_pause(&f->p, 0);
				done++;
				pass = parsed + off;
				if (f->p.upgrade) /* not ours: parse on */
					http_parser_init(&f->p, HTTP_REQUEST);
				continue;
			}
			if (e == HPE_CLOSED_CONNECTION) {
				off = len; /* after "Connection: close" */
				break;
			}
			if (e != HPE_OK) {
				refuse(f, e == HPE_HEADER_OVERFLOW ? 431 : 400,
				       http_errno_description(e));
				break;
			}
			if (k == 0)
				break;
		}
		if (len)
			f->last = (unsigned char)d[len - 1];
		parsed += off;
		if (!f->code)
			pass = parsed;
	}
	f->chunk = NULL;
	if (pass)
		evbuffer_remove_buffer(src, dst, pass);
	f->passed += done;
	if (f->code) {
		evbuffer_drain(src, evbuffer_get_length(src));
		frame_answered(c, 0);
	} else {
		evbuffer_drain(src, parsed - pass);
	}
	return pass ? BEV_OK : BEV_NEED_MORE;
}

/*
 * Out: what evhttp writes goes down whole, its chains moved (a file's
 * chunks are the chains the jobs read the file into: no byte is copied
 * here).  The filter calls this only while the TLS side is under its high
 * watermark.
 *
 * bufferevent_openssl makes one SSL_write(), hence one TLS record and one
 * write() to the socket, per chain.  A small response is evhttp's head in
 * one chain and the body in another: two records, two syscalls and two TCP
 * segments where one does.  So a response that fits one record (16 KiB)
 * goes down as one chain (a copy of at most 16 KiB; a file's chunks are
 * bigger and always move as they are).
 */
#define TLS_RECORD_MAX 16384
static enum bufferevent_filter_result
frame_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
	  enum bufferevent_flush_mode mode, void *arg)
{
	(void)lim;
	(void)mode;
	(void)arg;
	if (evbuffer_get_length(src) <= TLS_RECORD_MAX &&
	    evbuffer_peek(src, -1, NULL, NULL, 0) > 1)
		evbuffer_pullup(src, -1); /* no memory: several chains, fine */
	return evbuffer_add_buffer(dst, src) == 0 ? BEV_OK : BEV_ERROR;
}

struct bufferevent *
frame_wrap(struct conn *c, struct bufferevent *tls)
{
	struct event_base *base = bufferevent_get_base(tls);
	struct frame *f = calloc(1, sizeof(*f));
	struct bufferevent *bev;

	if (!f)
		return NULL;
	/* Below evhttp's own cap (4 x --max-header, where it closes without
	 * a word): a head this big is refused here, with 431. */
	http_parser_set_max_header_size(
		(uint32_t)(2 * c->srv->o->max_header + 1024));
	http_parser_init(&f->p, HTTP_REQUEST);
	f->p.data = f;
	f->c = c;
	f->body_timer = evtimer_new(base, on_body_timeout, c);
	f->drained = event_new(base, -1, 0, on_drained, c);
	f->kick = event_new(base, -1, 0, on_kick, c);
	if (!f->body_timer || !f->drained || !f->kick) {
		frame_free(f);
		return NULL;
	}
	bev = bufferevent_filter_new(tls, frame_in, frame_out,
				     BEV_OPT_CLOSE_ON_FREE, NULL, c);
	if (!bev) {
		frame_free(f);
		return NULL;
	}
	/* evhttp enables and disables the filter; the TLS side under it
	 * stays enabled (the filter holds what evhttp does not want yet). */
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	c->fr = f;
	c->fbev = bev;
	if (!evbuffer_add_cb(bufferevent_get_output(bev), fout_cb, c)) {
		c->fr = NULL;
		c->fbev = NULL;
		bufferevent_free(bev);
		frame_free(f);
		return NULL;
	}
	return bev;
}

void
frame_free(struct frame *f)
{
	if (!f)
		return;
	if (f->body_timer)
		event_free(f->body_timer);
	if (f->drained)
		event_free(f->drained);
	if (f->kick)
		event_free(f->kick);
	free(f);
}

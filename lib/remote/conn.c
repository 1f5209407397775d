/*
 * conn.c — remote mode's Redis plumbing, shared by the client (client.c)
 * and the worker (worker.c): URL parsing, a synchronous probe that reports
 * a bad address or bad credentials at once, and asynchronous connections
 * through hiredis' libevent adapter.
 *
 * DESIGN: hiredis 0.14 neither reconnects nor authenticates by itself.  A
 * connection here is made, then AUTH and SELECT are queued on it before
 * any command of the caller, so Redis runs them first (one connection is
 * answered in order).  A refused AUTH drops the connection; the owners
 * reconnect with evpool__rbackoff_ms() and count the time they have been
 * without Redis.  Commands on the hot path are written when the callback
 * that queued them returns (evpool__rpair_flush()), not one loop turn
 * later as hiredis' adapter does.  (Not with epoll's changelist, which
 * would also fold hiredis' add and remove of the write event: its
 * deferred epoll_ctl() can land on a closed descriptor's number that
 * another thread of the host has reused.)  TLS (rediss://)
 * is refused: Debian 12's hiredis 0.14.1 has no TLS (hiredis_ssl came
 * with hiredis 1.0).  Passwords are taken from the URL as they are (no
 * percent decoding).
 */
#include "remote-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

static int
parse_userinfo(const char *s, size_t n, struct evpool__rurl *u)
{
	const char *colon = memchr(s, ':', n);

	if (colon) {
		size_t ul = (size_t)(colon - s), pl = n - ul - 1;

		if (ul >= sizeof(u->user) || pl >= sizeof(u->pass))
			return -1;
		memcpy(u->user, s, ul);
		u->user[ul] = 0;
		memcpy(u->pass, colon + 1, pl);
		u->pass[pl] = 0;
	} else {
		/* redis://password@host, as redis-cli takes it */
		if (n >= sizeof(u->pass))
			return -1;
		memcpy(u->pass, s, n);
		u->pass[n] = 0;
	}
	return 0;
}

static int
bad_url(const char *url, const char *why)
{
	return evpool__err(-EINVAL,
			   "Redis URL '%s': %s (want redis://[user[:password]@]host[:port][/db] or unix://[user[:password]@]/path[?db=N])",
			   url, why);
}

int
evpool__rurl_parse(const char *url, struct evpool__rurl *u)
{
	const char *p, *at, *end;
	char *e;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(url, "rediss://", 9) == 0)
		return evpool__err(-ENOTSUP,
				   "Redis URL '%s': TLS (rediss://) is not supported: Debian 12's hiredis 0.14.1 has no TLS (hiredis_ssl came with hiredis 1.0); use a unix socket or an encrypting tunnel (stunnel, spiped)",
				   url);
	if (strncmp(url, "unix://", 7) == 0) {
		p = url + 7;
		at = strrchr(p, '@');
		if (at) {
			if (parse_userinfo(p, (size_t)(at - p), u) < 0)
				return bad_url(url, "user or password too long");
			p = at + 1;
		}
		if (*p != '/')
			return bad_url(url, "the socket path must be absolute");
		end = strchr(p, '?');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) >= sizeof(u->host))
			return bad_url(url, "socket path too long");
		memcpy(u->host, p, (size_t)(end - p));
		u->host[end - p] = 0;
		u->port = 0;
		if (*end) {
			if (strncmp(end, "?db=", 4) != 0)
				return bad_url(url, "only ?db=N may follow the path");
			errno = 0;
			long db = strtol(end + 4, &e, 10);
			if (errno || *e || e == end + 4 || db < 0 || db > 1000000)
				return bad_url(url, "bad database number");
			u->db = (int)db;
		}
		return 0;
	}
	if (strncmp(url, "redis://", 8) == 0) {
		p = url + 8;
	} else if (url[0] == '/') {
		/* a bare socket path */
		if (strlen(url) >= sizeof(u->host))
			return bad_url(url, "socket path too long");
		snprintf(u->host, sizeof(u->host), "%s", url);
		u->port = 0;
		return 0;
	} else if (strstr(url, "://")) {
		return bad_url(url, "unknown scheme");
	} else {
		p = url;	/* host[:port] */
	}
	at = strrchr(p, '@');
	if (at) {
		if (parse_userinfo(p, (size_t)(at - p), u) < 0)
			return bad_url(url, "user or password too long");
		p = at + 1;
	}
	end = p + strcspn(p, ":/");
	if (end == p)
		return bad_url(url, "no host");
	if ((size_t)(end - p) >= sizeof(u->host))
		return bad_url(url, "host name too long");
	memcpy(u->host, p, (size_t)(end - p));
	u->host[end - p] = 0;
	p = end;
	if (*p == ':') {
		errno = 0;
		long port = strtol(p + 1, &e, 10);
		if (errno || e == p + 1 || port < 1 || port > 65535)
			return bad_url(url, "bad port");
		u->port = (int)port;
		p = e;
	}
	if (*p == '/') {
		if (p[1]) {
			errno = 0;
			long db = strtol(p + 1, &e, 10);
			if (errno || *e || db < 0 || db > 1000000)
				return bad_url(url, "bad database number");
			u->db = (int)db;
		}
		p += strlen(p);
	}
	if (*p)
		return bad_url(url, "unexpected characters after the host");
	return 0;
}

void
evpool__rkey_jobs(char *buf, size_t n, const char *q)
{
	snprintf(buf, n, "evpool:{%s}:jobs", q);
}

/* The next reconnect delay by attempt @p n: 50 ms doubling to 2 s. */
static unsigned
rbackoff_ms(unsigned n)
{
	return n >= 6 ? 2000 : 50u << n;	/* 50 100 ... 1600 2000 */
}

static const char *
where(const struct evpool__rurl *u, char *buf, size_t n)
{
	if (u->port)
		snprintf(buf, n, "%s:%d", u->host, u->port);
	else
		snprintf(buf, n, "%s", u->host);
	return buf;
}

static bool
reply_err(redisReply *r)
{
	return !r || r->type == REDIS_REPLY_ERROR;
}

int
evpool__rprobe(const struct evpool__rurl *u, const char *jobs_key,
	       const char *who)
{
	struct timeval tv = { 2, 0 };
	redisContext *c;
	redisReply *r;
	char w[300];
	int ret = 0;

	c = u->port ? redisConnectWithTimeout(u->host, u->port, tv)
		    : redisConnectUnixWithTimeout(u->host, tv);
	if (!c)
		return evpool__err(-ENOMEM, "%s: out of memory", who);
	if (c->err) {
		ret = evpool__err(-ECONNREFUSED, "%s: cannot reach Redis at %s: %s",
				  who, where(u, w, sizeof(w)), c->errstr);
		redisFree(c);
		return ret;
	}
	redisSetTimeout(c, tv);
	if (u->user[0])
		r = redisCommand(c, "AUTH %s %s", u->user, u->pass);
	else if (u->pass[0])
		r = redisCommand(c, "AUTH %s", u->pass);
	else
		r = redisCommand(c, "PING");
	if (reply_err(r)) {
		bool auth = r && (strncmp(r->str, "WRONGPASS", 9) == 0 ||
				  strncmp(r->str, "NOAUTH", 6) == 0 ||
				  strstr(r->str, "password") != NULL);
		ret = evpool__err(auth ? -EACCES : EVPOOL_EREDIS,
				  "%s: Redis at %s refused %s: %s", who,
				  where(u, w, sizeof(w)),
				  auth ? "the credentials" : "the connection",
				  r ? r->str : c->errstr);
		goto out;
	}
	freeReplyObject(r);
	r = NULL;
	if (u->db) {
		r = redisCommand(c, "SELECT %d", u->db);
		if (reply_err(r)) {
			ret = evpool__err(EVPOOL_EREDIS, "%s: Redis at %s: SELECT %d: %s",
					  who, where(u, w, sizeof(w)), u->db,
					  r ? r->str : c->errstr);
			goto out;
		}
		freeReplyObject(r);
	}
	r = redisCommand(c, "XGROUP CREATE %s " EVPOOL__RGROUP " 0 MKSTREAM",
			 jobs_key);
	if (reply_err(r) && !(r && strncmp(r->str, "BUSYGROUP", 9) == 0)) {
		bool auth = r && strncmp(r->str, "NOPERM", 6) == 0;

		ret = evpool__err(auth ? -EACCES : EVPOOL_EREDIS,
				  "%s: Redis at %s: XGROUP CREATE %s: %s (Redis 6.2 or later is needed)",
				  who, where(u, w, sizeof(w)), jobs_key,
				  r ? r->str : c->errstr);
	}
out:
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ret;
}

/* AUTH or SELECT refused on an async connection: drop it (the owner
 * reconnects, and gives up after its limit). */
static void
on_setup(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)priv;
	if (reply && ((redisReply *)reply)->type == REDIS_REPLY_ERROR)
		redisAsyncDisconnect(ac);
}

static void pair_down(struct evpool__rpair *p, const redisAsyncContext *ac);

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	pair_down(ac->data, ac);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct evpool__rpair *p = ac->data;
	bool cmd = ac == p->cmd;

	if (status != REDIS_OK) {
		/* hiredis frees it without calling on_disconnect */
		pair_down(p, ac);
		return;
	}
	if (cmd)
		p->cmd_up = true;
	else
		p->blk_up = true;
	if (p->cmd_up && (p->blk_up || p->no_blk))
		p->attempts = 0;
	p->up(p->owner, cmd);
}

/* Connect, then queue AUTH and SELECT before anything else. */
static redisAsyncContext *
rconnect(struct evpool__rpair *p)
{
	const struct evpool__rurl *u = p->url;
	redisAsyncContext *ac;

	ac = u->port ? redisAsyncConnect(u->host, u->port)
		     : redisAsyncConnectUnix(u->host);
	if (!ac)
		return NULL;
	if (ac->err) {
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = p;
	if (redisLibeventAttach(ac, p->base) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (u->user[0])
		redisAsyncCommand(ac, on_setup, NULL, "AUTH %s %s", u->user,
				  u->pass);
	else if (u->pass[0])
		redisAsyncCommand(ac, on_setup, NULL, "AUTH %s", u->pass);
	if (u->db)
		redisAsyncCommand(ac, on_setup, NULL, "SELECT %d", u->db);
	return ac;
}

static void
schedule(struct evpool__rpair *p)
{
	unsigned ms = rbackoff_ms(p->attempts++);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (!p->closing && !evtimer_pending(p->recon_ev, NULL))
		evtimer_add(p->recon_ev, &tv);
}

static void
pair_down(struct evpool__rpair *p, const redisAsyncContext *ac)
{
	bool cmd;

	if (ac == p->cmd) {
		p->cmd = NULL;
		p->cmd_up = false;
		cmd = true;
	} else if (ac == p->blk) {
		p->blk = NULL;
		p->blk_up = false;
		cmd = false;
	} else {
		return;
	}
	schedule(p);
	p->down(p->owner, cmd);
}

void
evpool__rpair_connect(struct evpool__rpair *p)
{
	bool again = false;

	if (p->closing)
		return;
	if (!p->cmd && !(p->cmd = rconnect(p))) {
		again = true;
		p->down(p->owner, true);	/* counts as a drop */
	}
	if (!p->blk && !p->no_blk && !(p->blk = rconnect(p))) {
		again = true;
		p->down(p->owner, false);
	}
	if (again)
		schedule(p);
}

static void
on_reconnect(evutil_socket_t fd, short what, void *arg)
{
	struct evpool__rpair *p = arg;

	(void)fd;
	(void)what;
	atomic_fetch_add_explicit(&p->reconnects, 1, memory_order_relaxed);
	evpool__rpair_connect(p);
}

void
evpool__rloop(struct event_base *base, const uint64_t *poll_until)
{
	for (;;) {
		bool poll = *poll_until && evpool__now_ns() < *poll_until;
		int r = event_base_loop(base, poll ? EVLOOP_NONBLOCK
						   : EVLOOP_ONCE);

		if (r != 0 || event_base_got_break(base) ||
		    event_base_got_exit(base))
			return;
	}
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct evpool__rpair *p = arg;

	(void)fd;
	(void)what;
	/* A failed write drops its connection (pair_down() clears it). */
	if (p->cmd_up)
		redisAsyncHandleWrite(p->cmd);
	if (p->blk_up)
		redisAsyncHandleWrite(p->blk);
}

void
evpool__rpair_flush(struct evpool__rpair *p)
{
	event_active(p->flush_ev, EV_TIMEOUT, 0);	/* once if again */
}

int
evpool__rpair_init(struct evpool__rpair *p, const struct evpool__rurl *url,
		   struct event_base *base, void *owner,
		   void (*up)(void *, bool), void (*down)(void *, bool))
{
	memset(p, 0, sizeof(*p));
	p->url = url;
	p->base = base;
	p->owner = owner;
	p->up = up;
	p->down = down;
	p->recon_ev = evtimer_new(base, on_reconnect, p);
	p->flush_ev = event_new(base, -1, 0, on_flush, p);
	return p->recon_ev && p->flush_ev ? 0 : -ENOMEM;
}

void
evpool__rpair_drop_blk(struct evpool__rpair *p)
{
	p->no_blk = true;
	if (p->blk) {
		redisAsyncContext *ac = p->blk;

		redisAsyncFree(ac);	/* calls on_disconnect if connected */
		p->blk = NULL;
		p->blk_up = false;
	}
}

void
evpool__rpair_close(struct evpool__rpair *p)
{
	p->closing = true;
	p->no_blk = true;
	if (p->blk)
		redisAsyncFree(p->blk);
	if (p->cmd)
		redisAsyncFree(p->cmd);
	p->blk = p->cmd = NULL;
	p->cmd_up = p->blk_up = false;
	if (p->recon_ev)
		event_free(p->recon_ev);
	if (p->flush_ev)
		event_free(p->flush_ev);
	p->recon_ev = p->flush_ev = NULL;
}

void *
evpool__rowner(const redisAsyncContext *ac)
{
	return ((struct evpool__rpair *)ac->data)->owner;
}

const redisReply *
evpool__rfield(const redisReply *kv, const char *name)
{
	if (!kv || kv->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(kv->element[i]->str, name) == 0)
			return kv->element[i + 1];
	return NULL;
}

bool
evpool__rtransient(const redisReply *r)
{
	static const char *const which[] = { "LOADING", "BUSY", "TRYAGAIN",
					     "MASTERDOWN" };

	if (!r || r->type != REDIS_REPLY_ERROR)
		return false;
	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++)
		if (strncmp(r->str, which[i], strlen(which[i])) == 0)
			return true;
	return false;
}

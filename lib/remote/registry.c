/*
 * registry.c — remote mode's parts that every build has: the process-wide
 * registry of job functions by name, evpool_submit_named(), the job id a
 * remote job sees (evpool_ctx_job_id()), the trampoline a worker runs its
 * jobs through, the remote configuration setters and the submit check.
 * A build without hiredis also gets the remote calls here, failing with
 * -ENOTSUP.
 *
 * DESIGN: the registry is a list of {name, fn} nodes under one mutex.
 * Nodes are never removed while the process lives, so a name pointer
 * (interned: one node per name, fn NULL for a name only a client submits
 * by) can travel in a job's arg without a copy.  Lookups are linear: a
 * program registers a handful of functions.  The list is freed at exit.
 */
#include "remote-internal.h"
#include "pyapi/pyapi-internal.h"

#include <event2/buffer.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reg {
	struct reg *next;
	evpool_fn fn;		/* NULL: a name only interned */
	char name[EVPOOL__RNAME_MAX + 1];
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct reg *reg_head;

bool
evpool__remote_name_ok(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n < 1 || n > EVPOOL__RNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '-'))
			return false;
	}
	return true;
}

/* reg_mu held */
static struct reg *
reg_find(const char *name)
{
	for (struct reg *r = reg_head; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

int
evpool_register_fn(const char *name, evpool_fn fn)
{
	struct reg *r;
	int ret = 0;

	if (!evpool__remote_name_ok(name))
		return evpool__err(-EINVAL,
				   "evpool_register_fn: the name must be 1..%d characters of [A-Za-z0-9_.:-]",
				   EVPOOL__RNAME_MAX);
	if (!fn)
		return evpool__err(-EINVAL, "evpool_register_fn: NULL function");
	pthread_mutex_lock(&reg_mu);
	r = reg_find(name);
	if (r && r->fn && r->fn != fn) {
		ret = evpool__err(-EEXIST,
				  "evpool_register_fn: '%s' is registered to another function",
				  name);
	} else if (r) {
		r->fn = fn;
	} else if ((r = calloc(1, sizeof(*r))) != NULL) {
		snprintf(r->name, sizeof(r->name), "%s", name);
		r->fn = fn;
		r->next = reg_head;
		reg_head = r;
	} else {
		ret = evpool__err(-ENOMEM, "evpool_register_fn: out of memory");
	}
	pthread_mutex_unlock(&reg_mu);
	return ret;
}

evpool_fn
evpool_lookup_fn(const char *name)
{
	struct reg *r;
	evpool_fn fn;

	if (!evpool__remote_name_ok(name)) {
		evpool__err(-EINVAL, "evpool_lookup_fn: not a valid name");
		return NULL;
	}
	pthread_mutex_lock(&reg_mu);
	r = reg_find(name);
	fn = r ? r->fn : NULL;
	pthread_mutex_unlock(&reg_mu);
	if (!fn)
		evpool__err(-ENOENT, "evpool_lookup_fn: no function registered as '%s'",
			    name);
	return fn;
}

const char *
evpool__registry_name(evpool_fn fn)
{
	const char *name = NULL;

	pthread_mutex_lock(&reg_mu);
	for (struct reg *r = reg_head; r; r = r->next)
		if (r->fn == fn) {
			name = r->name;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	return name;
}

const char *
evpool__registry_intern(const char *name)
{
	struct reg *r;

	pthread_mutex_lock(&reg_mu);
	r = reg_find(name);
	if (!r && (r = calloc(1, sizeof(*r))) != NULL) {
		snprintf(r->name, sizeof(r->name), "%s", name);
		r->next = reg_head;
		reg_head = r;
	}
	pthread_mutex_unlock(&reg_mu);
	return r ? r->name : NULL;
}

__attribute__((destructor)) static void
reg_free(void)
{
	while (reg_head) {
		struct reg *r = reg_head;

		reg_head = r->next;
		free(r);
	}
}

/* ---- naming a job ------------------------------------------------------- */

int
evpool__remote_named(struct evpool_ctx *ctx)
{
	(void)ctx;
	return EVPOOL_ENOFUNC;
}

int
evpool_submit_named(struct evpool *pool, const char *name,
		    const struct evpool_job_spec *spec, struct evpool_job **jobp)
{
	struct evpool_job_spec s;

	if (!pool || !spec)
		return evpool__err(-EINVAL, "evpool_submit_named: NULL %s",
				   pool ? "spec" : "pool");
	if (!evpool__remote_name_ok(name))
		return evpool__err(-EINVAL,
				   "evpool_submit_named: the name must be 1..%d characters of [A-Za-z0-9_.:-]",
				   EVPOOL__RNAME_MAX);
	if (spec->fn)
		return evpool__err(-EINVAL,
				   "evpool_submit_named: spec.fn must be NULL (the name gives the function)");
	s = *spec;
	if (pool->cfg.mode == EVPOOL_MODE_REMOTE) {
		if (spec->arg)
			return evpool__err(-EINVAL,
					   "evpool_submit_named: remote pools take byte input (spec.input), not a pointer");
		s.fn = evpool__remote_named;
		s.arg = (void *)evpool__registry_intern(name);
		if (!s.arg)
			return evpool__err(-ENOMEM, "evpool_submit_named: out of memory");
	} else {
		s.fn = evpool_lookup_fn(name);
		if (!s.fn)
			return evpool__err(-ENOENT,
					   "evpool_submit_named: no function registered as '%s'",
					   name);
	}
	return evpool_submit_job(pool, &s, jobp);
}

int
evpool__remote_check(struct evpool *pool, const struct evpool_job_spec *spec)
{
	evpool_fn fn = spec->fn ? spec->fn : pool->dq->default_fn;
	size_t len = spec->input_evbuffer
			     ? evbuffer_get_length(spec->input_evbuffer)
			     : spec->input_len;

	if (len > pool->cfg.remote.max_input)
		return evpool__err(-EMSGSIZE,
				   "evpool_submit: input of %zu bytes is over the remote limit of %zu (evpool_config_set_remote_limits)",
				   len, pool->cfg.remote.max_input);
	if (fn == evpool__remote_named)
		return 0;	/* arg is the interned name */
	if (spec->arg)
		return evpool__err(-EINVAL,
				   "evpool_submit: remote pools take byte input (spec.input or spec.input_evbuffer), not a pointer");
	if (fn == evpool__chunk_run) {
		/* a chunk of a map: it travels by its function's name */
		fn = evpool__chunk_fn(spec->input, spec->input_len);
		if (!fn)
			return evpool__err(-EINVAL, "evpool_submit: a malformed chunk");
	}
	if (fn && !evpool__registry_name(fn))
		return evpool__err(-EINVAL,
				   "evpool_submit: the job function is not registered (evpool_register_fn): remote jobs travel by name");
	return 0;
}

/* ---- inside a remote job ------------------------------------------------ */

static __thread const char *tls_job_id;

/* In the name length word of a trampoline input: the job is a chunk of a
 * map (its input a chunk frame), to run item by item. */
#define TRAMP_CHUNK 0x8000u

const char *
evpool_ctx_job_id(struct evpool_ctx *ctx)
{
	return ctx ? tls_job_id : NULL;
}

size_t
evpool__trampoline_input(const char *id, size_t idlen, const char *name,
			 size_t nlen, bool chunk, const void *in, size_t inlen,
			 void **out)
{
	size_t n = 2 + idlen + 2 + nlen + inlen;
	unsigned char *p = malloc(n ? n : 1);
	size_t nword = nlen | (chunk ? TRAMP_CHUNK : 0);

	*out = p;
	if (!p)
		return 0;
	p[0] = (unsigned char)(idlen >> 8);
	p[1] = (unsigned char)idlen;
	memcpy(p + 2, id, idlen);
	p += 2 + idlen;
	p[0] = (unsigned char)(nword >> 8);
	p[1] = (unsigned char)nword;
	memcpy(p + 2, name, nlen);
	p += 2 + nlen;
	if (inlen)
		memcpy(p, in, inlen);
	return n;
}

int
evpool__remote_trampoline(struct evpool_ctx *ctx)
{
	const unsigned char *p = ctx->input;
	size_t len = ctx->input_len, idlen, nlen;
	char id[256], name[EVPOOL__RNAME_MAX + 1];
	const void *save_in = ctx->input;
	size_t save_len = ctx->input_len;
	bool chunk;
	evpool_fn fn;
	int r;

	if (len < 2 || (idlen = (size_t)p[0] << 8 | p[1]) >= sizeof(id) ||
	    len < 4 + idlen)
		return -EINVAL;
	memcpy(id, p + 2, idlen);
	id[idlen] = 0;
	nlen = (size_t)p[2 + idlen] << 8 | p[3 + idlen];
	chunk = nlen & TRAMP_CHUNK;
	nlen &= ~(size_t)TRAMP_CHUNK;
	if (nlen > EVPOOL__RNAME_MAX || len < 4 + idlen + nlen)
		return -EINVAL;
	memcpy(name, p + 4 + idlen, nlen);
	name[nlen] = 0;
	fn = evpool_lookup_fn(name);
	if (!fn || fn == evpool__remote_trampoline)
		return EVPOOL_ENOFUNC;
	ctx->input = p + 4 + idlen + nlen;
	ctx->input_len = len - 4 - idlen - nlen;
	if (!ctx->input_len)
		ctx->input = NULL;
	tls_job_id = id;
	r = chunk ? evpool__chunk_run_as(ctx, fn) : fn(ctx);
	tls_job_id = NULL;
	ctx->input = save_in;
	ctx->input_len = save_len;
	return r;
}

/* ---- configuration ------------------------------------------------------ */

void
evpool__remote_config_defaults(struct evpool__remote_cfg *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->max_input = (size_t)16 << 20;
	rc->max_inflight = 1024;
	rc->visibility_ms = 30000;
	rc->max_deliveries = 3;
	rc->reconnect_ms = 30000;
}

int
evpool_remote_available(void)
{
#ifdef HAVE_HIREDIS
	return 1;
#else
	return 0;
#endif
}

int
evpool_config_set_remote(struct evpool_config *cfg, const char *url,
			 const char *queue)
{
	if (!cfg || !url || !queue)
		return evpool__err(-EINVAL, "evpool_config_set_remote: NULL %s",
				   !cfg ? "config" : !url ? "url" : "queue");
#ifndef HAVE_HIREDIS
	return evpool__err(-ENOTSUP,
			   "evpool_config_set_remote: this libevpool was built without hiredis (configure --with-hiredis)");
#else
	{
		struct evpool__rurl u;
		int r;

		if (strlen(url) >= sizeof(cfg->remote.url))
			return evpool__err(-EINVAL,
					   "evpool_config_set_remote: URL longer than %zu characters",
					   sizeof(cfg->remote.url) - 1);
		if (!evpool__remote_name_ok(queue))
			return evpool__err(-EINVAL,
					   "evpool_config_set_remote: the queue name must be 1..%d characters of [A-Za-z0-9_.:-]",
					   EVPOOL__RNAME_MAX);
		r = evpool__rurl_parse(url, &u);
		if (r < 0)
			return r;
		snprintf(cfg->remote.url, sizeof(cfg->remote.url), "%s", url);
		snprintf(cfg->remote.queue, sizeof(cfg->remote.queue), "%s", queue);
		cfg->mode = EVPOOL_MODE_REMOTE;
		return 0;
	}
#endif
}

int
evpool_config_set_remote_limits(struct evpool_config *cfg, size_t max_input,
				unsigned max_inflight)
{
	if (!cfg)
		return evpool__err(-EINVAL, "evpool_config_set_remote_limits: NULL config");
	if (max_input < 1 || max_input > ((size_t)512 << 20))
		return evpool__err(-EINVAL,
				   "evpool_config_set_remote_limits: max_input must be 1..512 MiB, got %zu",
				   max_input);
	if (max_inflight < 1 || max_inflight > 65535)
		return evpool__err(-EINVAL,
				   "evpool_config_set_remote_limits: max_inflight must be 1..65535, got %u",
				   max_inflight);
	cfg->remote.max_input = max_input;
	cfg->remote.max_inflight = max_inflight;
	return 0;
}

int
evpool_config_set_remote_redelivery(struct evpool_config *cfg,
				    unsigned visibility_ms,
				    unsigned max_deliveries)
{
	if (!cfg)
		return evpool__err(-EINVAL, "evpool_config_set_remote_redelivery: NULL config");
	if (visibility_ms < 50 || visibility_ms > 86400000u)
		return evpool__err(-EINVAL,
				   "evpool_config_set_remote_redelivery: visibility_ms must be 50..86400000, got %u",
				   visibility_ms);
	if (max_deliveries < 1 || max_deliveries > 1000)
		return evpool__err(-EINVAL,
				   "evpool_config_set_remote_redelivery: max_deliveries must be 1..1000, got %u",
				   max_deliveries);
	cfg->remote.visibility_ms = visibility_ms;
	cfg->remote.max_deliveries = max_deliveries;
	return 0;
}

int
evpool_config_set_remote_reconnect(struct evpool_config *cfg,
				   unsigned give_up_ms)
{
	if (!cfg)
		return evpool__err(-EINVAL, "evpool_config_set_remote_reconnect: NULL config");
	cfg->remote.reconnect_ms = give_up_ms;
	return 0;
}

int
evpool_config_set_remote_poll(struct evpool_config *cfg, unsigned max_us)
{
	if (!cfg)
		return evpool__err(-EINVAL, "evpool_config_set_remote_poll: NULL config");
	if (max_us > EVPOOL__RPOLL_MAX_US)
		return evpool__err(-EINVAL,
				   "evpool_config_set_remote_poll: %u us is over the %u us maximum",
				   max_us, EVPOOL__RPOLL_MAX_US);
	cfg->remote.poll_us = max_us;
	return 0;
}

#ifndef HAVE_HIREDIS
const struct evpool__mode_ops *const evpool__remote_ops = NULL;

int
evpool_remote_get_stats(struct evpool *pool, struct evpool_remote_stats *st)
{
	(void)pool;
	(void)st;
	return evpool__err(-EINVAL,
			   "evpool_remote_get_stats: not a remote pool (this build has no remote mode)");
}

int
evpool_worker_run(const struct evpool_config *cfg, int grace_ms)
{
	(void)cfg;
	(void)grace_ms;
	return evpool__err(-ENOTSUP,
			   "evpool_worker_run: this libevpool was built without hiredis (configure --with-hiredis)");
}

void
evpool_worker_stop(void)
{
}
#endif

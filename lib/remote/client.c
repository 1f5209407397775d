/*
 * client.c — remote mode's client side: the mode ops of a remote pool.
 *
 * DESIGN: see remote-internal.h for the whole picture.  Each core worker
 * thread of a remote pool is a DISPATCHER with an I/O thread of its own
 * (struct rcl).  The dispatcher moves jobs from the queue to the I/O
 * thread (a ring under rcl->mu) while fewer than max_inflight are in
 * flight, and sleeps on the queue's condition variable otherwise, so that
 * submits wake it as they wake an idle worker.  A submit that finds its
 * queue empty (and unbounded, without priorities) skips the dispatcher: it
 * hands the job to an I/O thread with room itself (rc_submit_direct()),
 * but only while that thread's dispatcher is in rc_run(), which it leaves
 * LINGER_MS after its last job, so that terminate finds every job in
 * flight through a busy worker.  After its last job the I/O thread polls
 * for IDLE_POLL_NS instead of sleeping: a callback that submits the next
 * job then costs no wake-up on this side.  Everything that talks to
 * Redis is in the I/O thread: it owns the slots (one per job in flight,
 * the job id names it), both hiredis connections, the deadlines, the
 * reconnects, and it alone completes jobs of its slots.
 *
 * The finish race: ops->kill (cancel, under q->mu) wins a job by its
 * RUNNING -> FINISHING claim and pokes the I/O thread, which then owes the
 * job a -ECANCELED completion (its own claim fails), XDELs its entry and
 * frees the slot.  A result, a deadline and a give-up all finish through
 * finish_slot(), whose claim decides; a slot is freed exactly once, and a
 * later result for it (or for a reused slot: its generation differs) is a
 * duplicate.
 *
 * LOCKS: q->mu > rcl->mu (the dispatcher and rc_submit_direct() hand
 * jobs off with both held; the I/O thread takes either alone and calls no
 * core function with one held).  rpool->mu (the list of dispatchers, for
 * stats and rc_submit_direct()) is a leaf.
 */
#include "remote-internal.h"
#include "pyapi/pyapi-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#define TICK_MS 10
#define READ_BLOCK_MS 2000
#define READ_COUNT 1000
#define STOP_GRACE_MS 1000
#define IDLE_POLL_NS 50000u	/* the I/O thread, after its last job */
#define LINGER_MS 100		/* the dispatcher, after its last job */

enum { S_FREE = 0, S_UNSENT, S_SENT, S_QUEUED };

struct slot {
	struct evpool_job *job;	/* NULL: free */
	uint32_t gen;
	uint8_t state;
	bool resend;		/* after a reconnect: send it again */
	bool chunk;		/* a chunk of a map: fn is "map/<name>" */
	const char *name;	/* interned */
	uint64_t deadline_ns;	/* 0: none */
	uint64_t t0;		/* taken in (intake()) */
	char eid[48];		/* its stream entry, once XADD answered */
};

struct rcl {
	struct evpool *pool;
	struct evpool_queue *q;
	struct evpool__worker *w;	/* the dispatcher */
	bool in_run;		/* the dispatcher is in rc_run() (q->mu) */
	struct rpool *rp;
	struct rcl *next;	/* rp->list */
	char cid[17];
	char reply_key[160];
	unsigned cap;		/* max_inflight */

	/* handoff: dispatcher -> I/O thread */
	pthread_mutex_t mu;
	struct evpool_job **pend;	/* ring of cap */
	unsigned pend_head, pend_n;
	atomic_uint inflight;	/* handed off, not finished */
	struct evpool__poke poke;	/* ops->kill, kill_all; the wake pipe */
	atomic_int stop;
	pthread_t tid;
	bool started;

	/* I/O thread only */
	struct event_base *base;
	struct event *wake_ev, *tick_ev;
	struct evpool__rpair pair;
	bool reading, recovering, need_recover, tick_on;
	uint64_t down_since;	/* 0: connected */
	struct slot *slots;
	unsigned *freel, nfree;
	unsigned live;
	char last_id[48];
	uint64_t poll_until;	/* evpool__rloop() polls until then */
	uint64_t poll_ns;	/* evpool_config_set_remote_poll(); 0: off */
	uint64_t lone_ns;	/* moving average: a lone job's round trip */

	/* stats, written by the I/O thread */
	atomic_uint_fast64_t n_sent, n_resent, n_results, n_redelivered,
		n_lost, n_dups;
};

struct rpool {
	struct evpool__rurl url;
	char jobs_key[128];
	pthread_mutex_t mu;
	struct rcl *list;
};

/* ---- slots ---------------------------------------------------------------- */

static void *
slot_ref(unsigned i, uint32_t gen)
{
	return (void *)(uintptr_t)(((uint64_t)gen << 16 | i) + 1);
}

static struct slot *
slot_of(struct rcl *rc, void *priv)
{
	uint64_t v = (uint64_t)(uintptr_t)priv - 1;
	unsigned i = (unsigned)(v & 0xffff);

	if (i >= rc->cap || !rc->slots[i].job ||
	    rc->slots[i].gen != (uint32_t)(v >> 16))
		return NULL;
	return &rc->slots[i];
}

static void job_id(struct rcl *rc, struct slot *s, char *buf, size_t n)
{
	snprintf(buf, n, "%s.%u.%u", rc->cid, (unsigned)(s - rc->slots),
		 (unsigned)s->gen);
}

static void
xdel(struct rcl *rc, struct slot *s)
{
	if (s->state == S_QUEUED && rc->pair.cmd_up)
		redisAsyncCommand(rc->pair.cmd, NULL, NULL, "XDEL %s %s",
				  rc->rp->jobs_key, s->eid);
}

/* Finish the slot's job (unless ops->kill took it: then -ECANCELED) and
 * free the slot. */
static void
finish_slot(struct rcl *rc, struct slot *s, enum evpool__finish why,
	    int status, const void *data, size_t len)
{
	struct evpool_job *job = s->job;

	if (evpool__job_claim(job, EVPOOL__RUNNING)) {
		if (data && len) {
			void *copy = malloc(len);

			if (copy) {
				memcpy(copy, data, len);
				evpool__job_set_output(job, NULL, copy, len);
			}
		}
		if (why == EVPOOL__FIN_TIMEOUT || why == EVPOOL__FIN_CANCEL)
			evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
		evpool__job_complete(job, why, status);
	} else {
		evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
	}
	evpool_job_unref(job);	/* ours */
	s->job = NULL;
	s->state = S_FREE;
	s->gen++;
	s->resend = false;
	rc->freel[rc->nfree++] = (unsigned)(s - rc->slots);
	if (rc->live == 1) {
		uint64_t now = evpool__now_ns(), ns = now - s->t0;

		if (s->t0)
			rc->lone_ns = rc->lone_ns ? rc->lone_ns - rc->lone_ns / 8 + ns / 8
						  : ns;
		/* The last job's callback often submits the next one at
		 * once (a loop waiting for a result to go on): poll for it
		 * a while. */
		rc->poll_until = now + IDLE_POLL_NS;
	}
	rc->live--;
	atomic_fetch_sub(&rc->inflight, 1);
}

/* After slots were freed: the dispatcher may wait for room for queued
 * jobs, or, when the queue stops, for the last one to return from run().
 * Otherwise it has nothing to do: not woken. */
static void
wake_dispatcher(struct rcl *rc)
{
	struct evpool_queue *q = rc->q;

	pthread_mutex_lock(&q->mu);
	if (q->stopping || evpool__queue_len(q) || atomic_load(&q->intake))
		pthread_cond_broadcast(&q->work_cv);
	pthread_mutex_unlock(&q->mu);
}

/* ---- sending --------------------------------------------------------------- */

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv);

static void
send_job(struct rcl *rc, struct slot *s)
{
	struct evpool__job_ext *x = EVPOOL__EXT(s->job);
	char id[64], fn[sizeof(EVPOOL__RCHUNK_PREFIX) + EVPOOL__RNAME_MAX];
	const char *argv[13];
	size_t lens[13];
	const void *in = x->input;
	size_t inlen = x->input_len;
	int argc = 11;

	job_id(rc, s, id, sizeof(id));
	snprintf(fn, sizeof(fn), "%s%s", s->chunk ? EVPOOL__RCHUNK_PREFIX : "",
		 s->name);
	if (x->inbuf) {
		/* an evbuffer input: made contiguous here, on the I/O thread
		 * (the job owns it; hiredis copies it into its buffer) */
		inlen = evbuffer_get_length(x->inbuf);
		in = inlen ? evbuffer_pullup(x->inbuf, -1) : NULL;
		if (inlen && !in) {
			finish_slot(rc, s, EVPOOL__FIN_ERROR, -ENOMEM, NULL, 0);
			wake_dispatcher(rc);
			return;
		}
	}
	argv[0] = "XADD";
	argv[1] = rc->rp->jobs_key;
	argv[2] = "*";
	argv[3] = "id";
	argv[4] = id;
	argv[5] = "fn";
	argv[6] = fn;
	argv[7] = "re";
	argv[8] = rc->reply_key;
	argv[9] = "in";
	argv[10] = in ? (const char *)in : "";
	if (x->emit && !x->sink) {
		/* its partial results are wanted */
		argv[11] = "em";
		argv[12] = "1";
		argc = 13;
	}
	for (int i = 0; i < argc; i++)
		lens[i] = i == 10 ? inlen : strlen(argv[i]);
	if (redisAsyncCommandArgv(rc->pair.cmd, on_xadd,
				  slot_ref((unsigned)(s - rc->slots), s->gen),
				  argc, argv, lens) == REDIS_OK) {
		s->state = S_SENT;
		atomic_fetch_add_explicit(&rc->n_sent, 1, memory_order_relaxed);
		evpool__rpair_flush(&rc->pair);
	}
}

static void
on_xadd(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rcl *rc = evpool__rowner(ac);
	redisReply *r = reply;
	struct slot *s;

	if (!r)
		return;		/* dropped: resent after the reconnect */
	s = slot_of(rc, priv);
	if (r->type == REDIS_REPLY_STRING) {
		if (s && s->state == S_SENT) {
			snprintf(s->eid, sizeof(s->eid), "%s", r->str);
			s->state = S_QUEUED;
		} else if (!s && rc->pair.cmd_up) {
			/* cancelled or timed out meanwhile: the tombstone */
			redisAsyncCommand(rc->pair.cmd, NULL, NULL, "XDEL %s %s",
					  rc->rp->jobs_key, r->str);
		}
	} else if (s && evpool__rtransient(r)) {
		s->state = S_UNSENT;	/* Redis is loading: the tick resends */
	} else if (s) {
		/* refused (maxmemory, ACL...): nothing will run it */
		finish_slot(rc, s, EVPOOL__FIN_ERROR, EVPOOL_EREDIS,
			    r->type == REDIS_REPLY_ERROR ? r->str : NULL,
			    r->type == REDIS_REPLY_ERROR ? (size_t)r->len : 0);
		wake_dispatcher(rc);
	}
}

/* ---- results ------------------------------------------------------------- */

/* One entry [id, [field, value...]] of the reply stream. */
static bool
take_result(struct rcl *rc, const redisReply *e)
{
	const redisReply *id, *st, *d, *res, *em;
	unsigned long slot, gen;
	struct slot *s;
	size_t cl = strlen(rc->cid);
	char *end;
	int status;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return false;
	snprintf(rc->last_id, sizeof(rc->last_id), "%s", e->element[0]->str);
	id = evpool__rfield(e->element[1], "id");
	st = evpool__rfield(e->element[1], "st");
	d = evpool__rfield(e->element[1], "d");
	res = evpool__rfield(e->element[1], "r");
	em = evpool__rfield(e->element[1], "e");
	if (!id || id->type != REDIS_REPLY_STRING ||
	    strncmp(id->str, rc->cid, cl) || id->str[cl] != '.')
		return false;
	slot = strtoul(id->str + cl + 1, &end, 10);
	if (*end != '.')
		return false;
	gen = strtoul(end + 1, &end, 10);
	if (!st && em && em->type == REDIS_REPLY_STRING) {
		/* a partial result (evpool_ctx_emit() in the worker): to the
		 * emit callback, while the job is ours and not taken */
		s = slot < rc->cap ? &rc->slots[slot] : NULL;
		if (s && s->job && s->gen == (uint32_t)gen &&
		    evpool__job_state(s->job, memory_order_acquire) ==
			    EVPOOL__RUNNING &&
		    EVPOOL__EXT(s->job)->emit && !EVPOOL__EXT(s->job)->sink)
			evpool__emit_push(s->job, em->str, (size_t)em->len);
		return false;
	}
	if (!st || st->type != REDIS_REPLY_STRING)
		return false;
	if (d && d->type == REDIS_REPLY_STRING && strtol(d->str, NULL, 10) > 1)
		atomic_fetch_add_explicit(&rc->n_redelivered, 1,
					  memory_order_relaxed);
	if (slot >= rc->cap || !rc->slots[slot].job ||
	    rc->slots[slot].gen != (uint32_t)gen) {
		atomic_fetch_add_explicit(&rc->n_dups, 1, memory_order_relaxed);
		return false;
	}
	s = &rc->slots[slot];
	status = (int)strtol(st->str, NULL, 10);
	atomic_fetch_add_explicit(&rc->n_results, 1, memory_order_relaxed);
	if (status == EVPOOL_ELOST)
		atomic_fetch_add_explicit(&rc->n_lost, 1, memory_order_relaxed);
	finish_slot(rc, s,
		    status == EVPOOL_ECRASHED ? EVPOOL__FIN_CRASH
		    : status == 0	      ? EVPOOL__FIN_RAN
					      : EVPOOL__FIN_ERROR,
		    status,
		    res && res->type == REDIS_REPLY_STRING ? res->str : NULL,
		    res && res->type == REDIS_REPLY_STRING ? (size_t)res->len : 0);
	return true;
}

/* Entries as XRANGE gives them: [[id, [f, v...]], ...]. */
static void
take_entries(struct rcl *rc, const redisReply *list)
{
	bool any = false;

	if (!list || list->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < list->elements; i++)
		any |= take_result(rc, list->element[i]);
	if (list->elements && rc->pair.cmd_up)
		redisAsyncCommand(rc->pair.cmd, NULL, NULL, "XTRIM %s MINID %s",
				  rc->reply_key, rc->last_id);
	if (any)
		wake_dispatcher(rc);
}

static void issue_read(struct rcl *rc);

static void
on_xread(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rcl *rc = evpool__rowner(ac);
	redisReply *r = reply;

	(void)priv;
	rc->reading = false;
	if (!r)
		return;
	/* [[key, entries]] or nil on timeout */
	if (r->type == REDIS_REPLY_ERROR)
		return;		/* LOADING...: the tick reads again */
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2)
		take_entries(rc, r->element[0]->element[1]);
	issue_read(rc);
}

static void
issue_read(struct rcl *rc)
{
	if (!rc->pair.blk_up || rc->reading || atomic_load(&rc->stop))
		return;
	if (redisAsyncCommand(rc->pair.blk, on_xread, NULL,
			      "XREAD COUNT %d BLOCK %d STREAMS %s %s",
			      READ_COUNT, READ_BLOCK_MS, rc->reply_key,
			      rc->last_id) == REDIS_OK) {
		rc->reading = true;
		evpool__rpair_flush(&rc->pair);
	}
}

/* ---- connections ------------------------------------------------------- */

static void arm_tick(struct rcl *rc);

static void
on_recover_check(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rcl *rc = evpool__rowner(ac);
	redisReply *r = reply;
	struct slot *s = slot_of(rc, priv);

	if (r && s && s->state == S_QUEUED && r->type == REDIS_REPLY_ARRAY &&
	    r->elements == 0)
		s->resend = true;	/* Redis has no such entry any more */
}

/* The reply stream read after the checks: what is answered is finished;
 * what is neither answered nor in Redis is sent again. */
static void
on_recover_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rcl *rc = evpool__rowner(ac);

	(void)priv;
	if (!reply)
		return;
	rc->recovering = false;
	if (evpool__rtransient(reply)) {
		rc->need_recover = true;	/* Redis is loading: the tick */
		return;
	}
	take_entries(rc, reply);
	for (unsigned i = 0; i < rc->cap; i++) {
		struct slot *s = &rc->slots[i];

		if (s->job && (s->resend || s->state != S_QUEUED)) {
			s->resend = false;
			if (s->state != S_UNSENT)
				atomic_fetch_add_explicit(&rc->n_resent, 1,
							  memory_order_relaxed);
			send_job(rc, s);
		}
	}
}

static void
recover(struct rcl *rc)
{
	char from[56];

	rc->recovering = true;
	redisAsyncCommand(rc->pair.cmd, NULL, NULL,
			  "XGROUP CREATE %s " EVPOOL__RGROUP " 0 MKSTREAM",
			  rc->rp->jobs_key);
	for (unsigned i = 0; i < rc->cap; i++) {
		struct slot *s = &rc->slots[i];

		if (s->job && s->state == S_QUEUED)
			redisAsyncCommand(rc->pair.cmd, on_recover_check,
					  slot_ref(i, s->gen), "XRANGE %s %s %s",
					  rc->rp->jobs_key, s->eid, s->eid);
	}
	snprintf(from, sizeof(from), "(%s", rc->last_id);
	redisAsyncCommand(rc->pair.cmd, on_recover_read, NULL, "XRANGE %s %s +",
			  rc->reply_key,
			  strcmp(rc->last_id, "0-0") ? from : "-");
}

/* The pair's callbacks. */
static void
conn_down(void *owner, bool cmd)
{
	struct rcl *rc = owner;

	if (cmd) {
		rc->recovering = false;
		rc->need_recover = false;
		/* XADDs in flight may or may not have landed */
		for (unsigned i = 0; i < rc->cap; i++)
			if (rc->slots[i].job && rc->slots[i].state == S_SENT)
				rc->slots[i].state = S_UNSENT;
		if (atomic_load(&rc->stop))
			event_base_loopbreak(rc->base);
	} else {
		rc->reading = false;
	}
	if (!rc->down_since)
		rc->down_since = evpool__now_ns();
	if (!atomic_load(&rc->stop))
		arm_tick(rc);
}

static void
conn_up(void *owner, bool cmd)
{
	struct rcl *rc = owner;

	if (cmd)
		recover(rc);
	else
		issue_read(rc);
	if (rc->pair.cmd_up && rc->pair.blk_up)
		rc->down_since = 0;
}

/* ---- the I/O thread ----------------------------------------------------- */

static bool
given_up(struct rcl *rc, uint64_t now)
{
	unsigned ms = rc->pool->cfg.remote.reconnect_ms;

	return rc->down_since && ms &&
	       now - rc->down_since >= (uint64_t)ms * 1000000u;
}

/* Deadlines, the reconnect limit, jobs ops->kill took. */
static void
sweep(struct rcl *rc, bool kill_all)
{
	uint64_t now = evpool__now_ns();
	bool gone = given_up(rc, now), freed = false;

	for (unsigned i = 0; i < rc->cap; i++) {
		struct slot *s = &rc->slots[i];

		if (!s->job)
			continue;
		if (kill_all) {
			/* terminate */
			xdel(rc, s);
			finish_slot(rc, s, EVPOOL__FIN_CANCEL, 0, NULL, 0);
		} else if (evpool__job_state(s->job, memory_order_acquire) !=
			   EVPOOL__RUNNING) {
			xdel(rc, s);	/* taken by ops->kill */
			finish_slot(rc, s, EVPOOL__FIN_CANCEL, 0, NULL, 0);
		} else if (s->deadline_ns && now >= s->deadline_ns) {
			xdel(rc, s);
			finish_slot(rc, s, EVPOOL__FIN_TIMEOUT, 0, NULL, 0);
		} else if (gone) {
			finish_slot(rc, s, EVPOOL__FIN_ERROR, EVPOOL_EREDIS,
				    NULL, 0);
		} else {
			continue;
		}
		freed = true;
	}
	if (freed)
		wake_dispatcher(rc);
}

/* Take the jobs the dispatcher handed off. */
static void
intake(struct rcl *rc)
{
	uint64_t now = evpool__now_ns();

	for (;;) {
		struct evpool_job *job;
		struct slot *s;
		struct evpool__job_ext *x;
		unsigned i;

		pthread_mutex_lock(&rc->mu);
		if (!rc->pend_n) {
			pthread_mutex_unlock(&rc->mu);
			break;
		}
		job = rc->pend[rc->pend_head];
		rc->pend_head = (rc->pend_head + 1) % rc->cap;
		rc->pend_n--;
		pthread_mutex_unlock(&rc->mu);

		/* Its answer is a Redis round trip away: poll for it only if
		 * asked to (evpool_config_set_remote_poll()), for a lone job
		 * whose kind has come back within the budget. */
		rc->poll_until = 0;
		if (rc->poll_ns && !rc->live && rc->lone_ns <= rc->poll_ns)
			rc->poll_until = now + (rc->lone_ns && 2 * rc->lone_ns < rc->poll_ns
							? 2 * rc->lone_ns
							: rc->poll_ns);
		i = rc->freel[--rc->nfree];
		s = &rc->slots[i];
		s->job = job;
		s->state = S_UNSENT;
		s->resend = false;
		s->eid[0] = 0;
		s->t0 = now;
		rc->live++;
		x = EVPOOL__EXT(job);
		s->deadline_ns = x->timeout_ms
					 ? now + (uint64_t)x->timeout_ms * 1000000u
					 : 0;
		s->chunk = job->fn == evpool__chunk_run;
		s->name = job->fn == evpool__remote_named
				  ? (const char *)job->arg
			  : s->chunk ? evpool__registry_name(evpool__chunk_fn(
					       x->input, x->input_len))
				     : evpool__registry_name(job->fn);
		if (!s->name) {
			finish_slot(rc, s, EVPOOL__FIN_ERROR, EVPOOL_ENOFUNC,
				    NULL, 0);
			wake_dispatcher(rc);
		} else if (given_up(rc, now)) {
			finish_slot(rc, s, EVPOOL__FIN_ERROR, EVPOOL_EREDIS,
				    NULL, 0);
			wake_dispatcher(rc);
		} else if (rc->pair.cmd_up && !rc->recovering) {
			send_job(rc, s);
		}
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rcl *rc = arg;

	(void)fd;
	(void)what;
	sweep(rc, false);
	issue_read(rc);
	if (rc->pair.cmd_up && rc->need_recover && !rc->recovering) {
		rc->need_recover = false;
		recover(rc);
	} else if (rc->pair.cmd_up && !rc->recovering) {
		/* what a transient error sent back */
		for (unsigned i = 0; i < rc->cap; i++)
			if (rc->slots[i].job && rc->slots[i].state == S_UNSENT)
				send_job(rc, &rc->slots[i]);
	}
	if (!rc->live && !rc->down_since) {
		evtimer_del(rc->tick_ev);
		rc->tick_on = false;
	}
}

static void
arm_tick(struct rcl *rc)
{
	struct timeval tv = { 0, TICK_MS * 1000 };

	if (!rc->tick_on) {
		event_add(rc->tick_ev, &tv);
		rc->tick_on = true;
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct rcl *rc = arg;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (atomic_load(&rc->stop)) {
		event_base_loopbreak(rc->base);
		return;
	}
	intake(rc);
	if (atomic_exchange(&rc->poke.kill_all, 0))
		sweep(rc, true);
	if (atomic_exchange(&rc->poke.poked, 0))
		sweep(rc, false);
	if (rc->live)
		arm_tick(rc);
}

static void *
io_main(void *arg)
{
	struct rcl *rc = arg;
	char name[16];
	sigset_t pipe_set;

	/* A write to a Redis that went away must give EPIPE, not kill the
	 * host: SIGPIPE stays blocked (and pending) in this thread only. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

#ifdef HAVE_PTHREAD_SETNAME_NP
	snprintf(name, sizeof(name), "%s/rio", rc->pool->cfg.name);
	pthread_setname_np(pthread_self(), name);
#else
	(void)name;
#endif
	evpool__rpair_connect(&rc->pair);
	evpool__rloop(rc->base, &rc->poll_until);

	/* Stopping: terminate has finished every job before the workers
	 * stop; drop the reply stream and the connections. */
	for (unsigned i = 0; i < rc->cap; i++)
		if (rc->slots[i].job)
			finish_slot(rc, &rc->slots[i], EVPOOL__FIN_CANCEL, 0,
				    NULL, 0);
	rc->pair.closing = true;
	evpool__rpair_drop_blk(&rc->pair);
	if (rc->pair.cmd_up) {
		struct timeval tv = { STOP_GRACE_MS / 1000,
				      (STOP_GRACE_MS % 1000) * 1000 };

		redisAsyncCommand(rc->pair.cmd, NULL, NULL, "DEL %s", rc->reply_key);
		redisAsyncDisconnect(rc->pair.cmd);	/* after the DEL */
		event_base_loopexit(rc->base, &tv);
		event_base_dispatch(rc->base);
	}
	evpool__rpair_close(&rc->pair);
	return NULL;
}

/* ---- mode ops ----------------------------------------------------------- */

static void
rcl_free(struct rcl *rc)
{
	evpool__rpair_close(&rc->pair);	/* what of it is left */
	if (rc->wake_ev)
		event_free(rc->wake_ev);
	if (rc->tick_ev)
		event_free(rc->tick_ev);
	if (rc->base)
		event_base_free(rc->base);
	if (rc->poke.rfd >= 0)
		close(rc->poke.rfd);
	if (rc->poke.wfd >= 0 && rc->poke.wfd != rc->poke.rfd)
		close(rc->poke.wfd);
	pthread_mutex_destroy(&rc->mu);
	free(rc->pend);
	free(rc->slots);
	free(rc->freel);
	free(rc);
}

static void
random_id(char *buf)
{
	unsigned char b[8];
	FILE *f = fopen("/dev/urandom", "re");
	size_t got = f ? fread(b, 1, sizeof(b), f) : 0;

	if (f)
		fclose(f);
	if (got != sizeof(b)) {
		uint64_t v = evpool__now_ns() ^ ((uint64_t)getpid() << 32);

		memcpy(b, &v, sizeof(b));
	}
	for (int i = 0; i < 8; i++)
		snprintf(buf + 2 * i, 3, "%02x", b[i]);
}

static int
rc_worker_start(struct evpool__worker *w)
{
	struct evpool *pool = w->q->pool;
	struct rpool *rp = pool->mode_data;
	struct rcl *rc = calloc(1, sizeof(*rc));
	int fds[2];

	if (!rc)
		return -ENOMEM;
	rc->poke.rfd = rc->poke.wfd = -1;
	pthread_mutex_init(&rc->mu, NULL);
	rc->pool = pool;
	rc->q = w->q;
	rc->w = w;
	rc->rp = rp;
	rc->cap = pool->cfg.remote.max_inflight;
	rc->poll_ns = (uint64_t)pool->cfg.remote.poll_us * 1000u;
	random_id(rc->cid);
	snprintf(rc->reply_key, sizeof(rc->reply_key), "evpool:{%s}:r:%s",
		 pool->cfg.remote.queue, rc->cid);
	snprintf(rc->last_id, sizeof(rc->last_id), "%s", "0-0");
	rc->pend = calloc(rc->cap, sizeof(*rc->pend));
	rc->slots = calloc(rc->cap, sizeof(*rc->slots));
	rc->freel = calloc(rc->cap, sizeof(*rc->freel));
	if (!rc->pend || !rc->slots || !rc->freel || pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	rc->poke.rfd = fds[0];
	rc->poke.wfd = fds[1];
	for (unsigned i = 0; i < rc->cap; i++)
		rc->freel[i] = rc->cap - 1 - i;
	rc->nfree = rc->cap;
	rc->base = event_base_new();
	if (!rc->base)
		goto fail;
	rc->wake_ev = event_new(rc->base, rc->poke.rfd, EV_READ | EV_PERSIST,
				on_wake, rc);
	rc->tick_ev = event_new(rc->base, -1, EV_PERSIST, on_tick, rc);
	if (!rc->wake_ev || !rc->tick_ev ||
	    evpool__rpair_init(&rc->pair, &rp->url, rc->base, rc, conn_up,
			       conn_down) < 0 ||
	    event_add(rc->wake_ev, NULL) < 0)
		goto fail;
	if (pthread_create(&rc->tid, NULL, io_main, rc) != 0)
		goto fail;
	rc->started = true;
	pthread_mutex_lock(&rp->mu);
	rc->next = rp->list;
	rp->list = rc;
	pthread_mutex_unlock(&rp->mu);
	w->poke = &rc->poke;
	w->mode_data = rc;
	return 0;
fail:
	rcl_free(rc);
	return -ENOMEM;
}

static void
wake_io(struct rcl *rc)
{
	evpool__wake_fd(rc->poke.wfd, 1);
}

static void
rc_worker_stop(struct evpool__worker *w)
{
	struct rcl *rc = w->mode_data;
	struct rpool *rp;

	if (!rc)
		return;
	rp = rc->rp;
	atomic_store(&rc->stop, 1);
	wake_io(rc);
	pthread_join(rc->tid, NULL);
	pthread_mutex_lock(&rp->mu);
	for (struct rcl **pp = &rp->list; *pp; pp = &(*pp)->next)
		if (*pp == rc) {
			*pp = rc->next;
			break;
		}
	pthread_mutex_unlock(&rp->mu);
	w->poke = NULL;
	w->mode_data = NULL;
	rcl_free(rc);
}

/* Hand a RUNNING job, with a reference for the I/O thread, over to it. */
static void
handoff(struct rcl *rc, struct evpool_job *job)
{
	bool first;

	atomic_fetch_add(&rc->inflight, 1);
	pthread_mutex_lock(&rc->mu);
	rc->pend[(rc->pend_head + rc->pend_n) % rc->cap] = job;
	first = rc->pend_n++ == 0;
	pthread_mutex_unlock(&rc->mu);
	if (first)
		wake_io(rc);
}

static void
rc_run(struct evpool__worker *w, struct evpool_job *first)
{
	struct rcl *rc = w->mode_data;
	struct evpool_queue *q = w->q;
	uint64_t linger = 0;

	handoff(rc, evpool__job_ref(first));
	pthread_mutex_lock(&q->mu);
	rc->in_run = true;
	for (;;) {
		while (!q->stopping && atomic_load(&rc->inflight) < rc->cap) {
			struct evpool_job *job = evpool__queue_pop(q);

			if (!job)
				break;
			/* the pop's reference goes to the I/O thread */
			evpool__job_set_state(job, EVPOOL__QUEUED,
					      EVPOOL__RUNNING);
			EVPOOL__EXT(job)->worker = w;
			handoff(rc, job);
		}
		/* Nothing in flight: stay a while (LINGER_MS), so that
		 * submits can hand their jobs to the I/O thread themselves
		 * (rc_submit_direct()), which they do only while we are in
		 * here: terminate finds their jobs through w->current. */
		if (atomic_load(&rc->inflight) == 0) {
			uint64_t now = evpool__now_ns();

			if (q->stopping || (linger && now >= linger))
				break;
			if (!linger)
				linger = now + LINGER_MS * 1000000ull;
		} else {
			linger = 0;
		}
		/* Sleep as an idle worker does, so that a submit wakes us;
		 * the I/O thread wakes us when it frees slots while jobs
		 * wait in the queue. */
		atomic_fetch_add(&q->nsleeping, 1);
		if (atomic_load(&q->intake) &&
		    atomic_load(&rc->inflight) < rc->cap) {
			atomic_fetch_sub(&q->nsleeping, 1);
			continue;
		}
		evpool__cond_wait(&q->work_cv, &q->mu,
				  linger ? linger : evpool__deadline_ns(100));
		q->nsleeping--;
		if (q->nwakeups)
			q->nwakeups--;
	}
	rc->in_run = false;
	pthread_mutex_unlock(&q->mu);
}

/* ops->submit_direct: a job submitted while nothing waits in its queue
 * goes straight to an I/O thread with room whose dispatcher is in
 * rc_run(), instead of through the dispatcher (one thread hand-off and
 * wake-up less in a job's round trip). */
static bool
rc_submit_direct(struct evpool *pool, struct evpool_queue *q,
		 struct evpool_job *job)
{
	struct rpool *rp = pool->mode_data;
	struct rcl *to = NULL;

	if (q->max_queued || !evpool__job_ext(job) ||
	    atomic_load_explicit(&q->prio_used, memory_order_relaxed) ||
	    atomic_load(&q->intake) || evpool__queue_len(q))
		return false;
	pthread_mutex_lock(&q->mu);
	if (!q->stopping && !atomic_load(&q->intake) && !evpool__queue_len(q)) {
		pthread_mutex_lock(&rp->mu);
		for (struct rcl *rc = rp->list; rc; rc = rc->next)
			if (rc->q == q && rc->in_run &&
			    atomic_load(&rc->inflight) < rc->cap) {
				to = rc;
				break;
			}
		pthread_mutex_unlock(&rp->mu);
	}
	if (to) {
		/* the submit's reference (the queue's) goes to the I/O thread */
		evpool__job_set_state(job, EVPOOL__QUEUED, EVPOOL__RUNNING);
		EVPOOL__EXT(job)->worker = to->w;
		handoff(to, job);
	}
	pthread_mutex_unlock(&q->mu);
	return to != NULL;
}

static int
rc_pool_start(struct evpool *pool)
{
	struct rpool *rp;
	int r;

	if (!pool->cfg.remote.url[0])
		return evpool__err(-EINVAL,
				   "evpool_new: remote mode needs a Redis URL (evpool_config_set_remote)");
	rp = calloc(1, sizeof(*rp));
	if (!rp)
		return evpool__err(-ENOMEM, "evpool_new: out of memory");
	r = evpool__rurl_parse(pool->cfg.remote.url, &rp->url);
	evpool__rkey_jobs(rp->jobs_key, sizeof(rp->jobs_key),
			  pool->cfg.remote.queue);
	if (r == 0)
		r = evpool__rprobe(&rp->url, rp->jobs_key, "evpool_new");
	if (r < 0) {
		free(rp);
		return r;
	}
	pthread_mutex_init(&rp->mu, NULL);
	pool->mode_data = rp;
	/* One dispatcher, always there: it is what keeps jobs moving. */
	pool->dq->min_workers = 1;
	atomic_store(&pool->dq->max_workers, 1);
	return 0;
}

static void
rc_pool_stop(struct evpool *pool)
{
	struct rpool *rp = pool->mode_data;

	if (!rp)
		return;
	pthread_mutex_destroy(&rp->mu);
	free(rp);
	pool->mode_data = NULL;
}

static const struct evpool__mode_ops remote_ops = {
	.worker_start = rc_worker_start,
	.worker_stop = rc_worker_stop,
	.run = rc_run,
	.submit_direct = rc_submit_direct,
	.kill = evpool__poke_kill,
	.kill_all = evpool__poke_kill_all,
	.pool_start = rc_pool_start,
	.pool_stop = rc_pool_stop,
};

const struct evpool__mode_ops *const evpool__remote_ops = &remote_ops;

int
evpool_remote_get_stats(struct evpool *pool, struct evpool_remote_stats *st)
{
	struct rpool *rp;

	if (!pool || !st)
		return evpool__err(-EINVAL, "evpool_remote_get_stats: NULL %s",
				   pool ? "stats" : "pool");
	if (pool->cfg.mode != EVPOOL_MODE_REMOTE || !pool->mode_data)
		return evpool__err(-EINVAL, "evpool_remote_get_stats: not a remote pool");
	rp = pool->mode_data;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&rp->mu);
	for (struct rcl *rc = rp->list; rc; rc = rc->next) {
		st->sent += atomic_load(&rc->n_sent);
		st->resent += atomic_load(&rc->n_resent);
		st->results += atomic_load(&rc->n_results);
		st->redelivered += atomic_load(&rc->n_redelivered);
		st->lost += atomic_load(&rc->n_lost);
		st->duplicates += atomic_load(&rc->n_dups);
		st->reconnects += atomic_load(&rc->pair.reconnects);
		st->inflight += atomic_load(&rc->inflight);
	}
	pthread_mutex_unlock(&rp->mu);
	return 0;
}

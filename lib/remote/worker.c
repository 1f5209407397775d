/*
 * worker.c — remote mode's worker side: evpool_worker_run() turns the
 * calling process into a worker of a queue.
 *
 * DESIGN: see remote-internal.h for the whole picture.  One thread and one
 * event_base carry everything: two hiredis connections (XREADGROUP blocks
 * on one, results and claims go on the other) and a local process-mode
 * pool whose completions arrive on the same base.  A job read from the
 * stream becomes a wjob; it runs in the process pool through the
 * trampoline (registry.c), and its answer is pipelined as XADD to the
 * job's reply stream, then XACK, XDEL — in that order, so that a worker
 * dying between them leaves a job answered twice (the client drops the
 * second) rather than a job acknowledged without an answer.  The reply
 * is written at once (evpool__rpair_flush()); the XACK and XDEL wait for
 * the loop's turn (a zero timer) and cover every job answered in it: one
 * of each per batch, not per job.  While a job that has been short (under
 * 50 us, hand-off to answer) runs, the loop polls instead of sleeping
 * (evpool__rloop()), so that its answer costs no wake-up; and with
 * evpool_config_set_remote_poll() it polls up to that budget after each
 * hand-off and after its last job (for the next one).  A wjob lives until
 * Redis has answered the XDEL; if the connection drops first, its answer
 * is sent again after the reconnect.  The worker holds (reads ahead) as
 * many entries as keep about 10 ms of work waiting in the process pool's
 * queue (adapt_ahead()), and reads again once half of that room is free:
 * short jobs come in batches (up to 32 x concurrency), long ones are left
 * in Redis for the other workers.
 *
 * Redelivery: every visibility/4 the worker renews the entries it holds
 * (heartbeat()), and asks for the group's pending
 * entries idle longer than the visibility timeout, with their delivery
 * counts (XPENDING ... IDLE), and claims each (XCLAIM with the same min
 * idle time: of several workers, one wins).  Below max_deliveries it runs
 * the job again; at max_deliveries it answers EVPOOL_ELOST for it.
 *
 * Stop (evpool_worker_stop(), async-signal-safe: a byte on a pipe): no
 * more reads or claims; running jobs get grace_ms to finish and are
 * answered; what is still running then is killed (the process pool is
 * terminated) and left pending, so another worker takes it over after
 * the visibility timeout (no longer renewed).
 */
#include "remote-internal.h"

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

#define READ_BLOCK_MS 1000
#define REPLY_MAXLEN 100000
#define AHEAD_MAX 256
#define AHEAD_BUDGET_NS 10000000u	/* 10 ms */
#define POLL_MAX_NS 100000u	/* evpool__rloop(): for short jobs' answers */

struct wk;

struct wjob {
	struct wk *wk;
	struct wjob *next;	/* wk->unsent, wk->acking or a batch */
	struct wjob *hprev, *hnext;	/* wk->held, until answered */
	int status;
	unsigned deliveries;
	void *res;
	size_t rlen;
	uint64_t t0;		/* handed to the process pool */
	char eid[48];
	char id[128];
	char reply[192];
};

struct wk {
	struct evpool_config cfg;
	struct evpool__rurl url;
	char jobs_key[128];
	char consumer[160];
	struct event_base *base;
	struct evpool *pool;
	struct evpool__rpair pair;
	bool reading, claiming, stopping, abandon;
	struct event *claim_ev, *stop_ev, *grace_ev, *retry_ev, *ack_ev;
	unsigned conc, ahead;	/* processes; entries read ahead at most */
	unsigned ahead_min, ahead_max;
	uint64_t lat_ns;	/* moving average: submit to done, locally */
	uint64_t poll_until;	/* evpool__rloop() polls until then */
	uint64_t poll_ns;	/* evpool_config_set_remote_poll(); 0: off */
	unsigned running;	/* wjobs not answered yet (wk->held) */
	struct wjob *held;
	unsigned answering;	/* answers sent, XDEL not confirmed */
	unsigned claims;	/* XCLAIMs in flight */
	struct wjob *unsent;
	struct wjob *acking;	/* answered; XACK + XDEL at the loop's turn */
	unsigned nacking;
	int grace_ms;
};

static int stop_fds[2] = { -1, -1 };
static volatile sig_atomic_t stop_asked;

void
evpool_worker_stop(void)
{
	int saved = errno;

	stop_asked = 1;
	if (stop_fds[1] >= 0) {
		ssize_t r = write(stop_fds[1], "x", 1);
		(void)r;
	}
	errno = saved;
}

static void maybe_done(struct wk *wk);
static void read_more(struct wk *wk);

/* ---- entries held -------------------------------------------------------- */

/* Entries delivered to us and not answered yet: wk->held, wk->running. */
static void
hold(struct wk *wk, struct wjob *wj)
{
	wj->hprev = NULL;
	wj->hnext = wk->held;
	if (wk->held)
		wk->held->hprev = wj;
	wk->held = wj;
	wk->running++;
}

static void
unhold(struct wk *wk, struct wjob *wj)
{
	if (wj->hprev)
		wj->hprev->hnext = wj->hnext;
	else
		wk->held = wj->hnext;
	if (wj->hnext)
		wj->hnext->hprev = wj->hprev;
	wj->hprev = wj->hnext = NULL;
	/* Nothing left to run: sleep, or (evpool_config_set_remote_poll())
	 * poll for the next job a while. */
	if (!--wk->running)
		wk->poll_until = wk->poll_ns && !wk->stopping
					 ? evpool__now_ns() + wk->poll_ns
					 : 0;
}

/*
 * Keep what we hold ours: reset the idle time of every entry we hold and
 * have not answered (running, or waiting for a process), so that no other
 * worker claims it while we live — only a dead or stalled worker's jobs
 * are redelivered, however long they run or wait here.  XCLAIM to
 * ourselves with JUSTID does not count a delivery; its min idle time
 * (visibility / 8, the heartbeat comes every visibility / 4) makes it skip
 * an entry another worker has just claimed from us (we were stalled).
 */
static void
heartbeat(struct wk *wk)
{
	const char *argv[6 + 256 + 1];
	size_t lens[6 + 256 + 1];
	char idle[16];
	struct wjob *wj = wk->held;

	snprintf(idle, sizeof(idle), "%u", wk->cfg.remote.visibility_ms / 8);
	argv[0] = "XCLAIM";
	argv[1] = wk->jobs_key;
	argv[2] = EVPOOL__RGROUP;
	argv[3] = wk->consumer;
	argv[4] = idle;
	while (wj) {
		int argc = 5;

		for (; wj && argc < 5 + 256; wj = wj->hnext)
			argv[argc++] = wj->eid;
		argv[argc++] = "JUSTID";
		for (int i = 0; i < argc; i++)
			lens[i] = strlen(argv[i]);
		redisAsyncCommandArgv(wk->pair.cmd, NULL, NULL, argc, argv, lens);
	}
}

/* ---- answers ----------------------------------------------------------- */

static void flush_unsent(struct wk *wk);

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct wk *wk = arg;

	(void)fd;
	(void)what;
	flush_unsent(wk);
	read_more(wk);
}

/* Redis answered "not now" (LOADING...): try again in 100 ms. */
static void
retry_later(struct wk *wk)
{
	struct timeval tv = { 0, 100000 };

	if (!evtimer_pending(wk->retry_ev, NULL))
		evtimer_add(wk->retry_ev, &tv);
}


/* Redis answered the XDEL of a batch of answered jobs (see on_ack). */
static void
on_answered(redisAsyncContext *ac, void *reply, void *priv)
{
	struct wjob *list = priv;

	(void)ac;
	while (list) {
		struct wjob *wj = list;
		struct wk *wk = wj->wk;

		list = wj->next;
		wk->answering--;
		if (!reply || evpool__rtransient(reply)) {
			/* the connection dropped, or Redis is loading: answer
			 * again after the reconnect, or at the next tick */
			wj->next = wk->unsent;
			wk->unsent = wj;
			if (reply)
				retry_later(wk);
			continue;
		}
		free(wj->res);
		free(wj);
		maybe_done(wk);
	}
}

/* The loop's turn after answers: one XACK and one XDEL for every job
 * answered meanwhile (their result XADDs went first on this connection,
 * so a worker dying in between still leaves them answered). */
static void
on_ack(evutil_socket_t fd, short what, void *arg)
{
	struct wk *wk = arg;
	struct wjob *list = wk->acking;
	unsigned n = wk->nacking, i = 3;
	const char **argv;
	size_t *lens;

	(void)fd;
	(void)what;
	wk->acking = NULL;
	wk->nacking = 0;
	if (!list)
		return;
	argv = malloc((n + 3) * sizeof(*argv));
	lens = malloc((n + 3) * sizeof(*lens));
	if (!wk->pair.cmd_up || !argv || !lens) {
		free(argv);
		free(lens);
		on_answered(NULL, NULL, list);	/* answered again later */
		if (wk->pair.cmd_up)
			retry_later(wk);
		return;
	}
	for (struct wjob *wj = list; wj; wj = wj->next, i++) {
		argv[i] = wj->eid;
		lens[i] = strlen(wj->eid);
	}
	argv[0] = "XACK";
	argv[1] = wk->jobs_key;
	argv[2] = EVPOOL__RGROUP;
	for (int k = 0; k < 3; k++)
		lens[k] = strlen(argv[k]);
	redisAsyncCommandArgv(wk->pair.cmd, NULL, NULL, (int)i, argv, lens);
	argv[1] = "XDEL";
	argv[2] = wk->jobs_key;
	lens[1] = 4;
	lens[2] = strlen(wk->jobs_key);
	if (redisAsyncCommandArgv(wk->pair.cmd, on_answered, list, (int)i - 1,
				  argv + 1, lens + 1) != REDIS_OK)
		on_answered(NULL, NULL, list);
	evpool__rpair_flush(&wk->pair);
	free(argv);
	free(lens);
}

/* XADD to @p wj's reply stream (capped): its id, then the @p n fields
 * and values in @p kv (@p kvlen bytes each). */
static int
reply_xadd(struct wk *wk, struct wjob *wj, int n, const char *const *kv,
	   const size_t *kvlen)
{
	char maxlen[16];
	const char *argv[16] = { "XADD", wj->reply, "MAXLEN", "~", maxlen, "*",
				 "id", wj->id };
	size_t lens[16];
	int argc = 8, r;

	snprintf(maxlen, sizeof(maxlen), "%d", REPLY_MAXLEN);
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	for (int i = 0; i < n && argc < 16; i++, argc++) {
		argv[argc] = kv[i];
		lens[argc] = kvlen[i];
	}
	r = redisAsyncCommandArgv(wk->pair.cmd, NULL, NULL, argc, argv, lens);
	evpool__rpair_flush(&wk->pair);	/* now, not on the next EPOLLOUT */
	return r;
}

static void
send_answer(struct wk *wk, struct wjob *wj)
{
	char st[16], d[16];
	const char *kv[6] = { "st", st, "d", d, "r", wj->res ? wj->res : "" };
	size_t kvlen[6];

	snprintf(st, sizeof(st), "%d", wj->status);
	snprintf(d, sizeof(d), "%u", wj->deliveries);
	for (int i = 0; i < 5; i++)
		kvlen[i] = strlen(kv[i]);
	kvlen[5] = wj->rlen;
	reply_xadd(wk, wj, 6, kv, kvlen);
	/* XACK and XDEL at the loop's turn, with the others answered now */
	wj->next = wk->acking;
	wk->acking = wj;
	wk->nacking++;
	wk->answering++;
	if (!evtimer_pending(wk->ack_ev, NULL)) {
		struct timeval now = { 0, 0 };

		evtimer_add(wk->ack_ev, &now);
	}
}

/* The job is over: answer it (or keep the answer for the reconnect). */
static void
answer(struct wjob *wj, int status, const void *data, size_t len)
{
	struct wk *wk = wj->wk;

	wj->status = status;
	if (len && (wj->res = malloc(len)) != NULL) {
		memcpy(wj->res, data, len);
		wj->rlen = len;
	}
	unhold(wk, wj);
	if (wk->pair.cmd_up) {
		send_answer(wk, wj);
	} else {
		wj->next = wk->unsent;
		wk->unsent = wj;
	}
	read_more(wk);
	maybe_done(wk);
}

static void
flush_unsent(struct wk *wk)
{
	struct wjob *list = wk->unsent;

	wk->unsent = NULL;
	while (list && wk->pair.cmd_up) {
		struct wjob *wj = list;

		list = wj->next;
		send_answer(wk, wj);
	}
	while (list) {
		struct wjob *wj = list;

		list = wj->next;
		wj->next = wk->unsent;
		wk->unsent = wj;
	}
}

/* ---- running jobs -------------------------------------------------------- */

/*
 * How many entries to hold (read ahead of the processes): as many as keep
 * a job's wait in the local queue near AHEAD_BUDGET_NS.  Each job's time
 * from the local submit to its end feeds a moving average; under half the
 * budget one more is held, over it one fewer, between 2 x concurrency
 * (a process never waits for a read) and 32 x concurrency (at most 256).
 * Short jobs get deep reads (few round trips per job); long ones are held
 * no longer than needed, so they stay in Redis for other workers.  When
 * the queue runs empty (a read times out) it starts again from 4 x
 * concurrency: a worker that just served tiny jobs does not take a deep
 * read of whatever comes next.  The entries held are ours while we live
 * (heartbeat()), however long they wait.
 */
static void
adapt_ahead(struct wk *wk, uint64_t ns)
{
	wk->lat_ns = wk->lat_ns ? wk->lat_ns - wk->lat_ns / 8 + ns / 8 : ns;
	if (wk->lat_ns < AHEAD_BUDGET_NS / 2 && wk->ahead < wk->ahead_max)
		wk->ahead++;
	else if (wk->lat_ns > AHEAD_BUDGET_NS && wk->ahead > wk->ahead_min)
		wk->ahead--;
}

static void
on_local_done(struct evpool_job *job, void *arg)
{
	struct wjob *wj = arg;
	struct wk *wk = wj->wk;
	size_t len = 0;
	const void *res = evpool_job_result_bytes(job, &len);
	int status = evpool_job_status(job);

	if (wk->abandon && status == -ECANCELED) {
		/* stopped past the grace time: left pending for another */
		unhold(wk, wj);
		free(wj);
		return;
	}
	adapt_ahead(wk, evpool__now_ns() - wj->t0);
	answer(wj, status, res, len);
}

/* A partial result of a job whose client wants them: to its reply stream,
 * before the answer (one connection: Redis keeps the order).  Not kept
 * for a reconnect: a partial result Redis could not take is dropped. */
static void
on_local_emit(struct evpool_job *job, const void *data, size_t len,
	      void *arg)
{
	struct wjob *wj = arg;
	const char *kv[2] = { "e", "" };
	size_t kvlen[2] = { 1, len };

	if (!data && len) {
		struct evbuffer *b = evpool_job_emit_evbuffer(job);

		data = b ? evbuffer_pullup(b, -1) : NULL;
		if (!data)
			return;
	}
	if (len)
		kv[1] = data;
	if (wj->wk->pair.cmd_up)
		reply_xadd(wj->wk, wj, 2, kv, kvlen);
}

static bool
str_field(const redisReply *kv, const char *name, char *buf, size_t n)
{
	const redisReply *v = evpool__rfield(kv, name);

	if (!v || v->type != REDIS_REPLY_STRING || (size_t)v->len >= n)
		return false;
	memcpy(buf, v->str, (size_t)v->len);
	buf[v->len] = 0;
	return true;
}

/* One entry [eid, [field, value...]] delivered to us for the
 * @p deliveries-th time; @p lost: answer EVPOOL_ELOST without running. */
static void
start_entry(struct wk *wk, const redisReply *e, unsigned deliveries,
	    bool lost)
{
	struct wjob *wj;
	const redisReply *kv, *in;
	const size_t plen = sizeof(EVPOOL__RCHUNK_PREFIX) - 1;
	char fn[sizeof(EVPOOL__RCHUNK_PREFIX) + EVPOOL__RNAME_MAX], msg[320];
	const char *name;
	bool chunk;
	struct evpool_job_spec spec = { 0 };
	void *tin;
	size_t tlen;
	int r;

	if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return;
	kv = e->element[1];
	wj = calloc(1, sizeof(*wj));
	if (!wj)
		return;		/* stays pending: redelivered later */
	wj->wk = wk;
	wj->deliveries = deliveries;
	snprintf(wj->eid, sizeof(wj->eid), "%s", e->element[0]->str);
	hold(wk, wj);
	if (!str_field(kv, "id", wj->id, sizeof(wj->id)) ||
	    !str_field(kv, "re", wj->reply, sizeof(wj->reply))) {
		/* not ours to answer (deleted, or not an evpool job): drop */
		if (wk->pair.cmd_up)
			redisAsyncCommand(wk->pair.cmd, NULL, NULL,
					  "XACK %s " EVPOOL__RGROUP " %s",
					  wk->jobs_key, wj->eid);
		unhold(wk, wj);
		free(wj);
		return;
	}
	if (lost) {
		snprintf(msg, sizeof(msg),
			 "job delivered %u times without an answer: its workers died",
			 deliveries);
		answer(wj, EVPOOL_ELOST, msg, strlen(msg) + 1);
		return;
	}
	if (!str_field(kv, "fn", fn, sizeof(fn)))
		fn[0] = 0;
	/* "map/<name>": a chunk of a map, each item run by <name> */
	chunk = strncmp(fn, EVPOOL__RCHUNK_PREFIX, plen) == 0;
	name = fn + (chunk ? plen : 0);
	if (!evpool__remote_name_ok(name) || !evpool_lookup_fn(name)) {
		snprintf(msg, sizeof(msg),
			 "no job function '%s' is registered on worker %s",
			 name, wk->consumer);
		answer(wj, EVPOOL_ENOFUNC, msg, strlen(msg) + 1);
		return;
	}
	in = evpool__rfield(kv, "in");
	if (in && in->type == REDIS_REPLY_STRING &&
	    (size_t)in->len > wk->cfg.remote.max_input) {
		snprintf(msg, sizeof(msg),
			 "input of %zu bytes is over the worker's limit of %zu",
			 (size_t)in->len, wk->cfg.remote.max_input);
		answer(wj, -EMSGSIZE, msg, strlen(msg) + 1);
		return;
	}
	tlen = evpool__trampoline_input(
		wj->id, strlen(wj->id), name, strlen(name), chunk,
		in && in->type == REDIS_REPLY_STRING ? in->str : NULL,
		in && in->type == REDIS_REPLY_STRING ? (size_t)in->len : 0,
		&tin);
	if (!tlen) {
		answer(wj, -ENOMEM, NULL, 0);
		return;
	}
	spec.fn = evpool__remote_trampoline;
	spec.input = tin;
	spec.input_len = tlen;
	spec.done = on_local_done;
	spec.done_arg = wj;
	if (evpool__rfield(kv, "em"))
		spec.emit = on_local_emit;	/* the client wants them */
	wj->t0 = evpool__now_ns();
	r = evpool_submit_job(wk->pool, &spec, NULL);
	/* Poll for its answer (see evpool__rloop()): up to twice its usual
	 * time, hand-off to answer, for a job that has been short; up to
	 * evpool_config_set_remote_poll()'s budget, if more, for any. */
	if (r == 0) {
		uint64_t span = wk->lat_ns <= POLL_MAX_NS / 2 ? 2 * wk->lat_ns : 0;

		if (wk->poll_ns > span)
			span = wk->poll_ns;
		if (wj->t0 + span > wk->poll_until)
			wk->poll_until = wj->t0 + span;
	}
	free(tin);
	if (r < 0)
		answer(wj, r, evpool_errmsg(), strlen(evpool_errmsg()) + 1);
}

/* ---- reading the stream ------------------------------------------------- */

static void
on_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct wk *wk = evpool__rowner(ac);
	redisReply *r = reply;

	(void)priv;
	wk->reading = false;
	if (!r)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		/* LOADING, or the group is gone (Redis lost it) */
		if (strncmp(r->str, "NOGROUP", 7) == 0 && wk->pair.cmd_up)
			redisAsyncCommand(wk->pair.cmd, NULL, NULL,
					  "XGROUP CREATE %s " EVPOOL__RGROUP
					  " 0 MKSTREAM",
					  wk->jobs_key);
		retry_later(wk);
		return;
	}
	if (r->type == REDIS_REPLY_NIL) {
		/* the queue is empty: what comes next may be another kind of
		 * job; start from the default read-ahead again */
		wk->ahead = wk->ahead_min * 2 > wk->ahead_max ? wk->ahead_max
							       : wk->ahead_min * 2;
		wk->lat_ns = 0;
	}
	if (!wk->stopping && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY &&
	    r->element[0]->elements == 2 &&
	    r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
		const redisReply *list = r->element[0]->element[1];

		for (size_t i = 0; i < list->elements; i++)
			start_entry(wk, list->element[i], 1, false);
	}
	/* entries that came after a stop stay pending: redelivered */
	read_more(wk);
}

static void
read_more(struct wk *wk)
{
	unsigned room;

	if (!wk->pair.blk_up || wk->reading || wk->stopping)
		return;
	room = wk->ahead > wk->running + wk->claims
		       ? wk->ahead - wk->running - wk->claims
		       : 0;
	/* Not for every job that ends: reads of half the room or more */
	if (!room || room < wk->ahead / 2)
		return;
	if (redisAsyncCommand(wk->pair.blk, on_read, NULL,
			      "XREADGROUP GROUP " EVPOOL__RGROUP
			      " %s COUNT %u BLOCK %d STREAMS %s >",
			      wk->consumer, room, READ_BLOCK_MS,
			      wk->jobs_key) == REDIS_OK) {
		wk->reading = true;
		evpool__rpair_flush(&wk->pair);
	}
}

/* ---- redelivery ---------------------------------------------------------- */

static void
on_claimed(redisAsyncContext *ac, void *reply, void *priv)
{
	struct wk *wk = evpool__rowner(ac);
	redisReply *r = reply;
	unsigned count = (unsigned)(uintptr_t)priv;
	bool lost = count >= wk->cfg.remote.max_deliveries;

	wk->claims--;
	if (!r || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++) {
		if (wk->stopping)
			break;	/* left pending for another worker */
		start_entry(wk, r->element[i], lost ? count : count + 1, lost);
	}
}

static void
on_pending(redisAsyncContext *ac, void *reply, void *priv)
{
	struct wk *wk = evpool__rowner(ac);
	redisReply *r = reply;
	unsigned room;

	(void)priv;
	wk->claiming = false;
	if (!r || r->type != REDIS_REPLY_ARRAY || wk->stopping)
		return;
	room = wk->ahead > wk->running + wk->claims
		       ? wk->ahead - wk->running - wk->claims
		       : 0;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *p = r->element[i];
		unsigned count;

		if (p->type != REDIS_REPLY_ARRAY || p->elements != 4 ||
		    p->element[0]->type != REDIS_REPLY_STRING ||
		    p->element[3]->type != REDIS_REPLY_INTEGER)
			continue;
		count = (unsigned)p->element[3]->integer;
		if (count < wk->cfg.remote.max_deliveries) {
			if (!room)
				continue;
			room--;
		}
		if (redisAsyncCommand(wk->pair.cmd, on_claimed,
				      (void *)(uintptr_t)count,
				      "XCLAIM %s " EVPOOL__RGROUP " %s %u %s",
				      wk->jobs_key, wk->consumer,
				      wk->cfg.remote.visibility_ms,
				      p->element[0]->str) == REDIS_OK)
			wk->claims++;
	}
}

static void
on_claim_tick(evutil_socket_t fd, short what, void *arg)
{
	struct wk *wk = arg;

	(void)fd;
	(void)what;
	if (!wk->pair.cmd_up)
		return;
	heartbeat(wk);	/* also while stopping: the jobs still running */
	if (wk->claiming || wk->stopping)
		return;
	if (redisAsyncCommand(wk->pair.cmd, on_pending, NULL,
			      "XPENDING %s " EVPOOL__RGROUP " IDLE %u - + 100",
			      wk->jobs_key, wk->cfg.remote.visibility_ms) ==
	    REDIS_OK)
		wk->claiming = true;
}

/* ---- connections (the pair's callbacks) --------------------------------- */

static void
conn_down(void *owner, bool cmd)
{
	struct wk *wk = owner;

	if (cmd)
		wk->claiming = false;
	else
		wk->reading = false;
}

static void
conn_up(void *owner, bool cmd)
{
	struct wk *wk = owner;

	if (cmd) {
		redisAsyncCommand(wk->pair.cmd, NULL, NULL,
				  "XGROUP CREATE %s " EVPOOL__RGROUP " 0 MKSTREAM",
				  wk->jobs_key);
		flush_unsent(wk);
	} else {
		read_more(wk);
	}
}

/* ---- stopping ------------------------------------------------------------ */

static void
maybe_done(struct wk *wk)
{
	if (wk->stopping && !wk->running && !wk->answering && !wk->unsent)
		event_base_loopbreak(wk->base);
}

static void
on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct wk *wk = arg;

	(void)fd;
	(void)what;
	wk->abandon = true;
	event_base_loopbreak(wk->base);
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct wk *wk = arg;
	char buf[16];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (wk->stopping)
		return;
	wk->stopping = true;
	/* no more deliveries; a read in flight is dropped (what it took
	 * stays pending and is redelivered) */
	evpool__rpair_drop_blk(&wk->pair);
	if (wk->grace_ms >= 0) {
		struct timeval tv = { wk->grace_ms / 1000,
				      (wk->grace_ms % 1000) * 1000 };

		evtimer_add(wk->grace_ev, &tv);
	}
	maybe_done(wk);
}

/* ---- the call ------------------------------------------------------------ */

static void
wk_cleanup(struct wk *wk)
{
	wk->abandon = true;
	wk->stopping = true;
	if (wk->pool)
		evpool_free(wk->pool);	/* drops what still runs */
	evpool__rpair_close(&wk->pair);
	if (wk->acking) {
		struct wjob *last = wk->acking;

		while (last->next)
			last = last->next;
		last->next = wk->unsent;
		wk->unsent = wk->acking;
		wk->acking = NULL;
	}
	while (wk->unsent) {
		struct wjob *wj = wk->unsent;

		wk->unsent = wj->next;
		free(wj->res);
		free(wj);
	}
	if (wk->claim_ev)
		event_free(wk->claim_ev);
	if (wk->stop_ev)
		event_free(wk->stop_ev);
	if (wk->grace_ev)
		event_free(wk->grace_ev);
	if (wk->retry_ev)
		event_free(wk->retry_ev);
	if (wk->ack_ev)
		event_free(wk->ack_ev);
	if (wk->base)
		event_base_free(wk->base);
	free(wk);
}

int
evpool_worker_run(const struct evpool_config *cfg, int grace_ms)
{
	struct evpool_config lcfg;
	sigset_t pipe_set, old_mask;
	struct timespec zero = { 0, 0 };
	struct wk *wk;
	char host[64] = "host";
	unsigned ms;
	int r;

	if (!cfg || cfg->mode != EVPOOL_MODE_REMOTE || !cfg->remote.url[0])
		return evpool__err(-EINVAL,
				   "evpool_worker_run: the config must name a Redis URL and queue (evpool_config_set_remote)");
	if (grace_ms < -1)
		return evpool__err(-EINVAL, "evpool_worker_run: grace_ms %d (use -1 for ever)",
				   grace_ms);
	wk = calloc(1, sizeof(*wk));
	if (!wk)
		return evpool__err(-ENOMEM, "evpool_worker_run: out of memory");
	wk->cfg = *cfg;
	wk->grace_ms = grace_ms;
	r = evpool__rurl_parse(cfg->remote.url, &wk->url);
	if (r < 0)
		goto out;
	evpool__rkey_jobs(wk->jobs_key, sizeof(wk->jobs_key), cfg->remote.queue);
	r = evpool__rprobe(&wk->url, wk->jobs_key, "evpool_worker_run");
	if (r < 0)
		goto out;
	gethostname(host, sizeof(host) - 1);
	snprintf(wk->consumer, sizeof(wk->consumer), "%s-%d", host, (int)getpid());
	wk->conc = cfg->max_workers ? cfg->max_workers : evpool__online_cpus();
	wk->ahead_min = wk->conc * 2 > AHEAD_MAX ? AHEAD_MAX : wk->conc * 2;
	wk->ahead_max = wk->conc * 32 > AHEAD_MAX ? AHEAD_MAX : wk->conc * 32;
	wk->ahead = wk->conc * 4 > AHEAD_MAX ? AHEAD_MAX : wk->conc * 4;
	wk->poll_ns = (uint64_t)cfg->remote.poll_us * 1000u;

	r = -ENOMEM;
	wk->base = event_base_new();
	if (!wk->base)
		goto out;
	/* The process pool first: its fork server sees the program as it is
	 * now, with every function registered. */
	lcfg = *cfg;
	lcfg.mode = EVPOOL_MODE_PROCESS;
	lcfg.min_workers = wk->conc;
	lcfg.max_workers = wk->conc;
	lcfg.job_timeout_ms = 0;
	r = evpool_new(&wk->pool, wk->base, &lcfg);
	if (r < 0)
		goto out;
	if (stop_fds[0] < 0 && pipe2(stop_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = evpool__err(-errno, "evpool_worker_run: pipe: %s",
				strerror(errno));
		goto out;
	}
	r = -ENOMEM;
	wk->claim_ev = event_new(wk->base, -1, EV_PERSIST, on_claim_tick, wk);
	wk->stop_ev = event_new(wk->base, stop_fds[0], EV_READ | EV_PERSIST,
				on_stop, wk);
	wk->grace_ev = evtimer_new(wk->base, on_grace, wk);
	wk->retry_ev = evtimer_new(wk->base, on_retry, wk);
	wk->ack_ev = evtimer_new(wk->base, on_ack, wk);
	if (!wk->retry_ev || !wk->ack_ev || !wk->claim_ev || !wk->stop_ev || !wk->grace_ev ||
	    evpool__rpair_init(&wk->pair, &wk->url, wk->base, wk, conn_up,
			       conn_down) < 0)
		goto out;
	ms = cfg->remote.visibility_ms / 4;
	if (ms < 10)
		ms = 10;
	{
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		event_add(wk->claim_ev, &tv);
	}
	event_add(wk->stop_ev, NULL);
	if (stop_asked)
		evpool_worker_stop();	/* asked before we listened */
	/* A write to a Redis that went away must give EPIPE, not kill the
	 * worker: SIGPIPE is blocked in this thread while it works. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	evpool__rpair_connect(&wk->pair);
	evpool__rloop(wk->base, &wk->poll_until);
	wk_cleanup(wk);
	wk = NULL;
	while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
		;	/* the ones our writes raised */
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	r = 0;
out:
	if (wk)
		wk_cleanup(wk);
	stop_asked = 0;
	return r;
}

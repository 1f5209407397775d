/*
 * remote-internal.h — remote mode: private declarations shared by the
 * files of lib/remote/.  Never installed.
 *
 * DESIGN (remote mode in one page)
 *
 *   client process                       Redis                 worker host
 *   +---------------------------+   XADD   +----------------+   XREADGROUP
 *   | queue -> DISPATCHER (core |--------->| evpool:{Q}:jobs|----------> evpool_worker_run()
 *   |  worker thread) -> I/O    |          |  group "evpool"|   XACK+XDEL   | local PROCESS
 *   |  thread (hiredis async on |<---------| evpool:{Q}:r:ID|<--------------+ pool runs the
 *   |  its own event_base)      |  XREAD   +----------------+  XADD result    registered fn
 *   |  -> mailboxes -> loops    |
 *   +---------------------------+
 *
 *  Client.  A remote pool is a pool whose mode ops (client.c) make its one
 *  worker thread a DISPATCHER, the shape of process mode's proxy: run()
 *  takes the job it is given and then keeps popping jobs from the queue
 *  itself, as long as fewer than max_inflight are in Redis, handing each to
 *  the dispatcher's I/O thread; it sleeps on the queue's condition variable
 *  like an idle worker (so a submit wakes it) and returns 100 ms after
 *  nothing is in flight.  Meanwhile a submit into an empty queue hands its
 *  job to the I/O thread itself (ops->submit_direct), one thread hop less.
 *  The I/O thread owns two hiredis async connections on a private
 *  event_base (one for commands, one for the blocking XREAD of the reply
 *  stream: a blocked command would hold back the commands behind it), sends
 *  XADDs, reads results, and finishes jobs through the core's finish race,
 *  so completions reach the loops through the same mailboxes as thread
 *  mode.  The user's loop never runs Redis I/O: jobs of one pool may
 *  complete on several bases, and the blocking calls (evpool_job_wait() on
 *  a loop thread) keep working.
 *
 *  Each job has an id "<client id>.<slot>.<generation>": a result whose
 *  slot is free or reused (a late result after a timeout or cancel, a
 *  second result of a redelivered job) is dropped as a duplicate.
 *  Priorities are honoured by the client's queue (jobs leave it highest
 *  first, and at most max_inflight are in Redis ahead of a new one); in
 *  Redis a queue is one FIFO stream.  Cancel of a job in Redis XDELs its
 *  entry: a deleted entry is never delivered (XREADGROUP skips it, and a
 *  redelivery drops it from the pending list), so that XDEL is the
 *  tombstone; a job a worker already runs completes -ECANCELED at once and
 *  its result is dropped.  Timeouts are the client's: they count from the
 *  moment the job leaves the queue for Redis.
 *
 *  Reconnect.  When a connection drops, the I/O thread reconnects with
 *  backoff.  On the new command connection it asks Redis, for each job in
 *  flight, whether its entry still exists (XRANGE id id), then reads the
 *  reply stream once more (a worker adds the result before it deletes the
 *  entry, and Redis answers one connection in order, so a job whose entry
 *  is gone has its result in that read), and sends again every job that is
 *  neither there nor answered, and every XADD never confirmed.  After
 *  reconnect_ms without Redis the jobs in flight fail with EVPOOL_EREDIS.
 *
 *  Maps.  A chunk of the map family (lib/pyapi: job fn evpool__chunk_run,
 *  input a chunk frame) is sent as fn "map/<name of the frame's fn>" (the
 *  function must be registered: evpool__remote_check() refuses it
 *  otherwise); the worker runs evpool__chunk_run_as() with the function
 *  it finds under <name>, and the frame of results is the answer's bytes.
 *  An evbuffer input is pulled up and sent as bytes.  Partial results: a
 *  job with an emit callback is sent with "em"; the worker adds each
 *  emission to the reply stream as {id, e}, before the answer, and the
 *  client pushes it to the job's emit callback.
 *
 *  Worker (worker.c).  One thread, one event_base: a local process pool
 *  (its completions) and two hiredis connections on it.  It reads with
 *  XREADGROUP as many entries as keep about 10 ms of work waiting locally
 *  (2 .. 32 x concurrency, at most 256, adapted to the jobs' times),
 *  renews them every visibility/4 (XCLAIM to itself, JUSTID: a live
 *  worker's jobs are never taken over), runs each
 *  through a trampoline (registry.c) that finds the function by name in the
 *  worker process and exposes the job id, and answers with XADD to the
 *  job's reply stream (MAXLEN ~), then, once per loop turn for every job
 *  answered in it, one XACK and one XDEL.  Every
 *  visibility/4 it looks at the group's pending entries idle longer than
 *  the visibility timeout (XPENDING IDLE, which gives their delivery
 *  counts — XAUTOCLAIM does not), claims them (XCLAIM with the same min
 *  idle time, so only one worker wins each) and runs them again, or, at
 *  max_deliveries, answers EVPOOL_ELOST for them.
 */
#ifndef EVPOOL_REMOTE_INTERNAL_H
#define EVPOOL_REMOTE_INTERNAL_H

#include "core/evpool-internal.h"

#define EVPOOL__RNAME_MAX 63

/** The group every worker of a queue joins. */
#define EVPOOL__RGROUP "evpool"

/** A job function a remote-mode submit names without linking it: the
 *  job's arg is the interned name (registry.c).  Never run locally. */
EVPOOL__INTERNAL int evpool__remote_named(struct evpool_ctx *ctx);

/** The registered name of @p fn (interned, lives as long as the process),
 *  or NULL. */
EVPOOL__INTERNAL const char *evpool__registry_name(evpool_fn fn);
/** Intern @p name (the same pointer for the same name).  NULL: ENOMEM. */
EVPOOL__INTERNAL const char *evpool__registry_intern(const char *name);
/** Is @p s a valid function or queue name? */
EVPOOL__INTERNAL bool evpool__remote_name_ok(const char *s);

/**
 * The job function a worker submits to its local process pool: its input
 * is "<u16 id len><id><u16 name len | 0x8000 for a chunk><name><payload>";
 * in the worker process it finds the function by name, shows it the
 * payload as its input and the id through evpool_ctx_job_id(), and runs
 * it — or, for a chunk of a map, runs the function on each item of the
 * chunk frame in the payload (evpool__chunk_run_as(): the frame's own
 * function pointer, the client's, is never used).  An unknown name returns
 * EVPOOL_ENOFUNC without running anything.
 */
EVPOOL__INTERNAL int evpool__remote_trampoline(struct evpool_ctx *ctx);
/** Build a trampoline input (malloc'd) into *@p out.  @return its length,
 *  or 0 when out of memory. */
EVPOOL__INTERNAL size_t evpool__trampoline_input(const char *id, size_t idlen,
						 const char *name, size_t nlen,
						 bool chunk, const void *in,
						 size_t inlen, void **out);

/** In a job entry's "fn" field, before the name: the job is a chunk of a
 *  map.  '/' is no name character, so a worker that does not know chunks
 *  refuses the entry (EVPOOL_ENOFUNC) instead of running the function on
 *  a chunk frame. */
#define EVPOOL__RCHUNK_PREFIX "map/"

#ifdef HAVE_HIREDIS
struct redisContext;
struct redisAsyncContext;
struct event_base;

/** A parsed Redis URL. */
struct evpool__rurl {
	char host[256];		/* or the socket path */
	int port;		/* 0: unix socket */
	char user[128];		/* "" : none */
	char pass[256];		/* "" : none */
	int db;
};

/** Parse @p url.  @return 0, -EINVAL or -ENOTSUP (rediss://) with a
 *  message. */
EVPOOL__INTERNAL int evpool__rurl_parse(const char *url,
					struct evpool__rurl *u);

/**
 * Connect synchronously (timeout 2 s), AUTH, SELECT, PING and create the
 * queue's group, to report a bad address or bad credentials at once.
 * @return 0; -ECONNREFUSED; -EACCES; EVPOOL_EREDIS (message set).
 */
EVPOOL__INTERNAL int evpool__rprobe(const struct evpool__rurl *u,
				    const char *jobs_key, const char *who);

/**
 * The two connections a client dispatcher and a worker each keep: "cmd"
 * for commands, "blk" for a blocking read (a blocked command would hold
 * back every command behind it on its connection).  Both reconnect with
 * backoff (50 ms doubling to 2 s) until evpool__rpair_close().  Commands'
 * callbacks find the pair in ac->data and their owner in pair->owner.
 */
struct evpool__rpair {
	const struct evpool__rurl *url;
	struct event_base *base;
	struct redisAsyncContext *cmd, *blk;
	bool cmd_up, blk_up;
	bool closing;		/* no more (re)connects */
	bool no_blk;		/* the owner dropped blk for good */
	unsigned attempts;
	struct event *recon_ev;
	struct event *flush_ev;	/* evpool__rpair_flush() */
	void *owner;
	/** A connection is ready (@p cmd: which). */
	void (*up)(void *owner, bool cmd);
	/** A connection dropped or could not be made; commands sent on it
	 *  got their callbacks with a NULL reply before this. */
	void (*down)(void *owner, bool cmd);
	atomic_uint_fast64_t reconnects;
};

/** Run @p base until loopbreak/loopexit or it has no events.  While the
 *  clock is before *@p poll_until (the owner sets and clears it from its
 *  callbacks) the loop polls instead of sleeping: an answer expected
 *  within microseconds then costs no wake-up of this thread, which is
 *  10-30 us on a VM. */
EVPOOL__INTERNAL void evpool__rloop(struct event_base *base,
				   const uint64_t *poll_until);
/** Set up (no connection yet).  @return 0 or -ENOMEM. */
EVPOOL__INTERNAL int evpool__rpair_init(struct evpool__rpair *p,
					const struct evpool__rurl *url,
					struct event_base *base, void *owner,
					void (*up)(void *, bool),
					void (*down)(void *, bool));
/** Connect what is not connected (retrying later on failure). */
EVPOOL__INTERNAL void evpool__rpair_connect(struct evpool__rpair *p);
/** Write what the callers queued on either connection before the loop
 *  next polls, instead of on the next EPOLLOUT (hiredis' way: a loop turn
 *  and two epoll_ctl calls per command).  Safe anywhere on the pair's
 *  loop thread, in hiredis callbacks too: the write runs from an event
 *  made active now, after the current callback. */
EVPOOL__INTERNAL void evpool__rpair_flush(struct evpool__rpair *p);
/** Drop blk for good (a worker that stops reading). */
EVPOOL__INTERNAL void evpool__rpair_drop_blk(struct evpool__rpair *p);
/** Free both connections and the timer; no more callbacks after. */
EVPOOL__INTERNAL void evpool__rpair_close(struct evpool__rpair *p);
/** The owner of a command's connection (in a command callback). */
EVPOOL__INTERNAL void *evpool__rowner(const struct redisAsyncContext *ac);

struct redisReply;
/** Is @p r an error Redis gives only for a while (LOADING after a
 *  restart, BUSY, TRYAGAIN, MASTERDOWN)?  Then the command is sent again
 *  later instead of failing its job. */
EVPOOL__INTERNAL bool evpool__rtransient(const struct redisReply *r);
/** The value of @p name in a stream entry's [field, value, ...] array. */
EVPOOL__INTERNAL const struct redisReply *
evpool__rfield(const struct redisReply *kv, const char *name);

/** Stream keys of queue @p q. */
EVPOOL__INTERNAL void evpool__rkey_jobs(char *buf, size_t n, const char *q);
#endif

#endif /* EVPOOL_REMOTE_INTERNAL_H */

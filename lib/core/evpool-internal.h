/*
 * evpool-internal.h — private declarations shared by the library's
 * source files.  Never installed.
 *
 * DESIGN (the whole library in one page)
 *
 *  pool ──< queue ──< worker          pool ──< mailbox (one per event_base,
 *              │                                 plus one "detached" for
 *              └─ priority levels ──< job        evpool_fd()/evpool_drain())
 *
 *  The numbered path of one job, with the function doing each step, and the
 *  hand-off rules the code cites by name (INV-WAKE, INV-DRAIN, INV-HOLD,
 *  INV-ONCE, INV-JOIN, INV-RING) are in lib/core/README.md.
 *
 *  Submission: the submitter takes a job from its thread's cache (no lock,
 *  no malloc once warm), finds the mailbox of the job's base (cached),
 *  counts the job as outstanding on that mailbox (the first outstanding job
 *  adds the mailbox's read event so the loop stays alive), then pushes the
 *  job on its queue's lock-free intake (one CAS) and takes the queue mutex
 *  only to signal a sleeping worker that has no wakeup on its way, or to
 *  start a worker when the queue holds more jobs than idle workers and is
 *  below max_workers.
 *
 *  Running: under the queue mutex a worker moves the intake into the
 *  priority levels and takes the first job of the highest level, drops the
 *  mutex, runs the job through the pool's mode ops (thread: call it;
 *  process: ship it to the worker process) and finishes it.  In
 *  thread mode it takes several waiting jobs at once when it can (a batch,
 *  queue.c), which stay queued and cancellable until it starts each.
 *
 *  Finishing is a race that exactly one party wins: the job's state goes
 *  QUEUED/RUNNING -> FINISHING by compare-and-swap (the worker returning, a
 *  cancel, the timeout thread, a crash), the winner writes the outcome and
 *  stores DONE (release).  Losers discard what they have.  The winner then
 *  pushes the job on its mailbox: a lock-free LIFO stack whose single consumer
 *  takes the whole stack at once.  Only the push that finds the stack empty
 *  writes the eventfd, so one wakeup serves a whole batch.
 *
 *  Delivery: on the loop thread the mailbox's read event fires; the loop reads
 *  the eventfd FIRST, then swaps the stack out (a push racing with the swap
 *  either lands in the batch or re-arms the eventfd), reverses it to FIFO, and
 *  runs emit and done callbacks.  After the batch, outstanding drops by the
 *  number of jobs delivered; at zero the read event is removed, so
 *  event_base_dispatch() returns once no work is in flight (as libuv does).
 *
 *  LOCK ORDER (outer first; never the other way):
 *     pool->mu  >  queue->mu  >  pool->timer_mu  >  mailbox->mu  >
 *     pool->wait_mu
 *  A worker never holds its queue mutex while it runs a job or while it
 *  delivers a completion.  Callbacks run with no library lock held.
 */
#ifndef EVPOOL_INTERNAL_H
#define EVPOOL_INTERNAL_H

#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "evpool.h"

struct event;
struct evbuffer;

#define EVPOOL__INTERNAL __attribute__((visibility("hidden")))

#define EVPOOL__MAX_WORKERS 4096
#define EVPOOL__NAME_MAX 10	/* prefix; "/" and a number follow, 15 in all */
#define EVPOOL__RLIMITS 16	/* process mode: RLIMIT_x below this */

#if defined(__GNUC__)
#define evpool__likely(x) __builtin_expect(!!(x), 1)
#define evpool__unlikely(x) __builtin_expect(!!(x), 0)
#else
#define evpool__likely(x) (x)
#define evpool__unlikely(x) (x)
#endif

/* ---- errors (error.c) --------------------------------------------------- */

/** Record a detail message for evpool_errmsg() and return @p code. */
EVPOOL__INTERNAL int evpool__err(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** A public function's failure through a shared internal one: make the
 *  detail message name @p who, the function the user called, in place of the
 *  "evpool_...:" the internal one wrote ("evpool_submit: the pool is closed"
 *  from evpool_apply() reads "evpool_apply: the pool is closed").  Returns
 *  @p code; does nothing when @p code >= 0. */
EVPOOL__INTERNAL int evpool__err_as(int code, const char *who);

/** Zeroed memory aligned to a cache line, for structures whose _Alignas(64)
 *  members keep one thread's hot fields off another's line; free() frees
 *  it.  NULL if out of memory. */
EVPOOL__INTERNAL void *evpool__zalloc_lines(size_t size);

/* ---- configuration (config.c) ------------------------------------------- */

/** Remote mode settings (lib/remote/), kept inline so that a config stays
 *  one block copied by value. */
struct evpool__remote_cfg {
	char url[256];			/* "" unless remote mode */
	char queue[64];
	size_t max_input;
	unsigned max_inflight;
	unsigned visibility_ms;
	unsigned max_deliveries;
	unsigned reconnect_ms;		/* 0: for ever */
	unsigned poll_us;		/* evpool_config_set_remote_poll() */
};
#define EVPOOL__RPOLL_MAX_US 10000u

struct evpool_config {
	enum evpool_mode mode;
	unsigned min_workers;
	unsigned max_workers;		/* 0: online CPUs, resolved by evpool_new */
	size_t max_queued;		/* 0: unbounded */
	unsigned idle_timeout_ms;
	char name[EVPOOL__NAME_MAX + 1];
	enum evpool_notify notify;
	evpool_done_cb done_cb;
	evpool_done_cb failed_cb;
	void *cb_arg;
	unsigned job_timeout_ms;	/* 0: none */
	unsigned job_deadline_ms;	/* 0: none; from the submit */
	evpool_free_fn result_free;	/* default free fn of pointer results */
	evpool_worker_fn init;
	evpool_worker_init_fn init_checked; /* set: replaces init */
	evpool_worker_fn fini;
	void *init_arg;
	evpool_fn default_fn;
	unsigned emit_window;
	/* process mode */
	unsigned max_jobs_per_worker;	/* 0: unlimited */
	uint32_t rlimits_set;		/* 1u << RLIMIT_x: set in workers */
	uint64_t rlimits[EVPOOL__RLIMITS]; /* UINT64_MAX: RLIM_INFINITY */
	struct evpool__remote_cfg remote;
};

EVPOOL__INTERNAL void evpool__config_defaults(struct evpool_config *cfg);
EVPOOL__INTERNAL unsigned evpool__online_cpus(void);

/* ---- completion nodes and mailboxes (notify.c) -------------------------- */

enum evpool__node_kind {
	EVPOOL__NODE_JOB = 1,
	EVPOOL__NODE_EMIT = 2,
	EVPOOL__NODE_CALL = 3,	/* struct evpool__call */
};

/** A link in a mailbox's completion stack: a finished job or an emission.
 *  @c word holds the kind in its low two bits; a job keeps its state, flags
 *  and reference count in the rest (struct evpool_job). */
struct evpool__node {
	struct evpool__node *next;
	_Atomic uint32_t word;
};

#define EVPOOL__KIND_MASK 3u

static inline void
evpool__node_init(struct evpool__node *n, enum evpool__node_kind kind)
{
	atomic_init(&n->word, (uint32_t)kind);
}

static inline enum evpool__node_kind
evpool__node_kind(struct evpool__node *n)
{
	return (enum evpool__node_kind)(atomic_load_explicit(
		&n->word, memory_order_relaxed) & EVPOOL__KIND_MASK);
}

/** A function to run on the loop thread (the completion of an aggregate of
 *  the Python-style API, lib/pyapi/map.c).  Its pusher holds the mailbox
 *  once (evpool__mailbox_hold()); the delivery runs fn (which may free the
 *  node) and releases that hold, as it does for a job. */
struct evpool__call {
	struct evpool__node node;
	void (*fn)(struct evpool__call *call);
};

struct evpool__emit {
	struct evpool__node node;
	struct evpool_job *job;		/* holds a reference */
	struct evbuffer *buf;		/* evpool_ctx_emit_evbuffer()'s chains,
					 * or (during the callback) data
					 * referenced; NULL otherwise */
	size_t len;
	unsigned char data[];
};

/** Deliver one emission to its job's emit callback (loop thread) and free
 *  it (job.c). */
EVPOOL__INTERNAL void evpool__emit_deliver(struct evpool__emit *e);
/** Free an emission nobody will read (job.c). */
EVPOOL__INTERNAL void evpool__emit_free(struct evpool__emit *e);

struct evpool__mailbox {
	struct event_base *base;	/* NULL: the detached mailbox */
	struct event *ev;		/* read event on rfd (NULL: detached) */
	struct event *learn_ev;		/* runs once: tells us the loop thread */
	int rfd, wfd;			/* equal for an eventfd */
	struct evpool__node *local;	/* taken batch, FIFO, loop thread only */
	atomic_long outstanding;	/* jobs not yet delivered */
	pthread_mutex_t mu;		/* guards ev_added, lingering */
	bool ev_added;
	bool lingering;			/* added with nothing outstanding */
	atomic_bool awake;		/* a drain will look at head: no fd write */
	unsigned spin_ns;		/* adaptive loop-side spin budget */
	unsigned spin_probe;		/* drains since the budget hit 0 */
	/* The thread that delivers here: the last one that ran this base's
	 * loop or drained it (a token: the address of a thread-local), NULL
	 * while the base has never run.  creator: the thread that made the
	 * mailbox, which a blocking wait treats as the base's own thread
	 * until the loop has run (see evpool__mailbox_delivers_here()). */
	_Atomic(const void *) owner;
	const void *creator;
	uint64_t born_ns;		/* when it was made (monotonic) */
	/* The thread delivering now (NULL: none): two threads never drain
	 * one mailbox at once (a waiter that adopted a never-run base, and
	 * the loop that starts later on another thread). */
	_Atomic(const void *) drainer;
	struct evpool__mailbox *next;	/* pool->mailboxes */
	/* Workers write it per job; the loop's own fields above are kept
	 * off its line.  The pool is read from here by every job's finisher
	 * (a job reaches its pool through its mailbox). */
	_Alignas(64) _Atomic(struct evpool__node *) head; /* LIFO of completions */
	struct evpool *pool;
	_Alignas(64) char head_end_;
};

EVPOOL__INTERNAL int evpool__mailbox_new(struct evpool *pool,
					 struct event_base *base,
					 struct evpool__mailbox **mbp);
/** Release the mailbox's event and descriptors (evpool_free()); its memory
 *  stays, for jobs the user still holds, until evpool__mailbox_free(). */
EVPOOL__INTERNAL void evpool__mailbox_close(struct evpool__mailbox *mb);
/** Close (if not yet) and free the mailbox. */
EVPOOL__INTERNAL void evpool__mailbox_free(struct evpool__mailbox *mb);
/** Count one more outstanding job (adds the read event on 0 -> 1). */
EVPOOL__INTERNAL void evpool__mailbox_hold(struct evpool__mailbox *mb);
/** Undo one hold without a delivery (a submit that failed after holding). */
EVPOOL__INTERNAL void evpool__mailbox_unhold(struct evpool__mailbox *mb,
					     long n);
/** Push a node; writes the eventfd if the stack was empty. */
EVPOOL__INTERNAL void evpool__mailbox_push(struct evpool__mailbox *mb,
					   struct evpool__node *node);
/** Deliver pending completions in the calling thread.  @return jobs done. */
EVPOOL__INTERNAL int evpool__mailbox_drain(struct evpool__mailbox *mb);
/** True if the calling thread is the known loop thread of @p mb. */
EVPOOL__INTERNAL bool evpool__mailbox_is_mine(struct evpool__mailbox *mb);
/** How long a base's loop has, from the mailbox's creation, to show it runs
 *  on some thread (its one-off learn event fires there) before the thread
 *  that made the mailbox may deliver for it.  A loop running on another
 *  thread runs that event within microseconds, even a loaded one within
 *  this; a program that never dispatches pays it once per base. */
#define EVPOOL__ADOPT_GRACE_NS (100u * 1000000u)

/** True if a blocking wait in the calling thread must deliver @p mb's
 *  completions now: it is the base's known loop thread, or the base's loop
 *  has not run for EVPOOL__ADOPT_GRACE_NS since this thread made the
 *  mailbox (first submitted for that base; for the pool's own base, called
 *  evpool_new()). */
EVPOOL__INTERNAL bool evpool__mailbox_delivers_here(struct evpool__mailbox *mb);
/** True if this thread delivers for @p mb now or will once the grace has
 *  passed with no loop showing up (what a wait's "its callback has run"
 *  condition needs to know). */
EVPOOL__INTERNAL bool evpool__mailbox_may_deliver_here(struct evpool__mailbox *mb);
/** True if no loop has run or drained @p mb yet. */
EVPOOL__INTERNAL bool evpool__mailbox_unowned(struct evpool__mailbox *mb);

/* ---- jobs (job.c) ------------------------------------------------------- */

enum evpool__job_state {
	EVPOOL__QUEUED = 0,
	EVPOOL__RUNNING = 1,
	EVPOOL__FINISHING = 2,	/* a winner is writing the outcome */
	EVPOOL__DONE = 3,	/* outcome final (ready) */
};

/** Why a job finished; decides which counter moves. */
enum evpool__finish {
	EVPOOL__FIN_RAN = 0,	/* the function returned (status is its own) */
	EVPOOL__FIN_CANCEL,	/* cancelled: -ECANCELED */
	EVPOOL__FIN_TIMEOUT,	/* deadline passed: -ETIMEDOUT */
	EVPOOL__FIN_CRASH,	/* worker process died: EVPOOL_ECRASHED */
	EVPOOL__FIN_ERROR,	/* the library could not run it (status says) */
	EVPOOL__FIN_EXPIRE,	/* deadline from submit passed while queued */
};

/** Internal sink: when set, called on the finishing thread instead of
 *  pushing to a mailbox (blocking APIs built on top of the core).  A sink job
 *  holds the detached mailbox, not its base's (no event_add/event_del from a
 *  worker), and gets no emit or done callback.  The sink takes over the
 *  delivery: it must release the hold (evpool__mailbox_unhold(job->mb, 1))
 *  and the library's reference (evpool_job_unref()).  It runs with no
 *  library lock held and must not submit. */
typedef void (*evpool__sink_fn)(struct evpool_job *job);

/*
 * A job: 64 bytes, so that a million queued jobs cost 64 MB.  The fields
 * most jobs never use live in an extension allocated with the job, right
 * after it, only when the submit needs one of them (EVPOOL__JF_EXT):
 * byte input, emit callback, sink, timeout, a named queue, process mode.
 * Without it, those read as absent (evpool__job_input() etc.).
 *
 * node.word packs, so that one atomic word says it all:
 *   bits 0-1  node kind (EVPOOL__NODE_JOB)
 *   bits 2-3  state (enum evpool__job_state)
 *   bits 4-7  flags (EVPOOL__JF_*)
 *   bits 8-31 references (at most 2^24 - 1 at once)
 */
struct evpool_job {
	union {
		struct evpool__node node; /* mailbox link; state, flags, refs */
		struct {		/* the status sits in node's padding */
			void *node_next_;
			uint32_t node_word_;
			int status;	/* outcome; while queued: the priority */
		};
	};
	struct evpool_job *qnext;	/* intake, priority level, job cache */
	union {
		evpool_fn fn;		/* until it has run */
		void *result;		/* from then on (EVPOOL__JF_RBOX: the
					 * struct evpool__rbox) */
	};
	void *arg;
	evpool_done_cb done;
	void *done_arg;
	struct evpool__mailbox *mb;	/* the completion's; mb->pool: the pool */
};

/** The pool of @p job (its memory lives while the job does, see job.c). */
static inline struct evpool *
evpool__job_pool(const struct evpool_job *job)
{
	return job->mb->pool;
}

/* Process-mode inputs up to this many bytes are kept in the job's slot
 * (job-memory.c: the slot of a job with an extension is 256 bytes). */
#define EVPOOL__INPUT_INLINE 48u

struct evpool__job_ext {
	struct evpool_queue *q;
	evpool_emit_cb emit;
	evpool__sink_fn sink;
	void *input;			/* owned copy */
	size_t input_len;
	void *rbytes;			/* owned */
	size_t rlen;
	struct evpool__worker *worker;	/* running on it (set under q->mu) */
	uint64_t deadline_ns;
	size_t timer_idx;		/* position in the timeout heap + 1 */
	int timeout_ms;			/* resolved: 0 none */
	int exit_status;		/* -1, or a wait(2) status */
	atomic_uint emit_pending;	/* emissions not yet delivered */
	atomic_bool result_taken;	/* result handed to the user */
	bool no_result;			/* finished without running to its end:
					 * job->result still holds fn */
	/* evbuffers (both owned): the input moved in at submit (input is
	 * NULL then, input_len its length), the byte result */
	struct evbuffer *inbuf;
	struct evbuffer *outbuf;
	evpool_free_fn result_free;	/* of result; NULL: none */
	uint64_t expire_ns;		/* spec deadline: submit + ms; 0 none */
	/* Process mode: a short input lives here (input points to it), in
	 * the slot's room to spare, not in a malloc of its own.  Last: the
	 * allocation zeroes the fields before it only. */
	unsigned char input_inline[EVPOOL__INPUT_INLINE];
};

/** A job without extension that stored result bytes: its result field
 *  points here. */
struct evpool__rbox {
	void *result;
	void *rbytes;
	size_t rlen;
	struct evbuffer *outbuf;
	evpool_free_fn result_free;
	atomic_bool result_taken;
};

#define EVPOOL__JS_SHIFT 2u
#define EVPOOL__JS_MASK (3u << EVPOOL__JS_SHIFT)
#define EVPOOL__JF_EXT (1u << 4)	/* an extension follows the job */
#define EVPOOL__JF_CANCELLED (1u << 5)	/* evpool_ctx_cancelled() */
/* Bit 6 means one thing on a job with an extension, another on a plain
 * one (neither kind needs the other meaning): */
#define EVPOOL__JF_DELIVERED (1u << 6)	/* ext: loop thread: done cb has run */
#define EVPOOL__JF_PINNED (1u << 6)	/* plain: a handle pins the pool */
#define EVPOOL__JF_RBOX (1u << 7)	/* result is a struct evpool__rbox */
#define EVPOOL__JREF_SHIFT 8u
#define EVPOOL__JREF_ONE (1u << EVPOOL__JREF_SHIFT)

static inline uint32_t
evpool__job_word(const struct evpool_job *job, memory_order mo)
{
	return atomic_load_explicit(&((struct evpool_job *)job)->node.word, mo);
}

static inline unsigned
evpool__job_state(const struct evpool_job *job, memory_order mo)
{
	return (evpool__job_word(job, mo) & EVPOOL__JS_MASK) >> EVPOOL__JS_SHIFT;
}

static inline bool
evpool__job_flag(const struct evpool_job *job, uint32_t flag)
{
	return (evpool__job_word(job, memory_order_relaxed) & flag) != 0;
}

static inline void
evpool__job_set_flag(struct evpool_job *job, uint32_t flag)
{
	atomic_fetch_or_explicit(&job->node.word, flag, memory_order_seq_cst);
}

static inline struct evpool__job_ext *
evpool__job_ext(const struct evpool_job *job)
{
	if (!evpool__job_flag(job, EVPOOL__JF_EXT))
		return NULL;
	return (struct evpool__job_ext *)((uintptr_t)job + sizeof(*job));
}

/** The extension of a job that has one for sure (process mode, timed,
 *  emitting, sink jobs). */
#define EVPOOL__EXT(job) ((struct evpool__job_ext *)(uintptr_t)((job) + 1))
/** The job's view of itself while it runs (thread mode: on the worker's
 *  stack; process mode: in the child). */
struct evpool_ctx {
	struct evpool_job *job;		/* NULL in a worker process */
	struct evpool *pool;		/* NULL in a worker process */
	void *arg;
	const void *input;
	size_t input_len;
	void *result;
	void *rbytes;			/* malloc'd, owned until handed over */
	size_t rlen;
	evpool_free_fn result_free;	/* of result */
	struct evbuffer *inbuf;		/* the job's input evbuffer (owned by
					 * the job), or one made here */
	bool inbuf_own;			/* inbuf is the ctx's to free */
	struct evbuffer *out;		/* evpool_ctx_output(), owned */
	bool process;
	/* process mode: how to emit and how to see cancellation */
	int (*emit)(struct evpool_ctx *ctx, const void *data, size_t len);
	void *priv;
};

/** A job with an extension if @p ext.  Its word: JOB, QUEUED, two refs:
 *  the delivery's, and the queue's (handed by the pop to whoever runs or
 *  cancels the job, or dropped by the pop of a forgotten job).  A job with
 *  an extension pins the pool's memory (evpool__pool_pin()) until it is
 *  freed; a plain one only once the user holds a handle to it
 *  (evpool__job_ref_handle()), so that the common job, which the library
 *  alone holds and evpool_free() finishes, costs no pin. */
EVPOOL__INTERNAL struct evpool_job *evpool__job_alloc(struct evpool__mailbox *mb,
						      bool ext);
/** Workers call it between jobs, with no lock held: if a thread took a
 *  slab of job memory from the reserve, make one more (job-memory.c). */
EVPOOL__INTERNAL void evpool__job_memory_refill(void);
/** Give a job's memory back (its last reference is gone): its input and
 *  result bytes are freed, the struct goes to the thread's cache. */
EVPOOL__INTERNAL void evpool__job_free(struct evpool_job *job);
/** evpool__job_alloc(pool, false), faster on a warm thread. */
EVPOOL__INTERNAL struct evpool_job *evpool__job_alloc_plain(struct evpool__mailbox *mb);
/** A reference for the library's own use (no pin: see evpool__job_alloc). */
EVPOOL__INTERNAL struct evpool_job *evpool__job_ref(struct evpool_job *job);
/** A reference that the user will hold: a plain job then pins its pool,
 *  once, so the handle's calls may touch the pool's memory after
 *  evpool_free().  evpool_job_ref() is this. */
EVPOOL__INTERNAL struct evpool_job *evpool__job_ref_handle(struct evpool_job *job);
/** Move a job from state @p from to @p to (no other thread may move it). */
EVPOOL__INTERNAL void evpool__job_set_state(struct evpool_job *job,
					    unsigned from, unsigned to);
/** Store what the job produced (the winner of the finish race, before
 *  evpool__job_complete()).  Takes @p rbytes.  @return 0 or -ENOMEM (the
 *  bytes are then freed). */
EVPOOL__INTERNAL int evpool__job_set_output(struct evpool_job *job,
					    void *result, void *rbytes,
					    size_t rlen);
/** The same from a ctx whose job ran to its end: takes the ctx's result
 *  (with its free function), bytes and output evbuffer, and releases the
 *  rest of the ctx.  @return 0 or -ENOMEM (the outputs are then freed). */
EVPOOL__INTERNAL int evpool__job_set_output_ctx(struct evpool_job *job,
						struct evpool_ctx *ctx);
/** Release what a ctx holds besides its outputs (a wrapper of the input). */
EVPOOL__INTERNAL void evpool__ctx_release_input(struct evpool_ctx *ctx);
/** Turn ctx->out into ctx->rbytes (a copy), for callers that only deal in
 *  bytes (a map's items).  @return 0 or -ENOMEM. */
EVPOOL__INTERNAL int evpool__ctx_flatten(struct evpool_ctx *ctx);
/** The pointer result, handed to the user (a struct evpool_result): the
 *  library will no longer free it. */
EVPOOL__INTERNAL void *evpool__job_take_result(struct evpool_job *job);
/** The result bytes, and with @p take, take them over (the job then has
 *  none). */
EVPOOL__INTERNAL void *evpool__job_rbytes(struct evpool_job *job, size_t *len,
					  bool take);
/** The job's pointer result. */
EVPOOL__INTERNAL void *evpool__job_result(const struct evpool_job *job);
EVPOOL__INTERNAL struct evpool_queue *evpool__job_queue(const struct evpool_job *job);
static inline struct evpool__mailbox *
evpool__job_mb(const struct evpool_job *job)
{
	return job->mb;
}
/** A worker starts a job that waited in a batch: QUEUED -> RUNNING, unless
 *  a cancel took it first.  @return true if it is ours to run. */
EVPOOL__INTERNAL bool evpool__job_start(struct evpool_job *job);
/** Try to win the right to finish @p job from state @p from. */
EVPOOL__INTERNAL bool evpool__job_claim(struct evpool_job *job, unsigned from);
/** Winner only: record the outcome, count it, deliver it, wake waiters. */
EVPOOL__INTERNAL void evpool__job_complete(struct evpool_job *job,
					   enum evpool__finish why, int status);
/** The same for a job that ran, from state RUNNING, without a claim: only
 *  for a plain thread-mode job, which nothing but its worker can finish
 *  (no timeout, no kill). */
EVPOOL__INTERNAL void evpool__job_complete_ran(struct evpool_job *job,
					       int status);
/** Run the job's done callback and the pool callbacks (loop thread). */
EVPOOL__INTERNAL void evpool__job_deliver(struct evpool_job *job);
/** True when @p job may emit again: fewer than emit_window emissions wait
 *  for the loop, or the job was cancelled, or *@p stop (may be NULL) is set. */
EVPOOL__INTERNAL bool evpool__emit_has_room(struct evpool_job *job,
					    atomic_int *stop);
/** BLOCKING: wait until evpool__emit_has_room() (the emit window's
 *  backpressure, both modes).  @return 0 or -ETIMEDOUT. */
EVPOOL__INTERNAL int evpool__emit_wait(struct evpool_job *job, atomic_int *stop,
				       int timeout_ms);
/** Push a copy of @p data (@p len bytes) as an emission of @p job on its
 *  mailbox, counted in the emit window (both modes: evpool_ctx_emit(), and
 *  the proxy for an EMIT frame).  @return 0 or -ENOMEM. */
EVPOOL__INTERNAL int evpool__emit_push(struct evpool_job *job,
				       const void *data, size_t len);
/** Free a job's outputs when its late result is discarded. */
EVPOOL__INTERNAL void evpool__job_discard_ctx(struct evpool_ctx *ctx);

/* ---- queues (queue.c) --------------------------------------------------- */

struct evpool__level {
	int prio;
	struct evpool_job *head, *tail;
};

struct evpool__worker;

/** Jobs a thread-mode worker took from its queue in one lock hold (see
 *  queue.c).  They stay QUEUED, and count as queued, until the owner (or a
 *  thief that stole them into a batch of its own) claims them one by one;
 *  the batch holds a reference to each until its owner ends it, under
 *  q->mu, so that cancel and terminate may look at them meanwhile. */
#define EVPOOL__BATCH_MAX 16
struct evpool__batch {
	_Atomic uint32_t range;		/* end << 16 | next: jobs[next, end)
					 * are not claimed yet */
	unsigned n;			/* jobs[0, n) are held (NULL: given
					 * back to the queue) */
	struct evpool__batch *next;	/* q->batches, oldest first, */
	struct evpool__batch **prev;	/* under q->mu */
	struct evpool_job *jobs[EVPOOL__BATCH_MAX];
};

struct evpool_queue {
	/* Cache lines by who writes them: a submit reads the first and third
	 * and writes the fourth; workers write the second per job.  Sharing
	 * a line would move it between CPUs on every job. */
	struct evpool *pool;
	char name[32];
	size_t max_queued;
	unsigned min_workers;
	unsigned idle_timeout_ms;
	evpool_fn default_fn;
	bool stopping;			/* workers exit when they see it */
	atomic_bool prio_used;		/* a job had a priority other than 0:
					 * no more batches (their jobs would
					 * skip the priority order) */
	struct evpool_queue *next;	/* pool->queues */
	struct evpool_results *results;	/* put()/get() (named-queues.c), or NULL */

	_Alignas(64) pthread_mutex_t mu;
	pthread_cond_t work_cv;		/* idle workers wait here */
	pthread_cond_t room_cv;		/* EVPOOL_SUBMIT_BLOCK waits here */
	struct evpool__level *levels;	/* sorted by prio, highest first */
	unsigned nlevels, caplevels;
	atomic_uint nrunning;		/* busy workers; read lock-free */
	atomic_uint nblocked;		/* of them, blocked in a wait on the
					 * pool (evpool__self_deadlock()) */
	unsigned nroom_waiters;
	unsigned nleaving;		/* left the list, still in worker_stop */
	atomic_size_t nout;		/* jobs that left the queue (claimed
					 * from a batch without mu) */
	struct evpool__worker *workers;	/* alive ones */
	struct evpool__batch *batches;	/* being run by workers, oldest */
	struct evpool__batch **batches_tail; /* first */
	struct evpool__worker *exited;	/* to be joined */

	/* Written only when workers come, go or sleep. */
	_Alignas(64) atomic_uint max_workers;	/* written under mu; read lock-free */
	atomic_uint nworkers;		/* alive or starting; as above */
	atomic_uint nsleeping;		/* waiting on work_cv; as above */
	atomic_uint nwakeups;		/* signals sent, not yet consumed; as
					 * above */

	/* Submitters push here without the mutex (a lock-free LIFO); a
	 * worker or canceller holding the mutex moves it into the levels. */
	_Alignas(64) _Atomic(struct evpool_job *) intake;
	/* Jobs queued = nin - nout: each side writes only its own counter
	 * (evpool__queue_len()). */
	atomic_size_t nin;		/* places reserved by submitters */
	_Alignas(64) char intake_end_;
};

EVPOOL__INTERNAL int evpool__queue_new(struct evpool *pool, const char *name,
				       unsigned min_workers,
				       unsigned max_workers,
				       struct evpool_queue **qp);
EVPOOL__INTERNAL void evpool__queue_free(struct evpool_queue *q);
/** Jobs waiting in @p q (intake and levels), read without the lock. */
static inline size_t
evpool__queue_len(struct evpool_queue *q)
{
	size_t out = atomic_load_explicit(&q->nout, memory_order_acquire);
	size_t in = atomic_load_explicit(&q->nin, memory_order_acquire);

	return in > out ? in - out : 0;
}
/** Free what named-queues.c hangs on a queue (called by evpool__queue_free). */
EVPOOL__INTERNAL void evpool__queue_results_free(struct evpool_queue *q);
/** evpool__queue_reserve() for a bounded queue. */
EVPOOL__INTERNAL int evpool__queue_reserve_bounded(struct evpool_queue *q,
						   unsigned flags, int wait_ms);
/** Reserve a place for one job in nin, honouring max_queued (and
 *  EVPOOL_SUBMIT_BLOCK with @p wait_ms).  @return 0, -EAGAIN, -ETIMEDOUT or
 *  -ESHUTDOWN.  Lock-free unless it has to wait. */
static inline int
evpool__queue_reserve(struct evpool_queue *q, unsigned flags, int wait_ms)
{
	if (evpool__likely(!q->max_queued)) {
		atomic_fetch_add_explicit(&q->nin, 1, memory_order_relaxed);
		return 0;
	}
	return evpool__queue_reserve_bounded(q, flags, wait_ms);
}
/** Raise the pool's peak_queued to @p q's length if that is higher (done
 *  before a job leaves the queue, and when stats are read). */
EVPOOL__INTERNAL void evpool__queue_note_peak(struct evpool_queue *q);
/** Add a job whose place is reserved to the intake (no lock); call
 *  evpool__queue_wake() after. */
EVPOOL__INTERNAL void evpool__queue_push(struct evpool_queue *q,
					 struct evpool_job *job);
/** Move the intake into the priority levels (q->mu held).  @return 0 or
 *  -ENOMEM (what could not be placed stays in the intake). */
EVPOOL__INTERNAL int evpool__queue_flush(struct evpool_queue *q);
/** After a push: wake a sleeping worker or start one if the queue needs
 *  it; takes q->mu only then.  @return 0, or < 0 if no worker exists and
 *  none could be started. */
EVPOOL__INTERNAL int evpool__queue_wake(struct evpool_queue *q);
/** Take up to @p want jobs into @p b, in queue order, for the calling
 *  worker (q->mu held): only jobs that may wait in a batch, and one alone
 *  is returned in *@p single instead, as evpool__queue_pop() would (the
 *  caller gets the queue's reference).  @return the count (0: nothing). */
EVPOOL__INTERNAL unsigned evpool__queue_take(struct evpool_queue *q,
					     struct evpool__batch *b,
					     unsigned want,
					     struct evpool_job **single);
/** An idle worker claims the oldest job that waits in another worker's
 *  batch (q->mu held), with a reference of its own to drop when done.
 *  NULL if there is none. */
EVPOOL__INTERNAL struct evpool_job *evpool__queue_steal(struct evpool_queue *q);
/** The owner claims the next job of its batch, lock-free: RUNNING and no
 *  longer queued.  NULL when none is left. */
EVPOOL__INTERNAL struct evpool_job *evpool__batch_claim(struct evpool_queue *q,
							struct evpool__batch *b);
/** The owner gives the jobs of its batch it has not started back to the
 *  front of the queue (q->mu held): a job with a priority came. */
EVPOOL__INTERNAL void evpool__queue_batch_unclaim(struct evpool_queue *q,
						  struct evpool__batch *b);
/** The owner ends its batch (q->mu held): unlink it, drop its references. */
EVPOOL__INTERNAL void evpool__queue_batch_end(struct evpool_queue *q,
					      struct evpool__batch *b);
/** Unlink the next job to run (q->mu held); NULL if empty.  The caller
 *  gets the queue's reference to the job and must drop it when done. */
EVPOOL__INTERNAL struct evpool_job *evpool__queue_pop(struct evpool_queue *q);
/** Make sure evpool__queue_unpop() of @p job cannot fail while q->mu stays
 *  held (its priority's level exists).  @return 0 or -ENOMEM. */
EVPOOL__INTERNAL int evpool__queue_unpop_room(struct evpool_queue *q,
					      const struct evpool_job *job);
/** Put back at the front of its level a job popped and not started (q->mu
 *  held, room made sure of; the caller has made it QUEUED again and gives
 *  the queue its reference). */
EVPOOL__INTERNAL void evpool__queue_unpop(struct evpool_queue *q,
					  struct evpool_job *job);
/** A queued job that has just left state QUEUED (cancelled, or taken back)
 *  stops counting as queued; it stays linked, with the queue's reference,
 *  until a pop passes it and drops that (q->mu held). */
EVPOOL__INTERNAL void evpool__queue_forget(struct evpool_queue *q);
/** Cancel every queued job of @p q.  @return the count. */
EVPOOL__INTERNAL int evpool__queue_cancel_all(struct evpool_queue *q);
/** Flag (and in process mode kill) every running job of @p q. */
EVPOOL__INTERNAL void evpool__queue_flag_running(struct evpool_queue *q);

/* ---- workers (worker.c) ------------------------------------------------- */

struct evpool__worker {
	struct evpool_queue *q;
	pthread_t tid;
	unsigned id;
	struct evpool_job *current;	/* under q->mu */
	unsigned jobs_done;
	struct evpool__batch batch;	/* thread mode, while n > 0 */
	struct evpool__worker *next;
	void *mode_data;		/* process mode: the child */
	struct evpool__poke *poke;	/* evpool__poke_kill()'s, or NULL */
	bool released;			/* see evpool__worker_release() */
	unsigned spin_ns;		/* its spin budget (worker.c) */
	unsigned spin_probe;		/* idle turns without a spin */
	bool init_failed;		/* thread mode: no initializer has
					 * succeeded yet (tried again per job) */
};

/**
 * The worker's last job is about to be completed: it stops counting as
 * busy (q->nrunning) now, before the completion is published, so that a
 * submit made in answer to that completion (a caller waiting on it, a
 * callback submitting the next job) finds it idle and does not start
 * another worker.  A mode's run() calls it at most once per run; the
 * worker loop does it after run() otherwise.  Worker thread only.
 */
EVPOOL__INTERNAL void evpool__worker_release(struct evpool__worker *w);

/** Run the configured worker initializer.  @return 0, or its nonzero
 *  status (an evpool_worker_init_fn that failed). */
EVPOOL__INTERNAL int evpool__run_initializer(const struct evpool_config *cfg);

/** Make sure work gets picked up after a push (q->mu held). */
EVPOOL__INTERNAL int evpool__queue_kick(struct evpool_queue *q);
/** As evpool__queue_kick(), but a sleeper to wake is left to the caller:
 *  *signal set true means pthread_cond_signal(&q->work_cv) is owed, to be
 *  sent after q->mu is dropped (the woken worker then does not block at
 *  once on the mutex its waker holds: two futex calls fewer per wakeup). */
EVPOOL__INTERNAL int evpool__queue_kick_later(struct evpool_queue *q,
					      bool *signal);
/** Start one worker thread (q->mu held). */
EVPOOL__INTERNAL int evpool__worker_spawn(struct evpool_queue *q);
/** Stop and join every worker of @p q (q->mu NOT held). */
EVPOOL__INTERNAL void evpool__queue_stop_workers(struct evpool_queue *q);
/** Join workers that exited on their own (q->mu held). */
EVPOOL__INTERNAL void evpool__queue_reap(struct evpool_queue *q);

/**
 * How ops->kill and ops->kill_all reach a worker thread that serves its
 * jobs itself, away from the queue (process mode's proxy, remote mode's
 * dispatcher): flags it looks at, and a descriptor that wakes it (an
 * eventfd when rfd == wfd, else a pipe).  It lives in the mode's worker
 * data; w->poke points at it (set with w->mode_data, under q->mu).
 */
struct evpool__poke {
	atomic_int poked;	/* ops->kill or kill_all happened */
	atomic_int kill_all;	/* ops->kill_all happened */
	int rfd, wfd;		/* -1: none yet (a poke is lost: the thread
				 * looks at the flags before it sleeps) */
};

/** Set the poked flag and wake the thread. */
EVPOOL__INTERNAL void evpool__poke(struct evpool__poke *p);
/**
 * ops->kill of such a mode: win the job's finish race (RUNNING ->
 * FINISHING) and poke the thread, which then owes the job a -ECANCELED
 * completion (its own claim fails).  q->mu held.  @return false when the
 * job was not won (finished meanwhile, or no w->poke).
 */
EVPOOL__INTERNAL bool evpool__poke_kill(struct evpool__worker *w,
					struct evpool_job *job);
/** ops->kill_all of such a mode: flag kill_all and poke.  q->mu held. */
EVPOOL__INTERNAL void evpool__poke_kill_all(struct evpool__worker *w);

/** Mode operations: how a worker runs a job. */
struct evpool__mode_ops {
	/** Called in the worker thread when it starts; nonzero: it exits. */
	int (*worker_start)(struct evpool__worker *w);
	/** Called in the worker thread when it exits. */
	void (*worker_stop)(struct evpool__worker *w);
	/** Run @p job and finish it (claim + complete, or discard). */
	void (*run)(struct evpool__worker *w, struct evpool_job *job);
	/** Called (q->mu held) to stop a running job for cancel/terminate.
	 *  @return true if the job will complete with -ECANCELED. */
	bool (*kill)(struct evpool__worker *w, struct evpool_job *job);
	/** Called (q->mu held) by terminate/shutdown/free for each busy
	 *  worker instead of kill(w, w->current), when a worker may hold
	 *  more than one job (process mode).  May be NULL. */
	void (*kill_all)(struct evpool__worker *w);
	/** Called by a submit, the job counted and not queued yet: a mode
	 *  that can start it at once without a worker's hand (remote mode:
	 *  give it straight to an I/O thread that has room) takes it: RUNNING,
	 *  EXT(job)->worker set, the queue's reference its own, and returns
	 *  true.  Only for an unbounded queue with nothing queued, so that the
	 *  queue's order and limits stay the worker's business.  May be NULL. */
	bool (*submit_direct)(struct evpool *pool, struct evpool_queue *q,
			      struct evpool_job *job);
	/** Pool-wide setup/teardown (fork server...).  May be NULL. */
	int (*pool_start)(struct evpool *pool);
	void (*pool_stop)(struct evpool *pool);
	/** evpool_get_stats(), after the core's fields, no lock held: add
	 *  the mode's (process mode: fork server restarts, workers without
	 *  a process).  May be NULL. */
	void (*stats)(struct evpool *pool, struct evpool_stats *st);
};

EVPOOL__INTERNAL extern const struct evpool__mode_ops evpool__thread_ops;
/** Process mode (lib/process/); NULL in a build without it. */
EVPOOL__INTERNAL extern const struct evpool__mode_ops *const evpool__process_ops;
/** Remote mode (lib/remote/client.c); NULL in a build without hiredis. */
EVPOOL__INTERNAL extern const struct evpool__mode_ops *const evpool__remote_ops;
/** Remote mode defaults (lib/remote/registry.c). */
EVPOOL__INTERNAL void evpool__remote_config_defaults(struct evpool__remote_cfg *rc);
/** Remote mode: check a submit (arg, input size, function name).
 *  @return 0 or a negative code with a message. */
EVPOOL__INTERNAL int evpool__remote_check(struct evpool *pool,
					  const struct evpool_job_spec *spec);

/* ---- timeouts (worker.c) ------------------------------------------------ */

/** Put a job with a deadline from its submit (x->expire_ns) in the timer
 *  heap, at submit (both modes).  @return 0 or -ENOMEM / a thread error. */
EVPOOL__INTERNAL int evpool__timer_arm_expire(struct evpool *pool,
					      struct evpool_job *job);
/** Arm the thread-mode deadline of a job that starts running now. */
EVPOOL__INTERNAL int evpool__timer_arm(struct evpool *pool,
				       struct evpool_job *job);
EVPOOL__INTERNAL void evpool__timer_disarm(struct evpool *pool,
					   struct evpool_job *job);
EVPOOL__INTERNAL void evpool__timer_stop(struct evpool *pool);

/* ---- the pool (pool.c) -------------------------------------------------- */

struct evpool {
	struct evpool_config cfg;
	struct event_base *base;
	const struct evpool__mode_ops *ops;
	void *mode_data;

	/* Read by every submit; the locks come after the counters. */
	/** ops->submit_direct, here beside what every submit reads. */
	bool (*submit_direct)(struct evpool *pool, struct evpool_queue *q,
			      struct evpool_job *job);
	struct evpool__mailbox *mailboxes;
	struct evpool__mailbox *detached;
	_Atomic(struct evpool__mailbox *) mb_cache;
	struct evpool__mailbox *mb_main; /* the base's, or detached */
	struct evpool_queue *queues;	/* the default queue is dq */
	struct evpool_queue *dq;
	atomic_bool closed;
	unsigned fork_gen;	/* evpool__fork_gen when made (evpool__inherited) */

	/* Counters (struct evpool_stats).  Submitters write n_submitted
	 * (counted before a job can be seen, undone if the submit fails);
	 * finishers write the outcome counters, after the job is handed over.
	 * Jobs not finished = n_submitted - the sum of the outcomes, so no
	 * counter is written by both sides; each side has its cache line. */
	_Alignas(64) atomic_uint_fast64_t n_submitted;
	_Alignas(64) atomic_uint_fast64_t n_completed, n_failed, n_cancelled,
		n_timed_out, n_crashed, n_respawns, n_lib_errors, n_expired,
		n_rejected;
	/* Taken by whoever takes a job off a queue (evpool__queue_note_peak):
	 * the length is highest just before a job leaves. */
	atomic_uint_fast64_t peak_queued;
	_Alignas(64) char counters_end_;

	pthread_mutex_t mu;		/* mailboxes, queues, lifecycle */
	atomic_uint next_worker_id;

	/* waiters: job_wait, join, emit backpressure */
	pthread_mutex_t wait_mu;
	pthread_cond_t wait_cv;
	atomic_int nwaiters;

	/* The pool's memory lives while jobs or other handles pin it
	 * (evpool__pool_pin()); evpool_free() sets dead and drops its own pin,
	 * and whoever drops the last pin releases the memory. */
	_Alignas(64) atomic_long live_jobs;	/* every submit and free: off */
	atomic_bool dead;			/* the line workers read */
	_Alignas(64) char live_end_;

	/* thread-mode timeouts: a min-heap of running jobs by deadline */
	pthread_mutex_t timer_mu;
	pthread_cond_t timer_cv;
	struct evpool_job **theap;
	size_t theap_len, theap_cap;
	bool timer_started, timer_stop;
	pthread_t timer_tid;
};

/** How many host fork()s this process descends from (bumped in the child). */
EVPOOL__INTERNAL extern atomic_uint evpool__fork_gen;
/** Is @p pool inherited across a host fork()?  Its threads, and the locks
 *  they held, belong to the parent: such a pool must not be touched. */
static inline bool
evpool__inherited(const struct evpool *pool)
{
	return pool->fork_gen !=
	       atomic_load_explicit(&evpool__fork_gen, memory_order_relaxed);
}
/** Write a wakeup of @p len bytes (8 for an eventfd, 1 for a pipe) to @p fd,
 *  retrying EINTR; EAGAIN means one is already pending. */
EVPOOL__INTERNAL void evpool__wake_fd(int fd, size_t len);
/** Wake every waiter of the pool (after a job finished, a slot freed...). */
EVPOOL__INTERNAL void evpool__pool_wake(struct evpool *pool);
/**
 * BLOCKING wait until @p done(@p arg) is true.  On a loop thread of the pool
 * it delivers that loop's completions while it waits.
 * @return 0 or -ETIMEDOUT.
 */
EVPOOL__INTERNAL int evpool__pool_wait(struct evpool *pool,
				       bool (*done)(void *), void *arg,
				       int timeout_ms);
/** Release the pool's memory if it is dead and no job remains. */
EVPOOL__INTERNAL void evpool__pool_release(struct evpool *pool);
/** Keep the pool's memory alive (a job, a map handle...). */
EVPOOL__INTERNAL void evpool__pool_pin(struct evpool *pool);
/** Drop a pin; the last one after evpool_free() releases the memory. */
EVPOOL__INTERNAL void evpool__pool_unpin(struct evpool *pool);
/** Jobs submitted and not yet finished. */
EVPOOL__INTERNAL uint64_t evpool__pool_unfinished(struct evpool *pool);
/** The mailbox of @p base (NULL: the pool's base; detached if none). */
EVPOOL__INTERNAL int evpool__pool_mailbox(struct evpool *pool,
					  struct event_base *base,
					  struct evpool__mailbox **mbp);
/** Submit with an internal sink (NULL: normal delivery). */
EVPOOL__INTERNAL int evpool__submit(struct evpool *pool,
				    const struct evpool_job_spec *spec,
				    evpool__sink_fn sink,
				    struct evpool_job **jobp);

/** Thread-local: the worker this thread is (NULL: not a worker). */
EVPOOL__INTERNAL extern __thread struct evpool__worker *evpool__tls_worker;
/** Thread-local: the job this (thread-mode) worker runs now, or NULL. */
EVPOOL__INTERNAL extern __thread struct evpool_job *evpool__tls_job;
/** Would a wait on @p pool (@p job NULL: the whole pool) by the calling
 *  thread never end (selfwait.c)?  If so, set evpool_errmsg() (naming
 *  @p fn) and return true: the caller returns -EDEADLK. */
EVPOOL__INTERNAL bool evpool__self_deadlock(struct evpool *pool,
					    struct evpool_job *job,
					    const char *fn);
/** evpool__pool_wait() for @p job (or a map chunk, a job standing for
 *  the rest; NULL: none to look at): -EDEADLK as evpool__self_deadlock()
 *  says, else the wait, counted in nblocked while @p job is queued on the
 *  caller's queue. */
EVPOOL__INTERNAL int evpool__self_wait(struct evpool *pool,
				       struct evpool_job *job, const char *fn,
				       bool (*done)(void *), void *arg,
				       int timeout_ms);
/** Thread-local: the pool whose callbacks this thread is delivering. */
EVPOOL__INTERNAL extern __thread struct evpool *evpool__tls_delivering;
/** Thread-local: a pool this thread asked to free from inside one of its
 *  callbacks; the outermost delivery of this thread frees it afterwards
 *  (only that thread: another loop's delivery must not). */
EVPOOL__INTERNAL extern __thread struct evpool *evpool__tls_free_deferred;

/* ---- time --------------------------------------------------------------- */

/** True on a single-CPU machine, or with EVPOOL_NO_SPIN set in the
 *  environment: workers and loops sleep at once instead of spinning. */
EVPOOL__INTERNAL extern bool evpool__spin_disabled;
EVPOOL__INTERNAL extern bool evpool__spin_yield;
/** Decide evpool__spin_disabled (once per process). */
EVPOOL__INTERNAL void evpool__spin_init(void);

static inline void
evpool__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

EVPOOL__INTERNAL uint64_t evpool__now_ns(void);
/** Absolute CLOCK_MONOTONIC deadline for condvars made with it; -1: none. */
EVPOOL__INTERNAL uint64_t evpool__deadline_ns(int timeout_ms);
/** pthread_cond_timedwait until @p deadline (UINT64_MAX: plain wait). */
EVPOOL__INTERNAL int evpool__cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
				       uint64_t deadline);
/** A mutex for a lock that threads on other CPUs take briefly and often
 *  (adaptive where the C library has it). */
EVPOOL__INTERNAL void evpool__mutex_init_hot(pthread_mutex_t *mu);
/** A condvar on CLOCK_MONOTONIC. */
EVPOOL__INTERNAL int evpool__cond_init(pthread_cond_t *cv);

#endif /* EVPOOL_INTERNAL_H */

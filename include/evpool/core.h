/*
 * evpool/core.h — the core of libevpool: error codes, configuration, a
 * pool's life, submitting jobs, job handles (futures), what a job sees
 * while it runs (its ctx), completions for loops other than libevent
 * (evpool_fd(), evpool_drain()) and statistics.  A program that only
 * submits jobs needs nothing else.  Include <evpool.h>, not this file:
 * the contract every function keeps is written there.
 */
#ifndef EVPOOL_CORE_H
#define EVPOOL_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <evpool-version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define EVPOOL_API __attribute__((visibility("default")))
#else
#define EVPOOL_API
#endif

struct event_base;
struct evbuffer;

/** A pool of workers.  Opaque; made by evpool_new(), freed by evpool_free(). */
struct evpool;
/** Pool settings.  Opaque; evpool_config_new() / evpool_config_free(). */
struct evpool_config;
/** A submitted job and its result (a future).  Opaque, reference counted. */
struct evpool_job;
/** A job's view of itself while it runs (input, result, cancel, emit). */
struct evpool_ctx;
/** A named queue of a pool, with its own workers (see evpool_queue_*). */
struct evpool_queue;

/* ------------------------------------------------------------------------ */
/** @name Errors */

/** First library error code; every library code is <= this value. */
#define EVPOOL_ERR_BASE (-10000)

/** Library error codes, for what errno cannot say.  All are negative. */
enum evpool_error {
	/** The worker process died while running the job (signal or exit);
	 *  evpool_job_exit_status() tells how. */
	EVPOOL_ECRASHED = EVPOOL_ERR_BASE - 1,
	/** The worker sent a corrupt or truncated result frame. */
	EVPOOL_EPROTO = EVPOOL_ERR_BASE - 2,
	/** The job has not finished yet (evpool_job_successful(), and
	 *  evpool_job_get() when its wait timed out). */
	EVPOOL_ENOTREADY = EVPOOL_ERR_BASE - 3,
	/* EVPOOL_ERR_BASE - 4 is not used (a pointer input or result in a
	 * process-mode pool is -EINVAL, with a message). */
	/** The worker could not be started (fork server or initializer failed). */
	EVPOOL_ESPAWN = EVPOOL_ERR_BASE - 5,
	/** Remote mode: the job was delivered to workers max_deliveries
	 *  times and none answered (they died or were killed). */
	EVPOOL_ELOST = EVPOOL_ERR_BASE - 6,
	/** Remote mode: the worker has no function registered under the
	 *  job's name. */
	EVPOOL_ENOFUNC = EVPOOL_ERR_BASE - 7,
	/** Remote mode: Redis was unreachable longer than the reconnect
	 *  limit, or refused a command. */
	EVPOOL_EREDIS = EVPOOL_ERR_BASE - 8,
};

/**
 * Describe any code this library returns: a negative errno value, a library
 * code, or 0 ("Success").  Never NULL; the string is static (thread-safe).
 */
EVPOOL_API const char *evpool_strerror(int code);

/** The symbolic name of a code ("EAGAIN", "EVPOOL_ECRASHED"); never NULL. */
EVPOOL_API const char *evpool_err_name(int code);

/**
 * The detail message of the last failure in the calling thread, e.g.
 * "evpool_submit_job: process-mode pools take byte input, not a pointer".
 * Set only by failing calls (a success leaves it as it was).  The string is
 * thread-local and valid until the thread's next failing call; "" if none.
 */
EVPOOL_API const char *evpool_errmsg(void);

/* ------------------------------------------------------------------------ */
/** @name Version */

/** The runtime version string, e.g. "0.1.0". */
EVPOOL_API const char *evpool_version(void);
/** The runtime version as EVPOOL_VERSION_HEX encodes it (0xMMmmpp). */
EVPOOL_API unsigned evpool_version_hex(void);

/* ------------------------------------------------------------------------ */
/** @name Job functions and callbacks */

/**
 * A job.  Runs on a worker thread (thread mode) or in a worker process
 * (process mode); the signature is the same in both, so switching a pool's
 * mode is one configuration line.  Read the input with evpool_ctx_arg() or
 * evpool_ctx_input(), store a result with evpool_ctx_set_result() or
 * evpool_ctx_set_result_bytes(), and return the job's status: 0 for success,
 * anything else (a negative errno value is customary) for the job's own
 * failure.  Library codes (<= EVPOOL_ERR_BASE) are reserved; a job returning
 * one is treated as failed with that code.
 */
typedef int (*evpool_fn)(struct evpool_ctx *ctx);

/**
 * Completion callback: runs exactly once per successful submit, on the loop
 * thread of the job's base.  @p job is valid for the duration of the call
 * (take evpool_job_ref() to keep it longer); read its outcome with
 * evpool_job_status(), evpool_job_result(), evpool_job_result_bytes().
 * @p arg is the done_arg given at submit.
 */
typedef void (*evpool_done_cb)(struct evpool_job *job, void *arg);

/**
 * Partial-result callback of a streaming ("generator") job: runs on the loop
 * thread once per evpool_ctx_emit(), in emission order, always before the
 * job's completion callback.  @p data (@p len bytes) is valid only during the
 * call.  @p arg is the done_arg given at submit.
 */
typedef void (*evpool_emit_cb)(struct evpool_job *job, const void *data,
			       size_t len, void *arg);

/** Worker start / stop hook (initializer, finalizer); runs in the worker. */
typedef void (*evpool_worker_fn)(void *arg);

/**
 * The free function of a pointer result (GLib's GDestroyNotify): called
 * with the result when the library discards it (see
 * evpool_ctx_set_result_full()).  It runs on whichever thread discards the
 * result (a worker, the timeout thread, the loop thread) and must not call
 * back into the pool.
 */
typedef void (*evpool_free_fn)(void *result);

/** Worker initializer that can fail: return 0 when the worker is ready,
 *  anything else when it cannot run jobs (evpool_config_set_worker_init()). */
typedef int (*evpool_worker_init_fn)(void *arg);

/* ------------------------------------------------------------------------ */
/** @name Configuration */

/** Where a pool runs its jobs. */
enum evpool_mode {
	EVPOOL_MODE_THREAD = 0,  /**< worker threads (default) */
	EVPOOL_MODE_PROCESS = 1, /**< worker processes (crash isolation) */
	EVPOOL_MODE_REMOTE = 2,  /**< workers on other hosts, through Redis
				      (set by evpool_config_set_remote(),
				      see <evpool/remote.h>) */
};

/** How workers wake the loop. */
enum evpool_notify {
	EVPOOL_NOTIFY_AUTO = 0,    /**< eventfd where available, else a pipe */
	EVPOOL_NOTIFY_EVENTFD = 1, /**< eventfd; evpool_new() fails with
				        -ENOSYS where it is missing */
	EVPOOL_NOTIFY_PIPE = 2,    /**< a non-blocking pipe */
};

/**
 * Make a configuration holding the defaults: thread mode, min_workers 0,
 * max_workers = online CPUs, unbounded queue, idle timeout 10 000 ms, thread
 * name prefix "evpool", no job timeout.
 * @return the configuration, or NULL when out of memory.
 */
EVPOOL_API struct evpool_config *evpool_config_new(void);

/** Free a configuration.  NULL is ignored.  Pools made from it keep a copy. */
EVPOOL_API void evpool_config_free(struct evpool_config *cfg);

/** Set the mode.  @return 0, or -EINVAL for an unknown mode or NULL cfg. */
EVPOOL_API int evpool_config_set_mode(struct evpool_config *cfg,
				      enum evpool_mode mode);

/**
 * Set the worker limits of the pool's default queue.  Workers start on demand
 * up to @p max_workers; @p min_workers are started by evpool_new() and never
 * exit for idleness.  @p max_workers 0 means the number of online CPUs.
 * @return 0, or -EINVAL if min > max (after resolving 0) or max > 4096.
 */
EVPOOL_API int evpool_config_set_workers(struct evpool_config *cfg,
					 unsigned min_workers,
					 unsigned max_workers);

/**
 * Bound the number of queued (not yet running) jobs of each queue.  A submit
 * that would exceed it fails at once with -EAGAIN, or waits (see
 * EVPOOL_SUBMIT_BLOCK).  0 (the default) means unbounded.
 */
EVPOOL_API int evpool_config_set_max_queued(struct evpool_config *cfg,
					    size_t max_queued);

/** Workers above min_workers exit after @p ms idle (default 10 000). */
EVPOOL_API int evpool_config_set_idle_timeout(struct evpool_config *cfg,
					      unsigned ms);

/**
 * Thread name prefix: workers are named "<prefix>/<n>" (see top -H,
 * /proc/self/task/N/comm).  1..10 printable characters, no '/'.
 * @return 0, or -EINVAL (message in evpool_errmsg()).
 */
EVPOOL_API int evpool_config_set_name(struct evpool_config *cfg,
				      const char *prefix);

/** Choose the wakeup mechanism (default EVPOOL_NOTIFY_AUTO). */
EVPOOL_API int evpool_config_set_notify(struct evpool_config *cfg,
					enum evpool_notify notify);

/**
 * Pool-wide callbacks (fastthreadpool's done_callback / failed_callback):
 * after a job's own completion callback, @p done runs for each job whose
 * status is 0 and @p failed for each other job (failure, cancel, timeout,
 * crash).  Both on the loop thread of the job's base; either may be NULL.
 */
EVPOOL_API int evpool_config_set_callbacks(struct evpool_config *cfg,
					   evpool_done_cb done,
					   evpool_done_cb failed, void *arg);

/**
 * Default job timeout in ms, counted from the moment a job starts running
 * (0 = none, the default).  Thread mode: at the deadline the job completes
 * with -ETIMEDOUT, its cancelled flag is set and its late result is
 * discarded (the thread cannot be stopped).  Process mode: the worker is
 * killed and replaced.
 */
EVPOOL_API int evpool_config_set_job_timeout(struct evpool_config *cfg,
					     unsigned ms);

/**
 * Default job deadline in ms, counted from the SUBMIT, queue time included
 * (0 = none, the default): what an HTTP request's time budget needs.  A job
 * still queued at its deadline completes with -ETIMEDOUT without running
 * (one completion callback, as always; stats: timed_out and expired).  A
 * job running at its deadline is treated as by the job timeout: thread
 * mode flags it (evpool_ctx_cancelled()) and discards its late result,
 * process mode kills its worker.  The two limits are independent and both
 * apply; whichever passes first ends the job:
 *
 *     job timeout (set_job_timeout, spec.timeout_ms)   from the START
 *     job deadline (set_job_deadline, spec.deadline_ms) from the SUBMIT
 *
 * A job per-spec value overrides it (spec.deadline_ms).  Also
 * EVPOOL_JOB_DEADLINE_MS / --evpool-job-deadline-ms.
 * @return 0, or -EINVAL for a NULL cfg or @p ms over 2^31 - 1.
 */
EVPOOL_API int evpool_config_set_job_deadline(struct evpool_config *cfg,
					      unsigned ms);

/**
 * The free function of pointer results set with evpool_ctx_set_result()
 * (one given to evpool_ctx_set_result_full() takes precedence): with it, a
 * pointer result nobody will read is freed instead of leaked.  NULL (the
 * default): results are never freed by the library.
 * @return 0, or -EINVAL for a NULL cfg.
 */
EVPOOL_API int evpool_config_set_result_free(struct evpool_config *cfg,
					     evpool_free_fn fn);

/**
 * Run @p init (with @p arg) in each new worker before its first job and
 * @p fini when it exits.  Either may be NULL.  An initializer that can fail
 * is set with evpool_config_set_worker_init() instead; the last of the two
 * calls wins.
 * @return 0, or -EINVAL (NULL @p cfg).
 */
EVPOOL_API int evpool_config_set_initializer(struct evpool_config *cfg,
					     evpool_worker_fn init,
					     evpool_worker_fn fini, void *arg);

/**
 * Like evpool_config_set_initializer(), with an initializer that reports
 * failure (multiprocessing's initializer that raises): @p init returns 0
 * when the worker is ready, nonzero when it is not (a per-worker database
 * connection that does not open).  In both modes a worker whose initializer
 * failed runs no job: each job it takes ends with EVPOOL_ESPAWN (its
 * completion callback runs as always) after one more try of the
 * initializer, so a worker whose resource comes back recovers.  In thread
 * mode the worker thread stays and tries again per job; in process mode the
 * worker process exits and a new one is started for the next job.  @p fini
 * runs only in a worker whose initializer succeeded.  Called in the worker
 * (thread or process), never on the loop.  @p init or @p fini may be NULL.
 * @return 0, or -EINVAL (NULL @p cfg).
 */
EVPOOL_API int evpool_config_set_worker_init(struct evpool_config *cfg,
					     evpool_worker_init_fn init,
					     evpool_worker_fn fini, void *arg);

/** The job function used when a submit names none (spec.fn == NULL). */
EVPOOL_API int evpool_config_set_default_fn(struct evpool_config *cfg,
					    evpool_fn fn);

/**
 * How many partial results (evpool_ctx_emit()) of one job may wait for the
 * loop before the emitting worker blocks: backpressure instead of unbounded
 * buffering.  Default 64; 1..65536.
 */
EVPOOL_API int evpool_config_set_emit_window(struct evpool_config *cfg,
					     unsigned n);

/* ------------------------------------------------------------------------ */
/** @name Pool lifecycle */

/**
 * Make a pool.
 * @param poolp  receives the pool on success; untouched on failure.
 * @param base   the default event_base for completions (may be NULL: jobs
 *               submitted without a base then complete through evpool_fd()).
 * @param cfg    settings, copied; NULL means all defaults.
 * @return 0; -EINVAL (NULL poolp, bad cfg); -ENOMEM; -ENOSYS (eventfd forced
 *         but missing); -EAGAIN (min_workers could not be started).
 */
EVPOOL_API int evpool_new(struct evpool **poolp, struct event_base *base,
			  const struct evpool_config *cfg);

/**
 * Refuse new jobs from now on (they fail with -ESHUTDOWN); queued and running
 * jobs still run and complete.  Idempotent.  Does not block.
 */
EVPOOL_API int evpool_close(struct evpool *pool);

/**
 * BLOCKING.  Wait until every submitted job has finished (its result is final)
 * after evpool_close() or evpool_terminate().
 *
 * FROM A JOB OF THE SAME POOL (a thread-mode job calling it on its own
 * pool) the blocking pool-wide calls — evpool_join(), evpool_terminate(),
 * evpool_shutdown(), evpool_free() — would wait for the calling job itself:
 * they refuse at once, do nothing, and say why in evpool_errmsg().
 * @param timeout_ms  -1 waits for ever.
 * @return 0; -EINVAL if the pool is not closed (as Python's join raises);
 *         -ETIMEDOUT; -EDEADLK from a job of this pool.
 */
EVPOOL_API int evpool_join(struct evpool *pool, int timeout_ms);

/**
 * BLOCKING.  Close the pool, cancel every queued job (each completes with
 * -ECANCELED), set the cancelled flag of running jobs (process mode: kill
 * their workers; they complete with -ECANCELED) and wait until every job has
 * finished.  @return 0, -EINVAL, or -EDEADLK from a job of this pool
 * (nothing done; see evpool_join()).
 */
EVPOOL_API int evpool_terminate(struct evpool *pool);

/**
 * BLOCKING.  Close the pool and give queued and running jobs @p timeout_ms to
 * finish (-1: for ever).  When time runs out, what is still queued is
 * cancelled and running jobs are flagged as by evpool_terminate(), without
 * waiting for them.  "Finished" includes returning: a thread-mode job that
 * has completed by its timeout (or a cancel it ignores) but still runs
 * counts as running, so this is the bounded way to learn whether
 * evpool_free() would wait for such a job (see there).
 * @return 0 if all finished (and returned) in time, else -ETIMEDOUT;
 *         -EDEADLK from a job of this pool (nothing done; see evpool_join()).
 */
EVPOOL_API int evpool_shutdown(struct evpool *pool, int timeout_ms);

/**
 * BLOCKING.  Terminate the pool (as evpool_terminate()), deliver every
 * completion that is still owed, and free everything.  Completions for bases
 * whose loop thread is the caller (or whose loop never ran) are delivered
 * here, in the calling thread; for a base run by another thread, evpool_free()
 * waits until that loop has delivered them, so keep such loops running.
 * Safe to call from inside a completion callback of this pool: the free then
 * happens when the current batch of callbacks has been delivered.
 * NULL is ignored, and so is a pool inherited across fork() (see HOST fork()
 * under process mode).
 *
 * A thread cannot be stopped: a thread-mode job that has timed out (its
 * callback already delivered with -ETIMEDOUT) or ignores a cancel keeps
 * running, and evpool_free() waits until it returns — for ever, if it never
 * does.  To bound that, call evpool_shutdown(pool, ms) first: -ETIMEDOUT
 * means such a job still runs, and the program may then exit (or _exit())
 * instead of freeing the pool; or use process mode, whose jobs are killed.
 *
 * Called from a job of this same pool (thread mode), it would wait for that
 * job: it is refused (nothing is done) and evpool_errmsg() says so; free
 * the pool from its loop thread instead.
 */
EVPOOL_API void evpool_free(struct evpool *pool);

/** Change the default queue's max_workers at run time (1..4096). */
EVPOOL_API int evpool_set_max_workers(struct evpool *pool, unsigned max_workers);

/**
 * Cancel every queued job of every queue: each completes with -ECANCELED.
 * Running jobs are untouched.  In process mode a worker may already hold a
 * few short jobs it prefetched (about 100 us of work, by their measured
 * time); they count as running and are left to run (evpool_job_cancel()
 * still takes one back unstarted).  Prefetched jobs that wait more than
 * 1 ms behind a job that runs long go back to the front of the queue as
 * soon as another worker is idle or may start.
 * @return the number cancelled, or -EINVAL.
 */
EVPOOL_API int evpool_cancel_all(struct evpool *pool);

/* ------------------------------------------------------------------------ */
/** @name Submitting */

/** Flags for evpool_job_spec.flags */
enum evpool_submit_flags {
	/** When the queue is full, wait up to spec.wait_ms (-1: for ever) for
	 *  room instead of failing with -EAGAIN.  Never use it on a loop
	 *  thread whose completions the workers are waiting on. */
	EVPOOL_SUBMIT_BLOCK = 1u << 0,
};

/**
 * Everything a job can be given.  Zero-initialise it (fields left 0 mean
 * the default) and set what you need.  Its size is frozen: a new field only
 * ever takes the place of reserved ones, with 0 meaning the old behaviour,
 * so a program built against an older header keeps working.
 */
struct evpool_job_spec {
	evpool_fn fn;               /**< NULL: the pool's default function */
	void *arg;                  /**< opaque input (thread mode only) */
	const void *input;          /**< byte input, copied at submit */
	size_t input_len;           /**< its length (input may be NULL if 0) */
	evpool_done_cb done;        /**< completion callback, may be NULL */
	evpool_emit_cb emit;        /**< partial results, may be NULL */
	void *done_arg;             /**< passed to done and emit */
	struct event_base *base;    /**< NULL: the pool's base */
	struct evpool_queue *queue; /**< NULL: the default queue */
	int priority;               /**< higher runs first; FIFO among equals */
	int timeout_ms;             /**< 0: pool default; -1: none; >0: ms */
	unsigned flags;             /**< enum evpool_submit_flags */
	int wait_ms;                /**< EVPOOL_SUBMIT_BLOCK: -1 for ever */
	struct evbuffer *input_evbuffer; /**< (0.2) byte input MOVED from this
				      evbuffer: at submit its chains change
				      owner (evbuffer_add_buffer(), no byte
				      copied) and it is left empty, or as it
				      was if the submit fails.  Exclusive
				      with input.  The job reads
				      evpool_ctx_input_evbuffer().  Remote
				      mode sends its bytes (bounded by
				      max_input).  NULL: none */
	int deadline_ms;            /**< (0.2) deadline in ms from the submit,
				         queue time included.  0: the pool
				         default (evpool_config_set_job_deadline()),
				         -1: none, >0: ms.  Independent of
				         timeout_ms, which counts from the
				         start */
	void *reserved[2];          /**< must be zero */
};

/**
 * Submit @p fn(@p arg) with priority 0 on the pool's base; @p done(job,
 * @p done_arg) runs on the loop thread when it has finished.  A process
 * pool takes it with @p arg NULL (no pointer crosses; the job sees no
 * input); for input there, use evpool_submit_job() with spec.input.
 * @return 0; -EINVAL (NULL pool, no fn and no default function, a non-NULL
 *         @p arg in process mode); -EAGAIN (queue full); -ESHUTDOWN (pool
 *         closed); -ENOMEM.
 */
EVPOOL_API int evpool_submit(struct evpool *pool, evpool_fn fn, void *arg,
			     evpool_done_cb done, void *done_arg);

/**
 * Submit a job described by @p spec.
 * @param jobp  if not NULL, receives a reference to the job handle, which
 *              the caller must release with evpool_job_unref() (after
 *              which the handle must not be used).  If NULL, the handle is
 *              valid only inside its callbacks.
 * @return as evpool_submit(); also -ETIMEDOUT (EVPOOL_SUBMIT_BLOCK timed
 *         out).  A pointer arg given to a process-mode pool is -EINVAL
 *         ("process-mode pools take byte input" in evpool_errmsg()).  On error *jobp is untouched and no callback will run.
 */
EVPOOL_API int evpool_submit_job(struct evpool *pool,
				 const struct evpool_job_spec *spec,
				 struct evpool_job **jobp);

/**
 * EVBUFFERS IN AND OUT (the libevent way; see also docs/evbuffer.md).
 *
 * A libevent program's bytes live in evbuffers, so a job can take one as
 * input and give one back, and the loop thread copies no payload byte:
 *
 *   input   spec.input_evbuffer = evhttp_request_get_input_buffer(req): the
 *           chains move into the job at submit (the caller's evbuffer is
 *           left empty); the job reads evpool_ctx_input_evbuffer(ctx).
 *   result  the job writes into evpool_ctx_output(ctx) (evbuffer_add(),
 *           evbuffer_add_reference(), evbuffer_add_buffer()...); the
 *           completion callback takes evpool_job_result_evbuffer(job) and
 *           evbuffer_add_buffer()s it into bufferevent_get_output() or an
 *           evhttp reply: chains move again, nothing is copied.
 *   partial evpool_ctx_emit_evbuffer(ctx, buf) moves buf's chains into an
 *           emission; the emit callback gets (job, NULL, len, arg) and
 *           takes the bytes with evpool_job_emit_evbuffer(job).
 *
 * THREADS: an evbuffer here is handed off, never shared.  The caller's
 * input evbuffer is touched only inside the submit call, on the calling
 * thread (if another thread may touch it meanwhile, enable its lock with
 * evbuffer_enable_locking(): evbuffer_add_buffer() takes it).  From then on
 * the job owns its evbuffers exclusively: the worker while it runs, the
 * completion callback (loop thread) after.  None of them has a lock, and
 * none needs one; do not keep a pointer to them past the call that gave it.
 *
 * PROCESS MODE: the bytes must cross into the worker process.  An evbuffer
 * input is copied ONCE, by the worker's proxy thread (not the loop thread),
 * chain by chain straight into the shared-memory ring (or, over 16 KiB,
 * onto the worker's socket); in the worker, evpool_ctx_input_evbuffer()
 * references those bytes (evbuffer_add_reference(), no copy).  A result
 * written into evpool_ctx_output() is copied once into the ring by the
 * worker; the proxy copies a ring-sized result (up to 16 KiB) out of the
 * ring so that the ring is free again for the worker, and receives a larger
 * one from the socket into one buffer that the result evbuffer then
 * references (no further copy).  So on the loop thread: no copy, in either
 * mode.
 */

/* ------------------------------------------------------------------------ */
/** @name Job handles (futures) — callable from any thread */

/** Take another reference (at most 2^24 - 1 may be held on one job at
 *  once).  @return @p job (NULL stays NULL). */
EVPOOL_API struct evpool_job *evpool_job_ref(struct evpool_job *job);
/** Drop a reference; the last one frees the job.  NULL is ignored.
 *  Dropping a reference you do not hold (a second unref of the same
 *  handle) is a caller bug: a build configured with --enable-debug (or the
 *  fault-injection build) aborts with a message naming it; other builds
 *  cannot always see it. */
EVPOOL_API void evpool_job_unref(struct evpool_job *job);

/** 1 if the job has finished (its result is final), else 0 (NULL: 0). */
EVPOOL_API int evpool_job_ready(const struct evpool_job *job);

/**
 * 1 if the job finished with status 0, 0 if it finished otherwise,
 * EVPOOL_ENOTREADY if it has not finished (Python raises ValueError), -EINVAL
 * for NULL.
 */
EVPOOL_API int evpool_job_successful(const struct evpool_job *job);

/**
 * BLOCKING.  Wait until the job has finished.  The completion callback runs
 * on the loop thread: called there (see the contract, 4.) this delivers it
 * and returns after it has run; on another thread, the callback may run
 * before or after this returns.
 * @param timeout_ms  -1 waits for ever, 0 polls.
 * @return 0, -ETIMEDOUT, or -EINVAL; -EDEADLK (at once, with a message) when
 *         it could never end: a job waiting for itself, or a job of the pool
 *         waiting for a job queued on its own queue when that queue cannot
 *         start another worker and all its other workers wait likewise.
 */
EVPOOL_API int evpool_job_wait(struct evpool_job *job, int timeout_ms);

/**
 * BLOCKING.  Wait as evpool_job_wait() and return the job's status (0 on
 * success, else the job's error, -ECANCELED, -ETIMEDOUT, EVPOOL_ECRASHED...);
 * EVPOOL_ENOTREADY if the wait timed out; -EDEADLK as evpool_job_wait().
 * If @p result is not NULL it gets the pointer result (evpool_job_result()).
 */
EVPOOL_API int evpool_job_get(struct evpool_job *job, int timeout_ms,
			      void **result);

/** The job's status (as evpool_job_get()), or EVPOOL_ENOTREADY. */
EVPOOL_API int evpool_job_status(const struct evpool_job *job);

/**
 * The pointer result set by evpool_ctx_set_result(); NULL if none (or for
 * a job that did not run to its end: cancel, timeout, crash).  Reading it
 * HANDS IT TO YOU: from then on it is yours to free.  A result with a free
 * function (evpool_ctx_set_result_full(), evpool_config_set_result_free())
 * that nobody reads — through this call, evpool_job_get() or a struct
 * evpool_result — is freed by the library when the job is freed, exactly
 * once; a result read is never freed by the library.
 */
EVPOOL_API void *evpool_job_result(const struct evpool_job *job);

/**
 * The byte result set by evpool_ctx_set_result_bytes(): owned by the job,
 * valid while you hold a reference (or during the callback).  @p len (may
 * be NULL) gets its length.  NULL and 0 if none.
 */
EVPOOL_API const void *evpool_job_result_bytes(const struct evpool_job *job,
					       size_t *len);

/**
 * The byte result as an evbuffer (the job's evpool_ctx_output(), or its
 * evpool_ctx_set_result_bytes() bytes, referenced, not copied): owned by
 * the job, valid while you hold a reference (or during the callback).
 * Move its bytes out with evbuffer_add_buffer(out, buf) — no copy — or
 * read them in place.  Call it on one thread at a time (normally the
 * completion callback).  A job with no byte result gives an empty evbuffer.
 * @return the evbuffer; NULL if the job has not finished, for NULL, or
 *         when out of memory.
 */
EVPOOL_API struct evbuffer *evpool_job_result_evbuffer(struct evpool_job *job);

/**
 * Inside an emit callback (evpool_emit_cb), the emission being delivered as
 * an evbuffer: the chains moved by evpool_ctx_emit_evbuffer(), or the bytes
 * of evpool_ctx_emit() referenced (not copied).  Move them out with
 * evbuffer_add_buffer().  Valid only during the callback.
 * @return the evbuffer, or NULL outside an emit callback of @p job.
 */
EVPOOL_API struct evbuffer *evpool_job_emit_evbuffer(struct evpool_job *job);

/** The arg given at submit. */
EVPOOL_API void *evpool_job_arg(const struct evpool_job *job);

/**
 * Cancel a job.
 * @return 0 if the job will complete with -ECANCELED (it was queued; or it
 *         was running in a process pool, whose worker is killed);
 *         -EBUSY if it is running in a thread pool (only there): its
 *         cancelled flag is set and the job decides (evpool_ctx_cancelled());
 *         -EALREADY if it had already finished, or was finishing (its
 *         outcome decided: in a process pool, its result arriving, its
 *         timeout, or an earlier cancel) — its callback comes with that
 *         outcome; -EINVAL for NULL.
 */
EVPOOL_API int evpool_job_cancel(struct evpool_job *job);

/**
 * Process mode: how the worker ended when a job failed with EVPOOL_ECRASHED,
 * as a wait(2) status (use WIFSIGNALED(), WTERMSIG(), WEXITSTATUS()).
 * @return the status, or -1 if the job did not crash its worker.
 */
EVPOOL_API int evpool_job_exit_status(const struct evpool_job *job);

/* ------------------------------------------------------------------------ */
/** @name Inside a job — call only from the job function, with its ctx */

/** The pointer given as arg at submit (NULL in process mode). */
EVPOOL_API void *evpool_ctx_arg(struct evpool_ctx *ctx);

/** The byte input; @p len (may be NULL) gets its length.  NULL if none.
 *  For an evbuffer input (spec.input_evbuffer) this makes its bytes
 *  contiguous first (evbuffer_pullup(): a copy, in the worker, when the
 *  input has several chains); evpool_ctx_input_evbuffer() copies nothing. */
EVPOOL_API const void *evpool_ctx_input(struct evpool_ctx *ctx, size_t *len);

/**
 * The byte input as an evbuffer: the chains moved from spec.input_evbuffer
 * (or the bytes of spec.input, referenced).  Owned by the job; the job may
 * read and drain it (evbuffer_remove(), evbuffer_peek()...) or move its
 * chains on, e.g. into evpool_ctx_output() — an echo costs no copy.
 * Process mode: it references the bytes that crossed (no copy in the
 * worker), valid until the job returns.
 * @return the evbuffer (empty when there is no input); NULL for a NULL
 *         ctx or when out of memory.
 */
EVPOOL_API struct evbuffer *evpool_ctx_input_evbuffer(struct evpool_ctx *ctx);

/**
 * The job's output evbuffer: what the job adds to it is its byte result
 * (evpool_job_result_evbuffer() on the loop; also evpool_job_result_bytes(),
 * which then makes it contiguous).  evpool_ctx_set_result_bytes() replaces
 * its content.  Owned by the job; made on the first call.  A result that
 * will be discarded (cancel, timeout) is freed with the job.
 * @return the evbuffer, or NULL for a NULL ctx or when out of memory.
 */
EVPOOL_API struct evbuffer *evpool_ctx_output(struct evpool_ctx *ctx);

/**
 * Emit a partial result by MOVING the chains of @p buf (left empty) into
 * it: no byte copied in thread mode (process mode: the worker makes the
 * bytes contiguous — a copy when @p buf has several chains — and copies
 * them into the ring).  Delivered as evpool_ctx_emit() delivers, in order with the other
 * emissions: the emit callback gets data NULL and the length, and takes
 * the bytes with evpool_job_emit_evbuffer().  An emission nobody will read
 * (no emit callback, the job cancelled or timed out) is freed.
 * @return 0; -ECANCELED (cancelled or timed out: @p buf is left as it
 *         was); -ENOMEM; -EINVAL (NULL ctx or buf).
 */
EVPOOL_API int evpool_ctx_emit_evbuffer(struct evpool_ctx *ctx,
					struct evbuffer *buf);

/**
 * 1 once the job has been cancelled or has timed out: a long job should
 * check it and return early (its result will be discarded).  0 otherwise.
 */
EVPOOL_API int evpool_ctx_cancelled(struct evpool_ctx *ctx);

/**
 * Set the pointer result (thread mode; ownership passes to whoever reads it,
 * see evpool_job_result()), with the pool's free function
 * (evpool_config_set_result_free(), if any).  A second call replaces the
 * first; the replaced result is the job's to free.
 * @return 0; -ECANCELED when the result would be discarded (the job has
 *         timed out: its completion has gone without it): the caller keeps
 *         ownership and must free it.  A running thread job that a cancel
 *         only flagged (evpool_job_cancel() returned -EBUSY) still
 *         delivers its result with whatever it returns.  -EINVAL in process
 *         mode (a pointer cannot cross a process boundary; evpool_errmsg()
 *         says so).
 */
EVPOOL_API int evpool_ctx_set_result(struct evpool_ctx *ctx, void *result);

/**
 * Set the pointer result with its free function (GLib's
 * g_task_return_pointer(task, result, destroy)).  If the call returns 0,
 * @p free_fn(@p result) is called exactly once for a result that is not
 * handed to you: the job timed out or was cancelled after this call, the
 * pool was freed before delivery, or nobody read it (evpool_job_result(),
 * evpool_job_get(), struct evpool_result .ptr) before the job was freed.
 * It is never called for a result that was read.  @p free_fn NULL means
 * the pool's (evpool_config_set_result_free()).
 * @return as evpool_ctx_set_result(): on -ECANCELED nothing is called and
 *         the caller keeps @p result.
 */
EVPOOL_API int evpool_ctx_set_result_full(struct evpool_ctx *ctx, void *result,
					  evpool_free_fn free_fn);

/**
 * Set a byte result (both modes); the bytes are copied.  A second call
 * replaces the first.  @return 0, -ENOMEM, or -EINVAL (NULL data, len > 0).
 */
EVPOOL_API int evpool_ctx_set_result_bytes(struct evpool_ctx *ctx,
					   const void *data, size_t len);

/**
 * Emit a partial result: copied and delivered to the job's emit callback on
 * the loop thread, in order, before the completion callback.  When the emit
 * window (evpool_config_set_emit_window()) is full, this blocks until the
 * loop has consumed some.  Without an emit callback the data is dropped.
 * In a remote worker (<evpool/remote.h>) each emission travels to the
 * client through Redis; the window then holds the worker's processes back
 * from the worker's own loop, not from the client's.
 * @return 0; -ECANCELED (the job was cancelled or timed out: stop);
 *         -ENOMEM; -EINVAL.
 */
EVPOOL_API int evpool_ctx_emit(struct evpool_ctx *ctx, const void *data,
			       size_t len);

/** The pool running this job (thread mode; NULL in a worker process). */
EVPOOL_API struct evpool *evpool_ctx_pool(struct evpool_ctx *ctx);

/* ------------------------------------------------------------------------ */
/** @name Loops other than libevent */

/**
 * A file descriptor that becomes readable when completions of jobs submitted
 * without a base (and with no pool base) are pending.  Poll it from any loop
 * (epoll, libev, libuv) and call evpool_drain().  Owned by the pool.
 * @return the fd, or -EINVAL.
 */
EVPOOL_API int evpool_fd(struct evpool *pool);

/**
 * Run the pending completion callbacks of base-less jobs in the calling
 * thread.  Non-blocking.  @return the number of callbacks run, or -EINVAL.
 */
EVPOOL_API int evpool_drain(struct evpool *pool);

/* ------------------------------------------------------------------------ */
/** @name Statistics */

/**
 * A snapshot of a pool's state.  The counters balance: submitted =
 * completed + failed + cancelled + timed_out + crashed + lib_errors + (jobs
 * not finished).  `failed` is the jobs' own errors only (a job function
 * that returned nonzero); the pool's verdicts are apart: cancelled,
 * timed_out (expired among them), crashed, lib_errors.  A job is counted
 * when its worker is done with it, which is just after its completion was
 * handed to the loop: a snapshot taken in (or right after) the last
 * callback may still show that job as running, for an instant.
 */
struct evpool_stats {
	uint64_t submitted;   /**< successful submits */
	uint64_t completed;   /**< finished with status 0 */
	uint64_t failed;      /**< finished with the job's own nonzero status */
	uint64_t cancelled;   /**< finished with -ECANCELED by a cancel */
	uint64_t timed_out;   /**< finished with -ETIMEDOUT by the timeout */
	uint64_t crashed;     /**< process mode: the worker died */
	uint64_t respawns;    /**< process mode: workers replaced */
	uint64_t queued;      /**< waiting for a worker now */
	uint64_t running;     /**< running now */
	uint64_t peak_queued; /**< highest `queued` seen */
	unsigned workers;     /**< workers alive */
	unsigned idle_workers;/**< workers waiting for a job */
	unsigned busy_workers;/**< workers running a job */
	unsigned max_workers; /**< current limit (default queue) */
	uint64_t forkserver_restarts; /**< process mode: fork servers replaced
					   after theirs died (OOM killer, kill -9);
					   appended in reserved[0]'s room */
	/* 0.2: the next three reserved words (0 from older libraries) */
	uint64_t rejected;    /**< submits refused because the queue was
				   full: -EAGAIN, or -ETIMEDOUT of a
				   EVPOOL_SUBMIT_BLOCK wait (not in submitted) */
	uint64_t lib_errors;  /**< the pool's own verdict that the job could
				   not be run: EVPOOL_ESPAWN, EVPOOL_EPROTO,
				   -EFAULT, -EMSGSIZE, -ENOMEM (before 0.2
				   these counted in failed) */
	uint64_t expired;     /**< of timed_out: deadline (spec.deadline_ms)
				   passed while still queued, never ran */
	uint64_t reserved[4];
};

/**
 * Fill @p st.  Lock-free reads of counters (cheap enough per request); the
 * fields are each exact but not one atomic snapshot.  @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_get_stats(struct evpool *pool, struct evpool_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* EVPOOL_CORE_H */

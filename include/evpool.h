/*
 * evpool.h — libevpool: take blocking work off a libevent loop.
 *
 * A pool runs functions ("jobs") on worker threads — or, chosen per pool, in
 * worker processes — and hands each result back ON THE LOOP THREAD as a
 * completion callback, woken through an eventfd (a pipe where there is none).
 * It is asyncio's loop.run_in_executor() for C programs built on libevent.
 *
 * THE CONTRACT (every function below keeps it)
 *  1. A submit call that returns an error never calls the job's callbacks.
 *  2. A submit call that returns 0 calls the job's completion callback exactly
 *     once, whatever happens to the job: success, the job's own error,
 *     cancellation, timeout, worker crash, pool close / terminate / free.
 *  3. Completion (and partial-result) callbacks run on the thread that runs
 *     the job's event_base (inside event_base_dispatch()/event_base_loop()),
 *     never on a worker.  Jobs submitted without a base go to the pool's
 *     pollable fd instead and run in whichever thread calls evpool_drain().
 *  4. Nothing here blocks the calling thread except the calls documented as
 *     blocking (evpool_job_wait(), evpool_job_get(), evpool_join(),
 *     evpool_terminate(), evpool_shutdown(), evpool_free(), and a submit with
 *     EVPOOL_SUBMIT_BLOCK).  When one of those is called on a loop thread of
 *     the pool, it delivers that loop's pending completions while it waits,
 *     so it cannot deadlock on a completion that only the loop could deliver.
 *
 * ERRORS
 *  Functions return 0 (or a count) on success and a negative errno value on
 *  failure: -EINVAL bad argument, -ENOMEM, -EAGAIN queue full, -ESHUTDOWN pool
 *  closed (or inherited across a fork(): see HOST fork()), -ECANCELED,
 *  -ETIMEDOUT.  Conditions errno cannot name have library
 *  codes below EVPOOL_ERR_BASE (see enum evpool_error).  evpool_strerror()
 *  names every code; evpool_errmsg() gives the detail of the calling thread's
 *  last failure ("max_workers must be 1..4096, got 0").  No function aborts on
 *  bad input; a NULL handle gives -EINVAL (or NULL/0 where documented).
 *
 * THREADS
 *  All functions may be called from any thread unless noted.  Submitting for a
 *  base from a thread other than the one running it (including from inside a
 *  job) needs libevent's threading support, exactly as libevent requires for
 *  any cross-thread event_add(): call evthread_use_pthreads() before you create
 *  the event_base.  Programs that submit only from their loop thread need not.
 *
 * Link with `pkg-config --cflags --libs libevpool`.
 */
#ifndef EVPOOL_H
#define EVPOOL_H

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

/* ------------------------------------------------------------------------ */
/** @name Configuration */

/** Where a pool runs its jobs. */
enum evpool_mode {
	EVPOOL_MODE_THREAD = 0,  /**< worker threads (default) */
	EVPOOL_MODE_PROCESS = 1, /**< worker processes (crash isolation) */
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
 * Run @p init (with @p arg) in each new worker before its first job and
 * @p fini when it exits.  Either may be NULL.
 */
EVPOOL_API int evpool_config_set_initializer(struct evpool_config *cfg,
					     evpool_worker_fn init,
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
 * @param timeout_ms  -1 waits for ever.
 * @return 0; -EINVAL if the pool is not closed (as Python's join raises);
 *         -ETIMEDOUT.
 */
EVPOOL_API int evpool_join(struct evpool *pool, int timeout_ms);

/**
 * BLOCKING.  Close the pool, cancel every queued job (each completes with
 * -ECANCELED), set the cancelled flag of running jobs (process mode: kill
 * their workers; they complete with -ECANCELED) and wait until every job has
 * finished.  @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_terminate(struct evpool *pool);

/**
 * BLOCKING.  Close the pool and give queued and running jobs @p timeout_ms to
 * finish (-1: for ever).  When time runs out, what is still queued is
 * cancelled and running jobs are flagged as by evpool_terminate(), without
 * waiting for them.  @return 0 if all finished in time, else -ETIMEDOUT.
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
 * the default) and set what you need; this layout is frozen — new options
 * will come as new functions, never as new fields.
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
	void *reserved[4];          /**< must be zero */
};

/**
 * Submit @p fn(@p arg) with priority 0 on the pool's base; @p done(job,
 * @p done_arg) runs on the loop thread when it has finished.  Thread mode
 * only (a process pool needs byte input: use evpool_submit_job()).
 * @return 0; -EINVAL (NULL pool, no fn and no default function, process
 *         mode); -EAGAIN (queue full); -ESHUTDOWN (pool closed); -ENOMEM.
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

/* ------------------------------------------------------------------------ */
/** @name Job handles (futures) — callable from any thread */

/** Take another reference (at most 2^24 - 1 may be held on one job at
 *  once).  @return @p job (NULL stays NULL). */
EVPOOL_API struct evpool_job *evpool_job_ref(struct evpool_job *job);
/** Drop a reference; the last one frees the job.  NULL is ignored. */
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
 * on the loop thread, before or after this returns.
 * @param timeout_ms  -1 waits for ever, 0 polls.
 * @return 0, -ETIMEDOUT, or -EINVAL.
 */
EVPOOL_API int evpool_job_wait(struct evpool_job *job, int timeout_ms);

/**
 * BLOCKING.  Wait as evpool_job_wait() and return the job's status (0 on
 * success, else the job's error, -ECANCELED, -ETIMEDOUT, EVPOOL_ECRASHED...);
 * EVPOOL_ENOTREADY if the wait timed out.  If @p result is not NULL it gets
 * the pointer result (evpool_job_result()).
 */
EVPOOL_API int evpool_job_get(struct evpool_job *job, int timeout_ms,
			      void **result);

/** The job's status (as evpool_job_get()), or EVPOOL_ENOTREADY. */
EVPOOL_API int evpool_job_status(const struct evpool_job *job);

/** The pointer result set by evpool_ctx_set_result(); NULL if none. */
EVPOOL_API void *evpool_job_result(const struct evpool_job *job);

/**
 * The byte result set by evpool_ctx_set_result_bytes(): owned by the job,
 * valid while you hold a reference (or during the callback).  @p len (may
 * be NULL) gets its length.  NULL and 0 if none.
 */
EVPOOL_API const void *evpool_job_result_bytes(const struct evpool_job *job,
					       size_t *len);

/** The arg given at submit. */
EVPOOL_API void *evpool_job_arg(const struct evpool_job *job);

/**
 * Cancel a job.
 * @return 0 if the job will complete with -ECANCELED (it was queued; or it
 *         was running in a process pool, whose worker is killed);
 *         -EBUSY if it is running in a thread pool: its cancelled flag is
 *         set and the job decides (evpool_ctx_cancelled());
 *         -EALREADY if it had already finished; -EINVAL for NULL.
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

/** The byte input; @p len (may be NULL) gets its length.  NULL if none. */
EVPOOL_API const void *evpool_ctx_input(struct evpool_ctx *ctx, size_t *len);

/**
 * 1 once the job has been cancelled or has timed out: a long job should
 * check it and return early (its result will be discarded).  0 otherwise.
 */
EVPOOL_API int evpool_ctx_cancelled(struct evpool_ctx *ctx);

/**
 * Set the pointer result (thread mode; ownership passes to whoever reads it
 * in the completion callback).  @return 0, or -EINVAL in process mode
 * (a pointer cannot cross a process boundary; evpool_errmsg() says so).
 */
EVPOOL_API int evpool_ctx_set_result(struct evpool_ctx *ctx, void *result);

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
 * @return 0; -ECANCELED (the job was cancelled or timed out: stop);
 *         -ENOMEM; -EINVAL.
 */
EVPOOL_API int evpool_ctx_emit(struct evpool_ctx *ctx, const void *data,
			       size_t len);

/** The pool running this job (thread mode; NULL in a worker process). */
EVPOOL_API struct evpool *evpool_ctx_pool(struct evpool_ctx *ctx);

/* ------------------------------------------------------------------------ */
/** @name Process mode
 *
 * evpool_config_set_mode(cfg, EVPOOL_MODE_PROCESS) makes a pool whose jobs
 * run in worker processes.  The job function, the callbacks and every call
 * on the loop side stay the same; only the data crosses differently.
 *
 * WHEN TO PICK IT.  When a job may crash, leak, hang or corrupt memory
 * (third-party parsers, codecs, native plugins), or must be stoppable: a
 * worker that dies fails only the job it was running, and a timeout or a
 * cancel kills the worker instead of waiting for the job.  It costs a copy of
 * the input and the result through shared memory, and one round trip longer
 * latency than thread mode; throughput stays close to thread mode, because a
 * worker process is handed several short jobs at once (it holds about
 * 100 us of work, by measured job time, so a slow job is never held back
 * from an idle worker).  Keep thread mode for jobs that need a pointer or
 * must share the host's state as it changes.
 *
 * WHAT WORKERS SEE.  evpool_new() forks a small single-threaded "fork
 * server"; every worker is later forked from it, so workers see the program
 * AS IT WAS WHEN THE POOL WAS CREATED: its globals, heap and loaded code at
 * that moment, not later changes.  Make process pools early (before starting
 * threads that may hold locks, before building state the jobs must not
 * see).  In particular:
 *  - a job function must be code that existed then: functions of a library
 *    dlopen()ed after evpool_new() are not in the workers (such a job fails
 *    with -EFAULT without running);
 *  - input and results are bytes, copied (spec.input, at most 1 GiB;
 *    evpool_ctx_set_result_bytes(); evpool_ctx_emit()): spec.arg must be
 *    NULL (-EINVAL at submit, with a message), evpool_ctx_arg() and
 *    evpool_ctx_pool() are NULL, evpool_ctx_set_result() fails with
 *    -EINVAL; the input is 16-byte aligned;
 *  - workers keep stdin, stdout and stderr but no other descriptor of the
 *    host (the fork server closes them: a socket or pipe the host closes is
 *    really closed).  Output buffered by stdio is flushed by evpool_new()
 *    before the fork, so workers do not write it again;
 *  - the initializer and finalizer (evpool_config_set_initializer()) run in
 *    each worker process (after its resource limits are applied), not in the
 *    host; a worker whose initializer crashes fails its jobs with
 *    EVPOOL_ESPAWN, one whose initializer never returns is killed by
 *    evpool_terminate() / evpool_free() instead of holding them;
 *  - workers ignore SIGINT, SIGQUIT and SIGHUP (the terminal's signals are
 *    the host's to handle) and have every other signal at its default
 *    action, with none blocked.  The library installs no signal handler in
 *    the host, reaps only the fork server, and never waits for or signals a
 *    process it did not start;
 *  - evpool_ctx_cancelled() is always 0 in a worker: a cancelled or timed-out
 *    job is killed, not asked (a job the worker holds but has not started is
 *    taken back instead, without a kill);
 *  - a job that calls exit() ends its worker (EVPOOL_ECRASHED); exit()
 *    would also run the host's atexit handlers there, so workers end with
 *    _exit() themselves.
 * Workers start on demand up to max_workers (min_workers at evpool_new()),
 * leave after the idle timeout, and are replaced after a crash, a timeout, a
 * cancel, a corrupt frame or max_jobs_per_worker jobs (stats: respawns).  The
 * fork server and its workers exit when the host process exits or dies
 * (even by SIGKILL): nothing is left behind.  Worker processes are named
 * "<prefix>/p<n>" and the fork server "<prefix>/fs" (see ps, top).  In
 * evpool_get_stats(), `running` counts busy workers: jobs a worker holds
 * beyond the one it runs are neither queued nor running there.
 *
 * WHAT EACH ERROR MEANS (a job's status, see evpool_job_status()).
 *  - EVPOOL_ECRASHED: the worker process died while running the job
 *    (signal, exit(), _exit(), the OOM killer, SIGKILL from outside, a
 *    resource limit).  evpool_job_exit_status() gives its wait(2) status.
 *    Only this job fails: queued jobs, jobs on other workers and the jobs
 *    the dead worker held but had not started (they go to its replacement)
 *    all go on.
 *  - -ETIMEDOUT: the job ran past its timeout; its worker was killed (the
 *    job completes within a few ms of the deadline).  Unlike thread mode,
 *    where a thread cannot be stopped: there the job is only flagged and
 *    its late result discarded.
 *  - -ECANCELED: evpool_job_cancel() or evpool_terminate() stopped it; a
 *    running job's worker was killed before its completion callback runs
 *    (a job the worker held but had not started is taken back, no kill).
 *  - EVPOOL_EPROTO: the worker sent a corrupt or truncated frame (a job that
 *    wrote on descriptors it does not own); the worker was killed.
 *  - EVPOOL_ESPAWN: no worker process could be started for the job (the fork
 *    server is gone, fork() failed, or the initializer crashed).
 *  - -EFAULT: the job's function is not in the workers (see above);
 *    -EMSGSIZE: the input is over 1 GiB.
 *  - -EINVAL is returned by the submit itself for a pointer input, with
 *    the reason in evpool_errmsg(); no callback runs.
 *
 * HOST fork().  A pool belongs to the process that made it.  In the child of
 * a fork() (by the host, while a pool exists) an inherited pool is dead: its
 * threads and its fork server belong to the parent.  There, submitting to it
 * and the pool-wide calls (close, join, terminate, shutdown, wait...) fail
 * at once with -ESHUTDOWN, never block, and evpool_free() does nothing (exec()
 * or exit() reclaim the memory); jobs and futures of it must not be touched.
 * The child may create and use pools of its own.  This holds in both modes.  fork() itself is safe at any time
 * (the library's pthread_atfork() handlers leave no lock of it held in the
 * child), and a child that outlives its parent does not keep the parent's
 * fork server and workers alive.
 */

/**
 * Replace a worker process after it has run @p n jobs (Python's
 * maxtasksperchild, PHP-FPM's pm.max_requests): a cure for slow leaks.  The
 * worker runs its finalizer and exits; a new one (initializer first) takes
 * its place.  0 (the default) means never.  Process mode only; thread-mode
 * pools ignore it.  @return 0, or -EINVAL for a NULL cfg.
 */
EVPOOL_API int evpool_config_set_max_jobs_per_worker(struct evpool_config *cfg,
						     unsigned n);

/**
 * Apply a resource limit (setrlimit(2)) in every worker process, soft and
 * hard alike (RLIMIT_CPU: hard one second above, so that the worker dies of
 * SIGXCPU, not SIGKILL), before its initializer runs.  @p resource is an
 * RLIMIT_* constant of <sys/resource.h>: RLIMIT_AS (address space: a job that
 * allocates more gets NULL from malloc), RLIMIT_CPU (CPU seconds over the
 * worker's whole life, not per job: the worker dies of SIGXCPU, the job with
 * EVPOOL_ECRASHED; combine with max_jobs_per_worker, or prefer the job
 * timeout), RLIMIT_NOFILE, RLIMIT_CORE (0: crashing workers leave no core
 * file), RLIMIT_DATA, RLIMIT_FSIZE...  @p limit UINT64_MAX means
 * RLIM_INFINITY; a limit above the host's hard limit is clamped to it.
 * Setting a resource again replaces its limit.  Process mode only.
 * @return 0, or -EINVAL (NULL cfg, unknown resource).
 */
EVPOOL_API int evpool_config_set_worker_rlimit(struct evpool_config *cfg,
					       int resource, uint64_t limit);

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
/** @name Python-style API
 *
 * The calls of Python's pools in C: multiprocessing.pool.ThreadPool
 * (apply, map, imap, starmap and their _async forms), concurrent.futures
 * (wait, as_completed, the context manager), fastthreadpool (results
 * collections, map without results, generator jobs) and ThreadRipper
 * (configuration from the environment and the command line).  README.md has
 * the table from each Python call to its C call.
 *
 * All of it is built on evpool_submit_job() and keeps THE CONTRACT: a call
 * that fails calls no callback; one that succeeds calls exactly one, on the
 * loop thread of its base.
 *
 * BOTH MODES.  Give inputs as bytes (struct evpool_item .data, .len) and read
 * results as bytes (struct evpool_result .data, .len), and every call here
 * works unchanged in thread and process mode.  Pointer inputs (.arg) and
 * pointer results (.ptr, evpool_ctx_set_result()) are thread mode only: a
 * process pool refuses a pointer input with -EINVAL (evpool_errmsg() says
 * why).
 *
 * BLOCKING calls here (evpool_apply(), evpool_map(), evpool_starmap(),
 * evpool_map_wait(), evpool_imap_next(), evpool_wait(),
 * evpool_as_completed_next(), evpool_results_get(), evpool_queue_get() and
 * the end of an EVPOOL_SCOPED scope) wait as evpool_job_wait() does: on a
 * loop thread of the pool they deliver that loop's completions meanwhile.
 * As in Python, a job that blocks on its own pool can deadlock it when no
 * worker is left to run what it waits for.
 */

/** A results collection: finished results without callbacks (see below). */
struct evpool_results;

/**
 * One input of the map family and of evpool_queue_put(): a pointer (thread
 * mode only; the job reads it with evpool_ctx_arg()), bytes (both modes;
 * copied when the item is submitted; evpool_ctx_input()), or both.  This
 * layout is frozen: arrays of it are part of the ABI.
 */
struct evpool_item {
	void *arg;		/**< pointer input, or NULL */
	const void *data;	/**< byte input, or NULL */
	size_t len;		/**< its length */
};

/** An item holding a pointer (thread mode), as a compound literal. */
#define EVPOOL_ITEM_PTR(p) ((struct evpool_item){ (p), NULL, 0 })
/** An item holding @p n bytes at @p d (both modes). */
#define EVPOOL_ITEM_BYTES(d, n) ((struct evpool_item){ NULL, (d), (n) })

/**
 * The outcome of one item or job.  Two ownerships, told apart by the call:
 *  - filled in YOUR struct (evpool_apply(), evpool_imap_next(),
 *    evpool_results_get(), evpool_queue_get()): .data is yours; give it back
 *    with evpool_result_release();
 *  - returned as a const pointer (evpool_map_result()): owned by the map,
 *    valid while you hold the map.
 * .ptr is the job's pointer result: yours in both cases (thread mode).
 * Byte results are 16-byte aligned, so a result record may be cast.
 */
struct evpool_result {
	int status;		/**< 0, or the item's own error, -ECANCELED,
				     -ETIMEDOUT, EVPOOL_ECRASHED... */
	void *ptr;		/**< pointer result, or NULL */
	const void *data;	/**< byte result, or NULL */
	size_t len;		/**< its length */
	void *arg;		/**< the item's pointer input, to tell results
				     apart (thread mode), or NULL */
	size_t index;		/**< the item's index in its map or imap, or
				     the job's submission number in its results
				     collection or queue (0, 1, 2...) */
	void *reserved[2];
};

/** Free the bytes of a result filled in your struct and clear it.  NULL is
 *  ignored.  Never call it on a result of evpool_map_result(). */
EVPOOL_API void evpool_result_release(struct evpool_result *res);

/* ---- apply, apply_async (multiprocessing.pool.ThreadPool) ---- */

/**
 * BLOCKING.  Python's pool.apply(fn, args): run @p fn on @p item (NULL: no
 * input) with priority 0 on the default queue and wait until it has finished.
 * @param res  if not NULL, receives the outcome; release it with
 *             evpool_result_release().
 * @return the job's status (0: success; else its own error, -ETIMEDOUT...)
 *         or a submit error (-EINVAL, also for a pointer input in process mode;
 *         -ESHUTDOWN, -EAGAIN;
 *         the job never ran).  res->status holds the same value.
 */
EVPOOL_API int evpool_apply(struct evpool *pool, evpool_fn fn,
			    const struct evpool_item *item,
			    struct evpool_result *res);

/**
 * Python's pool.apply_async(fn, args, callback=..., error_callback=...).
 * When the job has finished, on the loop thread of the pool's base,
 * @p callback(job, @p arg) runs if its status is 0 and
 * @p error_callback(job, @p arg) otherwise.  Exactly one of them runs: if
 * @p error_callback is NULL, @p callback runs in both cases (Python would
 * call nothing on failure; in C the callback usually has something to
 * free).  Both may be NULL.
 * @param jobp  if not NULL, receives the job: the AsyncResult, with
 *              evpool_job_ready(), evpool_job_successful() (EVPOOL_ENOTREADY
 *              before it is ready, as Python raises ValueError),
 *              evpool_job_wait(), evpool_job_get() (EVPOOL_ENOTREADY on
 *              timeout, as Python raises TimeoutError).  evpool_job_unref().
 * @return 0, or as evpool_submit_job().
 */
EVPOOL_API int evpool_apply_async(struct evpool *pool, evpool_fn fn,
				  const struct evpool_item *item,
				  evpool_done_cb callback,
				  evpool_done_cb error_callback, void *arg,
				  struct evpool_job **jobp);

/* ---- map, map_async, starmap, starmap_async ---- */

/** Defined when this header has the map family (feature test). */
#define EVPOOL_HAVE_MAP 1

/** The result of a map (Python's MapResult).  Reference counted. */
struct evpool_map;

/** A map's completion callback: on the loop thread, @p map valid during the
 *  call (evpool_map_ref() to keep it). */
typedef void (*evpool_map_cb)(struct evpool_map *map, void *arg);

/** Flags for evpool_map_spec.flags */
enum evpool_map_flags {
	/** Keep no per-item results, only the status and the failure count
	 *  (fastthreadpool's map(..., done_callback=False)): memory stays
	 *  O(chunks), not O(items).  Pointer results are dropped unread, so
	 *  jobs of such a map should not set one. */
	EVPOOL_MAP_DISCARD = 1u << 0,
	/** When the queue is bounded and full, wait for room (blocking the
	 *  caller) instead of failing with -EAGAIN.  evpool_map() and
	 *  evpool_starmap() always do. */
	EVPOOL_MAP_BLOCK = 1u << 1,
};

/**
 * Everything a map can be given.  Zero-initialise it and set what you need;
 * this layout is frozen (new options come as new functions).  Give either
 * @c items (map) or @c records (starmap), @c n of them.
 */
struct evpool_map_spec {
	evpool_fn fn;			  /**< NULL: the queue's default fn */
	const struct evpool_item *items;  /**< n inputs (map) ... */
	const void *records;		  /**< ... or n records of rec_size
					       bytes each, passed as bytes
					       (starmap) */
	size_t rec_size;		  /**< size of one record */
	size_t n;			  /**< number of inputs (0 is fine) */
	size_t chunksize;		  /**< items per job; 0: Python's
					       ceil(n / (4 x max_workers)) */
	evpool_map_cb callback;		  /**< on success (all items 0) */
	evpool_map_cb error_callback;	  /**< on failure; NULL: callback */
	void *arg;			  /**< for the callbacks */
	struct event_base *base;	  /**< callbacks' base; NULL: pool's */
	struct evpool_queue *queue;	  /**< NULL: the default queue */
	struct evpool_results *results;	  /**< if set, each item's result is
					       ALSO appended there (and not
					       kept in the map) */
	unsigned flags;			  /**< enum evpool_map_flags */
	void *reserved[4];		  /**< must be zero */
};

/**
 * Start a map: the items are cut into chunks of spec->chunksize, each chunk
 * one job that runs fn once per item (one ctx per item: evpool_ctx_arg(),
 * evpool_ctx_input(), evpool_ctx_set_result*() work as in any job; the job
 * timeout applies to the whole chunk).  When every chunk has finished, the
 * callback (or error_callback) runs once, on the loop thread — also for
 * n = 0.  Without callbacks nothing is delivered; wait with
 * evpool_map_wait().  Non-blocking unless EVPOOL_MAP_BLOCK.
 * @param mapp  if not NULL, receives a reference (evpool_map_unref()).
 * @return 0; -EINVAL (also a pointer input, process mode);
 *         -EAGAIN (a bounded queue had no room for every chunk: the chunks
 *         already queued are cancelled, no callback runs); -ESHUTDOWN;
 *         -ENOMEM.
 */
EVPOOL_API int evpool_map_submit(struct evpool *pool,
				 const struct evpool_map_spec *spec,
				 struct evpool_map **mapp);

/**
 * BLOCKING.  Python's pool.map(fn, items, chunksize): run fn on every item
 * and wait for all.  @p chunksize 0: Python's default.
 * @param mapp  if not NULL, receives the map holding the results in input
 *              order (evpool_map_result()); evpool_map_unref() it.  Set
 *              also when the map fails (its results tell which item failed).
 * @return 0 if every item succeeded, else the status of the failed item of
 *         lowest index (Python raises the first failure it sees), or a
 *         submit error as evpool_map_submit() (then *mapp is untouched).
 */
EVPOOL_API int evpool_map(struct evpool *pool, evpool_fn fn,
			  const struct evpool_item *items, size_t n,
			  size_t chunksize, struct evpool_map **mapp);

/**
 * Python's pool.map_async(fn, items, chunksize, callback, error_callback):
 * one callback with every result in input order, or error_callback once
 * every chunk has finished (not at the first failure: the results of the
 * other items are still there to read).  See evpool_map_submit().
 */
EVPOOL_API int evpool_map_async(struct evpool *pool, evpool_fn fn,
				const struct evpool_item *items, size_t n,
				size_t chunksize, evpool_map_cb callback,
				evpool_map_cb error_callback, void *arg,
				struct evpool_map **mapp);

/**
 * BLOCKING.  Python's pool.starmap(fn, [(a, b), (c, d)]).  C has no tuples:
 * give an array of @p n argument records (a struct of the arguments) of
 * @p rec_size bytes each; each job gets its record as byte input
 * (evpool_ctx_input(), 16-byte aligned, so cast it back).  Both modes.
 * Returns as evpool_map().
 */
EVPOOL_API int evpool_starmap(struct evpool *pool, evpool_fn fn,
			      const void *records, size_t n, size_t rec_size,
			      size_t chunksize, struct evpool_map **mapp);

/** Python's pool.starmap_async(): evpool_starmap() with callbacks, as
 *  evpool_map_async(). */
EVPOOL_API int evpool_starmap_async(struct evpool *pool, evpool_fn fn,
				    const void *records, size_t n,
				    size_t rec_size, size_t chunksize,
				    evpool_map_cb callback,
				    evpool_map_cb error_callback, void *arg,
				    struct evpool_map **mapp);

/** Take another reference.  @return @p map. */
EVPOOL_API struct evpool_map *evpool_map_ref(struct evpool_map *map);
/** Drop a reference; a map still running goes on (its callback still
 *  runs) and is freed when done.  NULL is ignored. */
EVPOOL_API void evpool_map_unref(struct evpool_map *map);
/** 1 once every chunk has finished, else 0 (NULL: 0). */
EVPOOL_API int evpool_map_ready(const struct evpool_map *map);
/** 1 if every item succeeded, 0 if one failed, EVPOOL_ENOTREADY before it
 *  is ready (Python raises ValueError), -EINVAL for NULL. */
EVPOOL_API int evpool_map_successful(const struct evpool_map *map);
/** BLOCKING.  Wait until ready (-1: for ever, 0: poll).
 *  @return 0, -ETIMEDOUT, -EINVAL. */
EVPOOL_API int evpool_map_wait(struct evpool_map *map, int timeout_ms);
/** 0, the status of the failed item of lowest index, or EVPOOL_ENOTREADY. */
EVPOOL_API int evpool_map_status(const struct evpool_map *map);
/** Number of items (NULL: 0). */
EVPOOL_API size_t evpool_map_size(const struct evpool_map *map);
/** Number of items that failed so far (NULL: 0). */
EVPOOL_API size_t evpool_map_failed(const struct evpool_map *map);
/** Index of the failed item of lowest index, or (size_t)-1 if none (or
 *  NULL). */
EVPOOL_API size_t evpool_map_error_index(const struct evpool_map *map);
/** The chunk size used (Python's default when 0 was given; NULL: 0). */
EVPOOL_API size_t evpool_map_chunksize(const struct evpool_map *map);
/** The result of item @p i, owned by the map; NULL before the map is
 *  ready, for i >= size, and for EVPOOL_MAP_DISCARD or spec.results maps. */
EVPOOL_API const struct evpool_result *
evpool_map_result(const struct evpool_map *map, size_t i);
/** Cancel the map's queued chunks (their items get -ECANCELED; running ones
 *  finish).  @return the number of chunks cancelled, or -EINVAL. */
EVPOOL_API int evpool_map_cancel(struct evpool_map *map);

/* ---- imap, imap_unordered: lazy, with a bounded window ---- */

/** An iterator over the results of a lazy map (Python's IMapIterator). */
struct evpool_imap;

/**
 * An input source of unknown length for evpool_imap_start(): fill @p item
 * and return 1, or return 0 at the end of the input, or a negative code to
 * stop with that error.  Called on the thread that calls evpool_imap_start()
 * or evpool_imap_next(), only when the window has room; item->data must stay
 * valid until the producer is called again or the iterator is freed.
 */
typedef int (*evpool_producer_fn)(void *arg, struct evpool_item *item);

/** Flags for evpool_imap_spec.flags */
enum evpool_imap_flags {
	/** Yield results in completion order (imap_unordered), not input
	 *  order. */
	EVPOOL_IMAP_UNORDERED = 1u << 0,
};

/**
 * A lazy map.  Zero-initialise; layout frozen.  Give either @c items and
 * @c n, or a @c producer.
 */
struct evpool_imap_spec {
	evpool_fn fn;			  /**< NULL: the queue's default fn */
	const struct evpool_item *items;  /**< n inputs, read lazily: keep the
					       array until the iterator ends */
	size_t n;
	evpool_producer_fn producer;	  /**< or: inputs of unknown length */
	void *producer_arg;
	size_t window;			  /**< at most this many items are
					       submitted and not yet returned
					       by evpool_imap_next(); 0: 4 x
					       max_workers x chunksize */
	size_t chunksize;		  /**< items per job; 0: 1 */
	unsigned flags;			  /**< enum evpool_imap_flags */
	struct evpool_queue *queue;	  /**< NULL: the default queue */
	void *reserved[4];		  /**< must be zero */
};

/**
 * Start a lazy map.  Unlike CPython's imap (bpo-29842, bpo-40110), which
 * queues every input at once, at most spec->window items are ever in flight
 * (submitted and not yet returned by evpool_imap_next()): 10^7 inputs cost
 * window jobs of memory, never 10^7.  Fills the window now (without
 * blocking: a full bounded queue is retried by evpool_imap_next()).
 * Results are only pulled (evpool_imap_next()): no callback runs.
 * @return 0; -EINVAL (also a pointer input, process mode); -ESHUTDOWN;
 *         -ENOMEM; or the
 *         producer's own error.
 */
EVPOOL_API int evpool_imap_start(struct evpool *pool,
				 const struct evpool_imap_spec *spec,
				 struct evpool_imap **itp);

/** Python's pool.imap(fn, items): results in input order; default window. */
EVPOOL_API int evpool_imap(struct evpool *pool, evpool_fn fn,
			   const struct evpool_item *items, size_t n,
			   struct evpool_imap **itp);

/** Python's pool.imap_unordered(fn, items): results in completion order. */
EVPOOL_API int evpool_imap_unordered(struct evpool *pool, evpool_fn fn,
				     const struct evpool_item *items, size_t n,
				     struct evpool_imap **itp);

/**
 * BLOCKING.  Python's it.next(timeout): the next result, refilling the
 * window.  Use an iterator from one thread at a time.
 * @param timeout_ms  -1 waits for ever, 0 polls.
 * @param res         receives the result (res->status is the item's own;
 *                    res->index its input position); release it with
 *                    evpool_result_release().
 * @return 1 with a result; 0 at the end (StopIteration); -ETIMEDOUT (Python
 *         raises TimeoutError); the producer's or a submit's error once
 *         the results before it have been returned; -EINVAL.
 */
EVPOOL_API int evpool_imap_next(struct evpool_imap *it, int timeout_ms,
				struct evpool_result *res);

/** Items submitted and not yet returned by evpool_imap_next() (<= window;
 *  NULL: 0). */
EVPOOL_API size_t evpool_imap_in_flight(const struct evpool_imap *it);
/** The window in use (NULL: 0). */
EVPOOL_API size_t evpool_imap_window(const struct evpool_imap *it);
/** Free the iterator: queued jobs are cancelled, running ones finish in the
 *  background.  Non-blocking.  NULL is ignored. */
EVPOOL_API void evpool_imap_free(struct evpool_imap *it);

/* ---- wait, as_completed (concurrent.futures) over job handles ---- */

/** What evpool_wait() waits for. */
enum evpool_wait_for {
	EVPOOL_FIRST_COMPLETED = 1, /**< any job has finished */
	EVPOOL_FIRST_EXCEPTION = 2, /**< any job has finished with a nonzero
				         status (cancel and timeout included),
				         else all have finished */
	EVPOOL_ALL_COMPLETED = 3,   /**< every job has finished */
};

/**
 * BLOCKING.  concurrent.futures.wait(jobs, timeout, return_when): wait until
 * @p how holds or @p timeout_ms (-1: for ever) has passed.  Like Python it
 * does not fail on timeout: it returns how many jobs have finished; tell
 * done from not done with evpool_job_ready().  The jobs must belong to one
 * pool.
 * @return the number of finished jobs (0..n), or -EINVAL.
 */
EVPOOL_API int evpool_wait(struct evpool_job *const *jobs, size_t n,
			   enum evpool_wait_for how, int timeout_ms);

/** An iterator yielding jobs as they finish. */
struct evpool_as_completed;

/** concurrent.futures.as_completed(jobs): takes a reference on each job
 *  (one pool).  @return 0, -EINVAL, -ENOMEM. */
EVPOOL_API int evpool_as_completed(struct evpool_job *const *jobs, size_t n,
				   struct evpool_as_completed **acp);
/**
 * BLOCKING.  The next job to finish, in the order they finished (jobs that
 * had finished before the call come first, in array order).  The timeout
 * is per call (Python's counts from the first call).
 * @param jobp  receives the job, borrowed: valid while the iterator lives.
 * @return 1 with a job, 0 when every job has been yielded, -ETIMEDOUT,
 *         -EINVAL.
 */
EVPOOL_API int evpool_as_completed_next(struct evpool_as_completed *ac,
					int timeout_ms,
					struct evpool_job **jobp);
/** Free the iterator and its references.  NULL is ignored. */
EVPOOL_API void evpool_as_completed_free(struct evpool_as_completed *ac);

/* ---- the context manager: a scoped pool ---- */

/**
 * The cleanup of EVPOOL_SCOPED: if *@p poolp is not NULL, evpool_close(),
 * evpool_join(-1), evpool_free(), and *@p poolp = NULL.  So the end of the
 * scope WAITS for every submitted job to finish and delivers every callback
 * still owed — what `with ThreadPoolExecutor() as ex:` does.  It does NOT do
 * what `with multiprocessing.Pool() as p:` does: that __exit__ calls
 * terminate(), which throws queued work away and surprises users.  For that
 * behaviour call evpool_terminate() before the scope ends.  BLOCKING.
 */
EVPOOL_API void evpool_scoped_free(struct evpool **poolp);
/** The cleanup of EVPOOL_SCOPED_CONFIG: evpool_config_free(*cfgp). */
EVPOOL_API void evpool_scoped_config_free(struct evpool_config **cfgp);
/** The cleanup of EVPOOL_SCOPED_JOB: evpool_job_unref(*jobp). */
EVPOOL_API void evpool_scoped_job_unref(struct evpool_job **jobp);

#if defined(__GNUC__) || defined(__clang__)
/**
 * A pool shut down when its variable goes out of scope (GCC/Clang cleanup
 * attribute), Python's `with Pool() as pool:` —
 *     { EVPOOL_SCOPED struct evpool *pool = NULL;
 *       if (evpool_new(&pool, base, cfg) < 0) return -1;
 *       ...submit...
 *     }   // close + join + free here, on every path out of the block
 * Initialise the variable (NULL) before anything can leave the scope.
 */
#define EVPOOL_SCOPED __attribute__((cleanup(evpool_scoped_free)))
/** A configuration freed at the end of the scope. */
#define EVPOOL_SCOPED_CONFIG __attribute__((cleanup(evpool_scoped_config_free)))
/** A job reference dropped at the end of the scope. */
#define EVPOOL_SCOPED_JOB __attribute__((cleanup(evpool_scoped_job_unref)))
#endif

/* ---- fastthreadpool: results collections, map without results ---- */

/*
 * fastthreadpool keeps finished results in pool.done and pool.failed for
 * code that does not use callbacks.  A results collection is that: jobs
 * submitted into it (evpool_results_submit(), or a map with spec.results)
 * append their outcome to it on whatever thread finishes them, and any
 * thread drains it with evpool_results_get().  Its other calls map as:
 *   submit_done(fn, done_cb)  -> evpool_submit(pool, fn, arg, done_cb, ...)
 *                                (done_cb runs once per job, on the loop)
 *   pool-wide done/failed callbacks -> evpool_config_set_callbacks()
 *   map(fn, it, done_callback=False) -> evpool_map_submit() with
 *                                EVPOOL_MAP_DISCARD
 *   cancel()                  -> evpool_cancel_all() (queued jobs only, as
 *                                there); one job: evpool_job_cancel()
 *   shutdown(timeout)         -> evpool_shutdown(pool, timeout_ms)
 *   generator functions       -> generator jobs, below
 *
 * GENERATOR JOBS.  A job is a generator when it calls evpool_ctx_emit():
 * each emitted piece is copied and delivered to spec.emit on the loop
 * thread, in emission order, always before the job's completion callback,
 * and in both modes.  The bound: at most the emit window
 * (evpool_config_set_emit_window(), default 64) pieces of one job wait for
 * the loop; the next evpool_ctx_emit() blocks the job until the loop has
 * consumed one — backpressure instead of unbounded buffering, so a job's
 * undelivered output is at most window x piece size.  evpool_ctx_emit()
 * returns -ECANCELED once the job is cancelled or timed out: stop then.
 */

/** Which results evpool_results_get() takes. */
enum evpool_results_which {
	EVPOOL_RESULTS_DONE = 1,   /**< status 0 (fastthreadpool's done) */
	EVPOOL_RESULTS_FAILED = 2, /**< any other (fastthreadpool's failed) */
	EVPOOL_RESULTS_ANY = 3,    /**< either, in finishing order */
};

/** Make an empty results collection for jobs of @p pool.
 *  @return 0, -EINVAL, -ENOMEM. */
EVPOOL_API int evpool_results_new(struct evpool *pool,
				  struct evpool_results **rcp);

/**
 * Submit a job whose outcome goes to @p rc instead of a callback: spec as
 * evpool_submit_job(), but spec->done and spec->emit must be NULL (a job of
 * a collection calls nothing).  The result's .index is its submission
 * number in @p rc (a refused submit takes none); .data is the job's byte
 * result, moved, not copied.
 * @return as evpool_submit_job(); -EINVAL if a callback is given.
 */
EVPOOL_API int evpool_results_submit(struct evpool_results *rc,
				     const struct evpool_job_spec *spec,
				     struct evpool_job **jobp);

/**
 * BLOCKING unless @p timeout_ms is 0.  Take the oldest finished result of
 * kind @p which (enum evpool_results_which).
 * @param res  receives it; release with evpool_result_release().
 * @return 0; -EAGAIN (timeout 0 and none there); -ETIMEDOUT; -ESHUTDOWN
 *         (none there, none pending and the pool is closed: none can come);
 *         -EINVAL.
 */
EVPOOL_API int evpool_results_get(struct evpool_results *rc, unsigned which,
				  int timeout_ms, struct evpool_result *res);

/** Results of kind @p which waiting in @p rc (NULL: 0). */
EVPOOL_API size_t evpool_results_count(const struct evpool_results *rc,
				       unsigned which);
/** Jobs submitted into @p rc that have not finished (NULL: 0). */
EVPOOL_API size_t evpool_results_pending(const struct evpool_results *rc);
/** Free the collection and the results in it; jobs still pending finish
 *  and their results are dropped.  Usable after evpool_free().  NULL is
 *  ignored. */
EVPOOL_API void evpool_results_free(struct evpool_results *rc);

/* ---- configuration from the environment and argv (ThreadRipper) ---- */

/** Returned by evpool_config_from_argv() when --evpool-help was given. */
#define EVPOOL_CONFIG_HELP 1

/**
 * Fill @p cfg from the environment: one variable per setting,
 *   EVPOOL_MODE (thread|process), EVPOOL_MAX_WORKERS, EVPOOL_MIN_WORKERS,
 *   EVPOOL_MAX_QUEUED, EVPOOL_IDLE_TIMEOUT_MS, EVPOOL_NAME,
 *   EVPOOL_JOB_TIMEOUT_MS, EVPOOL_NOTIFY (auto|eventfd|pipe),
 *   EVPOOL_EMIT_WINDOW, EVPOOL_MAX_JOBS_PER_WORKER;
 * evpool_config_usage() lists them with their ranges.  Variables that are
 * not set leave their setting as it is; other EVPOOL_* names are ignored.
 * All or nothing: on a bad value @p cfg is unchanged and evpool_errmsg()
 * names the variable and the value ("EVPOOL_MAX_WORKERS=abc: not a positive
 * integer").  An empty value is a bad value.
 *
 * PRECEDENCE defaults < environment < command line < explicit setter comes
 * from the order of the calls, each overwriting only what it names:
 *     cfg = evpool_config_new();                      defaults
 *     evpool_config_from_env(cfg);                    environment
 *     evpool_config_from_argv(cfg, &argc, argv);      command line
 *     evpool_config_set_...(cfg, ...);                explicit setters
 * @return 0, or -EINVAL.
 */
EVPOOL_API int evpool_config_from_env(struct evpool_config *cfg);

/**
 * Fill @p cfg from the command line: --evpool-mode=process,
 * --evpool-max-workers=N (or "--evpool-max-workers N")... one option per
 * variable of evpool_config_from_env() (lower case, '-' for '_').  Consumed
 * arguments are removed from @p argv and *@p argc lowered (argv[*argc] stays
 * NULL); others are left in order for the program's own parser.  Parsing
 * stops at "--", which is left in place.  All or nothing, as
 * evpool_config_from_env(): on a bad value or an unknown --evpool-* option
 * nothing is consumed and evpool_errmsg() names it
 * ("--evpool-max-workers=abc: not a positive integer").
 * @return 0; -EINVAL; EVPOOL_CONFIG_HELP if --evpool-help was given: the
 *         list (evpool_config_usage()) has been printed to stdout and the
 *         program should exit with status 0, as after any --help.
 */
EVPOOL_API int evpool_config_from_argv(struct evpool_config *cfg, int *argc,
				       char **argv);

/** The --evpool-help text: every option, its variable and its range.
 *  Static, never NULL. */
EVPOOL_API const char *evpool_config_usage(void);

/* ------------------------------------------------------------------------ */
/** @name Named queues
 *
 * A pool holds several queues: its default one (named "default") and any
 * named queues added here (the seed's add_queue / add_queues).  Each has its
 * own mutex, its own workers and its own limits, so a queue whose jobs all
 * block (slow DNS, say) never delays another queue's jobs: the answer to
 * libuv #28 / node #8436.  Submit to a queue with spec.queue
 * (evpool_submit_job()) or by name (evpool_submit_to()).  Queues live as
 * long as their pool: stats, cancel_all, terminate, shutdown and free cover
 * every queue.  A named queue inherits the pool's max_queued, idle timeout
 * and default function; its workers start on demand.
 */

struct evpool_stats;

/**
 * Add a queue (add_queue).  @p name: 1..31 printable characters, unique in
 * the pool.  @p max_workers: 1..4096, 0 for the number of online CPUs.
 * @param qp  if not NULL, receives the queue (owned by the pool).
 * @return 0; -EINVAL; -EEXIST (name taken); -ESHUTDOWN (pool closed);
 *         -ENOMEM.
 */
EVPOOL_API int evpool_queue_new(struct evpool *pool, const char *name,
				unsigned max_workers,
				struct evpool_queue **qp);

/** Add @p n queues with the same @p max_workers (add_queues); all or
 *  nothing.  @return 0 or as evpool_queue_new(). */
EVPOOL_API int evpool_queue_add_many(struct evpool *pool,
				     const char *const *names, size_t n,
				     unsigned max_workers);

/** The queue named @p name ("default" for the default queue), or NULL
 *  (evpool_errmsg() says why). */
EVPOOL_API struct evpool_queue *evpool_queue_find(struct evpool *pool,
						  const char *name);

/** The queue's name (static while the pool lives); "" for NULL. */
EVPOOL_API const char *evpool_queue_name(const struct evpool_queue *q);

/**
 * Set the queue's default job function (set_fn), used when a submit names
 * none: evpool_queue_put() needs one.  Set it before submitting to the queue
 * from other threads.  @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_queue_set_fn(struct evpool_queue *q, evpool_fn fn);

/**
 * Add @p n workers to the queue now (add_workers): @p n more workers start
 * at once, and its max_workers and min_workers both grow by @p n, so they
 * stay until killed.
 * @return 0; -EINVAL (n = 0, or more than 4096 in all); -EAGAIN (a thread
 *         could not be started: the limits are raised anyway, workers
 *         start on demand).
 */
EVPOOL_API int evpool_queue_add_workers(struct evpool_queue *q, unsigned n);

/**
 * Remove @p n workers from the queue (kill_workers): max_workers drops by
 * @p n (to 0 at least: a queue with no worker keeps its jobs queued until
 * evpool_queue_add_workers()), min_workers with it.  Idle workers above the
 * limit exit now, busy ones after their current job; no job is interrupted.
 * @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_queue_kill_workers(struct evpool_queue *q, unsigned n);

/**
 * Submit @p fn(@p arg) to the queue named @p queue (thread mode, as
 * evpool_submit(); for bytes use evpool_submit_job() with spec.queue =
 * evpool_queue_find(...)).  @return as evpool_submit(); -ENOENT (no such
 * queue).
 */
EVPOOL_API int evpool_submit_to(struct evpool *pool, const char *queue,
				evpool_fn fn, void *arg, evpool_done_cb done,
				void *done_arg);

/**
 * put(): submit @p item (NULL: no input) to the queue's default function;
 * its result is kept for evpool_queue_get() (no callback runs).  The
 * result's .index is the put's number on this queue (0, 1, 2...).
 * @return as evpool_submit_job(): -EINVAL (no default function) ...
 */
EVPOOL_API int evpool_queue_put(struct evpool_queue *q,
				const struct evpool_item *item);

/**
 * get(): BLOCKING unless @p timeout_ms is 0.  Take the oldest finished
 * result of a put() on this queue, success or failure (res->status).
 * @return 0; -EAGAIN (timeout 0, none there); -ETIMEDOUT; -ESHUTDOWN (none
 *         there, none pending, pool closed); -EINVAL.
 */
EVPOOL_API int evpool_queue_get(struct evpool_queue *q, int timeout_ms,
				struct evpool_result *res);

/**
 * Fill @p st with this queue's share of the pool's state: queued, running,
 * workers, idle_workers, busy_workers, max_workers; the pool-wide counters
 * (submitted, completed...) are left 0.  @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_queue_get_stats(struct evpool_queue *q,
				      struct evpool_stats *st);

/* ------------------------------------------------------------------------ */
/** @name Statistics */

/**
 * A snapshot of a pool's state.  The counters balance: submitted =
 * completed + failed + cancelled + timed_out + crashed + (jobs not finished).
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
	uint64_t reserved[8];
};

/**
 * Fill @p st.  Lock-free reads of counters (cheap enough per request); the
 * fields are each exact but not one atomic snapshot.  @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_get_stats(struct evpool *pool, struct evpool_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* EVPOOL_H */

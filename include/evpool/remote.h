/*
 * evpool/remote.h — remote mode: byte jobs, named by function, run by
 * workers on other hosts through Redis Streams.  Included by <evpool.h>.
 *
 * A pool made with evpool_config_set_remote() is an ordinary pool: submit,
 * futures, wait/as_completed, results collections, priorities, a bounded
 * queue (-EAGAIN or a blocking submit), cancel, timeouts, stats, partial
 * results (evpool_ctx_emit() in the worker, the emit callback in the
 * client) and the map family (map, map_async, starmap, imap,
 * imap_unordered: each chunk is one remote job, sent by the function's
 * registered name) work as in the other modes, and THE CONTRACT holds
 * across machines: a submit that returns 0 gets exactly one
 * completion callback, on its base's loop thread — the job's result, its
 * own error, -ETIMEDOUT, -ECANCELED, EVPOOL_ELOST (the job was handed to a
 * worker max_deliveries times and no result came back: its workers died),
 * EVPOOL_ENOFUNC (no worker has a function of that name registered) or
 * EVPOOL_EREDIS (Redis stayed unreachable longer than the reconnect limit).
 *
 * EXECUTION IS AT-LEAST-ONCE.  A job whose worker dies is handed to another
 * worker after the visibility timeout, so a job may run more than once
 * (evpool_ctx_job_id() gives the same id to every run: make jobs idempotent
 * with it).  Completion callbacks stay exactly-once: the first result wins,
 * later ones are dropped by job id (evpool_remote_get_stats() counts them).
 *
 * FUNCTIONS BY NAME.  Workers run only functions registered by name with
 * evpool_register_fn() — the same evpool_fn that runs in thread and process
 * mode.  A client submits either a registered function (evpool_submit_job()
 * with spec.fn: its name is looked up) or a name (evpool_submit_named(),
 * for functions the client does not link).  Input is bytes (spec.input) or
 * an evbuffer (spec.input_evbuffer: its bytes go into the job's stream
 * entry, one copy); the worker's function may read it as either
 * (evpool_ctx_input(), evpool_ctx_input_evbuffer()).  The result is bytes
 * (evpool_ctx_set_result_bytes(), or evpool_ctx_output() in the worker),
 * read as bytes or as an evbuffer (evpool_job_result_bytes(),
 * evpool_job_result_evbuffer()).  Pointers (spec.arg, pointer results)
 * are not carried.  Partial results are, when the job has an emit
 * callback: each goes through the client's reply stream, before the
 * result; they are not held back by the emit window, and one emitted while
 * the worker has no connection to Redis is dropped (a job run twice, see
 * below, emits twice).  A map's chunk frame is in the client's byte order
 * and word size: its workers must share them (every 64-bit little-endian
 * host does; a worker of the other byte order answers EVPOOL_EPROTO).
 *
 * REDIS.  The address is a URL: redis://[user[:password]@]host[:port][/db]
 * or unix://[user[:password]@]/path/to/socket[?db=N].  rediss:// (TLS) is
 * refused with -ENOTSUP: Debian 12's hiredis (0.14.1) has no TLS support
 * (hiredis_ssl came with hiredis 1.0).  A queue
 * named Q lives in the stream evpool:{Q}:jobs (consumer group "evpool");
 * each client dispatcher reads its results from its own reply stream,
 * evpool:{Q}:r:<client id>, trimmed as it reads and deleted when the pool
 * is freed.  With Redis persisting (appendonly yes), nothing accepted is
 * lost across a Redis restart: clients and workers reconnect with backoff
 * and a client sends again every job of its own that Redis no longer has.
 *
 * BUILD.  Remote mode needs hiredis (configure --with-hiredis, the default
 * when pkg-config finds it).  Without it evpool_remote_available() is 0 and
 * the remote calls fail with -ENOTSUP (evpool_errmsg() says why); the
 * registry, evpool_submit_named() and evpool_ctx_job_id() still work.
 */
#ifndef EVPOOL_REMOTE_H
#define EVPOOL_REMOTE_H

#include <evpool/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/** @name Remote mode */

/**
 * 1 if this build of the library has remote mode (it was built with
 * hiredis), else 0.
 */
EVPOOL_API int evpool_remote_available(void);

/**
 * Register @p fn under @p name, process-wide, so that remote workers can run
 * it and clients can name it.  Register before evpool_new() of a process
 * pool (its workers see the registry as it was then) and before
 * evpool_worker_run().  Registering the same pair again is a no-op.
 * Thread-safe.
 * @param name  1..63 characters of [A-Za-z0-9_.:-].
 * @return 0; -EINVAL (bad name, NULL fn); -EEXIST (the name is taken by
 *         another function); -ENOMEM.
 */
EVPOOL_API int evpool_register_fn(const char *name, evpool_fn fn);

/** The function registered under @p name, or NULL (evpool_errmsg() says
 *  why).  Thread-safe. */
EVPOOL_API evpool_fn evpool_lookup_fn(const char *name);

/**
 * Make @p cfg a remote-mode configuration: jobs go to the Redis at @p url
 * (see REDIS above), on the queue @p queue.  The URL is only checked for
 * its form here; evpool_new() connects and reports what is wrong.
 * @param queue  1..63 characters of [A-Za-z0-9_.:-].
 * @return 0; -EINVAL (NULL or malformed URL or queue; the message says
 *         which); -ENOTSUP (a build without hiredis, or rediss://).
 */
EVPOOL_API int evpool_config_set_remote(struct evpool_config *cfg,
					const char *url, const char *queue);

/**
 * Bound what a remote pool sends: @p max_input bytes of input per job (a
 * bigger submit fails with -EMSGSIZE, byte or evbuffer input alike, and a
 * map whose chunk would be bigger; a worker refuses bigger inputs with
 * -EMSGSIZE too), default 16 MiB, 1..512 MiB; and @p max_inflight jobs in
 * Redis at once per dispatcher (more wait in the pool's queue, where the
 * queue bound, priorities and cancel apply), default 1024, 1..65535.
 * @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_config_set_remote_limits(struct evpool_config *cfg,
					       size_t max_input,
					       unsigned max_inflight);

/**
 * Redelivery (worker side, evpool_worker_run()): a job taken by a worker
 * that has not acknowledged it within @p visibility_ms (default 30000,
 * 50..86400000) is taken over by another worker, up to @p max_deliveries
 * deliveries in all (default 3, 1..1000); after that it completes with
 * EVPOOL_ELOST.  A live worker keeps the jobs it holds (running, or
 * waiting for one of its processes) however long they take: every
 * visibility_ms / 4 it resets their idle time in Redis (XCLAIM to itself,
 * which counts no delivery).  So the timeout is how long the jobs of a
 * worker that died, or stalled (stopped, swapping, cut off from Redis),
 * wait before another worker takes them over.
 * @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_config_set_remote_redelivery(struct evpool_config *cfg,
						   unsigned visibility_ms,
						   unsigned max_deliveries);

/**
 * Client side: how long Redis may stay unreachable (a dropped connection,
 * a restart) before the jobs in flight complete with EVPOOL_EREDIS
 * (default 30000 ms; 0 = wait for ever, jobs with a timeout still time
 * out).  Meanwhile the client reconnects with backoff (50 ms doubling to
 * 2 s).  @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_config_set_remote_reconnect(struct evpool_config *cfg,
						  unsigned give_up_ms);

/**
 * Trade a CPU for the round trip of jobs submitted one at a time.
 * Client side: while a single job is in flight on an I/O thread, the
 * thread polls for its result for up to @p max_us microseconds instead of
 * sleeping (the wake-up of a sleeping thread costs 10-30 us on a VM, and a
 * round trip has several).  It polls only while jobs have come back within
 * @p max_us (a moving average of lone round trips, polling up to twice
 * that), never with two or more jobs in flight, and never when idle: the
 * cost is one CPU busy for at most @p max_us per lone job.  Worker side
 * (evpool_worker_run(), evpool-worker --poll-us): the worker's loop polls
 * for up to @p max_us after handing a job to its processes and after its
 * last job (for the next one), instead of sleeping.  Default 0
 * (off: the threads sleep); 0..10000.  On the 2-CPU VM of docs/remote.md,
 * 500 on the client took the lone round trip's p50 down by about a
 * quarter.
 * @return 0 or -EINVAL.
 */
EVPOOL_API int evpool_config_set_remote_poll(struct evpool_config *cfg,
					     unsigned max_us);

/**
 * Submit a job whose function is given by name: as evpool_submit_job(),
 * with spec->fn ignored (must be NULL).  In remote mode the name travels
 * with the job (the client need not have the function); an unknown name
 * completes with EVPOOL_ENOFUNC.  In thread and process mode the name is
 * looked up in the registry at submit.
 * @return as evpool_submit_job(); -EINVAL (bad name, spec->fn set);
 *         -ENOENT (thread/process mode: no function of that name).
 */
EVPOOL_API int evpool_submit_named(struct evpool *pool, const char *name,
				   const struct evpool_job_spec *spec,
				   struct evpool_job **jobp);

/* ------------------------------------------------------------------------ */
/** @name Inside a job — a remote job's id (call only from the job function) */

/**
 * Inside a job run by a remote worker: the job's id, the same at every
 * delivery (use it to make the job idempotent).  NULL for a job that was
 * not submitted remotely.
 */
EVPOOL_API const char *evpool_ctx_job_id(struct evpool_ctx *ctx);

/* ------------------------------------------------------------------------ */
/** @name Remote mode — statistics and workers */

/** Counters of a remote pool (see evpool_remote_get_stats()). */
struct evpool_remote_stats {
	uint64_t sent;		/**< jobs added to the stream (resends too) */
	uint64_t resent;	/**< jobs sent again after a reconnect */
	uint64_t results;	/**< results taken (first of each job) */
	uint64_t redelivered;	/**< results (kept or dropped) of a job's
				     second or later delivery */
	uint64_t lost;		/**< jobs completed with EVPOOL_ELOST */
	uint64_t duplicates;	/**< results dropped: late or repeated */
	uint64_t reconnects;	/**< connections made again */
	uint64_t inflight;	/**< jobs in Redis now */
	uint64_t reserved[8];
};

/**
 * Fill @p st with the counters of the remote pool @p pool (summed over its
 * dispatchers).  @return 0; -EINVAL (NULL, or not a remote pool).
 */
EVPOOL_API int evpool_remote_get_stats(struct evpool *pool,
				       struct evpool_remote_stats *st);

/**
 * BLOCKING.  Turn the calling process into a worker: join the consumer
 * group of @p cfg's queue (evpool_config_set_remote()) and run its jobs in a
 * local process pool of max_workers processes (crash isolation: a job that
 * kills its process completes with EVPOOL_ECRASHED), until
 * evpool_worker_stop().  Functions must be registered (evpool_register_fn())
 * before the call: the process pool forks its workers from the program as
 * it is then.  A job naming an unregistered function completes with
 * EVPOOL_ENOFUNC without running; one whose input is over max_input with
 * -EMSGSIZE.  Jobs of dead workers are taken over (see
 * evpool_config_set_remote_redelivery()).  When stopped, it takes no new
 * job, lets the running ones finish for up to @p grace_ms (-1: for ever),
 * answers them, and leaves whatever is still running to be redelivered.
 * Call it from a process with no other evpool worker running.  SIGPIPE
 * is blocked in the calling thread during the call (writes to a Redis
 * that went away fail with EPIPE instead); the mask is restored after.
 * @return 0 after a stop; -EINVAL (bad cfg); -ENOTSUP (no hiredis);
 *         -ECONNREFUSED, -EACCES (Redis unreachable or refusing the
 *         credentials at start: evpool_errmsg() says which); -ENOMEM.
 */
EVPOOL_API int evpool_worker_run(const struct evpool_config *cfg,
				 int grace_ms);

/**
 * Ask evpool_worker_run() to stop.  Async-signal-safe: call it from a
 * SIGTERM handler.
 */
EVPOOL_API void evpool_worker_stop(void);

#ifdef __cplusplus
}
#endif
#endif /* EVPOOL_REMOTE_H */

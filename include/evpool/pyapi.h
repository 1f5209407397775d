/*
 * evpool/pyapi.h — the Python-style layer, built on evpool_submit_job():
 * apply, map, imap and starmap (with their _async forms), wait and
 * as_completed over job handles, the scoped pool, results collections,
 * configuration from the environment and argv, and named queues.  The
 * table in <evpool.h> maps each Python call to its C call.  Include
 * <evpool.h>, not this file.
 */
#ifndef EVPOOL_PYAPI_H
#define EVPOOL_PYAPI_H

#include <evpool/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/** @name Python-style API
 *
 * The calls of Python's pools in C: apply, map, imap, starmap and their
 * _async forms, wait and as_completed, the context manager, results
 * collections, map without results, generator jobs, named queues and
 * configuration from the environment and the command line.  The table in
 * <evpool.h> names the model of each; docs/python.md has it with arguments.
 *
 * All of it is built on evpool_submit_job() and keeps THE CONTRACT: a call
 * that fails calls no callback; one that succeeds calls exactly one, on the
 * loop thread of its base.
 *
 * EVERY MODE.  Give inputs as bytes (struct evpool_item .data, .len) and
 * read results as bytes (struct evpool_result .data, .len), and every call
 * here works unchanged in thread, process and remote mode.  Pointer inputs
 * (.arg) and pointer results (.ptr, evpool_ctx_set_result()) are thread
 * mode only: a process or remote pool refuses a pointer input with -EINVAL
 * (evpool_errmsg() says why).  In remote mode (<evpool/remote.h>) the map
 * family's function must be registered (evpool_register_fn()): each chunk
 * travels by the function's name and the worker runs the function it has
 * under that name; an unregistered one is -EINVAL at the call.
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
 *         or a submit error (-EINVAL, also for a pointer input in process or
 *         remote mode;
 *         -ESHUTDOWN, -EAGAIN;
 *         the job never ran).  res->status holds the same value.
 *         -EDEADLK: called from a job of @p pool, and the job could never
 *         run (the default queue cannot start another worker and all its
 *         other workers wait likewise, see evpool_job_wait()): it was taken
 *         back, unrun.  evpool_map(), evpool_starmap() likewise (their
 *         chunks are cancelled, the map is still returned).
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
					       ceil(n / (4 x max_workers));
					       remote mode: ceil(n / 64) */
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
 * @return 0; -EINVAL (also a pointer input in process or remote mode, and
 *         in remote mode a function not registered with
 *         evpool_register_fn()); -EMSGSIZE (remote mode: a chunk over
 *         max_input, see evpool_config_set_remote_limits());
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
/** BLOCKING.  Wait until ready (-1: for ever, 0: poll).  On the thread that
 *  delivers the map's callback (its base's loop thread, or while that loop
 *  has never run, the submitting thread: see the contract, 4.) it returns
 *  after the callback has run, as Python's map_async(callback).wait() does.
 *  @return 0, -ETIMEDOUT, -EINVAL; -EDEADLK (at once) from a job of the
 *  map's pool when a chunk is queued where no worker can ever take it (as
 *  evpool_job_wait()). */
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
					       max_workers x chunksize
					       (remote mode: 64 x
					       chunksize) */
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
 * @return 0; -EINVAL (also a pointer input in process or remote mode, and
 *         in remote mode a function not registered with
 *         evpool_register_fn()); -ESHUTDOWN;
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
				         status other than -ECANCELED, else all
				         have finished (Python's: a cancelled
				         future is not an exception; a job
				         timeout, -ETIMEDOUT, is one) */
	EVPOOL_ALL_COMPLETED = 3,   /**< every job has finished */
};

/**
 * BLOCKING.  concurrent.futures.wait(jobs, timeout, return_when): wait until
 * @p how holds or @p timeout_ms (-1: for ever) has passed.  Like Python it
 * does not fail on timeout: it returns how many jobs have finished; tell
 * done from not done with evpool_job_ready().  The jobs must belong to one
 * pool.  A job given more than once counts once (Python's sets).  On the
 * loop thread of the jobs' base (or, while that loop has never run, on the
 * thread that submitted to it first: see the contract, 4.) the wait
 * delivers the base's completions meanwhile, as every blocking call of the
 * library does.
 * @return the number of distinct finished jobs (0..n), -EINVAL, -ENOMEM.
 */
EVPOOL_API int evpool_wait(struct evpool_job *const *jobs, size_t n,
			   enum evpool_wait_for how, int timeout_ms);

/** An iterator yielding jobs as they finish. */
struct evpool_as_completed;

/** concurrent.futures.as_completed(jobs): takes a reference on each job
 *  (one pool).  A job given more than once is yielded once (bpo-20367).
 *  @return 0, -EINVAL, -ENOMEM. */
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

/* ---- configuration from the environment and argv ---- */

/** Returned by evpool_config_from_argv() when --evpool-help was given. */
#define EVPOOL_CONFIG_HELP 1

/**
 * Fill @p cfg from the environment: one variable per setting,
 *   EVPOOL_MODE (thread|process), EVPOOL_MAX_WORKERS, EVPOOL_MIN_WORKERS,
 *   EVPOOL_MAX_QUEUED, EVPOOL_IDLE_TIMEOUT_MS, EVPOOL_NAME,
 *   EVPOOL_JOB_TIMEOUT_MS, EVPOOL_JOB_DEADLINE_MS,
 *   EVPOOL_NOTIFY (auto|eventfd|pipe),
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
 * named queues added here (evpool_queue_new(), _add_many()).  Each has its
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

#ifdef __cplusplus
}
#endif
#endif /* EVPOOL_PYAPI_H */

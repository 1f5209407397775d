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
 *     A base whose loop has never run counts as the loop of the thread that
 *     first submitted to it (for the pool's own base: the thread that called
 *     evpool_new()) once 100 ms have passed since that first submit without
 *     the loop running anywhere, so a program that never calls
 *     event_base_dispatch() gets its callbacks from its waits too (its first
 *     wait may take up to those 100 ms); a loop that runs, on any thread,
 *     takes its base over.  A wait that delivers returns only after the completion
 *     callback of what it waited for has run (a job, a map), as
 *     multiprocessing's AsyncResult.wait() does.
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
/*
 * WHERE THE PYTHON-STYLE CALLS COME FROM (<evpool/pyapi.h>; docs/python.md has
 * the full table with arguments).  The library's own sources speak of the
 * C calls only; this is the one place that names their models.
 *
 *  multiprocessing.pool.ThreadPool / Pool
 *    apply, apply_async           evpool_apply(), evpool_apply_async()
 *    map, map_async               evpool_map(), evpool_map_async()
 *    starmap, starmap_async       evpool_starmap(), evpool_starmap_async()
 *    imap, imap_unordered         evpool_imap(), evpool_imap_unordered(),
 *                                 evpool_imap_start() (lazy, windowed)
 *    AsyncResult.get/wait/ready   evpool_job_get/wait/ready/successful()
 *    MapResult                    struct evpool_map, evpool_map_*()
 *    initializer, maxtasksperchild  evpool_config_set_initializer(),
 *                                 evpool_config_set_max_jobs_per_worker()
 *  concurrent.futures
 *    wait, as_completed           evpool_wait(), evpool_as_completed()
 *    `with ...:`                  EVPOOL_SCOPED (close, join, free)
 *  fastthreadpool
 *    done_callback, failed_callback  evpool_config_set_callbacks()
 *    pool.done, pool.failed       evpool_results_*() collections
 *    map(..., done_callback=False)  EVPOOL_MAP_DISCARD
 *    generator jobs (yield)       evpool_ctx_emit() + spec.emit
 *  the seed's named queues
 *    add_queue, add_queues        evpool_queue_new(), evpool_queue_add_many()
 *    set_fn, put, get             evpool_queue_set_fn(), _put(), _get()
 *    add_workers, kill_workers    evpool_queue_add_workers(), _kill_workers()
 *  ThreadRipper
 *    settings from env and argv   evpool_config_from_env(),
 *                                 evpool_config_from_argv()
 */
#ifndef EVPOOL_H
#define EVPOOL_H

/* The parts, by concern (each may be read on its own): */
#include <evpool/core.h>	/* errors, config, pool, submit, jobs, ctx,
				   evpool_fd()/evpool_drain(), statistics */
#include <evpool/process.h>	/* process mode: options, errors, fork() */
#include <evpool/pyapi.h>	/* apply/map/imap, wait/as_completed,
				   results, env/argv config, named queues */
#include <evpool/remote.h>	/* remote mode: jobs by name through Redis,
				   evpool-worker, the function registry */

#endif /* EVPOOL_H */

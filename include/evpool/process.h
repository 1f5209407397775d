/*
 * evpool/process.h — process mode: running a pool's jobs in worker
 * processes (crash isolation, stoppable jobs), its options and what each
 * of its errors means.  The job function, the callbacks and every call of
 * <evpool/core.h> stay the same in this mode.  Include <evpool.h>, not this
 * file.
 */
#ifndef EVPOOL_PROCESS_H
#define EVPOOL_PROCESS_H

#include <evpool/core.h>

#ifdef __cplusplus
extern "C" {
#endif

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
 *    host; a worker whose initializer crashes or reports failure
 *    (evpool_config_set_worker_init()) fails its jobs with
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
 *    _exit() themselves;
 *  - a job may fork() (shell out, start a helper that daemonises): the
 *    child inherits the worker's descriptors, and that changes nothing
 *    for the pool: a worker's death is known from its wait status (its
 *    fork server reports it), not from its descriptors closing, so the next
 *    job's crash is reported at once even while such a child lives on.  The
 *    child is the job's to manage; the pool never signals it.
 * Workers start on demand up to max_workers (min_workers at evpool_new()),
 * leave after the idle timeout, and are replaced after a crash, a timeout, a
 * cancel, a corrupt frame or max_jobs_per_worker jobs (stats: respawns).  The
 * fork server and its workers exit when the host process exits or dies
 * (even by SIGKILL): nothing is left behind.  Worker processes are named
 * "<prefix>/p<n>", the fork server "<prefix>/fs" and its standby
 * "<prefix>/sb" (see ps, top).  In evpool_get_stats(), `running` counts busy
 * workers: jobs a worker holds beyond the one it runs are neither queued
 * nor running there.
 *
 * THE FORK SERVER CAN DIE (the OOM killer, an operator's kill -9).  Its
 * workers die with it: the jobs they were running complete with
 * EVPOOL_ECRASHED (evpool_job_exit_status() is -1: the status died with
 * the server); queued jobs, and jobs a worker held but had not started,
 * wait for a new worker.  The pool notices at its next spawn (or
 * evpool_get_stats()) and replaces the server with its standby — a copy
 * the fork server made of itself when it started, so it too holds the
 * program as it was at pool creation — which makes a standby of its own.
 * A worker that was starting (in its initializer) when the server died is
 * started again by the new one; its jobs do not fail.  Later submits work
 * at once (within a second at worst).  Only if the standby is gone too
 * (killed with it) is a new fork server forked from the host, as
 * evpool_new() did: that one sees the program as it is then, and, if the
 * host runs threads by then, a job that takes a lock one of them held at
 * that fork can hang (the usual rule for fork() in a threaded program).
 * evpool_stats.forkserver_restarts counts replacements; an idle worker
 * whose process died with the server counts in neither `workers` nor
 * `idle_workers` until a job starts its new process.  A replacement server
 * is not the host's child: when it exits, init reaps it.
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
 *  - EVPOOL_ESPAWN: no worker process could be started for the job (no fork
 *    server could be had, fork() or a descriptor failed — RLIMIT_NOFILE —
 *    or the initializer crashed).
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

#ifdef __cplusplus
}
#endif
#endif /* EVPOOL_PROCESS_H */

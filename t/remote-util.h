/*
 * t/remote-util.h — what the remote-mode tests share: a real redis-server
 * of their own (temp dir, unix socket, AOF with appendfsync always, an ACL
 * user "alice" with password "alicepw") and evpool-worker processes
 * serving t/remote-jobs.so on the queue "t".
 */
#ifndef T_REMOTE_UTIL_H
#define T_REMOTE_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

extern char rt_dir[256], rt_sock[300], rt_url[400];
extern pid_t rt_redis_pid;

/** Skip the whole test (skip_all) unless remote mode and redis-server are
 *  there; else make the temp dir and start Redis (killed at exit, with
 *  every worker rt_worker_start() started). */
void rt_setup(void);
/** Start redis-server on rt_sock and wait until it answers. */
void rt_redis_start(void);
/** SIGKILL Redis and wait for it. */
void rt_redis_kill(void);
/** Start an evpool-worker (concurrency 2, visibility 400 ms) with up to two
 *  extra arguments (NULL: none). */
pid_t rt_worker_start(const char *extra1, const char *extra2);
/** SIGKILL a worker and wait for it. */
void rt_worker_kill(pid_t pid);
/** Wait until @p n workers block in XREADGROUP (they are ready). */
void rt_workers_wait(int n);
/** How many times Redis has run @p cmd (lower case, as INFO commandstats
 *  names it: "xack"), or -1. */
long rt_redis_calls(const char *cmd);
/** Kill whatever is left and remove the temp dir. */
void rt_teardown(void);

#endif

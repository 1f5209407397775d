/*
 * tools/worker-cli.h — the command line of a remote-mode worker, shared by
 * evpool-worker(1) and the worker role of examples/remote-demo.
 */
#ifndef EVPOOL_WORKER_CLI_H
#define EVPOOL_WORKER_CLI_H

#include <stdbool.h>

/**
 * Parse the worker options of argv[1..argc) (--redis, --queue,
 * --concurrency, --jobs, --visibility-ms, --max-deliveries, --max-input,
 * --grace-ms, --help), load each --jobs object, stop on SIGTERM and SIGINT
 * (evpool_worker_stop()) and serve the queue with evpool_worker_run().
 * @param prog           the name in messages and the usage text
 * @param default_queue  the queue without --queue (NULL: --queue needed)
 * @param builtin        the program registered job functions of its own
 *                       (no warning without --jobs)
 * @return the exit status: 0 after a stop, 1 on a failure, 2 on bad usage.
 */
int worker_cli_main(int argc, char **argv, const char *prog,
		    const char *default_queue, bool builtin);

#endif

/*
 * evpool-worker — serve the jobs of a libevpool remote queue.
 *
 *   evpool-worker --redis URL --queue NAME [--concurrency N]
 *                 --jobs libmyjobs.so [--jobs more.so ...]
 *                 [--visibility-ms MS] [--max-deliveries N]
 *                 [--max-input BYTES] [--grace-ms MS]
 *
 * The options, the loading of the --jobs objects and the graceful stop on
 * SIGTERM are in worker-cli.c (examples/remote-demo's worker role shares
 * them); see evpool-worker(1).
 */
#include "worker-cli.h"

#include <stddef.h>

int
main(int argc, char **argv)
{
	return worker_cli_main(argc, argv, "evpool-worker", NULL, false);
}

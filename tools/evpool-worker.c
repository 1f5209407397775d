/*
 * evpool-worker — serve the jobs of a libevpool remote queue.
 *
 *   evpool-worker --redis URL --queue NAME [--concurrency N]
 *                 --jobs libmyjobs.so [--jobs more.so ...]
 *                 [--visibility-ms MS] [--max-deliveries N]
 *                 [--max-input BYTES] [--grace-ms MS]
 *
 * Each --jobs object is dlopen()ed before the worker's process pool is
 * made (its processes fork from the program as it is then) and registers
 * its functions by name: from a constructor, or from an exported
 * `int evpool_jobs_register(void)` that this program calls.  SIGTERM and
 * SIGINT stop it gracefully (evpool_worker_stop()): no new job, the
 * running ones finish (within --grace-ms) and are answered.
 */
#include <evpool.h>

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: evpool-worker --redis URL --queue NAME --jobs LIB.so [--jobs ...]\n"
		"                     [--concurrency N] [--visibility-ms MS] [--max-deliveries N]\n"
		"                     [--max-input BYTES] [--grace-ms MS]\n");
}

static void
on_signal(int sig)
{
	(void)sig;
	evpool_worker_stop();
}

static long
num(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "evpool-worker: %s %s: want %ld..%ld\n", opt, s,
			lo, hi);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "redis", required_argument, NULL, 'r' },
		{ "queue", required_argument, NULL, 'q' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "visibility-ms", required_argument, NULL, 'v' },
		{ "max-deliveries", required_argument, NULL, 'd' },
		{ "max-input", required_argument, NULL, 'm' },
		{ "grace-ms", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *queue = NULL;
	unsigned conc = 0, vis = 30000, deliv = 3;
	long max_input = 16L << 20;
	int grace = 30000, njobs = 0, c, r;
	struct evpool_config *cfg;
	struct sigaction sa;

	while ((c = getopt_long(argc, argv, "r:q:c:j:v:d:m:g:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'c': conc = (unsigned)num("--concurrency", optarg, 1, 4096); break;
		case 'v': vis = (unsigned)num("--visibility-ms", optarg, 50, 86400000); break;
		case 'd': deliv = (unsigned)num("--max-deliveries", optarg, 1, 1000); break;
		case 'm': max_input = num("--max-input", optarg, 1, 512L << 20); break;
		case 'g': grace = (int)num("--grace-ms", optarg, -1, 86400000); break;
		case 'j': {
			void *h = dlopen(optarg, RTLD_NOW | RTLD_GLOBAL);
			int (*reg)(void);

			if (!h) {
				fprintf(stderr, "evpool-worker: --jobs %s: %s\n", optarg, dlerror());
				return 1;
			}
			*(void **)&reg = dlsym(h, "evpool_jobs_register");
			if (reg && (r = reg()) < 0) {
				fprintf(stderr, "evpool-worker: %s: evpool_jobs_register: %s\n",
					optarg, evpool_strerror(r));
				return 1;
			}
			njobs++;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!url || !queue || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!njobs)
		fprintf(stderr, "evpool-worker: no --jobs given: every job will fail with EVPOOL_ENOFUNC\n");
	cfg = evpool_config_new();
	if (!cfg || evpool_config_set_remote(cfg, url, queue) < 0 ||
	    evpool_config_set_workers(cfg, 0, conc) < 0 ||
	    evpool_config_set_remote_redelivery(cfg, vis, deliv) < 0 ||
	    evpool_config_set_remote_limits(cfg, (size_t)max_input, 1024) < 0) {
		fprintf(stderr, "evpool-worker: %s\n", evpool_errmsg());
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	r = evpool_worker_run(cfg, grace);
	evpool_config_free(cfg);
	if (r < 0) {
		fprintf(stderr, "evpool-worker: %s\n", evpool_errmsg());
		return 1;
	}
	return 0;
}

/*
 * worker-cli.c — the command line of a remote-mode worker (see
 * worker-cli.h): evpool-worker is this and nothing else; remote-demo's
 * worker role registers its built-in jobs first.
 *
 * Each --jobs object is dlopen()ed before the worker's process pool is
 * made (its processes fork from the program as it is then) and registers
 * its functions by name: from a constructor, or from an exported
 * `int evpool_jobs_register(void)` that is called here.  SIGTERM and
 * SIGINT stop the worker gracefully (evpool_worker_stop()): no new job,
 * the running ones finish (within --grace-ms) and are answered.
 */
#include "worker-cli.h"

#include <evpool.h>

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog_name;
static bool queue_optional, jobs_optional;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: %s --redis URL %s %s\n"
		"       [--concurrency N] [--visibility-ms MS] [--max-deliveries N]\n"
		"       [--max-input BYTES] [--grace-ms MS] [--poll-us US]\n",
		prog_name, queue_optional ? "[--queue NAME]" : "--queue NAME",
		jobs_optional ? "[--jobs LIB.so ...]" : "--jobs LIB.so [--jobs ...]");
}

static void
on_signal(int sig)
{
	(void)sig;
	evpool_worker_stop();
}

/* The value of option @p opt, in lo..hi; -1 (message printed) if not. */
static long
num(const char *opt, const char *s, long lo, long hi, bool *bad)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "%s: %s %s: want %ld..%ld\n", prog_name, opt, s,
			lo, hi);
		*bad = true;
		return lo;
	}
	return v;
}

/* Load a --jobs object.  @return 0, or 1 (message printed). */
static int
load_jobs(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	int (*reg)(void);
	int r;

	if (!h) {
		fprintf(stderr, "%s: --jobs %s: %s\n", prog_name, path, dlerror());
		return 1;
	}
	*(void **)&reg = dlsym(h, "evpool_jobs_register");
	if (reg && (r = reg()) < 0) {
		fprintf(stderr, "%s: %s: evpool_jobs_register: %s\n", prog_name,
			path, evpool_strerror(r));
		return 1;
	}
	return 0;
}

int
worker_cli_main(int argc, char **argv, const char *prog,
		const char *default_queue, bool builtin)
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
		{ "poll-us", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *queue = default_queue;
	unsigned conc = 0, vis = 30000, deliv = 3, poll = 0;
	long max_input = 16L << 20;
	int grace = 30000, njobs = 0, c, r;
	bool bad = false;
	struct evpool_config *cfg;
	struct sigaction sa;

	prog_name = prog;
	queue_optional = default_queue != NULL;
	jobs_optional = builtin;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:q:c:j:v:d:m:g:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'c': conc = (unsigned)num("--concurrency", optarg, 1, 4096, &bad); break;
		case 'v': vis = (unsigned)num("--visibility-ms", optarg, 50, 86400000, &bad); break;
		case 'd': deliv = (unsigned)num("--max-deliveries", optarg, 1, 1000, &bad); break;
		case 'm': max_input = num("--max-input", optarg, 1, 512L << 20, &bad); break;
		case 'g': grace = (int)num("--grace-ms", optarg, -1, 86400000, &bad); break;
		case 'p': poll = (unsigned)num("--poll-us", optarg, 0, 10000, &bad); break;
		case 'j':
			if (load_jobs(optarg))
				return 1;
			njobs++;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (bad)
		return 2;
	if (!url || !queue || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!njobs && !builtin)
		fprintf(stderr, "%s: no --jobs given: every job will fail with EVPOOL_ENOFUNC\n",
			prog_name);
	cfg = evpool_config_new();
	if (!cfg || evpool_config_set_remote(cfg, url, queue) < 0 ||
	    evpool_config_set_workers(cfg, 0, conc) < 0 ||
	    evpool_config_set_remote_redelivery(cfg, vis, deliv) < 0 ||
	    evpool_config_set_remote_limits(cfg, (size_t)max_input, 1024) < 0 ||
	    evpool_config_set_remote_poll(cfg, poll) < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, evpool_errmsg());
		evpool_config_free(cfg);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	r = evpool_worker_run(cfg, grace);
	evpool_config_free(cfg);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog_name, evpool_errmsg());
		return 1;
	}
	return 0;
}

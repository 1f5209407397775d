/*
 * remote-demo — libevpool's remote mode in one program with two roles.
 *
 *   remote-demo worker --redis URL [--queue NAME] [--concurrency N]
 *       serves the built-in jobs (examples/remote-jobs.c) until SIGINT or
 *       SIGTERM, in a local pool of N worker processes; it takes every
 *       option of evpool-worker(1) (the same code: tools/worker-cli.c).
 *   remote-demo submit --redis URL [--queue NAME] --jobs N --sleep-ms MS
 *                      [--timeout-ms MS] [--serial] [--poll-us US]
 *       submits N "hash" jobs (each sleeps MS ms and returns the hash of
 *       its input; with --serial one at a time, the next from the previous
 *       one's callback; --poll-us: evpool_config_set_remote_poll()),
 *       checks every result, and prints
 *         jobs/s=... p50_ms=... p99_ms=...
 *         completed=C failed=F duplicate_callbacks=D wrong_results=W
 *
 * Try it in two terminals (redis-server running locally):
 *   examples/remote-demo worker --redis redis://127.0.0.1:6379
 *   examples/remote-demo submit --redis redis://127.0.0.1:6379 --jobs 1000 --sleep-ms 1
 */
#include "remote-jobs.h"
#include "../tools/worker-cli.h"

#include <event2/event.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct one {
	uint64_t want;
	double t0, ms;
	unsigned calls;
	int status;
	bool right;
};

static struct one *jobs;
/* --serial: one job at a time, the next submitted from the callback, so
 * that the figures are round trips, not queueing */
static struct {
	bool on;
	struct evpool *pool;
	unsigned long next, n;
	unsigned sleep_ms;
	int timeout_ms;
} serial;

static int submit_one(struct evpool *pool, unsigned long i, unsigned sleep_ms,
		      int timeout_ms);

static void
on_done(struct evpool_job *job, void *arg)
{
	struct one *o = arg;
	size_t len;
	const void *res = evpool_job_result_bytes(job, &len);

	o->calls++;
	o->ms = now_ms() - o->t0;
	o->status = evpool_job_status(job);
	o->right = len == sizeof(o->want) && memcmp(res, &o->want, len) == 0;
	if (o->status && o->calls == 1)
		fprintf(stderr, "job %ld: %s%s%s\n", (long)(o - jobs),
			evpool_strerror(o->status), len ? ": " : "",
			len ? (const char *)res : "");
	if (serial.on && o->calls == 1 && serial.next < serial.n &&
	    submit_one(serial.pool, serial.next++, serial.sleep_ms,
		       serial.timeout_ms) < 0)
		fprintf(stderr, "remote-demo: submit: %s\n", evpool_errmsg());
}

static int
submit_one(struct evpool *pool, unsigned long i, unsigned sleep_ms,
	   int timeout_ms)
{
	unsigned char in[80];
	size_t len = remote_jobs_input(in, sizeof(in), sleep_ms, i);
	struct evpool_job_spec spec = {
		.input = in, .input_len = len, .done = on_done,
		.done_arg = &jobs[i], .timeout_ms = timeout_ms,
	};

	jobs[i].want = remote_jobs_hash(in, len);
	jobs[i].t0 = now_ms();
	return evpool_submit_named(pool, "hash", &spec, NULL);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
submit(const char *url, const char *queue, unsigned long n, unsigned sleep_ms,
       int timeout_ms, unsigned poll_us)
{
	struct event_base *base = event_base_new();
	struct evpool_config *cfg = evpool_config_new();
	struct evpool *pool;
	unsigned long completed = 0, failed = 0, dups = 0, wrong = 0;
	double t0, secs, *lat;
	int r;

	if (evpool_config_set_remote(cfg, url, queue) < 0 ||
	    evpool_config_set_remote_poll(cfg, poll_us) < 0 ||
	    evpool_new(&pool, base, cfg) < 0) {
		fprintf(stderr, "remote-demo: %s\n", evpool_errmsg());
		return 1;
	}
	evpool_config_free(cfg);
	jobs = calloc(n ? n : 1, sizeof(*jobs));
	lat = calloc(n ? n : 1, sizeof(*lat));
	t0 = now_ms();
	serial.pool = pool;
	serial.n = n;
	serial.sleep_ms = sleep_ms;
	serial.timeout_ms = timeout_ms;
	serial.next = serial.on ? (n ? 1 : 0) : n;
	for (unsigned long i = 0; i < (serial.on ? serial.next : n); i++) {
		r = submit_one(pool, i, sleep_ms, timeout_ms);
		if (r < 0) {
			fprintf(stderr, "remote-demo: submit: %s\n", evpool_errmsg());
			return 1;
		}
	}
	event_base_dispatch(base);
	secs = (now_ms() - t0) / 1e3;
	for (unsigned long i = 0; i < n; i++) {
		dups += jobs[i].calls > 1;
		if (jobs[i].status == 0) {
			completed++;
			wrong += !jobs[i].right;
		} else {
			failed++;
		}
		lat[i] = jobs[i].ms;
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("jobs/s=%.0f p50_ms=%.3f p99_ms=%.3f\n", n / (secs > 0 ? secs : 1),
	       n ? lat[n / 2] : 0.0, n ? lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0.0);
	printf("completed=%lu failed=%lu duplicate_callbacks=%lu wrong_results=%lu\n",
	       completed, failed, dups, wrong);
	evpool_free(pool);
	event_base_free(base);
	free(jobs);
	free(lat);
	return failed || dups || wrong ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "redis", required_argument, NULL, 'r' },
		{ "queue", required_argument, NULL, 'q' },
		{ "jobs", required_argument, NULL, 'n' },
		{ "sleep-ms", required_argument, NULL, 's' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "serial", no_argument, NULL, 'S' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *queue = "demo";
	unsigned long n = 100;
	unsigned sleep_ms = 0, poll_us = 0;
	int timeout_ms = 0, c;

	if (argc >= 2 && strcmp(argv[1], "worker") == 0) {
		/* the built-in jobs, then evpool-worker's own command line */
		if (evpool_jobs_register() < 0) {
			fprintf(stderr, "remote-demo: %s\n", evpool_errmsg());
			return 1;
		}
		return worker_cli_main(argc - 1, argv + 1, "remote-demo worker",
				       "demo", true);
	}
	if (argc < 2 || strcmp(argv[1], "submit")) {
		fprintf(stderr, "usage: remote-demo worker --redis URL [--queue NAME] [--concurrency N]\n"
				"                          [evpool-worker's other options]\n"
				"       remote-demo submit --redis URL [--queue NAME] --jobs N --sleep-ms MS\n"
				"                          [--timeout-ms MS] [--serial] [--poll-us US]\n");
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 's': sleep_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'S': serial.on = true; break;
		case 'p': poll_us = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!url) {
		fprintf(stderr, "remote-demo: --redis URL is needed\n");
		return 2;
	}
	return submit(url, queue, n, sleep_ms, timeout_ms, poll_us);
}

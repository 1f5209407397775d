/*
 * latency.h — what uv-latency.c and glib-latency.c share: getrusage(),
 * percentiles, the output keys and main() (the clock is peers.h's).  Each peer defines,
 * before including this file:
 *   static double *lat;                       round trips, filled by:
 *   static void window_run(long k, long n);   K in flight until N completed
 *   static void ticker_run(long period_us, long n, double *cpu, double *wall);
 *                                             one job per timerfd tick
 *   static void peer_init(void);
 * and gets peer_main() and peer_timerfd() (a timerfd ticking every period).
 */
#include "peers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static double pct(const double *v, long n, double p)
{
	long i = (long)(n * p);

	return v[i < n ? i : n - 1];
}

static void lat_out(const char *key, double *v, long n)
{
	qsort(v, n, sizeof *v, peer_cmp_double);
	printf("%s_p50_us=%.2f\n%s_p90_us=%.2f\n%s_p99_us=%.2f\n"
	       "%s_p999_us=%.2f\n%s_max_us=%.2f\n",
	       key, pct(v, n, .5) * 1e6, key, pct(v, n, .9) * 1e6, key,
	       pct(v, n, .99) * 1e6, key, pct(v, n, .999) * 1e6, key,
	       v[n - 1] * 1e6);
}

/* A non-blocking timerfd, armed to tick every @p period_us; the caller
 * watches it and closes it.  Aborts on failure. */
static int peer_timerfd(long period_us)
{
	struct itimerspec its;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		abort();
	memset(&its, 0, sizeof its);
	its.it_interval.tv_sec = period_us / 1000000;
	its.it_interval.tv_nsec = (period_us % 1000000) * 1000;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL))
		abort();
	return fd;
}

static int peer_main(int argc, char **argv, const char *name, size_t job_size,
		     void **jobs)
{
	long n = 0, cap;
	int i = 1, do_lat = 0, do_low = 0;
	double cpu, wall;

	if (i + 1 < argc && !strcmp(argv[i], "-n")) {
		n = atol(argv[i + 1]);
		i += 2;
	}
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "latency"))
			do_lat = 1;
		else if (!strcmp(argv[i], "lowload"))
			do_low = 1;
		else {
			fprintf(stderr, "usage: %s [-n N] latency|lowload...\n",
				name);
			return 2;
		}
	}
	cap = (n ? n : 20000) * 10 + 100000;
	lat = calloc(cap, sizeof *lat);
	*jobs = calloc(cap, job_size);
	if (!lat || !*jobs)
		return 1;
	peer_init();
	window_run(1, 1000);	/* warm up the pool */
	if (do_lat) {
		long m = n ? n : 20000, mt = m / 10 < 100 ? 100 : m / 10;

		window_run(1, m);
		lat_out("latency_1", lat, m);
		ticker_run(1000, mt, &cpu, &wall);
		lat_out("latency_timer", lat, mt);
		window_run(64, m * 10);
		lat_out("latency_64", lat, m * 10);
	}
	if (do_low) {
		static const long periods[] = { 200, 1000, 2000, 10000 };
		long ms = n ? n : 3000;

		for (size_t k = 0; k < sizeof periods / sizeof *periods; k++) {
			long p = periods[k], m = ms * 1000 / p;

			if (m < 10)
				m = 10;
			ticker_run(p, m, &cpu, &wall);
			qsort(lat, m, sizeof *lat, peer_cmp_double);
			printf("lowload_%ld_jobs=%ld\nlowload_%ld_cpu_pct=%.3f\n"
			       "lowload_%ld_cpu_us_per_job=%.2f\n"
			       "lowload_%ld_p50_us=%.2f\nlowload_%ld_p99_us=%.2f\n",
			       p, m, p, 100 * cpu / wall, p, cpu * 1e6 / m, p,
			       pct(lat, m, .5) * 1e6, p, pct(lat, m, .99) * 1e6);
		}
	}
	return 0;
}

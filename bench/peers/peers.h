/*
 * peers.h — what the C peer programs share: a monotonic clock in seconds
 * and round-trip percentiles.  Header-only, so that each peer still builds
 * with one `cc` line (bench/compare.sh).
 */
#ifndef EVPOOL_BENCH_PEERS_H
#define EVPOOL_BENCH_PEERS_H

#include <stdlib.h>
#include <time.h>

static inline double
peer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int
peer_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sort n round trips (seconds); *p50 and *p99 get theirs in microseconds. */
static inline void
peer_percentiles(double *rtt, long n, double *p50, double *p99)
{
	qsort(rtt, (size_t)n, sizeof(*rtt), peer_cmp_double);
	*p50 = rtt[n / 2] * 1e6;
	*p99 = rtt[n * 99 / 100] * 1e6;
}

#endif

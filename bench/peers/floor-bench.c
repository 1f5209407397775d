/*
 * floor-bench.c — the floor under any pool's round trip: a hand-off to
 * another thread and back, measured two ways (M round trips each):
 *
 *   eventfd   both threads sleep in read() on an eventfd, as a pool's worker
 *             and loop do when idle
 *   spinning  both threads spin on one atomic counter: only the cache line
 *             moves between the cores
 *
 * Two lines out:
 *   eventfd thread round trip: p50 X us p99 Y us
 *   spinning thread round trip: p50 X us p99 Y us
 *
 *   cc -O2 -pthread floor-bench.c && ./a.out [M]
 */
#include <sys/eventfd.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "peers.h"

static long rounds = 20000;
static int to_echo, from_echo;      /* the two eventfds */
static _Atomic long turn;           /* odd: the echo's turn; even: main's */

static void
report(const char *what, double *rtt)
{
	double p50, p99;

	peer_percentiles(rtt, rounds, &p50, &p99);
	printf("%s thread round trip: p50 %.2f us p99 %.2f us\n", what, p50, p99);
}

static void *
echo_eventfd(void *arg)
{
	uint64_t v;

	(void)arg;
	for (long i = 0; i < rounds; i++)
		if (read(to_echo, &v, sizeof(v)) != sizeof(v) ||
		    write(from_echo, &v, sizeof(v)) != sizeof(v))
			abort();
	return NULL;
}

static void *
echo_spin(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		while (atomic_load(&turn) != 2 * i + 1)
			;
		atomic_store(&turn, 2 * i + 2);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	double *rtt;
	pthread_t t;
	uint64_t v = 1;

	if (argc > 1)
		rounds = atol(argv[1]);
	if (rounds < 1 || (rtt = calloc((size_t)rounds, sizeof(*rtt))) == NULL)
		return 2;
	to_echo = eventfd(0, 0);
	from_echo = eventfd(0, 0);
	if (to_echo < 0 || from_echo < 0)
		return 1;

	pthread_create(&t, NULL, echo_eventfd, NULL);
	for (long i = 0; i < rounds; i++) {
		double t0 = peer_now();

		if (write(to_echo, &v, sizeof(v)) != sizeof(v) ||
		    read(from_echo, &v, sizeof(v)) != sizeof(v))
			return 1;
		rtt[i] = peer_now() - t0;
	}
	pthread_join(t, NULL);
	report("eventfd", rtt);

	pthread_create(&t, NULL, echo_spin, NULL);
	for (long i = 0; i < rounds; i++) {
		double t0 = peer_now();

		atomic_store(&turn, 2 * i + 1);
		while (atomic_load(&turn) != 2 * i + 2)
			;
		rtt[i] = peer_now() - t0;
	}
	pthread_join(t, NULL);
	report("spinning", rtt);
	free(rtt);
	return 0;
}

/*
 * redis-floor.c — the floor under any job system's round trip on Redis
 * Streams: N jobs one at a time between two processes and one Redis, with
 * nothing else in the path (no pool, no event loop, no job run).
 *
 *   client: XADD jobs * ...         (written, its reply read later)
 *           XREAD BLOCK 0 replies   (issued before, so it is waiting)
 *   worker: XREADGROUP BLOCK 0 jobs (waiting), XADD replies * ...,
 *           and the next XREADGROUP written at once
 *
 * Four wake-ups a job (Redis, the worker, Redis, the client) and the four
 * commands remote mode's lone job also needs.  Prints remote-demo's line:
 *   jobs/s=... p50_ms=... p99_ms=...
 *
 *   cc -O2 redis-floor.c -lhiredis && ./a.out SOCKET N
 */
#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static redisContext *
connect_or_die(const char *sock)
{
	redisContext *c = redisConnectUnix(sock);

	if (!c || c->err) {
		fprintf(stderr, "redis-floor: %s: %s\n", sock,
			c ? c->errstr : "out of memory");
		exit(1);
	}
	return c;
}

/* Write what was appended, now. */
static void
flush(redisContext *c)
{
	int done = 0;

	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK)
			exit(1);
}

static redisReply *
reply(redisContext *c)
{
	void *r = NULL;

	if (redisGetReply(c, &r) != REDIS_OK || !r)
		exit(1);
	return r;
}

static void
worker(const char *sock, long n)
{
	redisContext *cmd = connect_or_die(sock), *blk = connect_or_die(sock);

	redisAppendCommand(blk, "XREADGROUP GROUP g w COUNT 1 BLOCK 0 STREAMS floor:jobs >");
	flush(blk);
	for (long i = 0; i < n; i++) {
		freeReplyObject(reply(blk));
		redisAppendCommand(cmd, "XADD floor:replies * r %ld", i);
		flush(cmd);
		if (i + 1 < n) {
			redisAppendCommand(blk, "XREADGROUP GROUP g w COUNT 1 BLOCK 0 STREAMS floor:jobs >");
			flush(blk);
		}
		freeReplyObject(reply(cmd));
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	redisContext *cmd, *blk;
	redisReply *r;
	char last[64];
	double *lat, t0, t;
	long n;
	pid_t pid;

	if (argc != 3 || (n = atol(argv[2])) < 1) {
		fprintf(stderr, "usage: redis-floor SOCKET N\n");
		return 2;
	}
	cmd = connect_or_die(argv[1]);
	blk = connect_or_die(argv[1]);
	lat = malloc(n * sizeof(*lat));
	freeReplyObject(redisCommand(cmd, "DEL floor:jobs floor:replies"));
	freeReplyObject(redisCommand(cmd, "XGROUP CREATE floor:jobs g $ MKSTREAM"));
	r = redisCommand(cmd, "XADD floor:replies * r start");
	snprintf(last, sizeof(last), "%s", r->str);
	freeReplyObject(r);
	pid = fork();
	if (pid == 0)
		worker(argv[1], n);
	redisAppendCommand(blk, "XREAD BLOCK 0 STREAMS floor:replies %s", last);
	flush(blk);
	usleep(100000);		/* the worker's XREADGROUP waits */
	t0 = now_ms();
	for (long i = 0; i < n; i++) {
		t = now_ms();
		redisAppendCommand(cmd, "XADD floor:jobs * in %ld", i);
		flush(cmd);
		r = reply(blk);
		lat[i] = now_ms() - t;
		snprintf(last, sizeof(last), "%s",
			 r->element[0]->element[1]->element[0]->element[0]->str);
		freeReplyObject(r);
		if (i + 1 < n) {
			redisAppendCommand(blk, "XREAD BLOCK 0 STREAMS floor:replies %s", last);
			flush(blk);
		}
		freeReplyObject(reply(cmd));
	}
	t = now_ms() - t0;
	waitpid(pid, NULL, 0);
	qsort(lat, n, sizeof(*lat), cmp);
	printf("jobs/s=%.0f p50_ms=%.3f p99_ms=%.3f\n", n / (t / 1e3),
	       lat[n / 2], lat[n * 99 / 100]);
	free(lat);
	redisFree(cmd);
	redisFree(blk);
	return 0;
}

/* remote-jobs.h — the demo's and the tests' remote job functions. */
#ifndef REMOTE_JOBS_H
#define REMOTE_JOBS_H
#include <evpool.h>
#include <stddef.h>
#include <stdint.h>

/** A record of "mul" (starmap). */
struct remote_jobs_pair {
	uint32_t a, b;
};

/** Register "hash", "jobid", "crash", "square", "mul", "echo" and
 *  "parts" (see remote-jobs.c).  @return 0 or a negative code. */
int evpool_jobs_register(void);
/** FNV-1a, what "hash" returns for its whole input. */
uint64_t remote_jobs_hash(const void *data, size_t len);
/** Fill @p buf with an input of "hash": sleep @p sleep_ms, then bytes
 *  made from @p n.  @return its length (at most @p cap, at least 4). */
size_t remote_jobs_input(unsigned char *buf, size_t cap, unsigned sleep_ms,
			 unsigned long n);
#endif

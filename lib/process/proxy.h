/*
 * proxy.h — the state of a proxy (the core worker thread that drives one
 * worker process), shared by proxy.c and proxy-worker.c; private to
 * lib/process/.  A proxy holds its jobs in a FIFO (the flight list, fl),
 * in job order: FL_SENT entries (shipped down the ring) before FL_UNSENT
 * ones; FL_DONE entries are popped from the head.
 */
#ifndef EVPOOL_PROXY_H
#define EVPOOL_PROXY_H

#include "process/proc-internal.h"

#include <limits.h>

/* How long a stopping worker may take to run its finalizer and exit. */
#define STOP_GRACE_MS 5000
/* Prefetch: keep about this much work (by the measured job time) in
 * flight per worker; a job slower than this is never prefetched. */
#define DEPTH_TARGET_NS 100000u
/* A prefetched job waits behind the running one at most about this long
 * while another worker could run it: then it goes back to the queue. */
#define GIVEBACK_NS 1000000u
/* Before sleeping, a proxy whose worker is busy polls the ring this long;
 * with one job alone in flight, up to PROXY_SPIN1_NS (proxy.c: proxy_spin) */
#define PROXY_SPIN_NS 3000u
#define PROXY_SPIN1_NS 20000u
/* A BIG payload of a cancelled job (or under terminate) that the worker
 * does not move for this long is given up, and the worker with it. */
#define SOCK_STALL_MS 20

/* An executable range of an object loaded when the pool was made. */
struct xrange {
	uintptr_t lo, hi;
};

struct proc_pool {
	struct evpool__fs fs;
	struct xrange *xr;	/* where job functions can be in a worker */
	size_t nxr;
};

enum fl_state { FL_UNSENT = 0, FL_SENT, FL_DONE };

/* A job a proxy holds. */
struct fl_entry {
	struct evpool_job *job;	/* holds a reference */
	uint64_t seq;		/* its number for the current worker process */
	unsigned char state;
	bool finished;		/* its RESULT is in the ring: no deadline */
};

/* proc_worker.proc_gen while the worker thread starts its first process. */
#define GEN_STARTING UINT_MAX

struct proc_worker {
	struct evpool__child c;	/* the worker process; c.pid 0: none */
	/* 0: no process; else the generation of the fork server that forked
	 * it (it dies with that server); GEN_STARTING.  For the stats. */
	atomic_uint proc_gen;
	struct evpool__ring down, up;	/* we produce down, consume up */
	struct evpool__poke poke;	/* ops->kill, kill_all: the cancel fds */
	unsigned njobs;		/* jobs shipped to the current process */
	bool replacing;		/* the next spawn replaces a process */
	uint64_t next_seq;
	/* in flight, FIFO; entries are FL_UNSENT after the FL_SENT ones */
	struct fl_entry fl[EVPOOL__SLOTS];
	unsigned fl_head, fl_n;	/* fl_n counts FL_DONE entries not popped */
	unsigned live;		/* entries not FL_DONE */
	unsigned sent;		/* entries FL_SENT */
	uint64_t run_start_ns;	/* when the oldest sent job could start */
	uint64_t avg_ns;	/* a job's time in the worker, smoothed */
	uint32_t spin_ns;	/* proxy_spin()'s budget for a lone job */
	unsigned spin_probe;
	unsigned depth;		/* jobs to keep in flight */
	unsigned max_jobs;	/* max_jobs_per_worker, 0: none */
	unsigned idle_deaths;	/* deaths in a row before a job started */
	uint64_t giveback_ns;	/* when to look again at giving back */
	bool desync;		/* a BIG payload stopped half-way: the
				 * stream is out of step, the worker must go */
};

#define FL(pw, i) (&(pw)->fl[((pw)->fl_head + (i)) % EVPOOL__SLOTS])

static inline void
fl_push(struct proc_worker *pw, struct evpool_job *job)
{
	struct fl_entry *e = FL(pw, pw->fl_n);

	e->job = job;
	e->seq = 0;
	e->state = FL_UNSENT;
	e->finished = false;
	pw->fl_n++;
	pw->live++;
}

/* Mark an entry finished (its job completed) and pop finished heads. */
static inline void
fl_done(struct proc_worker *pw, struct fl_entry *e)
{
	if (e->state == FL_SENT)
		pw->sent--;
	e->state = FL_DONE;
	pw->live--;
	while (pw->fl_n && FL(pw, 0)->state == FL_DONE) {
		evpool_job_unref(FL(pw, 0)->job);
		FL(pw, 0)->job = NULL;
		pw->fl_head = (pw->fl_head + 1) % EVPOOL__SLOTS;
		pw->fl_n--;
	}
}

/* The oldest job not finished, or NULL. */
static inline struct fl_entry *
fl_first(struct proc_worker *pw)
{
	for (unsigned i = 0; i < pw->fl_n; i++)
		if (FL(pw, i)->state != FL_DONE)
			return FL(pw, i);
	return NULL;
}

static inline bool
job_taken(struct evpool_job *job)
{
	return evpool__job_state(job, memory_order_acquire) != EVPOOL__RUNNING;
}

/* Complete @p e's job with @p why, or -ECANCELED if ops->kill took it. */
static inline void
finish(struct proc_worker *pw, struct fl_entry *e, enum evpool__finish why,
       int status, int exit_status)
{
	struct evpool_job *job = e->job;

	if (evpool__job_claim(job, EVPOOL__RUNNING)) {
		if (why == EVPOOL__FIN_CRASH)
			EVPOOL__EXT(job)->exit_status = exit_status;
		if (why == EVPOOL__FIN_TIMEOUT)
			evpool__job_set_flag(job, EVPOOL__JF_CANCELLED);
		evpool__job_complete(job, why, status);
	} else {
		evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
	}
	fl_done(pw, e);
}

/* What a proxy's wait or I/O ended with. */
enum io {
	IO_OK = 0,
	IO_DEAD,	/* EOF or error on the socket: the worker died */
	IO_POKE,	/* ops->kill or kill_all: look at the jobs */
	IO_TIMEOUT,	/* the running job's deadline passed */
	IO_PROTO,	/* a corrupt frame or ring */
	IO_NOMEM,
	IO_WINDOW,	/* the emit window is full: wait for the loop */
	IO_ABORTED,	/* a BIG payload of a cancelled job was given up */
};

static inline int
ms_until(uint64_t deadline)
{
	uint64_t now;

	if (deadline == UINT64_MAX)
		return -1;
	now = evpool__now_ns();
	if (now >= deadline)
		return 0;
	if ((deadline - now) / 1000000u >= (uint64_t)INT_MAX)
		return INT_MAX;
	return (int)((deadline - now + 999999u) / 1000000u);
}

/* The deadline of the job the worker runs (or is about to run). */
static inline uint64_t
run_deadline(struct proc_worker *pw)
{
	struct fl_entry *e = fl_first(pw);

	struct evpool__job_ext *x;
	uint64_t d = UINT64_MAX;

	if (!e || e->state != FL_SENT || e->finished)
		return UINT64_MAX;
	x = EVPOOL__EXT(e->job);
	if (x->timeout_ms > 0)
		d = pw->run_start_ns + (uint64_t)x->timeout_ms * 1000000u;
	/* the deadline from submit, queue time included */
	if (x->expire_ns && x->expire_ns < d)
		d = x->expire_ns;
	return d;
}

/* setup.c: the pool-wide state */
EVPOOL__INTERNAL bool evpool__proc_fn_in_workers(const struct proc_pool *pp,
						 evpool_fn fn);
EVPOOL__INTERNAL int evpool__proc_pool_start(struct evpool *pool);
EVPOOL__INTERNAL void evpool__proc_pool_stop(struct evpool *pool);

/* proxy.c: reading the up ring */
EVPOOL__INTERNAL bool evpool__proxy_result_ready(struct proc_worker *pw,
						 uint64_t seq);
EVPOOL__INTERNAL enum io evpool__proxy_collect(struct evpool *pool,
					       struct proc_worker *pw,
					       bool force);

/* proxy-worker.c: the worker process's life, sleep and socket I/O */
EVPOOL__INTERNAL int evpool__proxy_child_start(struct evpool__worker *w);
EVPOOL__INTERNAL void evpool__proxy_child_stop(struct proc_worker *pw);
EVPOOL__INTERNAL int evpool__proxy_child_end(struct proc_worker *pw,
					     bool kill_it);
EVPOOL__INTERNAL enum io evpool__proxy_sleep(struct proc_worker *pw,
					     bool (*ready)(struct proc_worker *),
					     uint64_t deadline, bool pokes);
EVPOOL__INTERNAL enum io evpool__proxy_sock_move(struct proc_worker *pw,
						 bool out, void *buf,
						 size_t len, uint64_t deadline,
						 struct evpool_job *job);

/* proxy-worker.c: when things go wrong */
EVPOOL__INTERNAL bool evpool__proxy_unship(struct proc_worker *pw,
					   struct fl_entry *e);
EVPOOL__INTERNAL bool evpool__proxy_started(struct proc_worker *pw,
					    struct fl_entry *e);
EVPOOL__INTERNAL void evpool__proxy_end_worker(struct evpool *pool,
					       struct proc_worker *pw,
					       enum evpool__finish why,
					       int status);
EVPOOL__INTERNAL void evpool__proxy_handle_timeout(struct evpool *pool,
						   struct proc_worker *pw);
EVPOOL__INTERNAL void evpool__proxy_handle_pokes(struct evpool *pool,
						 struct proc_worker *pw);

#endif /* EVPOOL_PROXY_H */

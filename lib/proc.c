/*
 * proc.c — process mode: the mode ops (each core worker thread is the proxy
 * of one worker process), the worker process's main loop, and the process
 * mode configuration setters.
 *
 * DESIGN: see proc-internal.h for the whole picture.  A proxy keeps a FIFO
 * of the jobs it holds ("in flight": the job its run() was called with and
 * the short jobs it prefetched from the queue), ships them down the shared
 * ring, and reads EMIT and RESULT frames from the up ring, in job order.
 * EMIT frames become emissions on the job's mailbox under thread mode's emit
 * window: while the window is full the proxy stops reading the ring, so the
 * worker blocks on a full ring as a thread blocks in evpool_ctx_emit().
 * Whatever goes wrong is confined to the one job the worker was running:
 *   EOF on the socket  the worker died: EVPOOL_ECRASHED, with its status;
 *   a corrupt frame    EVPOOL_EPROTO, the worker is killed;
 *   the deadline       the worker is killed: -ETIMEDOUT;
 *   ops->kill          (cancel, terminate) the job is taken back from the
 *                      worker if it had not started it yet, else the worker
 *                      is killed: -ECANCELED.
 * The jobs the worker had not started are shipped again to its replacement,
 * which is started at once (so the next job finds an initialised process),
 * unless the pool is closed; pool->n_respawns counts it.  max_jobs_per_worker
 * replaces a worker the same way after N jobs.
 *
 * The finish race: in process mode only two parties ever try to finish a
 * job a proxy holds — the proxy and ops->kill.  When ops->kill wins it does
 * not complete the job (it runs under q->mu and must not block); it leaves
 * the job FINISHING and pokes the proxy, which stops it and completes it with
 * -ECANCELED.  So whenever the proxy's own claim fails, it owes the job a
 * -ECANCELED completion.  A proxy never returns from run() with a job held,
 * and the worker thread's w->current stays set meanwhile, so terminate
 * reaches every held job through ops->kill_all.
 *
 * In the worker process the job runs with a ctx whose emit hook writes EMIT
 * frames; cancellation is not visible there (the process is killed instead),
 * so evpool_ctx_cancelled() is 0 and evpool_ctx_emit() only fails if the
 * parent is gone, in which case the worker exits.
 */
#include "proc-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif
#include <link.h>

/* How long a stopping worker may take to run its finalizer and exit. */
#define STOP_GRACE_MS 5000
/* Prefetch: keep about this much work (by the measured job time) in
 * flight per worker; a job slower than this is never prefetched. */
#define DEPTH_TARGET_NS 100000u
/* A prefetched job waits behind the running one at most about this long
 * while another worker could run it: then it goes back to the queue. */
#define GIVEBACK_NS 1000000u
/* Before sleeping, a proxy whose worker is busy polls the ring this long. */
#define PROXY_SPIN_NS 3000u
/* A BIG payload of a cancelled job (or under terminate) that the worker
 * does not move for this long is given up, and the worker with it. */
#define SOCK_STALL_MS 20

/* ---- configuration ------------------------------------------------------- */

int
evpool_config_set_max_jobs_per_worker(struct evpool_config *cfg, unsigned n)
{
	if (!cfg)
		return evpool__err(-EINVAL,
				   "evpool_config_set_max_jobs_per_worker: NULL config");
	cfg->max_jobs_per_worker = n;
	return 0;
}

int
evpool_config_set_worker_rlimit(struct evpool_config *cfg, int resource,
				uint64_t limit)
{
	if (!cfg)
		return evpool__err(-EINVAL,
				   "evpool_config_set_worker_rlimit: NULL config");
	if (resource < 0 || resource >= RLIMIT_NLIMITS ||
	    resource >= EVPOOL__RLIMITS)
		return evpool__err(-EINVAL,
				   "evpool_config_set_worker_rlimit: unknown resource %d",
				   resource);
	cfg->rlimits[resource] = limit;
	cfg->rlimits_set |= 1u << resource;
	return 0;
}

/* ---- pool-wide state ----------------------------------------------------- */

/* An executable range of an object loaded when the pool was made. */
struct xrange {
	uintptr_t lo, hi;
};

struct proc_pool {
	struct evpool__fs fs;
	struct xrange *xr;	/* where job functions can be in a worker */
	size_t nxr;
};

static int
collect_xrange(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct proc_pool *pp = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct xrange *xr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		xr = realloc(pp->xr, (pp->nxr + 1) * sizeof(*xr));
		if (!xr)
			return 1;
		pp->xr = xr;
		xr[pp->nxr].lo = info->dlpi_addr + ph->p_vaddr;
		xr[pp->nxr].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		pp->nxr++;
	}
	return 0;
}

/* Is @p fn code that a worker process (a fork of the program as it was at
 * pool creation) has?  A function of a library dlopen()ed later is not. */
static bool
fn_in_workers(const struct proc_pool *pp, evpool_fn fn)
{
	uintptr_t a = (uintptr_t)fn;

	if (!pp->xr)
		return true; /* unknown: let the worker try */
	for (size_t i = 0; i < pp->nxr; i++)
		if (a >= pp->xr[i].lo && a < pp->xr[i].hi)
			return true;
	return false;
}

static int
proc_pool_start(struct evpool *pool)
{
	struct proc_pool *pp = calloc(1, sizeof(*pp));
	int r;

	if (!pp)
		return evpool__err(-ENOMEM, "process pool: out of memory");
	if (dl_iterate_phdr(collect_xrange, pp) != 0) {
		free(pp->xr);
		pp->xr = NULL;
		pp->nxr = 0;
	}
	r = evpool__fs_start(&pp->fs, pool);
	if (r < 0) {
		free(pp->xr);
		free(pp);
		return r;
	}
	pool->mode_data = pp;
	return 0;
}

static void
proc_pool_stop(struct evpool *pool)
{
	struct proc_pool *pp = pool->mode_data;

	if (!pp)
		return;
	evpool__fs_stop(&pp->fs);
	free(pp->xr);
	free(pp);
	pool->mode_data = NULL;
}

enum fl_state { FL_UNSENT = 0, FL_SENT, FL_DONE };

/* A job a proxy holds. */
struct fl_entry {
	struct evpool_job *job;	/* holds a reference */
	uint64_t seq;		/* its number for the current worker process */
	unsigned char state;
	bool finished;		/* its RESULT is in the ring: no deadline */
};

struct proc_worker {
	struct evpool__child c;	/* the worker process; c.pid 0: none */
	struct evpool__ring down, up;	/* we produce down, consume up */
	int cancel_rfd, cancel_wfd;	/* ops->kill pokes the proxy here */
	atomic_int poked;	/* ops->kill or kill_all happened */
	atomic_int kill_all;	/* ops->kill_all happened */
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
	unsigned depth;		/* jobs to keep in flight */
	unsigned max_jobs;	/* max_jobs_per_worker, 0: none */
	unsigned idle_deaths;	/* deaths in a row before a job started */
	uint64_t giveback_ns;	/* when to look again at giving back */
	bool desync;		/* a BIG payload stopped half-way: the
				 * stream is out of step, the worker must go */
};

/* Spinning helps only with a CPU to spare (EVPOOL_NO_SPIN turns it off). */
static bool spin_off;
static pthread_once_t spin_once = PTHREAD_ONCE_INIT;

static void
spin_decide(void)
{
	spin_off = evpool__online_cpus() < 2 || getenv("EVPOOL_NO_SPIN");
}

#define FL(pw, i) (&(pw)->fl[((pw)->fl_head + (i)) % EVPOOL__SLOTS])

static void
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
static void
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
static struct fl_entry *
fl_first(struct proc_worker *pw)
{
	for (unsigned i = 0; i < pw->fl_n; i++)
		if (FL(pw, i)->state != FL_DONE)
			return FL(pw, i);
	return NULL;
}

static bool
job_taken(struct evpool_job *job)
{
	return evpool__job_state(job, memory_order_acquire) != EVPOOL__RUNNING;
}

/* Complete @p e's job with @p why, or -ECANCELED if ops->kill took it. */
static void
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

/* ---- proxy: I/O ---------------------------------------------------------- */

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

static void
cancel_drain(struct proc_worker *pw)
{
	char buf[64];

	while (read(pw->cancel_rfd, buf, sizeof(buf)) > 0)
		;
}

static void
efd_drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

static int
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
static uint64_t
run_deadline(struct proc_worker *pw)
{
	struct fl_entry *e = fl_first(pw);

	if (!e || e->state != FL_SENT || e->finished || EVPOOL__EXT(e->job)->timeout_ms <= 0)
		return UINT64_MAX;
	return pw->run_start_ns + (uint64_t)EVPOOL__EXT(e->job)->timeout_ms * 1000000u;
}

/* Is anything readable on the socket, or is it at EOF?  The worker writes
 * on it only after a BIG header we have not read yet. */
static enum io
sock_check(struct proc_worker *pw)
{
	char b;
	ssize_t n = recv(pw->c.sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0)
		return IO_DEAD;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
			       ? IO_OK : IO_DEAD;
	return evpool__ring_ready(&pw->up) ? IO_OK : IO_PROTO;
}

/*
 * Move bytes over the socket (a BIG payload of @p job): send @p len bytes
 * from @p buf, or receive them into it, waiting in poll() for the socket and
 * @p deadline.  Its header is in a ring already, so the payload must cross
 * whole: the other side reads or writes exactly f.len bytes, and a payload
 * left half-way puts every later one out of step.  So whatever stops it
 * early (the worker's death, the deadline, a give-up) sets pw->desync, and
 * that worker gets no job again (see handle_timeout() and proc_run()).
 * A poke does not stop a payload that moves (the poke is handled once it
 * has crossed); only when @p job was taken by ops->kill, or kill_all came,
 * and the worker has not moved it for SOCK_STALL_MS, is it given up
 * (IO_ABORTED): a cancel must not wait for a worker that does not read.
 */
static enum io
sock_move(struct proc_worker *pw, bool out, void *buf, size_t len,
	  uint64_t deadline, struct evpool_job *job)
{
	size_t done = 0;
	enum io io = IO_OK;

	while (done < len) {
		struct pollfd p[2] = {
			{ pw->c.sock, out ? POLLOUT : POLLIN, 0 },
			{ pw->cancel_rfd, POLLIN, 0 },
		};
		ssize_t n = out ? send(pw->c.sock, (char *)buf + done, len - done,
				       MSG_NOSIGNAL | MSG_DONTWAIT)
				: recv(pw->c.sock, (char *)buf + done, len - done,
				       MSG_DONTWAIT);
		bool give_up;
		int ms, r;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			       errno != EINTR)) {
			io = IO_DEAD;
			break;
		}
		ms = ms_until(deadline);
		if (ms == 0) {
			io = IO_TIMEOUT;
			break;
		}
		give_up = job && (atomic_load(&pw->kill_all) || job_taken(job));
		if (give_up && (ms < 0 || ms > SOCK_STALL_MS))
			ms = SOCK_STALL_MS;
		r = poll(p, 2, ms);
		if (r < 0 && errno != EINTR) {
			io = IO_DEAD;
			break;
		}
		if (r > 0 && p[1].revents)
			cancel_drain(pw);
		if (r == 0 && give_up) {
			io = IO_ABORTED;
			break;
		}
	}
	if (io != IO_OK)
		pw->desync = true;
	return io;
}

/* ---- proxy: the worker process's life ------------------------------------ */

/* Kill the worker (if @p kill_it and it runs) and wait for its wait
 * status.  @return the status, or -1 if it is unknown. */
static int
child_reap(struct proc_worker *pw, bool kill_it)
{
	int status = -1;

	if (!pw->c.pid)
		return -1;
	if (kill_it)
		evpool__child_kill(&pw->c);
	if (evpool__child_status(&pw->c, -1, &status) < 0)
		status = -1;
	return status;
}

/* Let go of a reaped worker.  Jobs it held but had not started go back to
 * FL_UNSENT, for the next one. */
static void
child_release(struct proc_worker *pw)
{
	if (!pw->c.pid)
		return;
	evpool__child_close(&pw->c);
	for (unsigned i = 0; i < pw->fl_n; i++)
		if (FL(pw, i)->state == FL_SENT)
			FL(pw, i)->state = FL_UNSENT;
	pw->sent = 0;
	pw->desync = false;
	pw->replacing = true;
}

static int
child_end(struct proc_worker *pw, bool kill_it)
{
	int status = child_reap(pw, kill_it);

	child_release(pw);
	return status;
}

static void
describe_status(char *buf, size_t n, int status)
{
	if (status == -1)
		snprintf(buf, n, "unknown status");
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, n, "wait status 0x%x", (unsigned)status);
}

/* Sleep until the worker wakes us (efd_up), the socket stirs, a poke (if
 * @p pokes) or @p deadline; first announce the sleep and look once more at
 * @p ready. */
static enum io
proxy_sleep(struct proc_worker *pw, bool (*ready)(struct proc_worker *),
	    uint64_t deadline, bool pokes)
{
	struct evpool__shm *shm = pw->c.shm;
	struct pollfd p[3] = {
		{ pw->c.efd_up, POLLIN, 0 },
		{ pw->c.sock, POLLIN, 0 },
		{ pokes ? pw->cancel_rfd : -1, POLLIN, 0 },
	};
	int ms, r;

	atomic_store_explicit(&shm->sleeping[EVPOOL__SIDE_PROXY][0], 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (ready(pw) || (pokes && atomic_load(&pw->poked))) {
		atomic_store(&shm->sleeping[EVPOOL__SIDE_PROXY][0], 0);
		return pokes && atomic_load(&pw->poked) ? IO_POKE : IO_OK;
	}
	ms = ms_until(deadline);
	r = ms == 0 ? 0 : poll(p, 3, ms);
	atomic_store(&shm->sleeping[EVPOOL__SIDE_PROXY][0], 0);
	if (r < 0 && errno != EINTR)
		return IO_DEAD;
	if (r > 0) {
		if (p[0].revents)
			efd_drain(pw->c.efd_up);
		if (p[2].revents)
			cancel_drain(pw);
		if (p[1].revents) {
			enum io io = sock_check(pw);
			if (io != IO_OK)
				return io;
		}
	}
	if (pokes && atomic_load(&pw->poked))
		return IO_POKE;
	if (r == 0 && ms_until(deadline) == 0)
		return IO_TIMEOUT;
	return IO_OK;
}

static bool
up_ready(struct proc_worker *pw)
{
	return evpool__ring_ready(&pw->up);
}

/* Start a worker process and wait until its initializer has run. */
static int
child_start(struct evpool__worker *w)
{
	struct evpool *pool = w->q->pool;
	struct proc_pool *pp = pool->mode_data;
	struct proc_worker *pw = w->mode_data;
	struct evpool__frame f;
	bool stop = false;
	char why[64];
	int r;

	r = evpool__fs_spawn(&pp->fs, w->id, &pw->c);
	if (r < 0)
		return r;
	evpool__ring_init(&pw->down, &pw->c.shm->down, pw->c.shm->down_data,
			  true);
	evpool__ring_init(&pw->up, &pw->c.shm->up, pw->c.shm->up_data, false);
	pw->next_seq = 1;
	for (;;) {
		enum io io;

		r = evpool__ring_get(&pw->up, 1u << EVPOOL__W_READY, &f);
		if (r == 1 && f.aux == pw->c.pid) {
			evpool__ring_done(&pw->up, &f);
			if (pw->replacing)
				atomic_fetch_add_explicit(&pool->n_respawns, 1,
							  memory_order_relaxed);
			pw->replacing = false;
			pw->njobs = 0;
			return 0;
		}
		if (r != 0)
			break;
		/* Pokes wait until it is up (the jobs are not shipped yet),
		 * but a pool that stops does not wait for an initializer
		 * that never returns: we can kill it, unlike a thread. */
		io = proxy_sleep(pw, up_ready,
				 evpool__now_ns() + 100 * 1000000u, false);
		if (io == IO_TIMEOUT) {
			pthread_mutex_lock(&w->q->mu);
			stop = w->q->stopping;
			pthread_mutex_unlock(&w->q->mu);
			if (stop || atomic_load(&pw->kill_all))
				break;
			continue;
		}
		if (io != IO_OK)
			break;
	}
	describe_status(why, sizeof(why), child_end(pw, true));
	pw->replacing = false; /* nothing was replaced */
	if (stop)
		return evpool__err(EVPOOL_ESPAWN,
				   "worker process did not start: the pool stopped during its initializer");
	return evpool__err(EVPOOL_ESPAWN,
			   "worker process did not start (initializer): %s", why);
}

/* Ask the worker to run its finalizer and exit; kill it if it takes too
 * long.  Then reap it. */
static void
child_stop(struct proc_worker *pw)
{
	uint64_t deadline;
	bool dead = false;

	if (!pw->c.pid)
		return;
	deadline = evpool__deadline_ns(STOP_GRACE_MS);
	if (evpool__ring_put(&pw->down, EVPOOL__W_STOP, 0, 0, 0, 0, NULL, 0) == 0) {
		evpool__shm_wake(pw->c.shm, EVPOOL__SIDE_WORKER, pw->c.efd_down);
		/* Wait for EOF: the process has exited. */
		for (;;) {
			struct pollfd p = { pw->c.sock, POLLIN, 0 };
			int ms = ms_until(deadline);
			char b;

			if (ms == 0 || poll(&p, 1, ms) == 0)
				break;
			if (recv(pw->c.sock, &b, 1, MSG_DONTWAIT) == 0) {
				dead = true;
				break;
			}
		}
	}
	child_end(pw, !dead);
}

/* ---- proxy: shipping and collecting -------------------------------------- */

/* Prefetch up to @p k more jobs from the queue, as worker_main() takes
 * one: RUNNING, a reference, job->worker.  Only while the queue's workers
 * are all busy (see below), so prefetching never keeps a job from an idle
 * worker; a prefetched job can still wait behind an unexpectedly long one,
 * at most about DEPTH_TARGET_NS of expected work. */
static void
take_more(struct evpool__worker *w, struct proc_worker *pw, unsigned k)
{
	struct evpool_queue *q = w->q;

	pthread_mutex_lock(&q->mu);
	/* Only when every worker is busy and no more can start: a job
	 * prefetched behind a long one would otherwise wait for it while
	 * another worker sits idle. */
	if (!q->stopping && q->nworkers == q->max_workers &&
	    q->nrunning >= q->nworkers) {
		size_t queued = evpool__queue_len(q);
		size_t share = q->nworkers ? (queued + q->nworkers - 1) / q->nworkers
					   : queued;

		if (k > share)
			k = (unsigned)share;
		while (k-- && pw->fl_n < EVPOOL__SLOTS) {
			struct evpool_job *job = evpool__queue_pop(q);

			if (!job)
				break;
			/* The queue's reference comes with the pop. */
			evpool__job_set_state(job, EVPOOL__QUEUED,
					      EVPOOL__RUNNING);
			EVPOOL__EXT(job)->worker = w;
			fl_push(pw, job);
		}
	}
	pthread_mutex_unlock(&q->mu);
}

/* Ship the jobs not sent yet, in order, as far as the ring has room. */
static enum io
ship(struct proc_pool *pp, struct proc_worker *pw)
{
	struct evpool__shm *shm = pw->c.shm;
	bool put = false;
	enum io io = IO_OK;

	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);
		struct evpool_job *job = e->job;
		bool big = evpool__wire_size(EVPOOL__EXT(job)->input_len) >
			   EVPOOL__RING_FRAME_MAX;
		uint64_t seq;
		int r;

		if (e->state != FL_UNSENT)
			continue;
		if (evpool__unlikely(EVPOOL__EXT(job)->input_len > EVPOOL__WIRE_MAX_PAYLOAD ||
				     !fn_in_workers(pp, job->fn))) {
			finish(pw, e, EVPOOL__FIN_ERROR,
			       EVPOOL__EXT(job)->input_len > EVPOOL__WIRE_MAX_PAYLOAD ? -EMSGSIZE
									 : -EFAULT,
			       -1);
			i = (unsigned)-1; /* finish() may pop the head */
			continue;
		}
		/* A BIG input goes only to an idle worker, and whole, here:
		 * so the worker is never writing a BIG result on the socket
		 * while we write (both would block). */
		if (big && pw->sent > 0)
			break;
		if (!evpool__ring_fits(&pw->down, EVPOOL__EXT(job)->input_len))
			break;
		seq = pw->next_seq++;
		atomic_store_explicit(&shm->slot[seq % EVPOOL__SLOTS],
				      seq << 2 | EVPOOL__SLOT_PENDING,
				      memory_order_relaxed);
		r = evpool__ring_put(&pw->down, EVPOOL__W_JOB,
				     big ? EVPOOL__WF_BIG : 0, EVPOOL__EXT(job)->timeout_ms,
				     (uint64_t)(uintptr_t)job->fn, seq,
				     EVPOOL__EXT(job)->input, EVPOOL__EXT(job)->input_len);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return IO_PROTO;
		if (pw->sent == 0)
			pw->run_start_ns = evpool__now_ns();
		e->seq = seq;
		e->state = FL_SENT;
		pw->sent++;
		pw->njobs++;
		put = true;
		if (big) {
			evpool__shm_wake(shm, EVPOOL__SIDE_WORKER, pw->c.efd_down);
			put = false;
			/* No deadline: the job has not started (the worker
			 * starts it once its input is there), and a payload
			 * stopped half-way would cost the worker.  Its time
			 * counts from now on. */
			io = sock_move(pw, true, EVPOOL__EXT(job)->input,
				       EVPOOL__EXT(job)->input_len, UINT64_MAX,
				       job);
			if (io != IO_OK)
				return io;
			pw->run_start_ns = evpool__now_ns();
		}
	}
	if (put)
		evpool__shm_wake(shm, EVPOOL__SIDE_WORKER, pw->c.efd_down);
	return io;
}

/* An EMIT frame: an emission on the job's mailbox, as evpool_ctx_emit()
 * pushes it in thread mode. */
static int
push_emission(struct evpool_job *job, const void *data, size_t len)
{
	struct evpool__emit *e;

	struct evpool__job_ext *x = EVPOOL__EXT(job);

	if (!x->emit || x->sink || job_taken(job))
		return 0;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	evpool__node_init(&e->node, EVPOOL__NODE_EMIT);
	e->job = evpool__job_ref(job);
	e->len = len;
	if (len)
		memcpy(e->data, data, len);
	atomic_fetch_add(&x->emit_pending, 1);
	evpool__mailbox_push(job->mb, &e->node);
	return 0;
}

/* Is the RESULT of job @p seq in the up ring?  (A read-only scan.) */
static bool
result_ready(struct proc_worker *pw, uint64_t seq)
{
	const unsigned allowed = (1u << EVPOOL__W_EMIT) | (1u << EVPOOL__W_RESULT);
	struct evpool__ring r = pw->up; /* our cursor, copied: nothing moves */
	struct evpool__frame f;

	while (evpool__ring_get(&r, allowed, &f) == 1) {
		if (f.type == EVPOOL__W_RESULT && f.seq == seq)
			return true;
		r.mine += f.size;
	}
	return false;
}

/* Read the up ring: emissions and results, in job order.  @p force: only
 * the jobs whose RESULT is already there, whatever the emit window (the
 * worker is fenced or dead); a job without one is left alone (the caller
 * ends it, and its late partial results are dropped, as in thread mode). */
static enum io
collect(struct evpool *pool, struct proc_worker *pw, bool force)
{
	const unsigned allowed = (1u << EVPOOL__W_EMIT) | (1u << EVPOOL__W_RESULT);
	unsigned window = pool->cfg.emit_window;
	struct fl_entry *checked = NULL;
	bool took = false;
	enum io io = IO_OK;

	for (;;) {
		struct evpool__frame f;
		struct fl_entry *e;
		void *big = NULL;
		const void *data;
		int r;

		/* Backpressure: while the running job's partial results
		 * fill the window, leave the ring alone (the worker blocks
		 * on it, as a thread blocks in evpool_ctx_emit()). */
		e = fl_first(pw);
		if (force && e != checked) {
			if (!e || e->state != FL_SENT ||
			    !result_ready(pw, e->seq))
				break;
			checked = e;
		}
		/* (A job ops->kill took drops its partial results: no window.) */
		if (!force && e && !job_taken(e->job) &&
		    atomic_load(&EVPOOL__EXT(e->job)->emit_pending) >= window) {
			io = IO_WINDOW;
			break;
		}
		r = evpool__ring_get(&pw->up, allowed, &f);
		if (r == 0)
			break;
		if (r < 0 || !e || e->state != FL_SENT || f.seq != e->seq) {
			io = IO_PROTO;
			break;
		}
		data = f.payload;
		if (f.flags & EVPOOL__WF_BIG) {
			/* After a payload left half-way, what the socket
			 * holds belongs to no frame. */
			if (pw->desync) {
				io = IO_PROTO;
				break;
			}
			evpool__ring_done(&pw->up, &f);
			took = true;
			big = malloc(f.len);
			if (!big) {
				pw->desync = true; /* its payload stays unread */
				io = IO_NOMEM;
				break;
			}
			/* A RESULT means the job has finished: no deadline
			 * (as for e->finished). */
			io = sock_move(pw, false, big, f.len,
				       f.type == EVPOOL__W_RESULT ? UINT64_MAX
								 : run_deadline(pw),
				       e->job);
			if (io != IO_OK) {
				free(big);
				break;
			}
			data = big;
		}
		if (f.type == EVPOOL__W_EMIT) {
			r = push_emission(e->job, data, f.len);
			free(big);
		} else {
			struct evpool_job *job = e->job;
			uint64_t now = evpool__now_ns();
			uint64_t t = now - pw->run_start_ns;

			if (!big && f.len) {
				big = malloc(f.len);
				if (big)
					memcpy(big, data, f.len);
				else
					r = -ENOMEM;
			}
			if (r >= 0) {
				if (evpool__job_claim(job, EVPOOL__RUNNING)) {
					/* has an extension: cannot fail */
					evpool__job_set_output(job, NULL, big,
							       f.len);
					evpool__job_complete(job, EVPOOL__FIN_RAN,
							     f.aux);
				} else {
					free(big);
					evpool__job_complete(job,
							     EVPOOL__FIN_CANCEL, 0);
				}
				fl_done(pw, e);
			}
			pw->avg_ns = (pw->avg_ns * 3 + t) / 4;
			pw->run_start_ns = now;
			pw->idle_deaths = 0;
		}
		if (!(f.flags & EVPOOL__WF_BIG))
			evpool__ring_done(&pw->up, &f);
		took = true;
		if (r < 0) {
			io = IO_NOMEM;
			break;
		}
	}
	if (took) /* the worker may wait for room in the ring */
		evpool__shm_wake(pw->c.shm, EVPOOL__SIDE_WORKER, pw->c.efd_down);
	return io;
}

/* ---- proxy: when things go wrong ----------------------------------------- */

/* Take back a job shipped to the worker (FL_SENT) if it has not started
 * it: the worker will skip it, and the entry is FL_UNSENT again.  @return
 * false if it has started. */
static bool
unship(struct proc_worker *pw, struct fl_entry *e)
{
	uint64_t want = e->seq << 2 | EVPOOL__SLOT_PENDING;

	if (!atomic_compare_exchange_strong(
		    &pw->c.shm->slot[e->seq % EVPOOL__SLOTS], &want,
		    e->seq << 2 | EVPOOL__SLOT_CANCELLED))
		return false;
	e->state = FL_UNSENT;
	pw->sent--;
	return true;
}

/* Take back every job shipped to the worker that it has not started (they
 * go out again, under new numbers).  Afterwards the worker cannot start
 * anything new: the jobs it has started are all there is to decide about. */
static void
fence(struct proc_worker *pw)
{
	for (unsigned i = 0; i < pw->fl_n; i++)
		if (FL(pw, i)->state == FL_SENT)
			(void)unship(pw, FL(pw, i));
}

static bool
started(struct proc_worker *pw, struct fl_entry *e)
{
	return atomic_load(&pw->c.shm->slot[e->seq % EVPOOL__SLOTS]) ==
	       (e->seq << 2 | EVPOOL__SLOT_STARTED);
}

/*
 * The worker is dead or must die.  Fence it, kill it, wait for its status,
 * read what it published before it died; then the job it had started and
 * not finished (one at most, unless its ring is corrupt) ends with @p why,
 * and the others go to the next worker.  A worker that died before it
 * started anything is not a job's fault — unless that keeps happening.
 */
static void
end_worker(struct evpool *pool, struct proc_worker *pw,
	   enum evpool__finish why, int status)
{
	struct fl_entry *charged = NULL;
	int wstatus;

	fence(pw);
	/* Kill it even when it died: a job may close its socket and live on.
	 * An exiting process keeps the status it exits with. */
	wstatus = child_reap(pw, true);
	collect(pool, pw, true);
	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);

		if (e->state != FL_SENT)
			continue;
		if (!started(pw, e)) {
			e->state = FL_UNSENT; /* it never ran */
			pw->sent--;
			continue;
		}
		finish(pw, e, why, status, wstatus);
		charged = e;
		i = (unsigned)-1; /* finish() may pop: start over */
	}
	child_release(pw);
	if (charged) {
		pw->idle_deaths = 0;
		return;
	}
	/* A cancel or timeout whose job finished after all charges nobody. */
	if ((why == EVPOOL__FIN_CRASH || why == EVPOOL__FIN_ERROR) &&
	    ++pw->idle_deaths >= 3 && fl_first(pw)) {
		pw->idle_deaths = 0;
		finish(pw, fl_first(pw), why, status, wstatus);
	}
}

/* The running job's deadline passed.  It may have finished meanwhile (its
 * result waiting behind a full emit window): look before killing.  It may
 * not have started yet either: the deadline was reckoned from when it could
 * start, and the worker was slow to get to it; its time counts from its
 * start, so the clock starts again (the worker will get to it: it runs
 * nothing else, and what it holds before it is done). */
static void
handle_timeout(struct evpool *pool, struct proc_worker *pw)
{
	struct fl_entry *e = fl_first(pw);

	if (pw->desync) {
		/* A payload was left half-way on the socket. */
		end_worker(pool, pw, EVPOOL__FIN_TIMEOUT, 0);
		return;
	}
	if (!e || e->state != FL_SENT)
		return;
	if (atomic_load(&pw->c.shm->slot[e->seq % EVPOOL__SLOTS]) ==
	    (e->seq << 2 | EVPOOL__SLOT_PENDING)) {
		pw->run_start_ns = evpool__now_ns();
		return;
	}
	fence(pw);
	if (result_ready(pw, e->seq)) {
		e->finished = true; /* it made it: collect() delivers it */
		return;
	}
	end_worker(pool, pw, EVPOOL__FIN_TIMEOUT, 0);
}

/* Jobs ops->kill took (or all of them, after kill_all): a job the worker
 * has not started is taken back; the one it runs costs the worker. */
static void
handle_pokes(struct evpool *pool, struct proc_worker *pw)
{
	bool running = false;

	atomic_store(&pw->poked, 0);
	cancel_drain(pw);
	if (atomic_exchange(&pw->kill_all, 0))
		for (unsigned i = 0; i < pw->fl_n; i++)
			if (FL(pw, i)->state != FL_DONE)
				evpool__job_claim(FL(pw, i)->job,
						  EVPOOL__RUNNING);
	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);

		if (e->state == FL_DONE || !job_taken(e->job))
			continue;
		/* Unshipped, the worker skips it: no result will come. */
		if (e->state == FL_SENT && !unship(pw, e)) {
			running = true; /* started */
			continue;
		}
		evpool__job_complete(e->job, EVPOOL__FIN_CANCEL, 0);
		fl_done(pw, e);
		i = (unsigned)-1; /* fl_done may pop: start over */
	}
	if (!running || !pw->c.pid)
		return;
	/* A taken job has started: it may have finished meanwhile (its
	 * result in the ring; collect() then ends it -ECANCELED).  Look
	 * before killing. */
	fence(pw);
	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);
		if (e->state == FL_SENT && job_taken(e->job) &&
		    !result_ready(pw, e->seq)) {
			end_worker(pool, pw, EVPOOL__FIN_CANCEL, 0);
			return;
		}
	}
}

/*
 * Prefetched jobs must not wait long behind one that turned out slow while
 * another worker could run them (Celery's prefetch problem).  When the
 * running job has gone on for GIVEBACK_NS with jobs held behind it, and a
 * worker of the queue is idle or may start, the jobs it has not started go
 * back to the front of the queue, in order: each is taken back from the
 * ring (the worker skips it, as for a cancel) and made QUEUED again.  A
 * job ops->kill took stays, for handle_pokes().  Looked at again every
 * GIVEBACK_NS (pw->giveback_ns, the proxy's sleep deadline meanwhile).
 * @return true while jobs are held behind one that overruns: no prefetch.
 */
static bool
give_back(struct evpool__worker *w, struct proc_worker *pw)
{
	struct evpool_queue *q = w->q;
	struct fl_entry *head;
	uint64_t now;
	bool over;

	if (evpool__likely(pw->live < 2))
		return false;
	now = evpool__now_ns();
	if (now - pw->run_start_ns < GIVEBACK_NS)
		return false;
	head = fl_first(pw);
	over = head->state == FL_SENT && !head->finished && started(pw, head);
	if (!over || now < pw->giveback_ns) {
		if (now >= pw->giveback_ns)
			pw->giveback_ns = now + GIVEBACK_NS;
		return over;
	}
	pw->giveback_ns = now + GIVEBACK_NS;
	pthread_mutex_lock(&q->mu);
	if (q->stopping || (q->nrunning >= q->nworkers &&
			    q->nworkers >= q->max_workers))
		goto out;
	/* From the last back, each to the front: they keep their order.  The
	 * worker runs them in order, so once one has started, every one
	 * before it has too; so has one stopped short of (out of memory)
	 * the rest, and the FIFO stays in order. */
	for (unsigned i = pw->fl_n; i-- > 0 && FL(pw, i) != head;) {
		struct fl_entry *e = FL(pw, i);
		struct evpool_job *job = e->job;
		bool sent = e->state == FL_SENT;

		if (e->state == FL_DONE || job_taken(job))
			continue;
		if (evpool__queue_unpop_room(q, job) || (sent && !unship(pw, e)))
			break;
		if (sent)
			pw->njobs--; /* (counted when shipped) */
		EVPOOL__EXT(job)->worker = NULL;
		evpool__job_set_state(job, EVPOOL__RUNNING, EVPOOL__QUEUED);
		evpool__queue_unpop(q, evpool__job_ref(job));
		fl_done(pw, e);
	}
	evpool__queue_kick(q);
out:
	pthread_mutex_unlock(&q->mu);
	return pw->live > 1;
}

/* ---- proxy: mode ops ----------------------------------------------------- */

static int
make_cancel_fds(struct proc_worker *pw)
{
#if defined(HAVE_EVENTFD) && defined(HAVE_SYS_EVENTFD_H)
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd >= 0) {
		pw->cancel_rfd = pw->cancel_wfd = fd;
		return 0;
	}
#endif
	{
		int p[2];

		if (pipe(p) < 0)
			return -errno;
		for (int i = 0; i < 2; i++) {
			fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
			fcntl(p[i], F_SETFD, FD_CLOEXEC);
		}
		pw->cancel_rfd = p[0];
		pw->cancel_wfd = p[1];
	}
	return 0;
}

static int
proc_worker_start(struct evpool__worker *w)
{
	struct proc_worker *pw = calloc(1, sizeof(*pw));

	if (!pw)
		return evpool__err(-ENOMEM, "process worker: out of memory");
	pw->c.sock = pw->c.reap = pw->c.efd_up = pw->c.efd_down = -1;
	pthread_once(&spin_once, spin_decide);
	pw->avg_ns = DEPTH_TARGET_NS / 2;
	pw->depth = 1;
	if (make_cancel_fds(pw) < 0) {
		free(pw);
		return evpool__err(-EMFILE, "process worker: no cancel fd");
	}
	w->mode_data = pw;
	/* A failure here is not fatal: run() tries again, and fails the job
	 * with EVPOOL_ESPAWN if no process can be had. */
	child_start(w);
	return 0;
}

static void
proc_worker_stop(struct evpool__worker *w)
{
	struct proc_worker *pw = w->mode_data;

	if (!pw)
		return;
	child_stop(pw);
	close(pw->cancel_rfd);
	if (pw->cancel_wfd != pw->cancel_rfd)
		close(pw->cancel_wfd);
	free(pw);
	w->mode_data = NULL;
}

static void
poke(struct proc_worker *pw)
{
	atomic_store(&pw->poked, 1);
	evpool__wake_fd(pw->cancel_wfd, pw->cancel_wfd == pw->cancel_rfd
						? sizeof(uint64_t)
						: 1);
}

static bool
proc_kill(struct evpool__worker *w, struct evpool_job *job)
{
	struct proc_worker *pw = w->mode_data;

	if (!pw || !evpool__job_claim(job, EVPOOL__RUNNING))
		return false;
	poke(pw); /* the proxy now owes the job a -ECANCELED completion */
	return true;
}

static void
proc_kill_all(struct evpool__worker *w)
{
	struct proc_worker *pw = w->mode_data;

	if (!pw)
		return;
	atomic_store(&pw->kill_all, 1);
	poke(pw);
}

/* Would ship() send something now?  (Mirrors its rules.) */
static bool
can_ship(struct proc_worker *pw)
{
	if (pw->sent == pw->live || !pw->c.pid ||
	    (pw->max_jobs && pw->njobs >= pw->max_jobs))
		return false;
	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);
		size_t len;

		if (e->state != FL_UNSENT)
			continue;
		len = EVPOOL__EXT(e->job)->input_len;
		if (evpool__wire_size(len) > EVPOOL__RING_FRAME_MAX)
			return pw->sent == 0 && evpool__ring_fits(&pw->down, 0);
		return evpool__ring_fits(&pw->down, len);
	}
	return false;
}

/* Does the proxy have something to do without waiting? */
static bool
proxy_ready(struct proc_worker *pw)
{
	return evpool__ring_ready(&pw->up) || can_ship(pw);
}

static void
proc_run(struct evpool__worker *w, struct evpool_job *first)
{
	struct evpool *pool = w->q->pool;
	struct proc_pool *pp = pool->mode_data;
	struct proc_worker *pw = w->mode_data;
	unsigned max_jobs = pool->cfg.max_jobs_per_worker;

	pw->max_jobs = max_jobs;
	fl_push(pw, evpool__job_ref(first));
	for (;;) {
		enum io io;
		uint64_t deadline;

		if (atomic_load_explicit(&pw->poked, memory_order_relaxed))
			handle_pokes(pool, pw);
		if (!pw->live)
			break;
		if (!pw->c.pid && child_start(w) < 0) {
			struct fl_entry *e;
			/* A start cut short by terminate (kill_all) or a
			 * cancel: those jobs end -ECANCELED, not ESPAWN. */
			if (atomic_load(&pw->poked))
				handle_pokes(pool, pw);
			while ((e = fl_first(pw)) != NULL)
				finish(pw, e, EVPOOL__FIN_ERROR, EVPOOL_ESPAWN, -1);
			break;
		}
		/* Recycle: this process has had its jobs; the rest wait for
		 * the next one. */
		if (max_jobs && pw->njobs >= max_jobs && !pw->sent) {
			child_stop(pw);
			continue;
		}
		/* Prefetch short jobs, up to the depth their time allows
		 * (none behind a job that runs long). */
		if (!give_back(w, pw)) {
			unsigned room = pw->depth > pw->live ? pw->depth - pw->live
							     : 0;
			unsigned held = pw->njobs + (pw->live - pw->sent);

			if (max_jobs && room > (held < max_jobs ? max_jobs - held : 0))
				room = held < max_jobs ? max_jobs - held : 0;
			if (room)
				take_more(w, pw, room);
		}
		io = IO_OK;
		if (can_ship(pw))
			io = ship(pp, pw);
		if (io == IO_OK)
			io = collect(pool, pw, false);
		if (io == IO_OK) {
			unsigned d = (unsigned)(DEPTH_TARGET_NS /
						(pw->avg_ns ? pw->avg_ns : 1));
			pw->depth = d < 1 ? 1 : d > EVPOOL__SLOTS ? EVPOOL__SLOTS : d;
			if (!pw->live)
				continue;
			/* The worker is busy with a job: poll a moment. */
			if (pw->sent && !spin_off) {
				uint64_t end = evpool__now_ns() + PROXY_SPIN_NS;
				while (!proxy_ready(pw) &&
				       !atomic_load_explicit(&pw->poked,
							     memory_order_relaxed) &&
				       evpool__now_ns() < end)
					;
				if (proxy_ready(pw))
					continue;
			}
			deadline = run_deadline(pw);
			if (pw->live > 1) {
				/* Wake to look at giving jobs back. */
				uint64_t g = pw->run_start_ns + GIVEBACK_NS;

				if (g < pw->giveback_ns)
					g = pw->giveback_ns;
				if (g < deadline)
					deadline = g;
			}
			io = proxy_sleep(pw, proxy_ready, deadline, true);
		}
		switch (io) {
		case IO_OK:
		case IO_POKE:
			break;
		case IO_WINDOW: {
			struct fl_entry *e = fl_first(pw);
			int ms = ms_until(run_deadline(pw));

			if (ms != 0)
				evpool__emit_wait(e->job, &pw->poked, ms);
			if (ms_until(run_deadline(pw)) == 0 &&
			    !evpool__emit_has_room(e->job, &pw->poked))
				handle_timeout(pool, pw);
			break;
		}
		case IO_DEAD:
			end_worker(pool, pw, EVPOOL__FIN_CRASH, 0);
			break;
		case IO_TIMEOUT:
			if (pw->desync || ms_until(run_deadline(pw)) == 0)
				handle_timeout(pool, pw);
			break;
		case IO_PROTO:
			end_worker(pool, pw, EVPOOL__FIN_ERROR, EVPOOL_EPROTO);
			break;
		case IO_NOMEM:
			end_worker(pool, pw, EVPOOL__FIN_ERROR, -ENOMEM);
			break;
		case IO_ABORTED:
			/* Its job was taken: handle_pokes() completes it. */
			end_worker(pool, pw, EVPOOL__FIN_CANCEL, 0);
			break;
		}
	}

	if (pw->c.pid && max_jobs && pw->njobs >= max_jobs)
		child_stop(pw);
	/* Replace a process now, so that the next job finds one ready; a
	 * closed pool replaces lazily (the next job, if any, starts one). */
	if (!pw->c.pid && !atomic_load_explicit(&pool->closed,
						memory_order_relaxed))
		child_start(w);
}

static const struct evpool__mode_ops process_ops = {
	.worker_start = proc_worker_start,
	.worker_stop = proc_worker_stop,
	.run = proc_run,
	.kill = proc_kill,
	.kill_all = proc_kill_all,
	.pool_start = proc_pool_start,
	.pool_stop = proc_pool_stop,
};

const struct evpool__mode_ops *const evpool__process_ops = &process_ops;

/* ---- the worker process -------------------------------------------------- */

struct child {
	struct evpool__child_fds fds;
	struct evpool__ring down, up;	/* we consume down, produce up */
	uint64_t seq;			/* the job running */
};

/* Sleep until the proxy wakes us; @p ready is looked at once more after
 * announcing it.  EOF on the socket (the proxy let go of us): exit. */
static void
child_sleep(struct child *ch, bool (*ready)(struct child *))
{
	struct evpool__shm *shm = ch->fds.shm;
	struct pollfd p[2] = {
		{ ch->fds.efd_down, POLLIN, 0 },
		{ ch->fds.sock, POLLIN, 0 },
	};

	atomic_store_explicit(&shm->sleeping[EVPOOL__SIDE_WORKER][0], 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (!ready(ch) && poll(p, 2, -1) > 0) {
		if (p[0].revents)
			efd_drain(ch->fds.efd_down);
		if (p[1].revents && !evpool__ring_ready(&ch->down)) {
			char b;
			if (recv(ch->fds.sock, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
				_exit(0);
		}
	}
	atomic_store(&shm->sleeping[EVPOOL__SIDE_WORKER][0], 0);
}

static bool
down_ready(struct child *ch)
{
	return evpool__ring_ready(&ch->down);
}

static size_t want_room;

static bool
up_room(struct child *ch)
{
	return evpool__ring_fits(&ch->up, want_room);
}

/* Blocking send/receive of a BIG payload on the socket; EOF: exit. */
static void
child_sock(struct child *ch, bool out, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? send(ch->fds.sock, (char *)buf + done,
				       len - done, MSG_NOSIGNAL)
				: recv(ch->fds.sock, (char *)buf + done,
				       len - done, 0);
		if (n > 0)
			done += (size_t)n;
		else if (n == 0 || errno != EINTR)
			_exit(0); /* the proxy let go of us */
	}
}

/* Send a frame up; wait for room in the ring. */
static void
child_put(struct child *ch, unsigned type, int32_t aux, uint64_t seq,
	  const void *data, size_t len)
{
	bool big = evpool__wire_size(len) > EVPOOL__RING_FRAME_MAX;

	for (;;) {
		int r = evpool__ring_put(&ch->up, type, big ? EVPOOL__WF_BIG : 0,
					 aux, 0, seq, data, len);
		if (r == 0)
			break;
		if (r != -EAGAIN)
			_exit(71);
		want_room = big ? 0 : len;
		child_sleep(ch, up_room);
	}
	evpool__shm_wake(ch->fds.shm, EVPOOL__SIDE_PROXY, ch->fds.efd_up);
	if (big)
		child_sock(ch, true, (void *)data, len);
}

static int
child_emit(struct evpool_ctx *ctx, const void *data, size_t len)
{
	struct child *ch = ctx->priv;

	if ((uint64_t)len > EVPOOL__WIRE_MAX_PAYLOAD)
		return evpool__err(-EMSGSIZE,
				   "evpool_ctx_emit: %zu bytes is over the 1 GiB limit",
				   len);
	child_put(ch, EVPOOL__W_EMIT, 0, ch->seq, data, len);
	return 0;
}

static void
child_rlimits(const struct evpool_config *cfg)
{
	for (int res = 0; res < EVPOOL__RLIMITS; res++) {
		struct rlimit cur, want;

		if (!(cfg->rlimits_set & (1u << res)))
			continue;
		if (getrlimit(res, &cur) < 0)
			continue;
		want.rlim_cur = cfg->rlimits[res] == UINT64_MAX
					? RLIM_INFINITY
					: (rlim_t)cfg->rlimits[res];
		/* Only a privileged process may raise a hard limit: above it,
		 * the limit is clamped to it. */
		if (cur.rlim_max != RLIM_INFINITY &&
		    (want.rlim_cur == RLIM_INFINITY ||
		     want.rlim_cur > cur.rlim_max))
			want.rlim_cur = cur.rlim_max;
		want.rlim_max = want.rlim_cur;
		/* CPU: at the soft limit the worker gets SIGXCPU, at the hard
		 * one SIGKILL; a second apart, it dies of the telling one. */
		if (res == RLIMIT_CPU && want.rlim_cur != RLIM_INFINITY &&
		    (cur.rlim_max == RLIM_INFINITY ||
		     want.rlim_cur < cur.rlim_max))
			want.rlim_max = want.rlim_cur + 1;
		setrlimit(res, &want);
	}
}

void
evpool__proc_child_main(const struct evpool__child_fds *fds,
			const struct evpool *pool, unsigned id)
{
	const struct evpool_config *cfg = &pool->cfg;
	struct child ch = { .fds = *fds };
	struct evpool__shm *shm = fds->shm;

#ifdef HAVE_SYS_PRCTL_H
	{
		char name[16];
		snprintf(name, sizeof(name), "%s/p%u", cfg->name, id);
		prctl(PR_SET_NAME, name);
	}
#else
	(void)id;
#endif
	child_rlimits(cfg);
	evpool__ring_init(&ch.down, &shm->down, shm->down_data, false);
	evpool__ring_init(&ch.up, &shm->up, shm->up_data, true);
	if (cfg->init)
		cfg->init(cfg->init_arg);
	child_put(&ch, EVPOOL__W_READY, (int32_t)getpid(), 0, NULL, 0);

	for (;;) {
		struct evpool__frame f;
		struct evpool_ctx ctx;
		void *input = NULL;
		uint64_t want;
		int r, status;

		r = evpool__ring_get(&ch.down, EVPOOL__W_FROM_PROXY, &f);
		if (r == 0) {
			child_sleep(&ch, down_ready);
			continue;
		}
		if (r < 0)
			_exit(71);
		if (f.type == EVPOOL__W_STOP) {
			if (cfg->fini)
				cfg->fini(cfg->init_arg);
			_exit(0);
		}
		if (f.flags & EVPOOL__WF_BIG) {
			/* Read it whole even if the job was cancelled: the
			 * stream must stay in step. */
			input = malloc(f.len);
			if (!input)
				_exit(12);
			child_sock(&ch, false, input, f.len);
			f.payload = input;
		}
		want = f.seq << 2 | EVPOOL__SLOT_PENDING;
		if (!atomic_compare_exchange_strong(
			    &shm->slot[f.seq % EVPOOL__SLOTS], &want,
			    f.seq << 2 | EVPOOL__SLOT_STARTED)) {
			/* The proxy took it back (cancelled). */
			free(input);
			evpool__ring_done(&ch.down, &f);
			evpool__shm_wake(shm, EVPOOL__SIDE_PROXY, fds->efd_up);
			continue;
		}
		memset(&ctx, 0, sizeof(ctx));
		ctx.input = f.payload;
		ctx.input_len = f.len;
		ctx.process = true;
		ctx.emit = child_emit;
		ctx.priv = &ch;
		ch.seq = f.seq;
		status = ((evpool_fn)(uintptr_t)f.fn)(&ctx);
		free(input);
		evpool__ring_done(&ch.down, &f);
		child_put(&ch, EVPOOL__W_RESULT, status, f.seq, ctx.rbytes,
			  ctx.rlen);
		free(ctx.rbytes);
	}
}

/*
 * proc.c — process mode: the mode ops (each core worker thread is the proxy
 * of one worker process), the worker process's main loop, and the process
 * mode configuration setters.
 *
 * DESIGN: see proc-internal.h for the whole picture.  A proxy runs one job at
 * a time: it sends a JOB frame, then waits in poll() on the frame socket, its
 * cancel fd and the job's deadline.  EMIT frames become emissions on the
 * job's mailbox, with thread mode's emit window: while the window is full the
 * proxy stops reading the socket, so a streaming worker blocks on a full
 * socket as a streaming thread blocks in evpool_ctx_emit().  A RESULT frame
 * finishes the job.  Whatever goes wrong is confined to the job at hand:
 *   EOF / reset      the worker died: EVPOOL_ECRASHED, with its wait status;
 *   a corrupt frame  EVPOOL_EPROTO, the worker is killed;
 *   the deadline     the worker is killed: -ETIMEDOUT;
 *   ops->kill        (cancel, terminate) the worker is killed: -ECANCELED.
 * Each time the worker is then replaced (eagerly, so the next job finds an
 * initialised process, unless the pool is closed) and pool->n_respawns
 * counts it; max_jobs_per_worker replaces it the same way after N jobs.
 *
 * The finish race: in process mode only two parties ever try to finish a
 * running job — its proxy and ops->kill.  When ops->kill wins it does not
 * complete the job (it runs under q->mu and must not block); it leaves the
 * job FINISHING and pokes the proxy, which kills the worker and completes the
 * job with -ECANCELED.  So whenever the proxy's own claim fails, it owes the
 * job a -ECANCELED completion.
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

/* Frame buffer of a reader: frames up to this size are read in batches. */
#define RD_CAP (64 * 1024)
/* How long a stopping worker may take to run its finalizer and exit. */
#define STOP_GRACE_MS 5000

static const unsigned char zero_pad[EVPOOL__WIRE_ALIGN];

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

struct proc_worker {
	struct evpool__child c;	/* the worker process; c.pid 0: none */
	int cancel_rfd, cancel_wfd;	/* ops->kill pokes the proxy here */
	unsigned njobs;		/* jobs the current process ran */
	bool replacing;		/* the next spawn replaces a process */
	struct evpool__rd rd;
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

/* ---- proxy: I/O ---------------------------------------------------------- */

enum io {
	IO_OK = 0,
	IO_DEAD,	/* EOF or error on the socket: the worker died */
	IO_CANCEL,	/* ops->kill took the job */
	IO_TIMEOUT,	/* the job's deadline passed */
	IO_PROTO,	/* a corrupt frame */
	IO_NOMEM,
};

static bool
job_taken(struct evpool_job *job)
{
	return atomic_load_explicit(&job->state, memory_order_acquire) !=
	       EVPOOL__RUNNING;
}

static void
cancel_drain(struct proc_worker *pw)
{
	char buf[64];

	while (read(pw->cancel_rfd, buf, sizeof(buf)) > 0)
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

/*
 * Wait until the socket is ready for @p events (0: only for cancel or the
 * deadline), the job is taken by ops->kill, or @p deadline passes.
 */
static enum io
proxy_wait(struct proc_worker *pw, struct evpool_job *job, short events,
	   uint64_t deadline)
{
	struct pollfd p[2] = {
		{ events ? pw->c.sock : -1, events, 0 },
		{ pw->cancel_rfd, POLLIN, 0 },
	};

	for (;;) {
		int ms, r;

		if (job && job_taken(job))
			return IO_CANCEL;
		ms = ms_until(deadline);
		if (ms == 0)
			return IO_TIMEOUT;
		r = poll(p, 2, ms);
		if (r < 0 && errno != EINTR)
			return IO_DEAD;
		if (r <= 0)
			continue;
		if (p[1].revents)
			cancel_drain(pw);
		if (p[0].revents)
			return IO_OK;
	}
}

/* Send the whole of @p iov (modified) on the worker's socket. */
static enum io
proxy_send(struct proc_worker *pw, struct evpool_job *job, struct iovec *iov,
	   int n, uint64_t deadline)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t put = sendmsg(pw->c.sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (put < 0) {
			enum io w;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return IO_DEAD;
			w = proxy_wait(pw, job, POLLOUT, deadline);
			if (w != IO_OK)
				return w;
			continue;
		}
		while (n > 0 && (size_t)put >= iov->iov_len) {
			put -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + put;
			iov->iov_len -= (size_t)put;
		}
	}
	return IO_OK;
}

static enum io
send_frame(struct proc_worker *pw, struct evpool_job *job, unsigned type,
	   int32_t aux, const void *data, size_t len, uint64_t fn,
	   uint64_t deadline)
{
	struct evpool__wire_hdr h;
	struct iovec iov[3];
	size_t pad = evpool__wire_size(len) - EVPOOL__WIRE_HDR - len;
	int n = 0;

	evpool__wire_hdr(&h, type, aux, len, fn);
	iov[n++] = (struct iovec){ &h, sizeof(h) };
	if (len)
		iov[n++] = (struct iovec){ (void *)data, len };
	if (pad)
		iov[n++] = (struct iovec){ (void *)zero_pad, pad };
	return proxy_send(pw, job, iov, n, deadline);
}

/* Read what the socket has into the reader.  IO_OK also when nothing was
 * there (a spurious wakeup). */
static enum io
proxy_fill(struct proc_worker *pw)
{
	for (;;) {
		size_t room;
		void *at = evpool__rd_space(&pw->rd, &room);
		ssize_t got = recv(pw->c.sock, at, room, MSG_DONTWAIT);

		if (got > 0) {
			evpool__rd_commit(&pw->rd, (size_t)got);
			return IO_OK;
		}
		if (got == 0)
			return IO_DEAD;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_OK;
		return IO_DEAD;
	}
}

/* ---- proxy: the worker process's life ------------------------------------ */

/* Kill the worker (if it runs), wait for its wait status, close it.
 * @return the status, or -1 if it is unknown. */
static int
child_end(struct proc_worker *pw, bool kill_it)
{
	int status = -1;

	if (!pw->c.pid)
		return -1;
	if (kill_it)
		evpool__child_kill(&pw->c);
	if (evpool__child_status(&pw->c, -1, &status) < 0)
		status = -1;
	evpool__child_close(&pw->c);
	evpool__rd_reset(&pw->rd);
	pw->replacing = true;
	return status;
}

static void
describe_status(char *buf, size_t n, int status)
{
	if (status == -1)
		snprintf(buf, n, "unknown status");
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, n, "wait status 0x%x", (unsigned)status);
}

/* Start a worker process and wait until its initializer has run. */
static int
child_start(struct evpool__worker *w)
{
	struct evpool *pool = w->q->pool;
	struct proc_pool *pp = pool->mode_data;
	struct proc_worker *pw = w->mode_data;
	struct evpool__frame f;
	char why[96];
	int r;

	r = evpool__fs_spawn(&pp->fs, w->id, &pw->c);
	if (r < 0)
		return r;
	evpool__rd_reset(&pw->rd);
	for (;;) {
		enum io io = proxy_wait(pw, NULL, POLLIN, UINT64_MAX);

		if (io == IO_OK)
			io = proxy_fill(pw);
		if (io != IO_OK)
			break;
		r = evpool__rd_next(&pw->rd, 1u << EVPOOL__W_READY, &f);
		if (r == 0)
			continue;
		if (r == 1 && f.aux == pw->c.pid) {
			if (pw->replacing)
				atomic_fetch_add_explicit(&pool->n_respawns, 1,
							  memory_order_relaxed);
			pw->replacing = false;
			pw->njobs = 0;
			return 0;
		}
		break;
	}
	describe_status(why, sizeof(why), child_end(pw, true));
	pw->replacing = false; /* nothing was replaced */
	return evpool__err(EVPOOL_ESPAWN,
			   "worker process did not start (initializer): %s", why);
}

/* Ask the worker to run its finalizer and exit; kill it if it takes too
 * long.  Then reap it. */
static void
child_stop(struct proc_worker *pw)
{
	enum io io;
	uint64_t deadline;

	if (!pw->c.pid)
		return;
	deadline = evpool__deadline_ns(STOP_GRACE_MS);
	io = send_frame(pw, NULL, EVPOOL__W_STOP, 0, NULL, 0, 0, deadline);
	/* Wait for EOF: the process has exited (or closed its socket). */
	while (io == IO_OK) {
		io = proxy_wait(pw, NULL, POLLIN, deadline);
		if (io == IO_OK)
			io = proxy_fill(pw);
		if (io == IO_OK && evpool__rd_pending(&pw->rd))
			evpool__rd_reset(&pw->rd); /* nothing is expected */
	}
	child_end(pw, io != IO_DEAD);
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
	pw->c.sock = pw->c.reap = -1;
	if (make_cancel_fds(pw) < 0) {
		free(pw);
		return evpool__err(-EMFILE, "process worker: no cancel fd");
	}
	if (evpool__rd_init(&pw->rd, RD_CAP) < 0) {
		close(pw->cancel_rfd);
		if (pw->cancel_wfd != pw->cancel_rfd)
			close(pw->cancel_wfd);
		free(pw);
		return evpool__err(-ENOMEM, "process worker: out of memory");
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
	evpool__rd_free(&pw->rd);
	close(pw->cancel_rfd);
	if (pw->cancel_wfd != pw->cancel_rfd)
		close(pw->cancel_wfd);
	free(pw);
	w->mode_data = NULL;
}

static bool
proc_kill(struct evpool__worker *w, struct evpool_job *job)
{
	struct proc_worker *pw = w->mode_data;
	uint64_t one = 1;
	ssize_t n;

	if (!pw || !evpool__job_claim(job, EVPOOL__RUNNING))
		return false;
	/* The proxy now owes the job a -ECANCELED completion.  EAGAIN: a
	 * wakeup is already pending. */
	n = write(pw->cancel_wfd, &one,
		  pw->cancel_wfd == pw->cancel_rfd ? sizeof(one) : 1);
	(void)n;
	return true;
}

/* Finish @p job with @p why unless ops->kill took it, in which case it is
 * -ECANCELED.  @return true if @p why won. */
static bool
finish(struct evpool_job *job, enum evpool__finish why, int status)
{
	if (evpool__job_claim(job, EVPOOL__RUNNING)) {
		evpool__job_complete(job, why, status);
		return true;
	}
	evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
	return false;
}

/* An EMIT frame: an emission on the job's mailbox, as evpool_ctx_emit()
 * pushes it in thread mode. */
static int
push_emission(struct evpool_job *job, const struct evpool__frame *f)
{
	struct evpool__emit *e;

	if (!job->emit || job->sink || job_taken(job))
		return 0;
	e = malloc(sizeof(*e) + f->len);
	if (!e)
		return -ENOMEM;
	e->node.kind = EVPOOL__NODE_EMIT;
	e->job = evpool_job_ref(job);
	e->len = f->len;
	if (f->len)
		memcpy(e->data, f->payload, f->len);
	atomic_fetch_add(&job->emit_pending, 1);
	evpool__mailbox_push(job->mb, &e->node);
	return 0;
}

struct emit_room {
	struct evpool_job *job;
	unsigned window;
};

static bool
emit_room(void *arg)
{
	struct emit_room *er = arg;

	return atomic_load(&er->job->emit_pending) < er->window ||
	       job_taken(er->job);
}

/* Read frames until the RESULT; stream the emissions.  On IO_OK the job's
 * status and result bytes are in *status, *rbytes, *rlen. */
static enum io
proxy_collect(struct evpool__worker *w, struct proc_worker *pw,
	      struct evpool_job *job, uint64_t deadline, int *status,
	      void **rbytes, size_t *rlen)
{
	struct evpool *pool = w->q->pool;
	unsigned window = pool->cfg.emit_window;
	const unsigned allowed = (1u << EVPOOL__W_EMIT) | (1u << EVPOOL__W_RESULT);

	for (;;) {
		struct evpool__frame f;
		enum io io;
		int r;

		/* Everything already buffered first. */
		while ((r = evpool__rd_next(&pw->rd, allowed, &f)) == 1) {
			if (f.type == EVPOOL__W_RESULT) {
				*status = f.aux;
				*rlen = f.len;
				if (f.owned) {
					*rbytes = f.owned;
				} else if (f.len) {
					*rbytes = malloc(f.len);
					if (!*rbytes)
						return IO_NOMEM;
					memcpy(*rbytes, f.payload, f.len);
				} else {
					*rbytes = NULL;
				}
				return IO_OK;
			}
			r = push_emission(job, &f);
			free(f.owned);
			if (r < 0)
				return IO_NOMEM;
			/* Backpressure: stop reading while the window is full
			 * (the worker blocks on its full socket). */
			if (atomic_load(&job->emit_pending) >= window) {
				struct emit_room er = { job, window };
				int ms = ms_until(deadline);

				if (ms == 0)
					return IO_TIMEOUT;
				evpool__pool_wait(pool, emit_room, &er, ms);
				if (job_taken(job))
					return IO_CANCEL;
			}
		}
		if (r < 0)
			return r == -ENOMEM ? IO_NOMEM : IO_PROTO;
		io = proxy_wait(pw, job, POLLIN, deadline);
		if (io == IO_OK)
			io = proxy_fill(pw);
		if (io != IO_OK)
			return io;
	}
}

static void
proc_run(struct evpool__worker *w, struct evpool_job *job)
{
	struct evpool *pool = w->q->pool;
	struct proc_pool *pp = pool->mode_data;
	struct proc_worker *pw = w->mode_data;
	uint64_t deadline = UINT64_MAX;
	void *rbytes = NULL;
	size_t rlen = 0;
	int status = 0, wstatus;
	enum io io;

	cancel_drain(pw);
	if (job_taken(job)) {
		/* Cancelled between the pop and now: it never ran. */
		evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
		return;
	}
	if (evpool__unlikely(job->input_len > EVPOOL__WIRE_MAX_PAYLOAD)) {
		finish(job, EVPOOL__FIN_ERROR, -EMSGSIZE);
		return;
	}
	if (evpool__unlikely(!fn_in_workers(pp, job->fn))) {
		finish(job, EVPOOL__FIN_ERROR, -EFAULT);
		return;
	}
	if (job->timeout_ms > 0)
		deadline = evpool__now_ns() + (uint64_t)job->timeout_ms * 1000000u;
	for (int attempt = 0;; attempt++) {
		if (!pw->c.pid && child_start(w) < 0) {
			finish(job, EVPOOL__FIN_ERROR, EVPOOL_ESPAWN);
			return;
		}
		io = send_frame(pw, job, EVPOOL__W_JOB, job->timeout_ms,
				job->input, job->input_len,
				(uint64_t)(uintptr_t)job->fn, deadline);
		if (io != IO_DEAD || attempt > 0)
			break;
		/* The worker died before it had the whole frame (while idle,
		 * or killed as it read it): the job never started there, so
		 * it is not the job's crash.  Once more on a new process. */
		child_end(pw, true);
	}
	if (io == IO_OK)
		io = proxy_collect(w, pw, job, deadline, &status, &rbytes, &rlen);

	switch (io) {
	case IO_OK:
		if (evpool__job_claim(job, EVPOOL__RUNNING)) {
			job->rbytes = rbytes;
			job->rlen = rlen;
			evpool__job_complete(job, EVPOOL__FIN_RAN, status);
		} else {
			free(rbytes);
			evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
		}
		pw->njobs++;
		break;
	case IO_DEAD:
		/* Claim first: the job's outcome is decided now, its status
		 * written once the fork server has reaped the worker. */
		if (evpool__job_claim(job, EVPOOL__RUNNING)) {
			wstatus = child_end(pw, true);
			job->exit_status = wstatus;
			evpool__job_complete(job, EVPOOL__FIN_CRASH, 0);
		} else {
			child_end(pw, true);
			evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
		}
		break;
	case IO_CANCEL:
		child_end(pw, true);
		evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
		break;
	case IO_TIMEOUT:
		if (evpool__job_claim(job, EVPOOL__RUNNING)) {
			atomic_store(&job->cancelled, 1);
			child_end(pw, true);
			evpool__job_complete(job, EVPOOL__FIN_TIMEOUT, 0);
		} else {
			child_end(pw, true);
			evpool__job_complete(job, EVPOOL__FIN_CANCEL, 0);
		}
		break;
	case IO_PROTO:
	case IO_NOMEM:
		child_end(pw, true);
		finish(job, EVPOOL__FIN_ERROR,
		       io == IO_PROTO ? EVPOOL_EPROTO : -ENOMEM);
		break;
	}

	if (pw->c.pid && pool->cfg.max_jobs_per_worker &&
	    pw->njobs >= pool->cfg.max_jobs_per_worker) {
		child_stop(pw);
		pw->replacing = true;
	}
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
	.pool_start = proc_pool_start,
	.pool_stop = proc_pool_stop,
};

const struct evpool__mode_ops *const evpool__process_ops = &process_ops;

/* ---- the worker process -------------------------------------------------- */

struct child {
	int sock;
	struct evpool__rd rd;
};

/* Write all of @p iov (blocking); the parent gone means we are done. */
static void
child_send(struct child *ch, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t put = sendmsg(ch->sock, &mh, MSG_NOSIGNAL);

		if (put < 0) {
			if (errno == EINTR)
				continue;
			_exit(0); /* EPIPE: the proxy let go of us */
		}
		while (n > 0 && (size_t)put >= iov->iov_len) {
			put -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + put;
			iov->iov_len -= (size_t)put;
		}
	}
}

static void
child_send_frame(struct child *ch, unsigned type, int32_t aux,
		 const void *data, size_t len)
{
	struct evpool__wire_hdr h;
	struct iovec iov[3];
	size_t pad = evpool__wire_size(len) - EVPOOL__WIRE_HDR - len;
	int n = 0;

	evpool__wire_hdr(&h, type, aux, len, 0);
	iov[n++] = (struct iovec){ &h, sizeof(h) };
	if (len)
		iov[n++] = (struct iovec){ (void *)data, len };
	if (pad)
		iov[n++] = (struct iovec){ (void *)zero_pad, pad };
	child_send(ch, iov, n);
}

static int
child_emit(struct evpool_ctx *ctx, const void *data, size_t len)
{
	if ((uint64_t)len > EVPOOL__WIRE_MAX_PAYLOAD)
		return evpool__err(-EMSGSIZE,
				   "evpool_ctx_emit: %zu bytes is over the 1 GiB limit",
				   len);
	child_send_frame(ctx->priv, EVPOOL__W_EMIT, 0, data, len);
	return 0;
}

/* The next frame from the proxy (blocking).  EOF: exit. */
static void
child_read(struct child *ch, struct evpool__frame *f)
{
	for (;;) {
		int r = evpool__rd_next(&ch->rd, EVPOOL__W_FROM_PROXY, f);
		size_t room;
		void *at;
		ssize_t got;

		if (r == 1)
			return;
		if (r < 0)
			_exit(r == -ENOMEM ? 12 : 71); /* EX_OSERR-ish */
		at = evpool__rd_space(&ch->rd, &room);
		got = recv(ch->sock, at, room, 0);
		if (got > 0)
			evpool__rd_commit(&ch->rd, (size_t)got);
		else if (got == 0 || errno != EINTR)
			_exit(0); /* the proxy let go of us */
	}
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
evpool__proc_child_main(int sock, const struct evpool *pool, unsigned id)
{
	const struct evpool_config *cfg = &pool->cfg;
	struct child ch = { .sock = sock };
	struct evpool__frame f;

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
	if (evpool__rd_init(&ch.rd, RD_CAP) < 0)
		_exit(12);
	if (cfg->init)
		cfg->init(cfg->init_arg);
	child_send_frame(&ch, EVPOOL__W_READY, (int32_t)getpid(), NULL, 0);

	for (;;) {
		struct evpool_ctx ctx;
		int status;

		child_read(&ch, &f);
		if (f.type == EVPOOL__W_STOP) {
			if (cfg->fini)
				cfg->fini(cfg->init_arg);
			_exit(0);
		}
		memset(&ctx, 0, sizeof(ctx));
		ctx.input = f.payload;
		ctx.input_len = f.len;
		ctx.process = true;
		ctx.emit = child_emit;
		ctx.priv = &ch;
		status = ((evpool_fn)(uintptr_t)f.fn)(&ctx);
		free(f.owned);
		child_send_frame(&ch, EVPOOL__W_RESULT, status, ctx.rbytes,
				 ctx.rlen);
		free(ctx.rbytes);
	}
}

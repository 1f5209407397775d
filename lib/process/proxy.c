/*
 * proxy.c — process mode's proxy: each core worker thread of a process-mode
 * pool drives one worker process through the mode ops (evpool__process_ops):
 * its loop (proc_run()), shipping jobs down the ring, collecting EMIT and
 * RESULT frames, prefetch and give-back.  The worker process's life, the
 * socket I/O and the failure paths are in proxy-worker.c; the state both
 * share is in proxy.h.
 *
 * DESIGN: see proc-internal.h for the whole picture.  A proxy keeps a FIFO
 * of the jobs it holds ("in flight": the job its run() was called with and
 * the short jobs it prefetched from the queue), ships them down the shared
 * ring, and reads EMIT and RESULT frames from the up ring, in job order.
 * EMIT frames become emissions on the job's mailbox under thread mode's emit
 * window: while the window is full the proxy stops reading the ring, so the
 * worker blocks on a full ring as a thread blocks in evpool_ctx_emit().
 * Whatever goes wrong is confined to the one job the worker was running:
 *   its wait status    the worker died (the reap channel speaks, or the
 *   (or EOF)           socket is at EOF): EVPOOL_ECRASHED, with the status;
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
 */
#include "process/proxy.h"

#include <event2/buffer.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

/* Spinning helps only with a CPU to spare (EVPOOL_NO_SPIN turns it off). */
static bool spin_off;
static pthread_once_t spin_once = PTHREAD_ONCE_INIT;

static void
spin_decide(void)
{
	spin_off = evpool__online_cpus() < 2 || getenv("EVPOOL_NO_SPIN");
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

/* The pieces of a job's input: its evbuffer's chains (moved in at submit,
 * never made contiguous: the ring or the socket is the one copy), or its
 * bytes.  @return the count (0 for no input), or -ENOMEM; *@p vp is
 * malloc'd when it is not @p one. */
static int
input_pieces(struct evpool_job *job, struct iovec *one, struct iovec **vp)
{
	struct evpool__job_ext *x = EVPOOL__EXT(job);
	int n;

	*vp = one;
	if (!x->inbuf) {
		one->iov_base = x->input;
		one->iov_len = x->input_len;
		return x->input_len ? 1 : 0;
	}
	n = evbuffer_peek(x->inbuf, -1, NULL, NULL, 0);
	if (n <= 0)
		return 0;
	if (n > 1 && !(*vp = malloc((size_t)n * sizeof(**vp))))
		return -ENOMEM;
	return evbuffer_peek(x->inbuf, -1, NULL, *vp, n);
}

static int
ship_input(struct proc_worker *pw, struct evpool_job *job, bool big,
	   uint64_t seq)
{
	struct iovec one, *v;
	int n = big ? 0 : input_pieces(job, &one, &v), r;

	if (n < 0)
		return -EAGAIN; /* out of memory: try again later */
	r = evpool__ring_putv(&pw->down, EVPOOL__W_JOB, big ? EVPOOL__WF_BIG : 0,
			      EVPOOL__EXT(job)->timeout_ms,
			      (uint64_t)(uintptr_t)job->fn, seq, n ? v : NULL,
			      n, EVPOOL__EXT(job)->input_len);
	if (n > 1)
		free(v);
	return r;
}

static enum io
ship_big_input(struct proc_worker *pw, struct evpool_job *job)
{
	struct iovec one, *v;
	int n = input_pieces(job, &one, &v);
	enum io io = IO_OK;

	if (n < 0) {
		pw->desync = true; /* the header is in the ring already */
		return IO_NOMEM;
	}
	for (int i = 0; i < n && io == IO_OK; i++)
		io = evpool__proxy_sock_move(pw, true, v[i].iov_base,
					     v[i].iov_len, UINT64_MAX, job);
	if (n > 1)
		free(v);
	return io;
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
				     !evpool__proc_fn_in_workers(pp, job->fn))) {
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
		r = ship_input(pw, job, big, seq);
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
			io = ship_big_input(pw, job);
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
	struct evpool__job_ext *x = EVPOOL__EXT(job);

	if (!x->emit || x->sink || job_taken(job))
		return 0;
	return evpool__emit_push(job, data, len);
}

/* Is the RESULT of job @p seq in the up ring?  (A read-only scan.) */
bool
evpool__proxy_result_ready(struct proc_worker *pw, uint64_t seq)
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
enum io
evpool__proxy_collect(struct evpool *pool, struct proc_worker *pw, bool force)
{
	const unsigned allowed = (1u << EVPOOL__W_EMIT) | (1u << EVPOOL__W_RESULT);
	unsigned window = pool->cfg.emit_window;
	struct fl_entry *checked = NULL;
	bool took = false;
	enum io io = IO_OK;
	uint64_t now = 0, since = 0;
	unsigned nres = 0;

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
			    !evpool__proxy_result_ready(pw, e->seq))
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
			io = evpool__proxy_sock_move(pw, false, big, f.len,
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

			/* The clock is read once per call: results that
			 * came together share the time since the first of
			 * them could start (averaged at the end). */
			if (!nres++) {
				now = evpool__now_ns();
				since = pw->run_start_ns;
			}
			if (!big && f.len) {
				big = malloc(f.len);
				if (big)
					memcpy(big, data, f.len);
				else
					r = -ENOMEM;
			}
			if (r >= 0) {
				/* The last job held: this worker is idle
				 * for whoever reacts to the completion. */
				bool won;

				if (pw->live == 1 && evpool__job_ext(job))
					evpool__worker_release(
						EVPOOL__EXT(job)->worker);
				won = evpool__job_claim(job, EVPOOL__RUNNING);
				if (won) /* has an extension: cannot fail */
					evpool__job_set_output(job, NULL, big,
							       f.len);
				else
					free(big);
				/* Our reference goes before the completion:
				 * the delivery's keeps the job, and so its
				 * memory is freed on the loop thread, into
				 * the cache its next submit takes from (else
				 * a burst's jobs all drift to the proxies'
				 * caches and the loop touches fresh pages
				 * for every one). */
				e->job = NULL;
				evpool_job_unref(job);
				evpool__job_complete(job, won ? EVPOOL__FIN_RAN
							      : EVPOOL__FIN_CANCEL,
						     won ? f.aux : 0);
				fl_done(pw, e);
			}
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
	if (nres) {
		uint64_t t = (now - since) / nres;

		while (nres--)
			pw->avg_ns = (pw->avg_ns * 3 + t) / 4;
	}
	if (took) /* the worker may wait for room in the ring */
		evpool__shm_wake(pw->c.shm, EVPOOL__SIDE_WORKER, pw->c.efd_down);
	return io;
}

/*
 * Prefetched jobs must not wait long behind one that turned out slow while
 * another worker could run them (the classic cost of prefetching).  When the
 * running job has gone on for GIVEBACK_NS with jobs held behind it, and a
 * worker of the queue is idle or may start, the jobs it has not started go
 * back to the front of the queue, in order: each is taken back from the
 * ring (the worker skips it, as for a cancel) and made QUEUED again.  A
 * job ops->kill took stays, for evpool__proxy_handle_pokes().  Looked at
 * again every GIVEBACK_NS (pw->giveback_ns, the proxy's sleep deadline
 * meanwhile).
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
	over = head->state == FL_SENT && !head->finished && evpool__proxy_started(pw, head);
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
		if (evpool__queue_unpop_room(q, job) || (sent && !evpool__proxy_unship(pw, e)))
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

/* The cancel channel: fd[0] to read, fd[1] to write (one eventfd, or a
 * pipe). */
static int
make_cancel_fds(int fd[2])
{
#if defined(HAVE_EVENTFD) && defined(HAVE_SYS_EVENTFD_H)
	int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (e >= 0) {
		fd[0] = fd[1] = e;
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
		fd[0] = p[0];
		fd[1] = p[1];
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
	pw->spin_ns = PROXY_SPIN1_NS;
	pw->depth = 1;
	atomic_init(&pw->proc_gen, GEN_STARTING);
	/* Short of descriptors, no failure here: a worker that cannot start
	 * would leave and be replaced at once, for ever, with its jobs
	 * waiting.  run() tries again, and fails its jobs with EVPOOL_ESPAWN
	 * while neither its cancel fd nor a process can be had. */
	{
		int fd[2] = { -1, -1 };

		make_cancel_fds(fd);
		pw->poke.rfd = fd[0];
		pw->poke.wfd = fd[1];
	}
	/* Under q->mu: proc_stats() reads it. */
	pthread_mutex_lock(&w->q->mu);
	w->mode_data = pw;
	w->poke = &pw->poke;
	pthread_mutex_unlock(&w->q->mu);
	if (pw->poke.rfd >= 0)
		evpool__proxy_child_start(w);
	return 0;
}

static void
proc_worker_stop(struct evpool__worker *w)
{
	struct proc_worker *pw = w->mode_data;

	if (!pw)
		return;
	evpool__proxy_child_stop(pw);
	if (pw->poke.rfd >= 0)
		close(pw->poke.rfd);
	if (pw->poke.wfd != pw->poke.rfd)
		close(pw->poke.wfd);
	w->poke = NULL;
	free(pw);
	w->mode_data = NULL;
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

/*
 * Poll the ring a moment for the worker's answer before sleeping.  With
 * several jobs shipped (a burst) the worker is busy for a while: a short
 * look, PROXY_SPIN_NS.  With one job alone (a loop that waits for each
 * result before it submits the next) the answer comes within microseconds,
 * and a proxy asleep by then costs an eventfd write by the worker and a
 * wake-up here: measured with one job in flight, worker to loop took
 * 19-30 us (p50) with the short look and 5-8 us with this one.  So poll
 * longer, up to PROXY_SPIN1_NS, yielding now and then (on 2 CPUs the worker
 * may need this one), with a budget that adapts as the thread workers' does
 * (lib/core/worker.c): doubled when the answer came in time, halved when
 * not, and once below PROXY_SPIN_NS tried at the full budget again every
 * 64 lone jobs, so that jobs that run long stop costing a spin.
 * @return true if there is something to do.
 */
static bool
proxy_spin(struct proc_worker *pw)
{
	bool alone = pw->sent == 1 && pw->live == 1;
	uint32_t budget = PROXY_SPIN_NS;
	uint64_t end;
	bool got = false;

	if (alone && pw->spin_ns >= PROXY_SPIN_NS)
		budget = pw->spin_ns;
	else if (alone && ++pw->spin_probe >= 64) {
		pw->spin_probe = 0;
		budget = PROXY_SPIN1_NS;
	}
	end = evpool__now_ns() + budget;
	for (unsigned i = 0;; i++) {
		if (proxy_ready(pw)) {
			got = true;
			break;
		}
		if (atomic_load_explicit(&pw->poke.poked, memory_order_relaxed))
			break;
		evpool__cpu_relax();
		if ((i & 31) == 31) {
			if (evpool__now_ns() >= end)
				break;
			if (alone)
				sched_yield();
		}
	}
	if (alone) {
		if (got)
			pw->spin_ns = budget * 2 > PROXY_SPIN1_NS ? PROXY_SPIN1_NS
								  : budget * 2;
		else
			pw->spin_ns = budget / 2;
	}
	return got;
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
	if (evpool__unlikely(pw->poke.rfd < 0)) {
		int fd[2];

		/* evpool__poke() reads them under q->mu: set them there. */
		if (make_cancel_fds(fd) < 0) {
			evpool__err(EVPOOL_ESPAWN,
				    "process worker: no descriptor for its cancel channel");
			finish(pw, fl_first(pw), EVPOOL__FIN_ERROR, EVPOOL_ESPAWN,
			       -1);
			return;
		}
		pthread_mutex_lock(&w->q->mu);
		pw->poke.rfd = fd[0];
		pw->poke.wfd = fd[1];
		pthread_mutex_unlock(&w->q->mu);
	}
	for (;;) {
		enum io io;
		uint64_t deadline;

		if (atomic_load_explicit(&pw->poke.poked, memory_order_relaxed))
			evpool__proxy_handle_pokes(pool, pw);
		if (!pw->live)
			break;
		/* A busy proxy never idles, where thread workers refill the
		 * reserve of touched job memory: without this, the loop
		 * touches every fresh page of a burst's jobs itself. */
		evpool__job_memory_refill();
		/* Its process died with a fork server (nothing of ours ran
		 * there since): a new one, not a crash. */
		if (pw->c.pid && !pw->sent &&
		    atomic_load_explicit(&pw->proc_gen, memory_order_relaxed) !=
			    atomic_load(&pp->fs.gen))
			evpool__proxy_child_end(pw, true);
		if (!pw->c.pid && evpool__proxy_child_start(w) < 0) {
			struct fl_entry *e;
			/* A start cut short by terminate (kill_all) or a
			 * cancel: those jobs end -ECANCELED, not ESPAWN. */
			if (atomic_load(&pw->poke.poked))
				evpool__proxy_handle_pokes(pool, pw);
			while ((e = fl_first(pw)) != NULL)
				finish(pw, e, EVPOOL__FIN_ERROR, EVPOOL_ESPAWN, -1);
			break;
		}
		/* Recycle: this process has had its jobs; the rest wait for
		 * the next one. */
		if (max_jobs && pw->njobs >= max_jobs && !pw->sent) {
			evpool__proxy_child_stop(pw);
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
			io = evpool__proxy_collect(pool, pw, false);
		if (io == IO_OK) {
			unsigned d = (unsigned)(DEPTH_TARGET_NS /
						(pw->avg_ns ? pw->avg_ns : 1));
			pw->depth = d < 1 ? 1 : d > EVPOOL__SLOTS ? EVPOOL__SLOTS : d;
			if (!pw->live)
				continue;
			/* The worker is busy with a job: poll a moment. */
			if (pw->sent && !spin_off && proxy_spin(pw))
				continue;
			deadline = run_deadline(pw);
			if (pw->live > 1) {
				/* Wake to look at giving jobs back. */
				uint64_t g = pw->run_start_ns + GIVEBACK_NS;

				if (g < pw->giveback_ns)
					g = pw->giveback_ns;
				if (g < deadline)
					deadline = g;
			}
			io = evpool__proxy_sleep(pw, proxy_ready, deadline, true);
		}
		switch (io) {
		case IO_OK:
		case IO_POKE:
			break;
		case IO_WINDOW: {
			struct fl_entry *e = fl_first(pw);
			int ms = ms_until(run_deadline(pw));

			if (ms != 0)
				evpool__emit_wait(e->job, &pw->poke.poked, ms);
			if (ms_until(run_deadline(pw)) == 0 &&
			    !evpool__emit_has_room(e->job, &pw->poke.poked))
				evpool__proxy_handle_timeout(pool, pw);
			break;
		}
		case IO_DEAD:
			evpool__proxy_end_worker(pool, pw, EVPOOL__FIN_CRASH, 0);
			break;
		case IO_TIMEOUT:
			if (pw->desync || ms_until(run_deadline(pw)) == 0)
				evpool__proxy_handle_timeout(pool, pw);
			break;
		case IO_PROTO:
			evpool__proxy_end_worker(pool, pw, EVPOOL__FIN_ERROR, EVPOOL_EPROTO);
			break;
		case IO_NOMEM:
			evpool__proxy_end_worker(pool, pw, EVPOOL__FIN_ERROR, -ENOMEM);
			break;
		case IO_ABORTED:
			/* Its job was taken: evpool__proxy_handle_pokes() completes it. */
			evpool__proxy_end_worker(pool, pw, EVPOOL__FIN_CANCEL, 0);
			break;
		}
	}

	if (pw->c.pid && max_jobs && pw->njobs >= max_jobs)
		evpool__proxy_child_stop(pw);
	/* Replace a process now, so that the next job finds one ready; a
	 * closed pool replaces lazily (the next job, if any, starts one). */
	if (!pw->c.pid && !atomic_load_explicit(&pool->closed,
						memory_order_relaxed))
		evpool__proxy_child_start(w);
}

/*
 * evpool_get_stats(): a dead fork server is replaced now (so the stats
 * say so), and an idle worker whose process is gone — it died with a fork
 * server, or could not be started — counts as neither worker nor idle:
 * its process is started again only when a job comes.
 */
static void
proc_stats(struct evpool *pool, struct evpool_stats *st)
{
	struct proc_pool *pp = pool->mode_data;
	unsigned gen, dead = 0;

	if (!pp)
		return;
	evpool__fs_check(&pp->fs);
	gen = atomic_load(&pp->fs.gen);
	st->forkserver_restarts = atomic_load(&pp->fs.restarts);
	pthread_mutex_lock(&pool->mu);
	for (struct evpool_queue *q = pool->queues; q; q = q->next) {
		pthread_mutex_lock(&q->mu);
		for (struct evpool__worker *w = q->workers; w; w = w->next) {
			struct proc_worker *pw = w->mode_data;
			unsigned g;

			if (w->current || !pw)
				continue;
			g = atomic_load_explicit(&pw->proc_gen,
						 memory_order_relaxed);
			if (g != GEN_STARTING && g != gen)
				dead++;
		}
		pthread_mutex_unlock(&q->mu);
	}
	pthread_mutex_unlock(&pool->mu);
	if (dead > st->idle_workers)
		dead = st->idle_workers;
	st->idle_workers -= dead;
	st->workers -= dead < st->workers ? dead : st->workers;
}

static const struct evpool__mode_ops process_ops = {
	.worker_start = proc_worker_start,
	.worker_stop = proc_worker_stop,
	.run = proc_run,
	.kill = evpool__poke_kill,
	.kill_all = evpool__poke_kill_all,
	.pool_start = evpool__proc_pool_start,
	.pool_stop = evpool__proc_pool_stop,
	.stats = proc_stats,
};

const struct evpool__mode_ops *const evpool__process_ops = &process_ops;

/*
 * proxy-worker.c — process mode's proxy, the worker process's side of it:
 * starting, stopping and reaping the worker process, the sleep and the
 * socket I/O of the proxy, and what happens when things go wrong (the
 * worker dies, a deadline passes, ops->kill takes a job).  See proxy.c for
 * the proxy's loop and proc-internal.h for the whole picture.
 */
#include "process/proxy.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- proxy: I/O ---------------------------------------------------------- */

static void
cancel_drain(struct proc_worker *pw)
{
	char buf[64];

	while (read(pw->poke.rfd, buf, sizeof(buf)) > 0)
		;
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
 * that worker gets no job again (see evpool__proxy_handle_timeout() and
 * proc_run()).
 * A poke does not stop a payload that moves (the poke is handled once it
 * has crossed); only when @p job was taken by ops->kill, or kill_all came,
 * and the worker has not moved it for SOCK_STALL_MS, is it given up
 * (IO_ABORTED): a cancel must not wait for a worker that does not read.
 */
enum io
evpool__proxy_sock_move(struct proc_worker *pw, bool out, void *buf,
			size_t len, uint64_t deadline, struct evpool_job *job)
{
	size_t done = 0;
	enum io io = IO_OK;

	while (done < len) {
		struct pollfd p[3] = {
			{ pw->c.sock, out ? POLLOUT : POLLIN, 0 },
			{ pw->poke.rfd, POLLIN, 0 },
			{ pw->c.reap, POLLIN, 0 },
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
		give_up = job && (atomic_load(&pw->poke.kill_all) || job_taken(job));
		if (give_up && (ms < 0 || ms > SOCK_STALL_MS))
			ms = SOCK_STALL_MS;
		r = poll(p, 3, ms);
		/* The reap channel speaks only once the worker is dead (a
		 * process it forked may keep the socket open). */
		if ((r < 0 && errno != EINTR) || (r > 0 && p[2].revents)) {
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
	atomic_store_explicit(&pw->proc_gen, 0, memory_order_relaxed);
	for (unsigned i = 0; i < pw->fl_n; i++)
		if (FL(pw, i)->state == FL_SENT)
			FL(pw, i)->state = FL_UNSENT;
	pw->sent = 0;
	pw->desync = false;
	pw->replacing = true;
}

/* Kill the worker (if @p kill_it), wait for its status and let go of it.
 * @return its wait status, or -1 if unknown (its fork server died). */
int
evpool__proxy_child_end(struct proc_worker *pw, bool kill_it)
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
	else if (WIFEXITED(status) &&
		 WEXITSTATUS(status) == EVPOOL__EXIT_INIT_FAILED)
		snprintf(buf, n, "the initializer failed");
	else if (WIFEXITED(status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, n, "wait status 0x%x", (unsigned)status);
}

/* Sleep until the worker wakes us (efd_up), the socket stirs, a poke (if
 * @p pokes) or @p deadline; first announce the sleep and look once more at
 * @p ready (INV-RING, lib/core/README.md). */
enum io
evpool__proxy_sleep(struct proc_worker *pw,
		    bool (*ready)(struct proc_worker *), uint64_t deadline,
		    bool pokes)
{
	struct evpool__shm *shm = pw->c.shm;
	struct pollfd p[4] = {
		{ pw->c.efd_up, POLLIN, 0 },
		{ pw->c.sock, POLLIN, 0 },
		{ pokes ? pw->poke.rfd : -1, POLLIN, 0 },
		{ pw->c.reap, POLLIN, 0 },
	};
	int ms, r;

	atomic_store_explicit(&shm->sleeping[EVPOOL__SIDE_PROXY][0], 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (ready(pw) || (pokes && atomic_load(&pw->poke.poked))) {
		atomic_store(&shm->sleeping[EVPOOL__SIDE_PROXY][0], 0);
		return pokes && atomic_load(&pw->poke.poked) ? IO_POKE : IO_OK;
	}
	ms = ms_until(deadline);
	r = ms == 0 ? 0 : poll(p, 4, ms);
	atomic_store(&shm->sleeping[EVPOOL__SIDE_PROXY][0], 0);
	if (r < 0 && errno != EINTR)
		return IO_DEAD;
	if (r > 0) {
		if (p[0].revents)
			evpool__efd_drain(pw->c.efd_up);
		if (p[2].revents)
			cancel_drain(pw);
		/* Its wait status (or the fork server's hang-up): the
		 * worker is dead, whoever still holds its socket — a
		 * process it forked inherits it and may live on. */
		if (p[3].revents)
			return IO_DEAD;
		if (p[1].revents) {
			enum io io = sock_check(pw);
			if (io != IO_OK)
				return io;
		}
	}
	if (pokes && atomic_load(&pw->poke.poked))
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
int
evpool__proxy_child_start(struct evpool__worker *w)
{
	struct evpool *pool = w->q->pool;
	struct proc_pool *pp = pool->mode_data;
	struct proc_worker *pw = w->mode_data;
	struct evpool__frame f;
	bool stop = false;
	char why[64];
	unsigned gen;
	int r, status;

again:
	r = evpool__fs_spawn(&pp->fs, w->id, &pw->c, &gen);
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
			atomic_store_explicit(&pw->proc_gen, gen,
					      memory_order_relaxed);
			return 0;
		}
		if (r != 0)
			break;
		/* Pokes wait until it is up (the jobs are not shipped yet),
		 * but a pool that stops does not wait for an initializer
		 * that never returns: we can kill it, unlike a thread. */
		io = evpool__proxy_sleep(pw, up_ready,
				 evpool__now_ns() + 100 * 1000000u, false);
		if (io == IO_TIMEOUT) {
			pthread_mutex_lock(&w->q->mu);
			stop = w->q->stopping;
			pthread_mutex_unlock(&w->q->mu);
			if (stop || atomic_load(&pw->poke.kill_all))
				break;
			continue;
		}
		if (io != IO_OK)
			break;
	}
	status = evpool__proxy_child_end(pw, true);
	/* Status unknown: the fork server died, and the worker with it, in
	 * its initializer.  Not the worker's fault: ask its replacement. */
	if (status == -1 && !stop && !atomic_load(&pw->poke.kill_all) &&
	    evpool__fs_check(&pp->fs) == 0 && atomic_load(&pp->fs.gen) != gen)
		goto again;
	describe_status(why, sizeof(why), status);
	pw->replacing = false; /* nothing was replaced */
	if (stop)
		return evpool__err(EVPOOL_ESPAWN,
				   "worker process did not start: the pool stopped during its initializer");
	return evpool__err(EVPOOL_ESPAWN,
			   "worker process did not start (initializer): %s", why);
}

/* Ask the worker to run its finalizer and exit; kill it if it takes too
 * long.  Then reap it. */
void
evpool__proxy_child_stop(struct proc_worker *pw)
{
	int status;

	if (!pw->c.pid)
		return;
	/* Wait for its wait status (not for EOF on its socket, which a
	 * process it forked may hold); kill it if it takes too long. */
	if (evpool__ring_put(&pw->down, EVPOOL__W_STOP, 0, 0, 0, 0, NULL, 0) == 0) {
		evpool__shm_wake(pw->c.shm, EVPOOL__SIDE_WORKER, pw->c.efd_down);
		if (evpool__child_status(&pw->c, STOP_GRACE_MS, &status) !=
		    -ETIMEDOUT) {
			child_release(pw);
			return;
		}
	}
	evpool__proxy_child_end(pw, true);
}

/* ---- proxy: when things go wrong ----------------------------------------- */

/* Take back a job shipped to the worker (FL_SENT) if it has not started
 * it: the worker will skip it, and the entry is FL_UNSENT again.  @return
 * false if it has started. */
bool
evpool__proxy_unship(struct proc_worker *pw, struct fl_entry *e)
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
			(void)evpool__proxy_unship(pw, FL(pw, i));
}

bool
evpool__proxy_started(struct proc_worker *pw, struct fl_entry *e)
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
void
evpool__proxy_end_worker(struct evpool *pool, struct proc_worker *pw,
			 enum evpool__finish why, int status)
{
	struct fl_entry *charged = NULL;
	int wstatus;

	fence(pw);
	/* Kill it even when it died: a job may close its socket and live on.
	 * An exiting process keeps the status it exits with. */
	wstatus = child_reap(pw, true);
	evpool__proxy_collect(pool, pw, true);
	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);

		if (e->state != FL_SENT)
			continue;
		if (!evpool__proxy_started(pw, e)) {
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
void
evpool__proxy_handle_timeout(struct evpool *pool, struct proc_worker *pw)
{
	struct fl_entry *e = fl_first(pw);

	if (pw->desync) {
		/* A payload was left half-way on the socket. */
		evpool__proxy_end_worker(pool, pw, EVPOOL__FIN_TIMEOUT, 0);
		return;
	}
	if (!e || e->state != FL_SENT)
		return;
	if (atomic_load(&pw->c.shm->slot[e->seq % EVPOOL__SLOTS]) ==
	    (e->seq << 2 | EVPOOL__SLOT_PENDING)) {
		uint64_t now = evpool__now_ns(), exp = EVPOOL__EXT(e->job)->expire_ns;

		/* Past its deadline from submit and still not started: it
		 * never runs (as if it had expired in the queue). */
		if (exp && now >= exp && evpool__proxy_unship(pw, e)) {
			finish(pw, e, EVPOOL__FIN_EXPIRE, 0, -1);
			return;
		}
		if (!exp || now < exp) {
			pw->run_start_ns = now;
			return;
		}
		/* it started meanwhile: a timeout as any */
	}
	fence(pw);
	if (evpool__proxy_result_ready(pw, e->seq)) {
		e->finished = true; /* it made it: evpool__proxy_collect() delivers it */
		return;
	}
	evpool__proxy_end_worker(pool, pw, EVPOOL__FIN_TIMEOUT, 0);
}

/* Jobs ops->kill took (or all of them, after kill_all): a job the worker
 * has not started is taken back; the one it runs costs the worker. */
void
evpool__proxy_handle_pokes(struct evpool *pool, struct proc_worker *pw)
{
	bool running = false;

	atomic_store(&pw->poke.poked, 0);
	cancel_drain(pw);
	if (atomic_exchange(&pw->poke.kill_all, 0))
		for (unsigned i = 0; i < pw->fl_n; i++)
			if (FL(pw, i)->state != FL_DONE)
				evpool__job_claim(FL(pw, i)->job,
						  EVPOOL__RUNNING);
	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);

		if (e->state == FL_DONE || !job_taken(e->job))
			continue;
		/* Unshipped, the worker skips it: no result will come. */
		if (e->state == FL_SENT && !evpool__proxy_unship(pw, e)) {
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
	 * result in the ring; evpool__proxy_collect() then ends it -ECANCELED).  Look
	 * before killing. */
	fence(pw);
	for (unsigned i = 0; i < pw->fl_n; i++) {
		struct fl_entry *e = FL(pw, i);
		if (e->state == FL_SENT && job_taken(e->job) &&
		    !evpool__proxy_result_ready(pw, e->seq)) {
			evpool__proxy_end_worker(pool, pw, EVPOOL__FIN_CANCEL, 0);
			return;
		}
	}
}

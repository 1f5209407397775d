/*
 * notify.c — completion mailboxes: how finished jobs get back to a loop.
 *
 * DESIGN: one mailbox per (pool, event_base), plus one "detached" mailbox for
 * jobs without a base, whose fd is evpool_fd().  Workers push finished jobs
 * (and partial results) on a lock-free LIFO stack, never touching a lock; the
 * push that finds the stack empty writes the eventfd (or pipe), so a burst of
 * completions costs one wakeup.  One thread drains at a time (mb->drainer:
 * the loop thread, or a blocking wait on the thread that owns a base whose
 * loop has never run; a nested drain is the same thread's): it
 * reads the fd first, then swaps the whole stack out and reverses it, which
 * restores per-producer order (a worker's emissions before its completion).
 * The batch is kept in mb->local so a nested drain (a callback that waits on
 * a job) continues the same batch instead of reordering it.
 *
 * The mailbox's read event is added only while jobs are outstanding on it:
 * the first hold adds it, the delivery that brings the count to zero deletes
 * it, both decided under mb->mu so the two cannot cross.  This keeps
 * event_base_dispatch() alive exactly while work is in flight.  Except that
 * when the base has other events (the loop goes on anyway), the delivery
 * that brings the count to zero leaves the event added for LINGER_MS, with
 * a timeout: a job submitted meanwhile only cancels the timeout, and a
 * lightly loaded server saves the two epoll_ctl() calls (add, delete) each
 * of its jobs cost.  The timeout deletes the event if nothing came; so at
 * worst a loop whose other events all went away meanwhile returns
 * LINGER_MS late.
 */
#include "core/evpool-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

#include <event2/event.h>

/* Loop-side spin: after a batch, while jobs are still outstanding, poll the
 * stack briefly before going back to the loop's epoll_wait.  The budget
 * adapts: it doubles when a completion arrived in time and halves when none
 * did, and once it falls below the minimum it is probed again, at the full
 * budget, every 64 drains.  So a ping-pong of
 * short jobs never sleeps, while a loop waiting on long jobs stops paying. */
#define LOOP_SPIN_MAX_NS 20000u
#define LOOP_SPIN_MIN_NS 1000u

#define LINGER_MS 50


static int
make_pipe(int fds[2])
{
#ifdef HAVE_PIPE2
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
#endif
	if (pipe(fds) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

static int
make_notify_fds(enum evpool_notify how, int *rfd, int *wfd)
{
	int fds[2], r;

	if (how != EVPOOL_NOTIFY_PIPE) {
#if defined(HAVE_EVENTFD) && defined(HAVE_SYS_EVENTFD_H)
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd >= 0) {
			*rfd = *wfd = fd;
			return 0;
		}
		if (how == EVPOOL_NOTIFY_EVENTFD)
			return evpool__err(-errno, "eventfd: %s", strerror(errno));
#else
		if (how == EVPOOL_NOTIFY_EVENTFD)
			return evpool__err(-ENOSYS,
					   "eventfd is not available on this system");
#endif
	}
	r = make_pipe(fds);
	if (r < 0)
		return evpool__err(r, "pipe: %s", strerror(-r));
	*rfd = fds[0];
	*wfd = fds[1];
	return 0;
}

/* A thread's token: the address of a thread-local, unique among the live
 * threads. */
static __thread char thread_token;

static void
mailbox_note_thread(struct evpool__mailbox *mb)
{
	if (atomic_load_explicit(&mb->owner, memory_order_relaxed) !=
	    &thread_token)
		atomic_store_explicit(&mb->owner, &thread_token,
				      memory_order_release);
}

/* Made active when the mailbox is created: the base's next loop iteration
 * runs it, so the library knows the loop thread before any delivery (a
 * blocking wait in another callback of that loop, or evpool_free() from
 * another thread, needs to know it). */
static void
mailbox_learn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mailbox_note_thread(arg);
}

static void
mailbox_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evpool__mailbox *mb = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		/* The linger is over (or a leftover timeout while jobs are
		 * outstanding again: then nothing to do). */
		pthread_mutex_lock(&mb->mu);
		if (mb->lingering && atomic_load(&mb->outstanding) == 0) {
			event_del(mb->ev);
			mb->ev_added = false;
			mb->lingering = false;
		}
		pthread_mutex_unlock(&mb->mu);
	}
	evpool__mailbox_drain(mb);
}

int
evpool__mailbox_new(struct evpool *pool, struct event_base *base,
		    struct evpool__mailbox **mbp)
{
	struct evpool__mailbox *mb = evpool__zalloc_lines(sizeof(*mb));
	int r;

	if (!mb)
		return evpool__err(-ENOMEM, "mailbox: out of memory");
	mb->pool = pool;
	mb->base = base;
	mb->creator = &thread_token;
	mb->born_ns = evpool__now_ns();
	r = make_notify_fds(pool->cfg.notify, &mb->rfd, &mb->wfd);
	if (r < 0) {
		free(mb);
		return r;
	}
	if (base) {
		mb->ev = event_new(base, mb->rfd, EV_READ | EV_PERSIST,
				   mailbox_event_cb, mb);
		if (mb->ev)
			mb->learn_ev = event_new(base, -1, 0, mailbox_learn_cb,
						 mb);
		if (!mb->ev || !mb->learn_ev) {
			if (mb->ev)
				event_free(mb->ev);
			close(mb->rfd);
			if (mb->wfd != mb->rfd)
				close(mb->wfd);
			free(mb);
			return evpool__err(-ENOMEM, "event_new failed");
		}
	}
	pthread_mutex_init(&mb->mu, NULL);
	atomic_init(&mb->head, NULL);
	if (mb->learn_ev)
		event_active(mb->learn_ev, EV_TIMEOUT, 1);
	mb->spin_ns = LOOP_SPIN_MAX_NS;
	*mbp = mb;
	return 0;
}

void
evpool__mailbox_close(struct evpool__mailbox *mb)
{
	if (mb->ev) {
		event_del(mb->ev);
		event_free(mb->ev);
		event_free(mb->learn_ev);
		mb->ev = mb->learn_ev = NULL;
	}
	if (mb->rfd >= 0) {
		close(mb->rfd);
		if (mb->wfd != mb->rfd)
			close(mb->wfd);
		mb->rfd = mb->wfd = -1;
	}
}

void
evpool__mailbox_free(struct evpool__mailbox *mb)
{
	evpool__mailbox_close(mb);
	pthread_mutex_destroy(&mb->mu);
	free(mb);
}

/* INV-HOLD (lib/core/README.md): only the 0 -> 1 transition adds the read
 * event, and evpool__mailbox_unhold()'s 1 -> 0 deletes it, both deciding
 * under mb->mu. */
void
evpool__mailbox_hold(struct evpool__mailbox *mb)
{
	if (atomic_fetch_add_explicit(&mb->outstanding, 1,
				      memory_order_acq_rel) != 0 || !mb->ev)
		return;
	pthread_mutex_lock(&mb->mu);
	if (!mb->ev_added && atomic_load(&mb->outstanding) > 0) {
		event_add(mb->ev, NULL);
		mb->ev_added = true;
	} else if (mb->lingering) {
		event_remove_timer(mb->ev);	/* no system call */
		mb->lingering = false;
	}
	pthread_mutex_unlock(&mb->mu);
}

void
evpool__mailbox_unhold(struct evpool__mailbox *mb, long n)
{
	if (atomic_fetch_sub_explicit(&mb->outstanding, n,
				      memory_order_acq_rel) != n || !mb->ev)
		return;
	pthread_mutex_lock(&mb->mu);
	if (mb->ev_added && !mb->lingering &&
	    atomic_load(&mb->outstanding) == 0) {
		/* Ours and at least one other: the loop goes on anyway. */
		if (event_base_get_num_events(mb->base,
					      EVENT_BASE_COUNT_ADDED) > 1) {
			static const struct timeval linger = {
				0, LINGER_MS * 1000
			};

			event_add(mb->ev, &linger);
			mb->lingering = true;
		} else {
			event_del(mb->ev);
			mb->ev_added = false;
		}
	}
	pthread_mutex_unlock(&mb->mu);
}

void
evpool__wake_fd(int fd, size_t len)
{
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN means the fd is already readable: the wakeup is pending.
	 * EINTR must be retried, or the sleeper is never woken. */
	do
		n = write(fd, &one, len);
	while (n < 0 && errno == EINTR);
}

void
evpool__poke(struct evpool__poke *p)
{
	atomic_store(&p->poked, 1);
	evpool__wake_fd(p->wfd, p->wfd == p->rfd ? sizeof(uint64_t) : 1);
}

bool
evpool__poke_kill(struct evpool__worker *w, struct evpool_job *job)
{
	if (!w->poke || !evpool__job_claim(job, EVPOOL__RUNNING))
		return false;
	evpool__poke(w->poke);	/* it owes the job a -ECANCELED completion */
	return true;
}

void
evpool__poke_kill_all(struct evpool__worker *w)
{
	if (!w->poke)
		return;
	atomic_store(&w->poke->kill_all, 1);
	evpool__poke(w->poke);
}

static void
notify_write(struct evpool__mailbox *mb)
{
	evpool__wake_fd(mb->wfd, mb->wfd == mb->rfd ? sizeof(uint64_t) : 1);
}

static void
notify_read(struct evpool__mailbox *mb)
{
	char buf[256];
	ssize_t n;

	do
		n = read(mb->rfd, buf, mb->wfd == mb->rfd ? 8 : sizeof(buf));
	while ((n > 0 && mb->wfd != mb->rfd && n == (ssize_t)sizeof(buf)) ||
	       (n < 0 && errno == EINTR));
}

void
evpool__mailbox_push(struct evpool__mailbox *mb, struct evpool__node *node)
{
	struct evpool__node *old = atomic_load_explicit(&mb->head,
							memory_order_relaxed);
	do
		node->next = old;
	while (!atomic_compare_exchange_weak_explicit(
		&mb->head, &old, node, memory_order_seq_cst,
		memory_order_relaxed));
	/* INV-DRAIN, the pusher's side (lib/core/README.md): a drain in
	 * progress will see the node, no wakeup needed.  It clears `awake`
	 * before its last look (both seq_cst), so either we see false here
	 * or it sees our node. */
	if (!old && !atomic_load_explicit(&mb->awake, memory_order_seq_cst))
		notify_write(mb);
}

bool
evpool__mailbox_is_mine(struct evpool__mailbox *mb)
{
	return atomic_load_explicit(&mb->owner, memory_order_acquire) ==
	       &thread_token;
}

bool
evpool__mailbox_unowned(struct evpool__mailbox *mb)
{
	return atomic_load_explicit(&mb->owner, memory_order_acquire) == NULL;
}

bool
evpool__mailbox_may_deliver_here(struct evpool__mailbox *mb)
{
	const void *o = atomic_load_explicit(&mb->owner, memory_order_acquire);

	return mb->base &&
	       (o == &thread_token || (!o && mb->creator == &thread_token));
}

bool
evpool__mailbox_delivers_here(struct evpool__mailbox *mb)
{
	const void *o = atomic_load_explicit(&mb->owner, memory_order_acquire);

	if (!mb->base)
		return false;
	if (o)
		return o == &thread_token;
	/* A base whose loop has not shown up: adopted by the thread that
	 * made the mailbox once the grace has passed (a loop running on
	 * another thread would have run the learn event by then). */
	return mb->creator == &thread_token &&
	       evpool__now_ns() - mb->born_ns >= EVPOOL__ADOPT_GRACE_NS;
}

/* Take the whole stack, reversed to FIFO, onto the end of mb->local. */
static bool
mailbox_take(struct evpool__mailbox *mb)
{
	struct evpool__node *n, *fifo = NULL, **tail;

	n = atomic_exchange_explicit(&mb->head, NULL, memory_order_acquire);
	if (!n)
		return false;
	while (n) {
		struct evpool__node *next = n->next;
		n->next = fifo;
		fifo = n;
		n = next;
	}
	for (tail = &mb->local; *tail; tail = &(*tail)->next)
		;
	*tail = fifo;
	return true;
}

__thread struct evpool *evpool__tls_delivering;
__thread struct evpool *evpool__tls_free_deferred;

/* Poll the stack for a while before giving the loop back (mb->awake is
 * set, so pushes meanwhile write no fd).  @return true if a node came. */
static bool
mailbox_spin(struct evpool__mailbox *mb)
{
	uint64_t end;
	bool got = false;

	if (evpool__spin_disabled || !mb->ev ||
	    atomic_load_explicit(&mb->outstanding, memory_order_relaxed) == 0)
		return false;
	if (mb->spin_ns < LOOP_SPIN_MIN_NS) {
		if (++mb->spin_probe < 64)
			return false;
		mb->spin_probe = 0;
		/* Probe with the full budget: a short probe is shorter than
		 * one round trip and would never find the way back. */
		mb->spin_ns = LOOP_SPIN_MAX_NS;
	}
	end = evpool__now_ns() + mb->spin_ns;
	for (unsigned i = 0;; i++) {
		if (atomic_load_explicit(&mb->head, memory_order_relaxed)) {
			got = true;
			break;
		}
		evpool__cpu_relax();
		if ((i & 31) == 31 && evpool__now_ns() >= end)
			break;
	}
	if (got)
		mb->spin_ns = mb->spin_ns * 2 > LOOP_SPIN_MAX_NS
			      ? LOOP_SPIN_MAX_NS : mb->spin_ns * 2;
	else
		mb->spin_ns /= 2;
	return got;
}

int
evpool__mailbox_drain(struct evpool__mailbox *mb)
{
	struct evpool *pool = mb->pool;
	struct evpool *prev_delivering = evpool__tls_delivering;
	int jobs = 0, rounds = 0;
	long held = 0;		/* delivered, not yet released from the hold */
	bool outer, claimed = false;

	/* One drainer at a time; a nested drain (a callback that waits) is
	 * the same thread's and goes on.  Another thread delivering now
	 * (a waiter that adopted a never-run base while its loop starts
	 * elsewhere) finishes the batch: the fd stays readable for us. */
	if (atomic_load_explicit(&mb->drainer, memory_order_relaxed) !=
	    &thread_token) {
		const void *none = NULL;

		if (!atomic_compare_exchange_strong_explicit(
			    &mb->drainer, &none, &thread_token,
			    memory_order_acquire, memory_order_relaxed))
			return 0;
		claimed = true;
	}
	mailbox_note_thread(mb);
	/* Awake from here to the last look at the stack: workers that push
	 * meanwhile write no fd (a system call each, and the batch is taken
	 * anyway).  A nested drain (a callback that waits) leaves it to the
	 * outermost to clear. */
	outer = !atomic_load_explicit(&mb->awake, memory_order_relaxed);
	if (outer)
		atomic_store_explicit(&mb->awake, true, memory_order_seq_cst);
	notify_read(mb);
	evpool__tls_delivering = pool;
	/* A few rounds: completions that land while we deliver are taken
	 * without going back to the loop for another wakeup.  Deliveries
	 * release their hold on the mailbox once per batch, before a spin
	 * (which only runs while jobs are still outstanding). */
	while (rounds++ < 64) {
		struct evpool__node *n;

		if (!mb->local && !mailbox_take(mb)) {
			if (held) {
				evpool__mailbox_unhold(mb, held);
				held = 0;
			}
			if (mailbox_spin(mb))
				continue;
			if (!outer)
				break;
			/* INV-DRAIN, the drain's side: the last look, after
			 * saying we stop looking. */
			atomic_store_explicit(&mb->awake, false,
					      memory_order_seq_cst);
			if (!atomic_load_explicit(&mb->head,
						  memory_order_seq_cst))
				break;
			atomic_store_explicit(&mb->awake, true,
					      memory_order_seq_cst);
			continue;
		}

		while ((n = mb->local) != NULL) {
			mb->local = n->next;
			enum evpool__node_kind kind = evpool__node_kind(n);

			if (kind == EVPOOL__NODE_EMIT) {
				struct evpool__emit *e = (struct evpool__emit *)n;
				struct evpool_job *job = e->job;
				struct evpool__job_ext *x = EVPOOL__EXT(job);

				evpool__emit_deliver(e);
				atomic_fetch_sub(&x->emit_pending, 1);
				evpool__pool_wake(pool);
				evpool_job_unref(job);
			} else if (kind == EVPOOL__NODE_CALL) {
				struct evpool__call *c = (struct evpool__call *)n;

				c->fn(c); /* may free c */
				jobs++;
				held++;
			} else {
				evpool__job_deliver((struct evpool_job *)n);
				jobs++;
				held++;
			}
		}
	}
	if (held)
		evpool__mailbox_unhold(mb, held);
	/* Leaving at the round limit with the stack unread, or pushes that
	 * skipped their write while we were awake: wake ourselves up again,
	 * so the loop runs its other events and then comes back (INV-DRAIN:
	 * awake = false, then look). */
	if (outer && atomic_load_explicit(&mb->awake, memory_order_relaxed)) {
		atomic_store_explicit(&mb->awake, false, memory_order_seq_cst);
		if (atomic_load_explicit(&mb->head, memory_order_seq_cst))
			notify_write(mb);
	}
	evpool__tls_delivering = prev_delivering;
	if (claimed)
		atomic_store_explicit(&mb->drainer, NULL, memory_order_release);
	if (evpool__tls_free_deferred == pool && !prev_delivering) {
		evpool__tls_free_deferred = NULL;
		evpool_free(pool);
	}
	return jobs;
}

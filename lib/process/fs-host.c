/*
 * fs-host.c — the host's side of a process pool's fork server: starting it
 * and its standby, asking it for workers, replacing it when it died, and
 * the atfork handlers for the host's own fork().
 *
 * DESIGN: see forkserver.c (the protocol, the standby, what a replacement
 * costs) and proc-internal.h.  Every request and reply crosses under fs->mu,
 * one at a time; a reply's descriptors are all taken, whatever arrived, so
 * that none leaks when the host runs short of descriptors (MSG_CTRUNC).
 */
#include "process/proc-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- atfork: the host's fork() ------------------------------------------- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct evpool__fs *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&reg_mu);
}

static void
atfork_parent(void)
{
	pthread_mutex_unlock(&reg_mu);
}

static void
atfork_child(void)
{
	/* The inherited pools are dead here: let go of their fork servers so
	 * that they still see EOF when the parent dies. */
	for (struct evpool__fs *fs = reg_head; fs; fs = fs->next) {
		if (fs->ctl >= 0)
			close(fs->ctl);
		if (fs->sb >= 0)
			close(fs->sb);
		fs->ctl = fs->sb = -1;
		fs->running = false;
		fs->registered = false;
	}
	reg_head = NULL;
	pthread_mutex_unlock(&reg_mu);
}

static void
reg_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void
reg_add(struct evpool__fs *fs)
{
	pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_mu);
	fs->next = reg_head;
	reg_head = fs;
	fs->registered = true;
	pthread_mutex_unlock(&reg_mu);
}

static void
reg_remove(struct evpool__fs *fs)
{
	pthread_mutex_lock(&reg_mu);
	if (fs->registered) {
		for (struct evpool__fs **pp = &reg_head; *pp; pp = &(*pp)->next)
			if (*pp == fs) {
				*pp = fs->next;
				break;
			}
		fs->registered = false;
	}
	pthread_mutex_unlock(&reg_mu);
}

/* ---- the host's side ----------------------------------------------------- */

/* Close the @p n descriptors of @p fds that are open (>= 0). */
static void
close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Fork a fork server from the host: fs->ctl and fs->pid (our child). */
static int
fs_fork(struct evpool__fs *fs)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* Output the host buffered before now must not be written again by
	 * every worker that flushes its copy of the buffers. */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0)
		evpool__fs_main(sv[1], fs->pool, false);
	close(sv[1]);
	fs->pid = pid;
	fs->ctl = sv[0];
	return 0;
}

/* Send @p req (with descriptor @p fd if >= 0) and read the reply's fixed
 * part; descriptors that come with it go to @p fds (up to @p nfds, the
 * others -1), so that whatever arrived can be closed.  @return 0, or
 * -EPIPE if the server is gone (EOF, reset), or another -errno. */
static int
fs_call(struct evpool__fs *fs, const struct evpool__fs_req *req, int fd,
	struct evpool__fs_rep *rep, int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(EVPOOL__FS_NFDS * sizeof(int))];
	} cm;
	struct iovec iov = { (void *)req, sizeof(*req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *ch;
	ssize_t got;

	for (int i = 0; i < nfds; i++)
		fds[i] = -1;
	memset(cm.buf, 0, sizeof(cm.buf));
	if (fd >= 0) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
	}
	if (sendmsg(fs->ctl, &mh, MSG_NOSIGNAL) < 0)
		return errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
	iov.iov_base = rep;
	iov.iov_len = sizeof(*rep);
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do
		got = recvmsg(fs->ctl, &mh, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	/* Short of descriptors (EMFILE), the kernel passes as many as it
	 * could and sets MSG_CTRUNC: take those too, to close them. */
	for (ch = got >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; ch;
	     ch = CMSG_NXTHDR(&mh, ch)) {
		size_t k;

		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS ||
		    ch->cmsg_len < CMSG_LEN(0))
			continue;
		k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int d;

			memcpy(&d, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
			if (i < (size_t)nfds && fds[i] < 0)
				fds[i] = d;
			else
				close(d);
		}
	}
	if (got < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	if (got == 0)
		return -EPIPE;
	if (got != (ssize_t)sizeof(*rep)) {
		close_fds(fds, nfds);
		for (int i = 0; i < nfds; i++)
			fds[i] = -1;
		return -EPROTO;
	}
	return 0;
}

/* Ask the serving fork server for a standby (fs->mu held, or during
 * start).  Not fatal if it fails: a later replacement is then forked by
 * the host. */
static void
fs_add_standby(struct evpool__fs *fs)
{
	struct evpool__fs_req req = { EVPOOL__FS_STANDBY, 0 };
	struct evpool__fs_rep rep = { -EPROTO, 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (fs_call(fs, &req, sv[1], &rep, NULL, 0) == 0 && rep.err == 0) {
		fs->sb = sv[0];
	} else {
		close(sv[0]);
	}
	close(sv[1]);
}

static bool fs_dead(int ctl);

/* The serving fork server is dead (its control socket is at EOF): reap
 * it if it is our child, and put its standby (or, if none is left, a new
 * fork of the host) in its place.  fs->mu held. */
static int
fs_replace(struct evpool__fs *fs)
{
	int r = 0;

	if (fs->ctl >= 0)
		close(fs->ctl);
	fs->ctl = -1;
	if (fs->pid > 0) {
		/* It has closed its socket: it is exiting (ECHILD if the
		 * host reaps for itself or ignores SIGCHLD). */
		while (waitpid(fs->pid, NULL, 0) < 0 && errno == EINTR)
			;
		fs->pid = 0;
	}
	if (fs->sb >= 0) {
		fs->ctl = fs->sb;
		fs->sb = -1;
		fs_add_standby(fs);
		/* No answer: the standby died too. */
		if (fs->sb < 0 && fs_dead(fs->ctl)) {
			close(fs->ctl);
			fs->ctl = -1;
		}
	}
	if (fs->ctl < 0) {
		r = fs_fork(fs);
		if (r == 0)
			fs_add_standby(fs);
	}
	atomic_fetch_add(&fs->gen, 1);
	atomic_fetch_add(&fs->restarts, 1);
	return r;
}

static bool
fs_dead(int ctl)
{
	struct pollfd p = { ctl, 0, 0 };

	return poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

int
evpool__fs_check(struct evpool__fs *fs)
{
	int r = 0;

	pthread_mutex_lock(&fs->mu);
	if (fs->running && fs_dead(fs->ctl))
		r = fs_replace(fs);
	pthread_mutex_unlock(&fs->mu);
	return r;
}

int
evpool__fs_start(struct evpool__fs *fs, const struct evpool *pool)
{
	int r;

	memset(fs, 0, sizeof(*fs));
	fs->ctl = fs->sb = -1;
	fs->pool = pool;
	atomic_init(&fs->gen, 1);
	atomic_init(&fs->restarts, 0);
	pthread_mutex_init(&fs->mu, NULL);
	pthread_once(&reg_once, reg_init);
	r = fs_fork(fs);
	if (r < 0) {
		pthread_mutex_destroy(&fs->mu);
		return evpool__err(EVPOOL_ESPAWN, "fork server: %s",
				   strerror(-r));
	}
	fs_add_standby(fs);
	fs->running = true;
	reg_add(fs);
	return 0;
}

/* Ask the server on @p ctl to exit, and wait until it has (EOF: it closes
 * the socket only by exiting, after reaping its workers). */
static void
fs_end(int ctl)
{
	struct evpool__fs_req req = { EVPOOL__FS_EXIT, 0 };
	struct pollfd p = { ctl, POLLIN, 0 };
	char b[16];

	if (ctl < 0)
		return;
	if (send(ctl, &req, sizeof(req), MSG_NOSIGNAL) >= 0) {
		for (;;) {
			int r = poll(&p, 1, -1);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || (p.revents & (POLLHUP | POLLERR)) ||
			    recv(ctl, b, sizeof(b), MSG_DONTWAIT) == 0)
				break;
		}
	}
	close(ctl);
}

void
evpool__fs_stop(struct evpool__fs *fs)
{
	reg_remove(fs);
	pthread_mutex_lock(&fs->mu);
	fs->running = false;
	fs_end(fs->sb);
	fs->sb = -1;
	fs_end(fs->ctl);
	fs->ctl = -1;
	pthread_mutex_unlock(&fs->mu);
	if (fs->pid > 0) {
		/* Our only child.  ECHILD if the host reaps everything itself
		 * or ignores SIGCHLD: then there is nothing left to do. */
		while (waitpid(fs->pid, NULL, 0) < 0 && errno == EINTR)
			;
		fs->pid = 0;
	}
	pthread_mutex_destroy(&fs->mu);
}

int
evpool__fs_spawn(struct evpool__fs *fs, unsigned id, struct evpool__child *c,
		 unsigned *gen)
{
	struct evpool__fs_req req = { EVPOOL__FS_SPAWN, id };
	struct evpool__fs_rep rep = { 0, 0 };
	int fds[EVPOOL__FS_NFDS];
	void *shm;
	int e = 0;

	memset(c, 0, sizeof(*c));
	c->sock = c->reap = c->efd_up = c->efd_down = -1;
	pthread_mutex_lock(&fs->mu);
	if (!fs->running || fs->ctl < 0) {
		pthread_mutex_unlock(&fs->mu);
		return evpool__err(EVPOOL_ESPAWN, "process pool: no fork server");
	}
	/* A server that died (before or during the request) is replaced,
	 * and the request asked again of the new one, once. */
	for (int attempt = 0;; attempt++) {
		if (fs_dead(fs->ctl) && attempt == 0)
			e = -EPIPE;
		else
			e = fs_call(fs, &req, -1, &rep, fds, EVPOOL__FS_NFDS);
		if (e != -EPIPE || attempt == 1)
			break;
		if (fs_replace(fs) < 0 || fs->ctl < 0)
			break;
	}
	*gen = atomic_load(&fs->gen);
	pthread_mutex_unlock(&fs->mu);
	if (e < 0)
		return evpool__err(EVPOOL_ESPAWN, "fork server is gone (%s)",
				   strerror(-e));
	shm = MAP_FAILED;
	if (rep.err == 0 && fds[2] >= 0)
		shm = mmap(NULL, sizeof(struct evpool__shm),
			   PROT_READ | PROT_WRITE, MAP_SHARED, fds[2], 0);
	if (fds[2] >= 0)
		close(fds[2]);
	c->pid = rep.pid;
	c->sock = fds[0];
	c->reap = fds[1];
	c->efd_up = fds[3];
	c->efd_down = fds[4];
	if (rep.err < 0 || shm == MAP_FAILED || c->sock < 0 || c->reap < 0 ||
	    c->efd_up < 0 || c->efd_down < 0) {
		int err = rep.err < 0 ? -rep.err
			  : fds[2] < 0 || c->sock < 0 || c->reap < 0 ||
				    c->efd_up < 0 || c->efd_down < 0
			  ? EMFILE /* a reply cut short: MSG_CTRUNC */
			  : errno;
		if (shm != MAP_FAILED)
			munmap(shm, sizeof(struct evpool__shm));
		evpool__child_close(c); /* the fork server kills it, if any */
		return evpool__err(EVPOOL_ESPAWN, "fork server could not fork: %s",
				   strerror(err));
	}
	c->shm = shm;
	fcntl(c->sock, F_SETFL, fcntl(c->sock, F_GETFL) | O_NONBLOCK);
	return 0;
}

void
evpool__child_kill(struct evpool__child *c)
{
	char k = 'K';

	if (c->reap >= 0)
		send(c->reap, &k, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int
evpool__child_status(struct evpool__child *c, int timeout_ms, int *status)
{
	struct pollfd p = { c->reap, POLLIN, 0 };
	int32_t s;
	ssize_t got;
	int r;

	if (c->reap < 0)
		return -EPIPE;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	got = recv(c->reap, &s, sizeof(s), MSG_DONTWAIT);
	if (got != (ssize_t)sizeof(s))
		return -EPIPE;
	*status = s;
	return 0;
}

void
evpool__child_close(struct evpool__child *c)
{
	int *fds[4] = { &c->sock, &c->reap, &c->efd_up, &c->efd_down };

	for (int i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	if (c->shm)
		munmap(c->shm, sizeof(*c->shm));
	c->shm = NULL;
	c->pid = 0;
}

/*
 * forkserver.c — the fork server of a process-mode pool (the host's side of
 * it is fs-host.c).
 *
 * DESIGN: evpool_new() forks one small single-threaded process per pool, the
 * fork server, while the program is as the user made it.  From then on it is
 * the only process that forks workers, so spawning later (scale-up, a
 * replacement after a crash) is safe however many threads the host runs by
 * then, and the workers are ITS children: the host never reaps them, never
 * needs SIGCHLD, and never signals a pid that may have been recycled.
 *
 * In the fork server (and, after fork, in each worker) only async-signal-safe
 * system calls run until the worker's own code starts: it was forked from a
 * multi-threaded host, whose locks (stdio, a logger, the host's own) may be
 * held by threads that do not exist here.  Its state is one mmap'd table.
 *
 * Protocol.  The control socket (SOCK_SEQPACKET, one message per request) has
 * three requests, served one at a time in order (fs->mu in the host):
 *   SPAWN id -> {0, pid} + five descriptors (SCM_RIGHTS): the worker's
 *               socket, the proxy's end of the worker's reap channel, the
 *               memfd of their shared block, and the two eventfds (see
 *               proc-internal.h); or {-errno, 0} and none.
 *   STANDBY + one descriptor -> {0, pid}: fork a standby fork server
 *               that serves that descriptor (see below); or {-errno, 0}.
 *   EXIT     -> the server kills what is left and exits.
 * A reap channel (SOCK_SEQPACKET, one per worker) carries 'K' from the proxy
 * (SIGKILL the worker, if it is still an unreaped child) and, once the
 * worker is reaped, its wait status back.  When the proxy closes its end the
 * server kills the worker (if needed) and forgets it.  EOF on the control
 * socket — the host process died, or dropped the pool — makes the server
 * SIGKILL every worker, reap them all and exit: no orphans.
 *
 * Descriptors: the fork server keeps stdin, stdout, stderr and its control
 * socket, and closes everything else the host had open (a listening socket
 * or a pipe the host closes later must not stay open in a process that
 * lives as long as the pool).  A worker keeps stdin, stdout, stderr, its
 * socket and its two eventfds (and the mapping of its shared block).
 *
 * The fork server is a worker too: it can die (the OOM killer, an
 * operator's kill -9).  Its workers then die with it (PR_SET_PDEATHSIG),
 * their proxies see their reap channels hang up and fail the jobs they were
 * running with EVPOOL_ECRASHED (wait status unknown: -1), and the next
 * request finds the control socket at EOF.  The host then replaces it
 * (evpool__fs_check(), called by a spawn that finds it gone, a proxy that
 * lost a worker with it, and evpool_get_stats()).  A replacement forked
 * from the host later would be forked from a process that may run many
 * threads by then, with their locks held in the copy, and would see the
 * program as it is then, not as the workers saw it so far.  So each fork
 * server forks, on the host's STANDBY request right after it starts, a
 * STANDBY copy of itself: a second fork server, made from the same image
 * (the program as it was at pool creation), idle on a control socket of
 * its own, with no PR_SET_PDEATHSIG, so it outlives the one that made it.
 * To replace a dead server the host switches to the standby's socket and
 * asks it for a standby of its own; a spawn in progress is asked again of
 * the new server, once.  Only when the standby is gone too (killed along
 * with it) does the host fork a new server itself, as evpool_new() did:
 * the documented fallback, with the multi-threaded fork's caveat (the
 * new server runs only async-signal-safe code before its workers start
 * jobs; a job that takes a lock some host thread held at that fork can
 * hang).  fs->restarts counts replacements (evpool_stats.forkserver_restarts)
 * and fs->gen numbers the servers, so that a proxy knows its worker died
 * with an old one.  The host reaps the one server it forked; a standby
 * that took over is not its child (init reaps it), so at the end the host
 * waits for EOF on its control socket instead: the server closes it only
 * by exiting, after reaping its workers.
 *
 * Host fork(): an atfork child handler closes, in the child, the host's end
 * of every fork server's control socket, so a child that outlives its
 * parent (a pre-forked server) does not keep the fork server and its workers
 * alive.  Pools inherited by a forked child are dead there (their threads do
 * not exist in it) and must not be used; the child may make pools of its
 * own.  See the "Process mode" section of evpool.h.
 */
#include "process/proc-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif
#include <sys/signalfd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

/* Children one fork server can hold (reaped entries leave the table). */
#define FS_MAX_CHILDREN 65536

/* ---- descriptors --------------------------------------------------------- */

static void
close_range_fallback(unsigned lo, unsigned hi)
{
	/* /proc/self/fd needs opendir() (malloc): only reached on kernels
	 * older than 5.9, without close_range(2). */
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d) {
		long max = sysconf(_SC_OPEN_MAX);
		if (max < 0 || max > 65536)
			max = 65536;
		for (long fd = lo; fd <= (long)hi && fd < max; fd++)
			close((int)fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		long fd = strtol(de->d_name, NULL, 10);
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' &&
		    fd >= (long)lo && fd <= (long)hi && fd != dirfd(d))
			close((int)fd);
	}
	closedir(d);
}

static void
close_range_compat(unsigned lo, unsigned hi)
{
	if (lo > hi)
		return;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
#endif
	close_range_fallback(lo, hi);
}

void
evpool__close_fds_except(const int *keep, int n)
{
	int sorted[8];
	unsigned lo = 3;

	/* A handful of descriptors: insertion sort. */
	for (int i = 0; i < n && i < 8; i++) {
		int j = i;
		for (; j > 0 && sorted[j - 1] > keep[i]; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = keep[i];
	}
	for (int i = 0; i < n && i < 8; i++) {
		if (sorted[i] < (int)lo)
			continue;
		if ((unsigned)sorted[i] > lo)
			close_range_compat(lo, (unsigned)sorted[i] - 1);
		lo = (unsigned)sorted[i] + 1;
	}
	close_range_compat(lo, ~0u);
}

/* ---- the fork server itself ---------------------------------------------- */

struct fs_child {
	pid_t pid;
	int reap;	/* our end of the reap channel; -1: proxy closed it */
	bool reaped;
};

struct fs_state {
	int ctl;
	int sigfd;
	pid_t self;
	pid_t standby;		/* our standby child, 0: none */
	const struct evpool *pool;
	struct fs_child *kids;
	struct pollfd *pfd;
	size_t nkids;
};

static void
fs_set_signals(void)
{
	struct sigaction sa;
	sigset_t set;

	/* Whatever the host had: default actions, except the terminal's
	 * signals, which are the host's to handle (its workers end with it). */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sa.sa_handler = (sig == SIGINT || sig == SIGQUIT || sig == SIGHUP)
					? SIG_IGN : SIG_DFL;
		sigaction(sig, &sa, NULL); /* EINVAL for reserved ones: fine */
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

static void
fs_drop(struct fs_state *st, size_t i)
{
	if (st->kids[i].reap >= 0)
		close(st->kids[i].reap);
	st->kids[i] = st->kids[--st->nkids];
}

/* The entry of an unreaped child (a reaped one's pid may be reused). */
static ssize_t
fs_find(struct fs_state *st, pid_t pid)
{
	for (size_t i = 0; i < st->nkids; i++)
		if (st->kids[i].pid == pid && !st->kids[i].reaped)
			return (ssize_t)i;
	return -1;
}

/* Reap every child that has exited; report each status to its proxy. */
static void
fs_reap(struct fs_state *st)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int status;

	while (read(st->sigfd, &si, sizeof(si)) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		ssize_t i = fs_find(st, pid);
		int32_t s = status;

		if (pid == st->standby)
			st->standby = 0;
		if (i < 0)
			continue;
		if (st->kids[i].reap < 0) {
			fs_drop(st, (size_t)i);
			continue;
		}
		st->kids[i].reaped = true;
		send(st->kids[i].reap, &s, sizeof(s), MSG_NOSIGNAL | MSG_DONTWAIT);
	}
}

static __attribute__((noreturn)) void
fs_exit(struct fs_state *st)
{
	for (size_t i = 0; i < st->nkids; i++)
		if (!st->kids[i].reaped)
			kill(st->kids[i].pid, SIGKILL);
	/* A standby not yet taken over has no workers (one that took over
	 * is init's child by now, and not ours to stop). */
	if (st->standby > 0)
		kill(st->standby, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	_exit(0);
}

/* The shared block of a new worker: a memfd of its size. */
static int
fs_memfd(void)
{
	int fd = -1;

#ifdef SYS_memfd_create
	fd = (int)syscall(SYS_memfd_create, "evpool", 1u /* MFD_CLOEXEC */);
#endif
	if (fd < 0) {
		char path[] = "/dev/shm/evpool-XXXXXX";
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd >= 0 && ftruncate(fd, (off_t)sizeof(struct evpool__shm)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void
fs_spawn(struct fs_state *st, unsigned id)
{
	struct evpool__fs_rep rep = { 0, 0 };
	int d[2] = { -1, -1 }, r[2] = { -1, -1 };
	int mfd = -1, efd_up = -1, efd_down = -1;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(EVPOOL__FS_NFDS * sizeof(int))];
	} cm;
	struct iovec iov = { &rep, sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	pid_t pid;

	if (st->nkids == FS_MAX_CHILDREN) {
		rep.err = -EAGAIN;
		goto reply;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, d) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r) < 0 ||
	    (mfd = fs_memfd()) < 0 ||
	    (efd_up = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (efd_down = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		rep.err = -errno;
		goto reply;
	}
	pid = fork();
	if (pid < 0) {
		rep.err = -errno;
		goto reply;
	}
	if (pid == 0) {
		struct evpool__child_fds c = { d[1], efd_up, efd_down, NULL };
		int keep[3] = { d[1], efd_up, efd_down };
		sigset_t none;
		void *shm;

#ifdef HAVE_SYS_PRCTL_H
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		if (getppid() != st->self)
			_exit(127); /* the fork server died already */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		shm = mmap(NULL, sizeof(struct evpool__shm),
			   PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (shm == MAP_FAILED)
			_exit(126);
		c.shm = shm;
		evpool__close_fds_except(keep, 3);
		evpool__proc_child_main(&c, st->pool, id);
	}
	st->kids[st->nkids].pid = pid;
	st->kids[st->nkids].reap = r[0];
	st->kids[st->nkids].reaped = false;
	st->nkids++;
	r[0] = -1;
	rep.pid = pid;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	memset(cm.buf, 0, sizeof(cm.buf));
	cm.h.cmsg_level = SOL_SOCKET;
	cm.h.cmsg_type = SCM_RIGHTS;
	cm.h.cmsg_len = CMSG_LEN(EVPOOL__FS_NFDS * sizeof(int));
	memcpy(CMSG_DATA(&cm.h), (int[EVPOOL__FS_NFDS]){ d[0], r[1], mfd, efd_up, efd_down },
	       EVPOOL__FS_NFDS * sizeof(int));
reply:
	if (sendmsg(st->ctl, &mh, MSG_NOSIGNAL) < 0)
		fs_exit(st); /* the host is gone */
	for (int i = 0; i < 2; i++) {
		if (d[i] >= 0)
			close(d[i]);
		if (r[i] >= 0)
			close(r[i]);
	}
	if (mfd >= 0)
		close(mfd);
	if (efd_up >= 0)
		close(efd_up);
	if (efd_down >= 0)
		close(efd_down);
}

/* Name the process <pool>/fs (serving) or <pool>/sb (a standby). */
static void
fs_name(const struct evpool *pool, const char *what)
{
#ifdef HAVE_SYS_PRCTL_H
	char name[16];

	snprintf(name, sizeof(name), "%s/%s", pool->cfg.name, what);
	prctl(PR_SET_NAME, name);
#else
	(void)pool;
	(void)what;
#endif
}


/* STANDBY: fork a copy of this server that serves @p fd.  Being asked
 * means we serve the pool now (a standby that took over is asked first). */
static void
fs_standby(struct fs_state *st, int fd)
{
	struct evpool__fs_rep rep = { 0, 0 };
	pid_t pid;

	fs_name(st->pool, "fs");
	if (fd < 0) {
		rep.err = -EBADF;
	} else if (st->standby > 0) {
		rep.err = -EEXIST;
	} else if ((pid = fork()) < 0) {
		rep.err = -errno;
	} else if (pid == 0) {
		/* Nothing of the serving server's: no workers, its tables
		 * go; fs_main() closes every descriptor but fd. */
		munmap(st->kids, FS_MAX_CHILDREN * sizeof(*st->kids));
		munmap(st->pfd, (FS_MAX_CHILDREN + 2) * sizeof(*st->pfd));
		evpool__fs_main(fd, st->pool, true);
	} else {
		st->standby = pid;
		rep.pid = pid;
	}
	if (fd >= 0)
		close(fd);
	if (send(st->ctl, &rep, sizeof(rep), MSG_NOSIGNAL) < 0)
		fs_exit(st); /* the host is gone */
}

void
evpool__fs_main(int ctl, const struct evpool *pool, bool standby)
{
	struct fs_state st = { .ctl = ctl, .pool = pool };
	sigset_t set;

	fs_name(pool, standby ? "sb" : "fs");
	st.self = getpid();
	fs_set_signals();
	evpool__close_fds_except(&ctl, 1);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	st.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	st.kids = mmap(NULL, FS_MAX_CHILDREN * sizeof(*st.kids),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	st.pfd = mmap(NULL, (FS_MAX_CHILDREN + 2) * sizeof(*st.pfd),
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st.sigfd < 0 || st.kids == MAP_FAILED || st.pfd == MAP_FAILED)
		_exit(1); /* the host sees EOF: spawns fail with EVPOOL_ESPAWN */

	for (;;) {
		size_t n = 2;

		st.pfd[0].fd = st.ctl;
		st.pfd[0].events = POLLIN;
		st.pfd[1].fd = st.sigfd;
		st.pfd[1].events = POLLIN;
		for (size_t i = 0; i < st.nkids; i++) {
			st.pfd[n].fd = st.kids[i].reap;
			st.pfd[n].events = POLLIN;
			n++;
		}
		if (poll(st.pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			fs_exit(&st);
		}
		if (st.pfd[1].revents)
			fs_reap(&st);
		/* Reap channels: entries may move (fs_drop), so walk by pid. */
		for (size_t k = 2; k < n; k++) {
			ssize_t i;
			char op;
			ssize_t got;

			if (!st.pfd[k].revents)
				continue;
			for (i = 0; i < (ssize_t)st.nkids; i++)
				if (st.kids[i].reap == st.pfd[k].fd)
					break;
			if (i == (ssize_t)st.nkids)
				continue;
			got = recv(st.kids[i].reap, &op, 1, MSG_DONTWAIT);
			if (got == 1) {
				if (op == 'K' && !st.kids[i].reaped)
					kill(st.kids[i].pid, SIGKILL);
				continue;
			}
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			/* The proxy let go of this worker. */
			if (st.kids[i].reaped) {
				fs_drop(&st, (size_t)i);
			} else {
				kill(st.kids[i].pid, SIGKILL);
				close(st.kids[i].reap);
				st.kids[i].reap = -1; /* dropped when reaped */
			}
		}
		if (st.pfd[0].revents) {
			struct evpool__fs_req req;
			union {
				struct cmsghdr h;
				char buf[CMSG_SPACE(sizeof(int))];
			} cm;
			struct iovec iov = { &req, sizeof(req) };
			struct msghdr mh = {
				.msg_iov = &iov,
				.msg_iovlen = 1,
				.msg_control = cm.buf,
				.msg_controllen = sizeof(cm.buf),
			};
			struct cmsghdr *ch;
			ssize_t got = recvmsg(st.ctl, &mh, MSG_CMSG_CLOEXEC);
			int fd = -1;

			if (got < 0 && errno == EINTR)
				continue;
			for (ch = got > 0 ? CMSG_FIRSTHDR(&mh) : NULL; ch;
			     ch = CMSG_NXTHDR(&mh, ch))
				if (ch->cmsg_level == SOL_SOCKET &&
				    ch->cmsg_type == SCM_RIGHTS &&
				    ch->cmsg_len >= CMSG_LEN(sizeof(int)))
					memcpy(&fd, CMSG_DATA(ch), sizeof(int));
			if (got == (ssize_t)sizeof(req) && req.op == EVPOOL__FS_STANDBY) {
				fs_standby(&st, fd);
				continue;
			}
			if (fd >= 0)
				close(fd);
			if (got != (ssize_t)sizeof(req) || req.op != EVPOOL__FS_SPAWN)
				fs_exit(&st); /* EOF (host gone), EXIT, junk */
			fs_spawn(&st, req.id);
		}
	}
}

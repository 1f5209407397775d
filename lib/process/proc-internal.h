/*
 * proc-internal.h — process mode: private declarations shared by the files
 * of lib/process/: setup.c (options, pool-wide state), proxy.c and
 * proxy-worker.c (the mode ops: proxy threads; their own state is in
 * proxy.h), child.c (the worker process's main loop), forkserver.c (the
 * fork server and the host's side of it) and wire.c (the frame format
 * between a proxy and its worker process).
 *
 * DESIGN (process mode in one page)
 *
 *   host process                           fork server (single-threaded)
 *   +----------------------------+   ctl   +-----------------------------+
 *   | worker thread = PROXY -----+---------+ forks workers on request,   |
 *   |   shm rings + eventfds  ==+|  reap   | reaps them, reports their   |
 *   |   socket (big, EOF)     ==+|---------+ wait status, kills them on  |
 *   |   cancel fd (ops->kill)   ||         | request, dies with the host |
 *   +---------------------------++         +--------------+--------------+
 *                               ||                        | fork
 *                               ++===== worker process (its child)
 *
 *  The core's worker threads stay: in process mode each one is a proxy for
 *  one worker process.  It ships jobs as JOB frames (function address, input
 *  bytes) and the worker process answers with EMIT frames (partial results,
 *  pushed on the job's mailbox as evpool_ctx_emit() does in thread mode) and
 *  one RESULT frame per job.  The worker's wait status, which the fork
 *  server sends on the worker's reap channel once it has reaped it, means
 *  it died (not EOF on its socket: a process the job forked inherits the
 *  socket and may outlive it; EOF counts too, for a worker that dies with
 *  no such child): the proxy completes only the job it was running with
 *  EVPOOL_ECRASHED and that status, and starts a replacement.  The rest of
 *  the library never knows the difference.
 *
 *  Transport (per worker, made by the fork server at spawn): a shared memory
 *  block (memfd) with two frame rings — "down" (JOB, STOP) and "up" (READY,
 *  EMIT, RESULT) — and one slot word per job in flight; an eventfd each way
 *  to wake a side that sleeps; and a stream socket that carries only the
 *  payloads too large for a ring (and EOF when a side dies).  Each side
 *  announces that it sleeps in the shared block and the other writes its
 *  eventfd only then, so a busy pipeline makes no system call per job.  A
 *  proxy keeps up to `depth` jobs in flight, chosen from the measured job
 *  time so that only short jobs are prefetched (a long job waits in the
 *  queue, where any idle worker can take it).  A job's slot goes PENDING ->
 *  STARTED by the worker's compare-and-swap just before the function runs,
 *  or PENDING -> CANCELLED by the proxy's: so a cancel of a job the worker
 *  has not started yet costs no kill, and a crash is charged to the one job
 *  that had started.  The worker's results are in shared memory as soon as
 *  they are published, so they survive its crash.  The proxy trusts nothing
 *  in the block: indices and frames are checked, a violation is
 *  EVPOOL_EPROTO.
 *
 *  A BIG frame (a payload too large for a ring) puts its header in the ring
 *  and its payload, whole, on the socket; the reader takes exactly that many
 *  bytes.  A payload stopped half-way would put every later one out of
 *  step, so a worker with one (its death, the deadline of an emission, a
 *  give-up) is killed and never gets another job.  A BIG input goes only to
 *  an idle worker, so the two sides never both write.  Its transfer is not
 *  part of its job's time: a job's timeout counts from its start, after its
 *  input has arrived, and a deadline that passes before the worker has
 *  started the job restarts its clock.  A cancel (or terminate) gives a
 *  transfer up only when the worker does not move it.
 *
 *  The fork server is forked once, by evpool_new(), while the host is still
 *  as the user made it; it closes every descriptor but stdin, stdout, stderr
 *  and its control socket.  Later spawns ask it for a worker; it forks one,
 *  keeps one end of a per-worker "reap" channel and passes the proxy the
 *  worker's socket and the other end (SCM_RIGHTS).  Workers are its children,
 *  so the host reaps nothing but the fork server, installs no SIGCHLD handler
 *  and never signals a pid that might have been recycled: kills go through the
 *  reap channel to the only process that knows whether the pid is still its
 *  unreaped child.  The fork server exits, killing its workers, on EOF of its
 *  control socket — when the host process dies or closes the pool (the
 *  socket is its death pipe; an atfork handler closes the host's copy in
 *  children of a host fork(), so a forked child does not keep it open).
 *  Workers also have PR_SET_PDEATHSIG against the fork server.  A fork
 *  server that dies is replaced by its standby copy (forkserver.c): its
 *  workers die with it, their proxies see the reap channels hang up, and
 *  a proxy's worker from an older server (fs->gen) is replaced before its
 *  next job.
 *
 *  Cancel and terminate reach a running job through ops->kill, called with
 *  q->mu held: it wins the job's finish race (RUNNING -> FINISHING) and
 *  pokes the proxy's cancel fd, nothing that blocks; the proxy, which is then
 *  the only party that may complete the job, kills the worker, waits for its
 *  status and completes the job with -ECANCELED.  So a cancel that returned 0
 *  always means -ECANCELED, and by the time the completion callback runs the
 *  worker is gone.
 *
 *  LOCKS: fs->mu (one fork-server request at a time) is a leaf, taken by a
 *  proxy with no other library lock held.  The atfork registry mutex is a
 *  leaf taken around fork() by the prepare/parent/child handlers and briefly
 *  by pool_start/pool_stop, never while forking.
 */
#ifndef EVPOOL_PROC_INTERNAL_H
#define EVPOOL_PROC_INTERNAL_H

#include "core/evpool-internal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A worker process's exit status when its initializer reported failure. */
#define EVPOOL__EXIT_INIT_FAILED 78

/* ---- wire format (wire.c) ------------------------------------------------ */

/*
 * A frame is a 48-byte header and `len` payload bytes, padded with zeros to a
 * multiple of 16 so that every payload a reader keeps in its buffer or ring
 * starts 16-byte aligned (a job may cast its input to a struct).  A BIG
 * frame's payload is not in the ring but follows on the socket, unpadded.
 * Both ends are the same program on the same machine: fields are in native
 * byte order.
 */
#define EVPOOL__WIRE_MAGIC 0x31505645u		/* "EVP1" */
#define EVPOOL__WIRE_HDR 48u
#define EVPOOL__WIRE_ALIGN 16u
/** Largest input, result or partial result: 1 GiB. */
#define EVPOOL__WIRE_MAX_PAYLOAD ((uint64_t)1 << 30)

enum evpool__wire_type {
	EVPOOL__W_JOB = 1,	/* proxy -> worker: aux timeout ms, fn, seq,
				 * input */
	EVPOOL__W_STOP = 2,	/* proxy -> worker: run fini and exit */
	EVPOOL__W_READY = 3,	/* worker -> proxy: aux pid, initializer done */
	EVPOOL__W_EMIT = 4,	/* worker -> proxy: seq, a partial result */
	EVPOOL__W_RESULT = 5,	/* worker -> proxy: seq, aux status, bytes */
};

/* In a ring only: skip to the ring's start (the frame would not fit). */
#define EVPOOL__W_PAD 6

/** flags: the payload follows on the socket, not in the ring. */
#define EVPOOL__WF_BIG 1u

/** Frame types a worker may send, and those a proxy may send. */
#define EVPOOL__W_FROM_WORKER                                                  \
	((1u << EVPOOL__W_READY) | (1u << EVPOOL__W_EMIT) |                    \
	 (1u << EVPOOL__W_RESULT))
#define EVPOOL__W_FROM_PROXY ((1u << EVPOOL__W_JOB) | (1u << EVPOOL__W_STOP))

struct evpool__wire_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;		/* EVPOOL__WF_BIG or 0 */
	int32_t aux;		/* per type, see enum evpool__wire_type */
	uint32_t check;		/* a hash of the other fields */
	uint64_t len;		/* payload bytes after the header */
	uint64_t fn;		/* JOB: the job function's address; else 0 */
	uint64_t seq;		/* JOB, EMIT, RESULT: the job's number */
	uint64_t reserved;	/* 0 */
};

/** A decoded frame. */
struct evpool__frame {
	unsigned type;
	unsigned flags;
	int32_t aux;
	uint64_t fn;
	uint64_t seq;
	const void *payload;	/* len bytes (NULL if len is 0) */
	size_t len;
	size_t size;		/* header + padded payload: bytes it occupies */
	void *owned;		/* reader: malloc'd payload the caller now owns */
};

/** Bytes a frame with @p len payload bytes occupies on the wire. */
static inline size_t
evpool__wire_size(size_t len)
{
	return EVPOOL__WIRE_HDR +
	       ((len + EVPOOL__WIRE_ALIGN - 1) & ~(size_t)(EVPOOL__WIRE_ALIGN - 1));
}

/** Fill @p h for a frame (computes the check word). */
EVPOOL__INTERNAL void evpool__wire_hdr(struct evpool__wire_hdr *h,
				       unsigned type, unsigned flags,
				       int32_t aux, uint64_t len, uint64_t fn,
				       uint64_t seq);

/**
 * Decode the frame at the start of @p buf (@p len bytes available), trusting
 * nothing in it.  The fuzzing entry point: any input gives one of
 * @return 1  a whole frame: @p f filled, f->payload points into @p buf,
 *            f->size bytes are consumed;
 *         0  not enough bytes yet: f->size is the frame's full size if the
 *            header is complete and valid, else 0 (read at least a header);
 *         EVPOOL_EPROTO  not a valid frame (bad magic, check word, type,
 *            flags, length over EVPOOL__WIRE_MAX_PAYLOAD, a field that must
 *            be zero for the type); f->type is 0.
 *  A BIG frame (flags EVPOOL__WF_BIG) is whole with its header alone:
 *  f->size is EVPOOL__WIRE_HDR and f->payload NULL (the caller reads
 *  f->len bytes from the socket).
 */
EVPOOL__INTERNAL int evpool__wire_decode(const void *buf, size_t len,
					 struct evpool__frame *f);

/* ---- shared memory rings (wire.c) ---------------------------------------- */

#define EVPOOL__SLOTS 256		/* jobs in flight per worker, at most */
#define EVPOOL__RING (64 * 1024)	/* bytes of each ring */
/** Frames up to this size go in a ring; larger payloads take the socket. */
#define EVPOOL__RING_FRAME_MAX (EVPOOL__RING / 4)

/** A job's slot word: (seq << 2) | state. */
enum { EVPOOL__SLOT_PENDING = 1, EVPOOL__SLOT_STARTED = 2,
       EVPOOL__SLOT_CANCELLED = 3 };

/** Which side sleeps (index of evpool__shm.sleeping). */
enum { EVPOOL__SIDE_PROXY = 0, EVPOOL__SIDE_WORKER = 1 };

struct evpool__ring_idx {
	_Alignas(64) _Atomic uint64_t tail;	/* bytes ever produced */
	_Alignas(64) _Atomic uint64_t head;	/* bytes ever consumed */
};

/** The block a proxy and its worker process share. */
struct evpool__shm {
	_Atomic uint64_t slot[EVPOOL__SLOTS];
	struct evpool__ring_idx down, up;
	_Alignas(64) _Atomic uint32_t sleeping[2][16];	/* [side][0] */
	_Alignas(64) unsigned char down_data[EVPOOL__RING];
	_Alignas(64) unsigned char up_data[EVPOOL__RING];
};

/** One side's view of one ring. */
struct evpool__ring {
	struct evpool__ring_idx *idx;
	unsigned char *data;
	uint64_t mine;		/* producer: tail; consumer: head (ours) */
	uint64_t seen;		/* the other index, last validated value */
};

EVPOOL__INTERNAL void evpool__ring_init(struct evpool__ring *r,
					struct evpool__ring_idx *idx,
					unsigned char *data, bool producer);
/**
 * Producer: append a frame (its payload in the ring, or only its header if
 * @p flags has EVPOOL__WF_BIG).  Published at once (release).
 * @return 0, -EAGAIN (no room now), or EVPOOL_EPROTO (the consumer's index
 *         is impossible: the peer is corrupt).
 */
EVPOOL__INTERNAL int evpool__ring_put(struct evpool__ring *r, unsigned type,
				      unsigned flags, int32_t aux,
				      uint64_t fn, uint64_t seq,
				      const void *data, size_t len);
/** evpool__ring_put() with the payload in @p niov pieces of @p len bytes
 *  in all (copied one after the other). */
EVPOOL__INTERNAL int evpool__ring_putv(struct evpool__ring *r, unsigned type,
				       unsigned flags, int32_t aux,
				       uint64_t fn, uint64_t seq,
				       const struct iovec *iov, int niov,
				       size_t len);
/** Producer: bytes free (for a frame of @p len: would it fit?). */
EVPOOL__INTERNAL bool evpool__ring_fits(struct evpool__ring *r, size_t len);
/**
 * Consumer: the next frame of a type in @p allowed, left in place (its
 * payload points into the ring) until evpool__ring_done().
 * @return 1, 0 (empty), or EVPOOL_EPROTO.
 */
EVPOOL__INTERNAL int evpool__ring_get(struct evpool__ring *r, unsigned allowed,
				      struct evpool__frame *f);
/** Consumer: release the frame evpool__ring_get() returned. */
EVPOOL__INTERNAL void evpool__ring_done(struct evpool__ring *r,
					const struct evpool__frame *f);
/** Consumer: anything published and not yet taken? */
EVPOOL__INTERNAL bool evpool__ring_ready(const struct evpool__ring *r);

/* ---- the fork server (forkserver.c; the host's side: fs-host.c) -------- */

/** Control requests (see forkserver.c): one message each. */
enum { EVPOOL__FS_SPAWN = 1, EVPOOL__FS_EXIT = 2, EVPOOL__FS_STANDBY = 3 };

struct evpool__fs_req {
	uint32_t op;
	uint32_t id;
};

struct evpool__fs_rep {
	int32_t err;		/* 0 or -errno */
	int32_t pid;
};

/** Descriptors a SPAWN reply carries: socket, reap, memfd, efd up, down. */
#define EVPOOL__FS_NFDS 5

/** Main of a fork server (@p standby: a standby copy, idle until asked),
 *  serving control socket @p ctl.  Never returns. */
EVPOOL__INTERNAL void evpool__fs_main(int ctl, const struct evpool *pool,
				      bool standby)
	__attribute__((noreturn));

/** The host's handle on a pool's fork server (in struct proc_pool). */
struct evpool__fs {
	pid_t pid;			/* the server if it is our child, else 0 */
	int ctl;			/* SOCK_SEQPACKET; -1 once gone */
	int sb;				/* its standby's; -1: none */
	bool running;			/* between start and stop */
	const struct evpool *pool;
	atomic_uint gen;		/* numbers the servers, from 1 */
	atomic_uint_fast64_t restarts;	/* servers replaced */
	pthread_mutex_t mu;		/* one request at a time; the fields */
	struct evpool__fs *next;	/* the atfork registry */
	bool registered;
};

/** One worker process as its proxy sees it. */
struct evpool__child {
	pid_t pid;			/* 0: none */
	int sock;			/* big payloads (SOCK_STREAM, non-blocking) */
	int reap;			/* to the fork server: kill / status */
	int efd_up;			/* the worker wakes us here */
	int efd_down;			/* we wake the worker here */
	struct evpool__shm *shm;	/* shared with the worker */
};

/** What a new worker process gets from the fork server. */
struct evpool__child_fds {
	int sock, efd_up, efd_down;
	struct evpool__shm *shm;
};

/** Fork the fork server for @p pool (called by pool_start). */
EVPOOL__INTERNAL int evpool__fs_start(struct evpool__fs *fs,
				      const struct evpool *pool);
/** Shut it down and waitpid() it.  Its workers must be gone already. */
EVPOOL__INTERNAL void evpool__fs_stop(struct evpool__fs *fs);
/**
 * Ask for a new worker process (named after worker @p id).  It runs the
 * initializer and then sends READY; waiting for that is the caller's job.
 * A fork server found dead is replaced first (evpool__fs_check()).
 * @param gen  receives the generation of the server that forked it: the
 *             worker dies with that server (fs->gen moves on then).
 * @return 0 or a negative code (EVPOOL_ESPAWN with a message).
 */
EVPOOL__INTERNAL int evpool__fs_spawn(struct evpool__fs *fs, unsigned id,
				      struct evpool__child *c, unsigned *gen);
/**
 * If the fork server has died, put its standby (or a new fork of the
 * host) in its place; fs->restarts counts it.  Cheap when it lives (one
 * poll()).  @return 0 or -errno (no server could be had).
 */
EVPOOL__INTERNAL int evpool__fs_check(struct evpool__fs *fs);
/** Ask the fork server to SIGKILL the worker (if not already reaped). */
EVPOOL__INTERNAL void evpool__child_kill(struct evpool__child *c);
/**
 * Wait up to @p timeout_ms (-1: for ever) for the worker's wait status,
 * which the fork server sends once it has reaped it.
 * @return 0 (*status set), -ETIMEDOUT, or -EPIPE (fork server gone: status
 *         unknown).
 */
EVPOOL__INTERNAL int evpool__child_status(struct evpool__child *c,
					  int timeout_ms, int *status);
/** Close the proxy's descriptors of @p c (the fork server then forgets it,
 *  killing it first if it still runs). */
EVPOOL__INTERNAL void evpool__child_close(struct evpool__child *c);

/* ---- the worker process (child.c) ---------------------------------------- */

/**
 * Main of a worker process: called by the fork server in the new child,
 * with its ends of the channels.  Never returns.
 */
EVPOOL__INTERNAL void evpool__proc_child_main(const struct evpool__child_fds *c,
					      const struct evpool *pool,
					      unsigned id)
	__attribute__((noreturn));

/** Close every descriptor above 2 except the @p n in @p keep. */
EVPOOL__INTERNAL void evpool__close_fds_except(const int *keep, int n);

/** Empty an eventfd or the read end of a pipe (non-blocking). */
EVPOOL__INTERNAL void evpool__efd_drain(int fd);

/** Wake @p side if it announced that it sleeps (after publishing). */
EVPOOL__INTERNAL void evpool__shm_wake(struct evpool__shm *shm, int side,
				       int efd);

#endif /* EVPOOL_PROC_INTERNAL_H */

/*
 * proc-internal.h — process mode: private declarations shared by proc.c
 * (the mode ops: proxy threads and the worker process's main loop),
 * forkserver.c (the fork server and the host's side of it) and wire.c (the
 * frame format between a proxy and its worker process).
 *
 * DESIGN (process mode in one page)
 *
 *   host process                         fork server (single-threaded)
 *   ┌──────────────────────────┐  ctl   ┌───────────────────────────┐
 *   │ worker thread = PROXY ───┼────────┤ forks workers on request,  │
 *   │   sock ══ frames ══╗     │  reap  │ reaps them, reports their  │
 *   │   reap ────────────╫─────┼────────┤ wait status, kills them on │
 *   │   cancel fd (kill) ║     │        │ request, dies with the host│
 *   └────────────────────╫─────┘        └─────────────┬─────────────┘
 *                        ╚══════ worker process (child of the fork server)
 *
 *  The core's worker threads stay: in process mode each one is a proxy for
 *  one worker process.  It ships a job as a JOB frame (function address,
 *  timeout, input bytes) over a stream socket and waits, in poll(), for the
 *  socket, for its cancel fd and for the job's deadline.  The worker process
 *  answers with EMIT frames (partial results, pushed on the job's mailbox as
 *  evpool_ctx_emit() does in thread mode) and one RESULT frame.  EOF on the
 *  socket means the worker died: the proxy fetches its wait status from the
 *  fork server, completes only that job with EVPOOL_ECRASHED, and starts a
 *  replacement.  The rest of the library never knows the difference.
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
 *  Workers also have PR_SET_PDEATHSIG against the fork server.
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

#include "evpool-internal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- wire format (wire.c) ------------------------------------------------ */

/*
 * A frame is a 32-byte header and `len` payload bytes, padded with zeros to a
 * multiple of 16 so that every payload a reader keeps in its buffer starts
 * 16-byte aligned (a job may cast its input to a struct).  Both ends are the
 * same program on the same machine: fields are in native byte order.
 */
#define EVPOOL__WIRE_MAGIC 0x31505645u		/* "EVP1" */
#define EVPOOL__WIRE_HDR 32u
#define EVPOOL__WIRE_ALIGN 16u
/** Largest input, result or partial result: 1 GiB. */
#define EVPOOL__WIRE_MAX_PAYLOAD ((uint64_t)1 << 30)

enum evpool__wire_type {
	EVPOOL__W_JOB = 1,	/* proxy -> worker: aux timeout ms, fn, input */
	EVPOOL__W_STOP = 2,	/* proxy -> worker: run fini and exit */
	EVPOOL__W_READY = 3,	/* worker -> proxy: aux pid, initializer done */
	EVPOOL__W_EMIT = 4,	/* worker -> proxy: a partial result */
	EVPOOL__W_RESULT = 5,	/* worker -> proxy: aux status, result bytes */
};

/** Frame types a worker may send, and those a proxy may send. */
#define EVPOOL__W_FROM_WORKER                                                  \
	((1u << EVPOOL__W_READY) | (1u << EVPOOL__W_EMIT) |                    \
	 (1u << EVPOOL__W_RESULT))
#define EVPOOL__W_FROM_PROXY ((1u << EVPOOL__W_JOB) | (1u << EVPOOL__W_STOP))

struct evpool__wire_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;		/* 0: reserved */
	int32_t aux;		/* per type, see enum evpool__wire_type */
	uint32_t check;		/* a hash of the other fields */
	uint64_t len;		/* payload bytes after the header */
	uint64_t fn;		/* JOB: the job function's address; else 0 */
};

/** A decoded frame. */
struct evpool__frame {
	unsigned type;
	int32_t aux;
	uint64_t fn;
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
				       unsigned type, int32_t aux,
				       uint64_t len, uint64_t fn);

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
 */
EVPOOL__INTERNAL int evpool__wire_decode(const void *buf, size_t len,
					 struct evpool__frame *f);

/**
 * A frame reader over a byte stream.  Frames that fit its buffer are decoded
 * in place; a larger one gets a malloc'd buffer of its exact payload size,
 * which the reader fills directly (no copy of a 64 MiB input) and hands to
 * the caller (f->owned).
 */
struct evpool__rd {
	unsigned char *buf;
	size_t cap, head, tail;
	unsigned char *big;		/* payload of a large frame, filling */
	size_t big_have, big_pad;
	struct evpool__frame big_f;
};

EVPOOL__INTERNAL int evpool__rd_init(struct evpool__rd *rd, size_t cap);
EVPOOL__INTERNAL void evpool__rd_free(struct evpool__rd *rd);
/** Drop everything buffered (a new worker process). */
EVPOOL__INTERNAL void evpool__rd_reset(struct evpool__rd *rd);
/** Where the next read(2) should go, and how much room there is (> 0). */
EVPOOL__INTERNAL void *evpool__rd_space(struct evpool__rd *rd, size_t *room);
/** @p n bytes were read into the space. */
EVPOOL__INTERNAL void evpool__rd_commit(struct evpool__rd *rd, size_t n);
/**
 * The next frame of a type in @p allowed (a mask of 1u << type).
 * @return 1 (f filled; an in-place payload is valid until the next call
 *         on @p rd), 0 (need more bytes), EVPOOL_EPROTO or -ENOMEM.
 */
EVPOOL__INTERNAL int evpool__rd_next(struct evpool__rd *rd, unsigned allowed,
				     struct evpool__frame *f);
/** True if bytes are buffered that do not make a whole frame yet. */
EVPOOL__INTERNAL bool evpool__rd_pending(const struct evpool__rd *rd);

/* ---- the fork server (forkserver.c) -------------------------------------- */

/** The host's handle on a pool's fork server (in struct proc_pool). */
struct evpool__fs {
	pid_t pid;			/* 0: not running */
	int ctl;			/* SOCK_SEQPACKET; -1 once gone */
	pthread_mutex_t mu;		/* one request at a time */
	struct evpool__fs *next;	/* the atfork registry */
	bool registered;
};

/** One worker process as its proxy sees it. */
struct evpool__child {
	pid_t pid;			/* 0: none */
	int sock;			/* frames (SOCK_STREAM, non-blocking) */
	int reap;			/* to the fork server: kill / status */
};

/** Fork the fork server for @p pool (called by pool_start). */
EVPOOL__INTERNAL int evpool__fs_start(struct evpool__fs *fs,
				      const struct evpool *pool);
/** Shut it down and waitpid() it.  Its workers must be gone already. */
EVPOOL__INTERNAL void evpool__fs_stop(struct evpool__fs *fs);
/**
 * Ask for a new worker process (named after worker @p id).  It runs the
 * initializer and then sends READY; waiting for that is the caller's job.
 * @return 0 or a negative code (EVPOOL_ESPAWN with a message).
 */
EVPOOL__INTERNAL int evpool__fs_spawn(struct evpool__fs *fs, unsigned id,
				      struct evpool__child *c);
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

/* ---- the worker process (proc.c) ----------------------------------------- */

/**
 * Main of a worker process: called by the fork server in the new child,
 * with @p sock its end of the frame socket.  Never returns.
 */
EVPOOL__INTERNAL void evpool__proc_child_main(int sock,
					      const struct evpool *pool,
					      unsigned id)
	__attribute__((noreturn));

/** Close every descriptor above 2 except @p keep. */
EVPOOL__INTERNAL void evpool__close_fds_except(int keep);

#endif /* EVPOOL_PROC_INTERNAL_H */

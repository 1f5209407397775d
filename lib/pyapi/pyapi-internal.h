/*
 * pyapi-internal.h — private declarations shared by the Python-style API
 * (lib/pyapi/: chunk.c, map.c, imap.c, futures.c, named-queues.c,
 * results.c, scoped.c; and lib/config/env-argv.c).  Never installed.
 *
 * DESIGN
 *  Everything here is built on the core's evpool__submit() with a SINK: the
 *  finished job is handed to a function on the finishing thread instead of a
 *  mailbox, so the blocking calls work without a running loop, and nothing of
 *  an internal job reaches the user's callbacks or the pool-wide ones.  Where
 *  a user callback is owed (apply_async, map_async) it is delivered on the
 *  loop thread: apply_async is an ordinary job; an aggregate (a map) pushes
 *  one EVPOOL__NODE_CALL node when its last chunk has finished.
 *
 *  CHUNKS.  map, starmap and imap run their items in chunks (spec.chunksize
 *  items each).  A chunk is ONE job whose function is evpool__chunk_run() and
 *  whose byte input is a self-contained frame: a header (the user's function,
 *  the item count, the first item's index) then each item (its pointer input
 *  and its bytes).  The runner calls the user's function once per item with a
 *  ctx of its own and writes one byte frame of results (status, pointer
 *  result, bytes).  Because input and output are bytes owned by the job, the
 *  same chunk runs on a worker thread or in a worker process (where pointer
 *  fields are refused at submit: -EINVAL), and a chunk that times
 *  out or is cancelled leaves nothing dangling: its late output is the job's
 *  to free.  Function pointers travel in the frame: a worker process is
 *  forked from this program, so the address is the same there.
 *
 *  HANDLE LIFETIMES.  Handles (map, imap, results collection, as_completed)
 *  pin the pool's memory (evpool__pool_pin(), as a job does), so a handle may
 *  outlive evpool_free(): it can still be read, waited on (returns at once:
 *  every job finished inside evpool_free()) and freed.
 *
 *  LOCK ORDER: our mutexes (map->mu, imap->mu, results->mu) are leaves taken
 *  below every library lock: a sink holds one only to update its own state,
 *  and never calls into the pool while holding it.
 */
#ifndef EVPOOL_PYAPI_INTERNAL_H
#define EVPOOL_PYAPI_INTERNAL_H

#include "core/evpool-internal.h"

/* ---- sinks (map.c) ------------------------------------------------------ */

/** Sink helper: release the library's hold and reference on @p job. */
EVPOOL__INTERNAL void evpool__sink_release(struct evpool_job *job);

/* ---- chunk frames (map.c) ----------------------------------------------- */

/** Every item's bytes start at a multiple of this (a record may be cast). */
#define EVPOOL__CHUNK_ALIGN 16u

/** A growing byte buffer. */
struct evpool__buf {
	unsigned char *p;
	size_t len, cap;
};

/** Start a chunk frame for @p fn whose first item has index @p first. */
EVPOOL__INTERNAL int evpool__chunk_begin(struct evpool__buf *b, evpool_fn fn,
					 uint64_t first, uint32_t tag);
/** Append one item (@p arg, and @p len bytes at @p data). */
EVPOOL__INTERNAL int evpool__chunk_add(struct evpool__buf *b, void *arg,
				       const void *data, size_t len);
/** The number of items in a frame built so far. */
EVPOOL__INTERNAL uint32_t evpool__chunk_count(const struct evpool__buf *b);

/** What a chunk job's parent-side input says about it. */
struct evpool__chunk_info {
	uint64_t first;		/* index of its first item */
	uint32_t count;		/* items */
	uint32_t tag;		/* the submitter's own number */
};
/** Read the header of a chunk frame (a chunk job's input, or a frame
 *  being built).  @return 0 or -EINVAL. */
EVPOOL__INTERNAL int evpool__chunk_info(const void *frame, size_t len,
					struct evpool__chunk_info *ci);

/** The job function of every chunk (runs on a worker or in a process). */
EVPOOL__INTERNAL int evpool__chunk_run(struct evpool_ctx *ctx);
/** A remote worker's chunk runner: the frame's items run with @p fn, the
 *  function the worker found by name; the frame's own pointers (its
 *  function, the items' args: addresses in the client) are ignored, and
 *  no pointer result goes back. */
EVPOOL__INTERNAL int evpool__chunk_run_as(struct evpool_ctx *ctx, evpool_fn fn);
/** The function a chunk frame names (an address in the submitter), or NULL
 *  when @p frame is not one. */
EVPOOL__INTERNAL evpool_fn evpool__chunk_fn(const void *frame, size_t len);

/** Walks the results of a finished chunk job (and its input, for .arg). */
struct evpool__chunk_out {
	const unsigned char *p, *end;	/* result frame */
	const unsigned char *in, *in_end; /* input frame, after the header */
	int job_status;		/* nonzero: every item gets it */
	uint32_t left;
	bool remote;		/* from a remote worker: no pointer results */
};
EVPOOL__INTERNAL void evpool__chunk_out_init(struct evpool__chunk_out *o,
					     const struct evpool_job *job,
					     uint32_t count);
/** The next item's result with its .arg; .data points into the job's
 *  result bytes.  A malformed frame gives EVPOOL_EPROTO for the remaining
 *  items.  .index is left to the caller. */
EVPOOL__INTERNAL void evpool__chunk_out_next(struct evpool__chunk_out *o,
					     struct evpool_result *res);
/** Give @p res its own copy of its bytes (they pointed into a job's result),
 *  to outlive the job; out of memory makes it -ENOMEM with no bytes. */
EVPOOL__INTERNAL void evpool__result_own(struct evpool_result *res);
/** Fill @p res (status, pointer result, argument) from a finished @p job,
 *  moving the job's result bytes into it. */
EVPOOL__INTERNAL void evpool__result_take(struct evpool_result *res,
					  struct evpool_job *job);

/** Submit the chunk built in @p b (kept: the caller may retry) with @p sink.  @p flags are
 *  EVPOOL_SUBMIT_* and @p wait_ms their wait.  Errors as evpool__submit(). */
EVPOOL__INTERNAL int evpool__chunk_submit(struct evpool *pool,
					  struct evpool_queue *q,
					  struct evpool__buf *b,
					  evpool__sink_fn sink, void *done_arg,
					  unsigned flags, int wait_ms,
					  struct evpool_job **jobp);

/** How many jobs of @p q may run at once, for the map family's defaults:
 *  its max_workers; for a remote pool (whose workers are elsewhere, their
 *  number unknown) EVPOOL__REMOTE_PARALLELISM. */
#define EVPOOL__REMOTE_PARALLELISM 16u
EVPOOL__INTERNAL size_t evpool__map_parallelism(struct evpool_queue *q);
/** The default chunk size: ceil(n / (4 x evpool__map_parallelism(q))),
 *  >= 1. */
EVPOOL__INTERNAL size_t evpool__default_chunksize(struct evpool_queue *q,
						  size_t n);
/** Check the map family's job function against the pool's mode: a remote
 *  pool sends chunks by the function's registered name.
 *  @return 0 or -EINVAL (message set, naming @p who). */
EVPOOL__INTERNAL int evpool__check_map_fn(struct evpool *pool, const char *who,
					  evpool_fn fn);

/** Check a job function and items against the pool's mode.
 *  @return 0 or -EINVAL (message set, naming @p who). */
EVPOOL__INTERNAL int evpool__check_items(struct evpool *pool, const char *who,
					 const struct evpool_item *items,
					 size_t n);

/* ---- results collections (results.c) ------------------------------------ */

/** Append one result to @p rc (takes .data, a malloc'd copy, or frees it). */
EVPOOL__INTERNAL void evpool__results_add(struct evpool_results *rc,
					  struct evpool_result *res);
/** Count @p n results that will come through evpool__results_add(). */
EVPOOL__INTERNAL void evpool__results_expect(struct evpool_results *rc,
					     size_t n);
/** Undo evpool__results_expect() for results that will never come. */
EVPOOL__INTERNAL void evpool__results_unexpect(struct evpool_results *rc,
					       size_t n);
/** Submit @p spec into @p rc (its sink keeps the result there); @p jobp,
 *  if not NULL, receives a handle.  @return as evpool_submit_job(). */
EVPOOL__INTERNAL int evpool__results_submit_spec(struct evpool_results *rc,
						 const struct evpool_job_spec *spec,
						 struct evpool_job **jobp);
EVPOOL__INTERNAL void evpool__results_ref(struct evpool_results *rc);
EVPOOL__INTERNAL void evpool__results_unref(struct evpool_results *rc);
EVPOOL__INTERNAL struct evpool *evpool__results_pool(struct evpool_results *rc);

/* ---- configuration from env and argv (lib/config/env-argv.c) ------------ */

/**
 * Apply every EVPOOL_* entry of @p envp (a NULL-terminated "NAME=value"
 * array, as environ) to @p cfg: all or nothing.  Unknown EVPOOL_* names are
 * ignored (other tools share the prefix).  The clean entry point for a fuzzer.
 * @return 0 or -EINVAL (evpool_errmsg(): "EVPOOL_MAX_WORKERS=abc: not a
 * positive integer").
 */
EVPOOL__INTERNAL int evpool__config_from_environ(struct evpool_config *cfg,
						 char *const *envp);
/**
 * Consume every --evpool-* argument of argv[0..*argc) (--name=value or
 * --name value; stops at "--"), all or nothing; *help is set when
 * --evpool-help was seen (nothing printed).  The fuzzer's argv entry point.
 * @return 0 or -EINVAL.
 */
EVPOOL__INTERNAL int evpool__config_parse_argv(struct evpool_config *cfg,
					       int *argc, char **argv,
					       bool *help);

#endif /* EVPOOL_PYAPI_INTERNAL_H */

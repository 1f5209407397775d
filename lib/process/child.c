/*
 * child.c — process mode: the worker process's main loop
 * (evpool__proc_child_main(), called by the fork server in the new child).
 * It applies the resource limits, runs the initializer, announces READY,
 * then takes JOB frames from the down ring, runs each and sends its EMIT
 * and RESULT frames up the other ring.
 *
 * In the worker process the job runs with a ctx whose emit hook writes EMIT
 * frames; cancellation is not visible there (the process is killed instead),
 * so evpool_ctx_cancelled() is 0 and evpool_ctx_emit() only fails if the
 * parent is gone, in which case the worker exits.
 */
#include "process/proc-internal.h"

#include <event2/buffer.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

struct child {
	struct evpool__child_fds fds;
	struct evpool__ring down, up;	/* we consume down, produce up */
	uint64_t seq;			/* the job running */
};

/* Sleep until the proxy wakes us; @p ready is looked at once more after
 * announcing it (INV-RING, lib/core/README.md).  EOF on the socket (the
 * proxy let go of us): exit. */
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
			evpool__efd_drain(ch->fds.efd_down);
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

/* Send a frame up, its payload in @p n pieces of @p len bytes in all;
 * wait for room in the ring. */
static void
child_putv(struct child *ch, unsigned type, int32_t aux, uint64_t seq,
	   const struct iovec *v, int n, size_t len)
{
	bool big = evpool__wire_size(len) > EVPOOL__RING_FRAME_MAX;

	for (;;) {
		int r = evpool__ring_putv(&ch->up, type,
					  big ? EVPOOL__WF_BIG : 0, aux, 0, seq,
					  v, n, len);
		if (r == 0)
			break;
		if (r != -EAGAIN)
			_exit(71);
		want_room = big ? 0 : len;
		child_sleep(ch, up_room);
	}
	evpool__shm_wake(ch->fds.shm, EVPOOL__SIDE_PROXY, ch->fds.efd_up);
	if (big)
		for (int i = 0; i < n; i++)
			child_sock(ch, true, v[i].iov_base, v[i].iov_len);
}

static void
child_put(struct child *ch, unsigned type, int32_t aux, uint64_t seq,
	  const void *data, size_t len)
{
	struct iovec v = { (void *)(uintptr_t)data, len };

	child_putv(ch, type, aux, seq, &v, len ? 1 : 0, len);
}

/* The RESULT of a job: its output evbuffer's chains, or its bytes. */
static void
child_result(struct child *ch, struct evpool_ctx *ctx, int status,
	     uint64_t seq)
{
	struct iovec stack[16], *v = stack;
	int n;

	if (!ctx->out) {
		child_put(ch, EVPOOL__W_RESULT, status, seq, ctx->rbytes,
			  ctx->rlen);
		return;
	}
	n = evbuffer_peek(ctx->out, -1, NULL, NULL, 0);
	if (n > 16 && !(v = malloc((size_t)n * sizeof(*v))))
		_exit(12);
	n = n > 0 ? evbuffer_peek(ctx->out, -1, NULL, v, n) : 0;
	child_putv(ch, EVPOOL__W_RESULT, status, seq, v, n,
		   evbuffer_get_length(ctx->out));
	if (v != stack)
		free(v);
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
	/* An initializer that fails: the worker never says READY, and the
	 * host fails the jobs meant for it with EVPOOL_ESPAWN. */
	if (evpool__run_initializer(cfg) != 0)
		_exit(EVPOOL__EXIT_INIT_FAILED);
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
		/* The result first: the output may reference the input (an
		 * evbuffer echo), which lives until the frame is done. */
		child_result(&ch, &ctx, status, f.seq);
		free(ctx.rbytes);
		if (ctx.out)
			evbuffer_free(ctx.out);
		evpool__ctx_release_input(&ctx);
		free(input);
		evpool__ring_done(&ch.down, &f);
	}
}

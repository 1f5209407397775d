/*
 * wire.c — the frame format between a proxy thread and its worker process,
 * and a frame reader over a byte stream.
 *
 * DESIGN: every frame is a fixed 32-byte header (magic, type, flags, an aux
 * word, a check word, payload length, function address) followed by the
 * payload, padded to 16 bytes.  The decoder trusts nothing: a worker process
 * runs arbitrary code and may die half-way through a write or scribble on its
 * socket, so a bad magic, check word, type, flag, or a length over 1 GiB is
 * EVPOOL_EPROTO — the job fails, never the parent — and a frame that is not
 * all there yet is "need more".  evpool__wire_decode() is pure (no I/O, no
 * allocation, no state) so that it can be fuzzed on its own.
 *
 * The rings live in memory shared with a worker process: each side owns one
 * index (the producer the tail, the consumer the head), keeps its own copy of
 * it, and treats the other's as untrusted.  A frame is contiguous in a ring:
 * one that would cross the end is preceded by a PAD frame (or, with less
 * than a header left, by nothing: both sides skip such a tail).  A frame is
 * published by one release store of the tail after it is written whole, so
 * a consumer never sees half a frame; anything else is EVPOOL_EPROTO.
 */
#include "process/proc-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t
wire_check(const struct evpool__wire_hdr *h)
{
	uint64_t x = (uint64_t)h->magic ^ ((uint64_t)h->type << 32) ^
		     ((uint64_t)h->flags << 48) ^
		     ((uint64_t)(uint32_t)h->aux << 16);

	x ^= h->len * 0x9e3779b97f4a7c15u;
	x ^= h->fn * 0xc2b2ae3d27d4eb4fu;
	x ^= h->seq * 0x165667b19e3779f9u;
	x ^= h->reserved;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 29;
	return (uint32_t)x ^ (uint32_t)(x >> 32);
}

void
evpool__wire_hdr(struct evpool__wire_hdr *h, unsigned type, unsigned flags,
		 int32_t aux, uint64_t len, uint64_t fn, uint64_t seq)
{
	h->magic = EVPOOL__WIRE_MAGIC;
	h->type = (uint16_t)type;
	h->flags = (uint16_t)flags;
	h->aux = aux;
	h->len = len;
	h->fn = fn;
	h->seq = seq;
	h->reserved = 0;
	h->check = wire_check(h);
}

/* Validate a header; @return 0 or EVPOOL_EPROTO. */
static int
hdr_valid(const struct evpool__wire_hdr *h)
{
	bool big = h->flags == EVPOOL__WF_BIG;

	if (h->magic != EVPOOL__WIRE_MAGIC || (h->flags != 0 && !big) ||
	    h->reserved != 0 || h->check != wire_check(h) ||
	    h->len > EVPOOL__WIRE_MAX_PAYLOAD || (big && h->len == 0))
		return EVPOOL_EPROTO;
	switch (h->type) {
	case EVPOOL__W_JOB:
		return h->fn != 0 && h->aux >= 0 ? 0 : EVPOOL_EPROTO;
	case EVPOOL__W_STOP:
	case EVPOOL__W_PAD:
		return h->fn == 0 && h->seq == 0 && h->aux == 0 && !big &&
				       (h->type == EVPOOL__W_PAD || h->len == 0)
			       ? 0 : EVPOOL_EPROTO;
	case EVPOOL__W_READY:
		return h->fn == 0 && h->seq == 0 && h->len == 0 && h->aux > 0
			       ? 0 : EVPOOL_EPROTO;
	case EVPOOL__W_EMIT:
		return h->fn == 0 && h->aux == 0 ? 0 : EVPOOL_EPROTO;
	case EVPOOL__W_RESULT:
		return h->fn == 0 ? 0 : EVPOOL_EPROTO;
	default:
		return EVPOOL_EPROTO;
	}
}

int
evpool__wire_decode(const void *buf, size_t len, struct evpool__frame *f)
{
	struct evpool__wire_hdr h;
	size_t size;

	memset(f, 0, sizeof(*f));
	if (len < EVPOOL__WIRE_HDR)
		return 0;
	memcpy(&h, buf, sizeof(h)); /* no alignment assumed, read once */
	if (hdr_valid(&h) < 0)
		return EVPOOL_EPROTO;
	size = h.flags & EVPOOL__WF_BIG ? EVPOOL__WIRE_HDR
					: evpool__wire_size((size_t)h.len);
	f->size = size;
	if (len < size)
		return 0;
	f->type = h.type;
	f->flags = h.flags;
	f->aux = h.aux;
	f->fn = h.fn;
	f->seq = h.seq;
	f->len = (size_t)h.len;
	if (h.len && !(h.flags & EVPOOL__WF_BIG))
		f->payload = (const unsigned char *)buf + EVPOOL__WIRE_HDR;
	return 1;
}

/* ---- rings in shared memory ---------------------------------------------- */

void
evpool__ring_init(struct evpool__ring *r, struct evpool__ring_idx *idx,
		  unsigned char *data, bool producer)
{
	r->idx = idx;
	r->data = data;
	r->mine = producer ? atomic_load(&idx->tail) : atomic_load(&idx->head);
	r->seen = producer ? atomic_load(&idx->head) : atomic_load(&idx->tail);
}

/* Bytes a frame takes in a ring at @p pos, counting a skip to the start. */
static size_t
ring_need(uint64_t pos, size_t size, size_t *skip)
{
	size_t till_end = EVPOOL__RING - (size_t)(pos % EVPOOL__RING);

	*skip = size > till_end ? till_end : 0;
	return *skip + size;
}

bool
evpool__ring_fits(struct evpool__ring *r, size_t len)
{
	size_t size = evpool__wire_size(len), skip;
	uint64_t head = atomic_load_explicit(&r->idx->head,
					     memory_order_acquire);
	uint64_t used = r->mine - head;

	if (size > EVPOOL__RING_FRAME_MAX)
		size = EVPOOL__WIRE_HDR; /* a BIG frame's header */
	return used <= EVPOOL__RING &&
	       used + ring_need(r->mine, size, &skip) <= EVPOOL__RING;
}

int
evpool__ring_putv(struct evpool__ring *r, unsigned type, unsigned flags,
		  int32_t aux, uint64_t fn, uint64_t seq,
		  const struct iovec *iov, int niov, size_t len)
{
	struct evpool__wire_hdr h;
	size_t size = flags & EVPOOL__WF_BIG ? EVPOOL__WIRE_HDR
					     : evpool__wire_size(len);
	uint64_t head = atomic_load_explicit(&r->idx->head,
					     memory_order_acquire);
	uint64_t used = r->mine - head;
	size_t skip, pos;

	if (used > EVPOOL__RING || head < r->seen)
		return EVPOOL_EPROTO; /* the consumer's index went wrong */
	r->seen = head;
	if (used + ring_need(r->mine, size, &skip) > EVPOOL__RING)
		return -EAGAIN;
	if (skip) {
		if (skip >= EVPOOL__WIRE_HDR) {
			evpool__wire_hdr(&h, EVPOOL__W_PAD, 0, 0,
					 skip - EVPOOL__WIRE_HDR, 0, 0);
			memcpy(r->data + r->mine % EVPOOL__RING, &h, sizeof(h));
		}
		r->mine += skip;
	}
	pos = (size_t)(r->mine % EVPOOL__RING);
	evpool__wire_hdr(&h, type, flags, aux, len, fn, seq);
	memcpy(r->data + pos, &h, sizeof(h));
	if (len && !(flags & EVPOOL__WF_BIG)) {
		/* pieces (an evbuffer's chains) go in one after the other:
		 * the one copy of the crossing */
		size_t at = pos + EVPOOL__WIRE_HDR;

		for (int i = 0; i < niov; i++) {
			memcpy(r->data + at, iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
	}
	r->mine += size;
	atomic_store_explicit(&r->idx->tail, r->mine, memory_order_release);
	return 0;
}

int
evpool__ring_put(struct evpool__ring *r, unsigned type, unsigned flags,
		 int32_t aux, uint64_t fn, uint64_t seq, const void *data,
		 size_t len)
{
	struct iovec v = { (void *)(uintptr_t)data, len };

	return evpool__ring_putv(r, type, flags, aux, fn, seq, &v, len ? 1 : 0,
				 len);
}

bool
evpool__ring_ready(const struct evpool__ring *r)
{
	return atomic_load_explicit(&r->idx->tail, memory_order_acquire) !=
	       r->mine;
}

int
evpool__ring_get(struct evpool__ring *r, unsigned allowed,
		 struct evpool__frame *f)
{
	for (;;) {
		uint64_t tail = atomic_load_explicit(&r->idx->tail,
						     memory_order_acquire);
		uint64_t avail = tail - r->mine;
		size_t pos = (size_t)(r->mine % EVPOOL__RING);
		size_t till_end = EVPOOL__RING - pos;
		int rc;

		if (avail == 0)
			return 0;
		if (avail > EVPOOL__RING || tail < r->seen)
			return EVPOOL_EPROTO;
		r->seen = tail;
		if (till_end < EVPOOL__WIRE_HDR) {
			/* Too little left for a header: skipped. */
			if (avail < till_end)
				return EVPOOL_EPROTO;
			r->mine += till_end;
			continue;
		}
		rc = evpool__wire_decode(r->data + pos,
					 avail < till_end ? (size_t)avail
							  : till_end, f);
		if (rc == 0)
			return EVPOOL_EPROTO; /* published, yet not whole */
		if (rc < 0)
			return rc;
		if (f->type == EVPOOL__W_PAD) {
			r->mine += f->size;
			continue;
		}
		if (!(allowed & (1u << f->type)))
			return EVPOOL_EPROTO;
		return 1;
	}
}

void
evpool__ring_done(struct evpool__ring *r, const struct evpool__frame *f)
{
	r->mine += f->size;
	atomic_store_explicit(&r->idx->head, r->mine, memory_order_release);
}

void
evpool__shm_wake(struct evpool__shm *shm, int side, int efd)
{
	/* INV-RING (lib/core/README.md): pairs with the sleeper's store of
	 * its flag then look at the rings: either it sees what we published,
	 * or we see its flag. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&shm->sleeping[side][0], memory_order_relaxed) &&
	    atomic_exchange_explicit(&shm->sleeping[side][0], 0,
				     memory_order_relaxed)) {
		evpool__wake_fd(efd, sizeof(uint64_t));
	}
}

/* Empty an eventfd or the read end of a pipe (non-blocking).  One read
 * empties an eventfd (it returns the whole count); only a pipe that filled
 * the buffer is read again, so a wake-up costs one system call here, not
 * a second one that fails with EAGAIN. */
void
evpool__efd_drain(int fd)
{
	uint64_t v[8];

	while (read(fd, v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

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
 * The reader keeps small frames in one buffer and decodes them in place (a
 * burst of partial results costs one read(2) for many frames).  A frame too
 * large for the buffer gets a buffer of its own, filled by read(2) directly,
 * and handed to the caller without a copy.
 */
#include "proc-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t
wire_check(const struct evpool__wire_hdr *h)
{
	uint64_t x = (uint64_t)h->magic ^ ((uint64_t)h->type << 32) ^
		     ((uint64_t)h->flags << 48) ^
		     ((uint64_t)(uint32_t)h->aux << 16);

	x ^= h->len * 0x9e3779b97f4a7c15u;
	x ^= h->fn * 0xc2b2ae3d27d4eb4fu;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 29;
	return (uint32_t)x ^ (uint32_t)(x >> 32);
}

void
evpool__wire_hdr(struct evpool__wire_hdr *h, unsigned type, int32_t aux,
		 uint64_t len, uint64_t fn)
{
	h->magic = EVPOOL__WIRE_MAGIC;
	h->type = (uint16_t)type;
	h->flags = 0;
	h->aux = aux;
	h->len = len;
	h->fn = fn;
	h->check = wire_check(h);
}

/* Validate a header; @return 0 or EVPOOL_EPROTO. */
static int
hdr_valid(const struct evpool__wire_hdr *h)
{
	if (h->magic != EVPOOL__WIRE_MAGIC || h->flags != 0 ||
	    h->check != wire_check(h) || h->len > EVPOOL__WIRE_MAX_PAYLOAD)
		return EVPOOL_EPROTO;
	switch (h->type) {
	case EVPOOL__W_JOB:
		return h->fn != 0 && h->aux >= 0 ? 0 : EVPOOL_EPROTO;
	case EVPOOL__W_STOP:
		return h->fn == 0 && h->len == 0 && h->aux == 0 ? 0
							      : EVPOOL_EPROTO;
	case EVPOOL__W_READY:
		return h->fn == 0 && h->len == 0 && h->aux > 0 ? 0
							     : EVPOOL_EPROTO;
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
	memcpy(&h, buf, sizeof(h)); /* no alignment assumed */
	if (hdr_valid(&h) < 0)
		return EVPOOL_EPROTO;
	size = evpool__wire_size((size_t)h.len);
	f->size = size;
	if (len < size)
		return 0;
	f->type = h.type;
	f->aux = h.aux;
	f->fn = h.fn;
	f->len = (size_t)h.len;
	f->payload = h.len ? (const unsigned char *)buf + EVPOOL__WIRE_HDR : NULL;
	return 1;
}

/* ---- the reader ---------------------------------------------------------- */

int
evpool__rd_init(struct evpool__rd *rd, size_t cap)
{
	memset(rd, 0, sizeof(*rd));
	cap = (cap + EVPOOL__WIRE_ALIGN - 1) & ~(size_t)(EVPOOL__WIRE_ALIGN - 1);
	if (cap < 2 * EVPOOL__WIRE_HDR)
		cap = 2 * EVPOOL__WIRE_HDR;
	rd->buf = aligned_alloc(EVPOOL__WIRE_ALIGN, cap);
	if (!rd->buf)
		return -ENOMEM;
	rd->cap = cap;
	return 0;
}

void
evpool__rd_reset(struct evpool__rd *rd)
{
	free(rd->big);
	rd->big = NULL;
	rd->big_have = rd->big_pad = 0;
	rd->head = rd->tail = 0;
}

void
evpool__rd_free(struct evpool__rd *rd)
{
	evpool__rd_reset(rd);
	free(rd->buf);
	rd->buf = NULL;
}

bool
evpool__rd_pending(const struct evpool__rd *rd)
{
	return rd->big != NULL || rd->tail > rd->head;
}

void *
evpool__rd_space(struct evpool__rd *rd, size_t *room)
{
	if (rd->big) {
		/* The payload first, then its padding into the small buffer
		 * (which is empty while a large frame fills). */
		if (rd->big_have < rd->big_f.len) {
			*room = rd->big_f.len - rd->big_have;
			return rd->big + rd->big_have;
		}
		*room = rd->big_pad;
		return rd->buf;
	}
	if (rd->tail == rd->cap || (rd->head > 0 && rd->head == rd->tail)) {
		/* Keep alignment: head is always a multiple of 16. */
		memmove(rd->buf, rd->buf + rd->head, rd->tail - rd->head);
		rd->tail -= rd->head;
		rd->head = 0;
	}
	*room = rd->cap - rd->tail;
	return rd->buf + rd->tail;
}

void
evpool__rd_commit(struct evpool__rd *rd, size_t n)
{
	if (rd->big) {
		if (rd->big_have < rd->big_f.len)
			rd->big_have += n;
		else
			rd->big_pad -= n;
		return;
	}
	rd->tail += n;
}

int
evpool__rd_next(struct evpool__rd *rd, unsigned allowed,
		struct evpool__frame *f)
{
	int r;

	if (rd->big) {
		if (rd->big_have < rd->big_f.len || rd->big_pad > 0)
			return 0;
		*f = rd->big_f;
		f->payload = rd->big;
		f->owned = rd->big;
		rd->big = NULL;
		rd->big_have = 0;
		return 1;
	}
	r = evpool__wire_decode(rd->buf + rd->head, rd->tail - rd->head, f);
	if (r == 1) {
		if (!(allowed & (1u << f->type)))
			return EVPOOL_EPROTO;
		rd->head += f->size;
		return 1;
	}
	if (r < 0)
		return r;
	if (f->size > rd->cap) {
		/* Too large for the buffer: give the payload its own. */
		struct evpool__wire_hdr h;
		size_t have = rd->tail - rd->head - EVPOOL__WIRE_HDR;

		memcpy(&h, rd->buf + rd->head, sizeof(h));
		if (!(allowed & (1u << h.type)))
			return EVPOOL_EPROTO;
		rd->big = malloc((size_t)h.len);
		if (!rd->big)
			return -ENOMEM;
		memset(&rd->big_f, 0, sizeof(rd->big_f));
		rd->big_f.type = h.type;
		rd->big_f.aux = h.aux;
		rd->big_f.fn = h.fn;
		rd->big_f.len = (size_t)h.len;
		rd->big_f.size = f->size;
		/* have < len: the frame did not fit in the buffer. */
		memcpy(rd->big, rd->buf + rd->head + EVPOOL__WIRE_HDR, have);
		rd->big_have = have;
		rd->big_pad = f->size - EVPOOL__WIRE_HDR - (size_t)h.len;
		rd->head = rd->tail = 0;
		return 0;
	}
	return 0;
}

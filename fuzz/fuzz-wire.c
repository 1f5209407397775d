/*
 * fuzz-wire.c — libFuzzer harness for the process-mode wire format: the
 * frame decoder evpool__wire_decode() and the shared-memory ring reader
 * evpool__ring_get() on top of it.  A worker process runs arbitrary code and
 * may scribble on its ring, so both must turn any bytes into a frame, "need
 * more" or EVPOOL_EPROTO — never a crash, a read out of bounds or a frame
 * that points outside what it was given.
 *
 * Input: byte 0 picks the target (even: decoder, odd: ring); for the ring,
 * bytes 1..8 give the consumer's head and 9..10 how far past it the tail is;
 * the rest is the data.  Checked beyond the sanitizers:
 *   decode: the return value is 1, 0 or EVPOOL_EPROTO; a whole frame lies
 *     within the input, its payload right after the header and inside the
 *     frame, and re-encoding its header gives back the input's header bytes;
 *     "need more" gives a size of 0 or more than was given;
 *   ring: every frame returned lies within the ring, never past its end.
 */
#include "process/proc-internal.h"

#include <stdlib.h>
#include <string.h>

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
	struct evpool__frame f;
	int rc = evpool__wire_decode(data, size, &f);

	check(rc == 1 || rc == 0 || rc == EVPOOL_EPROTO);
	if (rc == EVPOOL_EPROTO) {
		check(f.type == 0);
		return;
	}
	if (rc == 0) {
		check(f.size == 0 || f.size > size);
		return;
	}
	check(f.size >= EVPOOL__WIRE_HDR && f.size <= size);
	if (f.flags & EVPOOL__WF_BIG) {
		check(f.payload == NULL && f.size == EVPOOL__WIRE_HDR);
	} else if (f.len) {
		check(f.payload == data + EVPOOL__WIRE_HDR);
		check(EVPOOL__WIRE_HDR + f.len <= f.size);
	} else {
		check(f.payload == NULL);
	}
	{
		struct evpool__wire_hdr h;

		evpool__wire_hdr(&h, f.type, f.flags, f.aux, f.len, f.fn,
				 f.seq);
		check(memcmp(&h, data, sizeof(h)) == 0);
	}
}

static void
fuzz_ring(const uint8_t *data, size_t size)
{
	struct evpool__ring_idx *idx;
	struct evpool__ring r;
	struct evpool__frame f;
	unsigned char *ring;
	uint64_t head = 0;
	size_t ahead;

	if (size < 11)
		return;
	memcpy(&head, data + 1, sizeof(head));
	ahead = (size_t)data[9] | (size_t)data[10] << 8;
	data += 11;
	size -= 11;
	head &= ((uint64_t)1 << 40) - 1;
	/* Exactly the ring's size, so ASan sees any access past its end. */
	ring = calloc(1, EVPOOL__RING);
	idx = calloc(1, sizeof(*idx));
	if (!ring || !idx)
		abort();
	for (size_t i = 0; i < size && i < EVPOOL__RING; i++)
		ring[(head + i) % EVPOOL__RING] = data[i];
	atomic_store(&idx->head, head);
	atomic_store(&idx->tail, head + (ahead ? ahead * 64 : size));
	evpool__ring_init(&r, idx, ring, false);
	for (int n = 0; n < 4096; n++) {
		int rc = evpool__ring_get(&r, EVPOOL__W_FROM_WORKER, &f);

		check(rc == 1 || rc == 0 || rc == EVPOOL_EPROTO);
		if (rc != 1)
			break;
		check(f.size >= EVPOOL__WIRE_HDR);
		if (f.payload) {
			const unsigned char *p = f.payload;
			check(p >= ring && p + f.len <= ring + EVPOOL__RING);
		}
		evpool__ring_done(&r, &f);
	}
	free(idx);
	free(ring);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_ring(data, size);
	else
		fuzz_decode(data + 1, size - 1);
	return 0;
}

#!/bin/sh
# bench/payload.sh — issue 16's payload benchmark: evpool-bench's `payload`
# scenario (evbuffer path vs byte path, thread and process mode) and libuv's
# uv_queue_work() with a malloc'd buffer (bench/peers/uv-payload), run in
# turns, ROUNDS times (default 3), MIB MiB per run (default 256).
# Run from the build directory: `make bench-payload`, or
#   EVPOOL_BENCH=bench/evpool-bench UV_PAYLOAD=bench/peers/uv-payload sh bench/payload.sh
: "${EVPOOL_BENCH:=bench/evpool-bench}" "${UV_PAYLOAD:=bench/peers/uv-payload}"
: "${ROUNDS:=3}" "${MIB:=256}"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	i=$((i + 1))
	echo "# round $i"
	"$EVPOOL_BENCH" -q -n "$MIB" payload
	"$EVPOOL_BENCH" -q -n "$MIB" --mode process payload | sed 's/^payload_/process_payload_/'
	if [ -x "$UV_PAYLOAD" ]; then "$UV_PAYLOAD" "$MIB"; else echo "uv_payload=unavailable"; fi
done

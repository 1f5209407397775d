#!/bin/sh
# Benchmark (not a test): the same N jobs through libevpool's remote mode,
# Celery 5 and RQ, each with the same Redis (a unix socket here) and the
# same number of worker processes, in alternating rounds.  Prints one line
# per run and a table of the MEDIAN round of each (jobs/s, p50/p99 round
# trip in ms), with remote mode's throughput as a multiple of each peer's
# (ratios of medians of the same run).  Needs redis-server, python3-celery,
# python3-rq.  SYSTEMS="remote celery" leaves RQ out; SERIAL_ONLY=1 runs
# only the one-at-a-time round trips.  The round trips also run "floor"
# (bench/peers/redis-floor.c, built here when hiredis' headers are there):
# two bare processes and the same Redis, no pool, no loop, no job — the
# least any job system on Redis Streams pays.  And "remote-poll": remote
# mode with evpool_config_set_remote_poll() at POLL_US (default 500).
#
#   bench/remote-vs-celery.sh [N] [ROUNDS]       (run from the build dir)
set -u
n=${1:-2000}
rounds=${2:-2}
systems=${SYSTEMS:-remote celery rq}
src=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
demo=examples/remote-demo
[ -x "$demo" ] || { echo "run from the build directory (no $demo)"; exit 1; }
dir=$(mktemp -d /tmp/evpool-bench-XXXXXX)
sock="$dir/redis.sock"
redis-server --port 0 --unixsocket "$sock" --dir "$dir" --save '' \
	--appendonly no --logfile "$dir/redis.log" &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
i=0; while [ ! -S "$sock" ] && [ $i -lt 300 ]; do sleep 0.02; i=$((i + 1)); done
export BENCH_REDIS="redis+socket://$sock"
rqurl="unix://$sock"
floor=""
pollsys=""
case " $systems " in *" remote "*) pollsys=remote-poll ;; esac
if ${CC:-cc} -O2 -o "$dir/redis-floor" "$src/peers/redis-floor.c" -lhiredis 2>"$dir/floor.log"; then
	floor=floor
else
	echo "redis-floor did not build (libhiredis-dev?): the floor is left out"
fi

# run KIND WORKERS SLEEP_MS [--serial]: start the workers, submit, stop;
# prints the line
run() {
	kind=$1 w=$2 ms=$3 ser=${4:-}
	redis-cli -s "$sock" flushall >/dev/null
	nn=$n
	[ -n "$ser" ] && nn=$((n / 5))
	case $kind in
	remote|remote-poll)
		pus=0
		[ "$kind" = remote-poll ] && pus=${POLL_US:-500}
		"$demo" worker --redis "unix://$sock" --queue bench --concurrency "$w" &
		wp=$!
		sleep 0.5
		out=$("$demo" submit --redis "unix://$sock" --queue bench --jobs "$nn" --sleep-ms "$ms" --poll-us "$pus" $ser | head -1)
		;;
	celery)
		(cd "$src/peers" && exec $py -m celery -A celery_app worker -Q bench \
			--concurrency "$w" --pool prefork --loglevel WARNING >"$dir/celery.log" 2>&1) &
		wp=$!
		sleep 4
		out=$(cd "$src/peers" && $py client.py celery "$nn" "$ms" $ser)
		;;
	floor)
		wp=""
		out=$("$dir/redis-floor" "$sock" "$nn")
		;;
	rq)
		wp=""
		for k in $(seq "$w"); do
			(cd "$src/peers" && BENCH_REDIS=$rqurl exec $py -m rq.cli worker -u "$rqurl" bench \
				>"$dir/rq$k.log" 2>&1) &
			wp="$wp $!"
		done
		sleep 2
		out=$(cd "$src/peers" && BENCH_REDIS=$rqurl $py client.py rq "$nn" "$ms" $ser)
		;;
	esac
	[ -n "$wp" ] && kill -TERM $wp 2>/dev/null && wait $wp 2>/dev/null
	echo "$kind workers=$w sleep_ms=$ms${ser:+ serial} $out"
}

results="$dir/results"
for r in $(seq "$rounds"); do
	[ -n "${SERIAL_ONLY:-}" ] || for ms in 0 1; do
		for w in 1 2; do
			for kind in $systems; do
				run "$kind" "$w" "$ms" | tee -a "$results"
			done
		done
	done
	for kind in $systems $pollsys $floor; do	# round trips: N/5 jobs, one at a time
		run "$kind" 1 0 --serial | tee -a "$results"
	done
done
# median FIELD-VALUES...: the median of the numbers on stdin (one a line)
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# field KIND W MS NAME: the values of NAME= in the matching lines
field() {
	grep "^$1 workers=$2 sleep_ms=$3 jobs" "$results" |
	sed "s|.* $4=\([0-9.]*\).*|\1|"
}
echo
echo "Medians of $rounds rounds, N=$n jobs submitted at once:"
echo
echo "| system | workers | job | jobs/s | p50 ms | p99 ms | remote's jobs/s as a multiple |"
echo "|---|---|---|---|---|---|---|"
for ms in 0 1; do for w in 1 2; do
	rjps=$(field remote "$w" "$ms" "jobs/s" | median)
	for kind in $systems; do
		jps=$(field "$kind" "$w" "$ms" "jobs/s" | median)
		[ -n "$jps" ] || continue
		p50=$(field "$kind" "$w" "$ms" p50_ms | median)
		p99=$(field "$kind" "$w" "$ms" p99_ms | median)
		job=empty; [ "$ms" = 1 ] && job="1 ms sleep"
		ratio=-
		[ "$kind" != remote ] && [ -n "$rjps" ] &&
			ratio=$(awk -v a="$rjps" -v b="$jps" 'BEGIN { printf "%.1fx", a / b }')
		echo "| $kind | $w | $job | $jps | $p50 | $p99 | $ratio |"
	done
done; done
r1=$(field remote 1 1 "jobs/s" | median)
r2=$(field remote 2 1 "jobs/s" | median)
[ -n "$r1" ] && [ -n "$r2" ] &&
	awk -v a="$r2" -v b="$r1" 'BEGIN { printf "\nScaling, 1 ms jobs: 2 worker processes give %.2fx one\n", a / b }'
echo
echo "One job at a time (N/5 jobs, 1 worker process, empty job): the round trip (medians)"
echo
echo "| system | p50 ms | p99 ms | p50 as a multiple of Celery's |"
echo "|---|---|---|---|"
# sp50 KIND: the median p50 of KIND's round-trip runs
sp50() {
	grep "^$1 workers=1 sleep_ms=0 serial " "$results" |
	sed 's/.*p50_ms=\([0-9.]*\).*/\1/' | median
}
cp50=$(sp50 celery)
for kind in $systems $pollsys $floor; do
	grep "^$kind workers=1 sleep_ms=0 serial " "$results" > "$dir/serial"
	[ -s "$dir/serial" ] || continue
	p50=$(sp50 "$kind")
	p99=$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' "$dir/serial" | median)
	ratio=-
	[ -n "$cp50" ] && ratio=$(awk -v a="$p50" -v b="$cp50" 'BEGIN { printf "%.3fx", a / b }')
	echo "| $kind | $p50 | $p99 | $ratio |"
done

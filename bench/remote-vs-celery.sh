#!/bin/sh
# Benchmark (not a test): the same N jobs through libevpool's remote mode,
# Celery 5 and RQ, each with the same Redis (a unix socket here) and the
# same number of worker processes, in alternating rounds.  Prints one line
# per run and a table of the best round of each (jobs/s, p50/p99 round
# trip in ms).  Needs redis-server, python3-celery, python3-rq.
#
#   bench/remote-vs-celery.sh [N] [ROUNDS]       (run from the build dir)
set -u
n=${1:-2000}
rounds=${2:-2}
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

# run KIND WORKERS SLEEP_MS [--serial]: start the workers, submit, stop;
# prints the line
run() {
	kind=$1 w=$2 ms=$3 ser=${4:-}
	redis-cli -s "$sock" flushall >/dev/null
	nn=$n
	[ -n "$ser" ] && nn=$((n / 5))
	case $kind in
	remote)
		"$demo" worker --redis "unix://$sock" --queue bench --concurrency "$w" &
		wp=$!
		sleep 0.5
		out=$("$demo" submit --redis "unix://$sock" --queue bench --jobs "$nn" --sleep-ms "$ms" $ser | head -1)
		;;
	celery)
		(cd "$src/peers" && exec $py -m celery -A celery_app worker -Q bench \
			--concurrency "$w" --pool prefork --loglevel WARNING >"$dir/celery.log" 2>&1) &
		wp=$!
		sleep 4
		out=$(cd "$src/peers" && $py client.py celery "$nn" "$ms" $ser)
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
	kill -TERM $wp 2>/dev/null
	wait $wp 2>/dev/null
	echo "$kind workers=$w sleep_ms=$ms${ser:+ serial} $out"
}

results="$dir/results"
for r in $(seq "$rounds"); do
	for ms in 0 1; do
		for w in 1 2; do
			for kind in remote celery rq; do
				run "$kind" "$w" "$ms" | tee -a "$results"
			done
		done
	done
	for kind in remote celery rq; do	# round trips: N/5 jobs, one at a time
		run "$kind" 1 0 --serial | tee -a "$results"
	done
done
echo
echo "| system | workers | job | jobs/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
for ms in 0 1; do for w in 1 2; do for kind in remote celery rq; do
	grep "^$kind workers=$w sleep_ms=$ms jobs" "$results" |
	sed 's/.*jobs\/s=\([0-9]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\)/\1 \2 \3/' |
	sort -n -r | head -1 | while read -r jps p50 p99; do
		job=empty; [ "$ms" = 1 ] && job="1 ms sleep"
		echo "| $kind | $w | $job | $jps | $p50 | $p99 |"
	done
done; done; done
echo
echo "One job at a time (N/5 jobs, 1 worker process, empty job): the round trip"
echo
echo "| system | p50 ms | p99 ms |"
echo "|---|---|---|"
for kind in remote celery rq; do
	grep "^$kind workers=1 sleep_ms=0 serial " "$results" |
	sed 's/.*p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\)/\1 \2/' |
	sort -n | head -1 | while read -r p50 p99; do echo "| $kind | $p50 | $p99 |"; done
done

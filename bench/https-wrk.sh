#!/bin/bash
# bench/https-wrk.sh — load examples/https-server with wrk: the pool against
# --inline.  Not part of `make check`; needs wrk (Debian package wrk).
#
#   bench/https-wrk.sh [-d SECONDS] [-c CONNS] [-t THREADS] [-w WORKERS]
#                      [-i ITERATIONS] [-m MODES] [SERVER]
#
# For each mode (default: "thread inline"; add "process" for a process pool):
#   1. /files/hello.txt: small-file throughput (requests/s, p50/p99).
#   2. /stats latency (p50/p99, 2 connections) while POST /hash (PBKDF2 with
#      ITERATIONS, default 20000) keeps every worker busy — the loop's
#      responsiveness under CPU-heavy load.  With --inline the hashing runs
#      on the loop, and /stats waits behind it.
# SERVER defaults to examples/https-server under the build directory (run
# from it, or set top_builddir).  Prints a Markdown table.
set -u

DUR=8 CONNS=32 THREADS=2 WORKERS=$(nproc) ITER=20000 MODES="thread inline"
while getopts d:c:t:w:i:m:h opt; do
	case $opt in
	d) DUR=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	w) WORKERS=$OPTARG ;;
	i) ITER=$OPTARG ;;
	m) MODES=$OPTARG ;;
	*) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
SERVER=${1:-${top_builddir:-.}/examples/https-server}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$SERVER" ] || { echo "no server at $SERVER (build first, or pass its path)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/https-wrk.XXXXXX") || exit 1
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat >"$TMP/hash.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "correct horse battery staple"
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

start() { # start MODE: sets B
	local args=(--port 0 --quiet --queue 4096 --max-conns 4096)
	case $1 in
	inline) args+=(--inline) ;;
	*) args+=(--mode "$1" --workers "$WORKERS") ;;
	esac
	"$SERVER" "${args[@]}" 2>"$TMP/server.err" &
	SPID=$!
	for _ in $(seq 1 100); do
		grep -q '^listening on ' "$TMP/server.err" && break
		kill -0 "$SPID" 2>/dev/null || { cat "$TMP/server.err" >&2; SPID=; return 1; }
		sleep 0.05
	done
	B=https://127.0.0.1:$(sed -n 's/^listening on https:\/\/.*:\([0-9]*\) (.*/\1/p' "$TMP/server.err")
}
stop() {
	kill -TERM "$SPID"
	wait "$SPID" || echo "warning: server exited with status $?" >&2
	SPID=
}
# field FILE WHAT: "rps", "p50", "p99", "errors" from wrk --latency output
field() {
	case $2 in
	rps) sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1" ;;
	p50) sed -n 's/^ *50% *\([0-9.]*[a-z]*\).*/\1/p' "$1" ;;
	p99) sed -n 's/^ *99% *\([0-9.]*[a-z]*\).*/\1/p' "$1" ;;
	errors)
		local e
		e=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1")
		echo "${e:-0}" ;;
	esac
}

declare -A R
for mode in $MODES; do
	start "$mode" || { echo "skipping mode $mode" >&2; continue; }
	echo "== $mode: /files/hello.txt, $THREADS threads, $CONNS connections, ${DUR}s" >&2
	wrk -t "$THREADS" -c "$CONNS" -d "${DUR}s" --latency "$B/files/hello.txt" >"$TMP/files.$mode"
	R[$mode.files_rps]=$(field "$TMP/files.$mode" rps)
	R[$mode.files_p50]=$(field "$TMP/files.$mode" p50)
	R[$mode.files_p99]=$(field "$TMP/files.$mode" p99)
	R[$mode.files_err]=$(field "$TMP/files.$mode" errors)

	echo "== $mode: /stats while /hash?iterations=$ITER saturates the pool" >&2
	hc=$((2 * WORKERS))
	wrk -t 1 -c "$hc" -d "$((DUR + 2))s" -s "$TMP/hash.lua" \
		"$B/hash?iterations=$ITER" >"$TMP/hash.$mode" &
	hpid=$!
	sleep 1
	wrk -t 1 -c 2 -d "${DUR}s" --latency "$B/stats" >"$TMP/stats.$mode"
	wait "$hpid"
	R[$mode.stats_p50]=$(field "$TMP/stats.$mode" p50)
	R[$mode.stats_p99]=$(field "$TMP/stats.$mode" p99)
	R[$mode.stats_rps]=$(field "$TMP/stats.$mode" rps)
	R[$mode.hash_rps]=$(field "$TMP/hash.$mode" rps)
	R[$mode.hash_err]=$(field "$TMP/hash.$mode" errors)
	stop
done

echo
echo "https-server, $(nproc) CPUs, pool workers: $WORKERS, wrk ${DUR}s runs"
printf '\n| %-42s |' "measure"
for mode in $MODES; do printf ' %-12s |' "$mode"; done
printf '\n|%s|' "$(printf -- '-%.0s' $(seq 1 44))"
for mode in $MODES; do printf '%s|' "$(printf -- '-%.0s' $(seq 1 14))"; done
echo
row() { # row LABEL KEY
	printf '| %-42s |' "$1"
	for mode in $MODES; do printf ' %-12s |' "${R[$mode.$2]:-n/a}"; done
	echo
}
row "/files/hello.txt requests/s ($CONNS conns)" files_rps
row "/files/hello.txt latency p50" files_p50
row "/files/hello.txt latency p99" files_p99
row "/files/hello.txt non-2xx responses" files_err
row "/hash?iterations=$ITER requests/s ($((2 * WORKERS)) conns)" hash_rps
row "/stats latency p50 during /hash load" stats_p50
row "/stats latency p99 during /hash load" stats_p99
row "/stats requests/s during /hash load (2 conns)" stats_rps

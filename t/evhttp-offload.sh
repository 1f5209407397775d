#!/bin/bash
# t/evhttp-offload.sh — drive examples/evhttp-offload with curl (TAP), in
# thread and process mode: a body comes back whole (moved in and out of
# the job as evbuffers), a full queue is 503, a deadline is 504 (for a
# running job and, counting queue time, for a queued one), a client that
# disconnects cancels its job (the job sees evpool_ctx_cancelled() or, in
# process mode, is killed: the stats count it), in-flight requests are
# counted, and SIGINT lets a request in flight finish before the exit.
top_builddir=${top_builddir:-.}
SERVER=${EVHTTP_OFFLOAD:-$top_builddir/examples/evhttp-offload}

for tool in curl sha256sum head; do
	command -v $tool >/dev/null 2>&1 || { echo "1..0 # SKIP no $tool"; exit 0; }
done
[ -x "$SERVER" ] || { echo "1..0 # SKIP $SERVER not built (no libevent_extra?)"; exit 0; }

echo "1..20"
n=0
ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
is() { # is GOT WANT DESCRIPTION
	n=$((n + 1))
	if [ "$1" = "$2" ]; then echo "ok $n - $3"; else
		echo "not ok $n - $3"; echo "#   got '$1', want '$2'"; fi
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/evhttp-offload.XXXXXX") || exit 1
SPID=
trap '[ -n "$SPID" ] && kill -KILL $SPID 2>/dev/null; [ -n "$KEEP" ] || rm -rf "$TMP"' EXIT
C=(curl -s --max-time 20)
stat_of() { "${C[@]}" "$B/stats" | sed -n "s/^$1 //p"; }
# wait_stat NAME VALUE: poll /stats up to 5 s until NAME reads VALUE
wait_stat() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(stat_of "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

head -c 300000 /dev/urandom >"$TMP/body"
want=$(sha256sum <"$TMP/body" | cut -c1-64)

for mode in thread process; do
	# The server's own files: the shell truncates them only once the
	# background child runs, so a shared name would let the wait below
	# read the previous server's "listening on" line (a race seen 1 in 8).
	rm -f "$TMP/out" "$TMP/err"
	"$SERVER" --port 0 --deadline-ms 400 --evpool-mode=$mode \
		--evpool-max-workers=1 --evpool-max-queued=1 >"$TMP/out" 2>"$TMP/err" &
	SPID=$!
	# Wait while it is alive: on a loaded VM a start has been seen to take
	# over 10 s (in the libtool wrapper, before our main() runs).
	for ((i = 0; i < 1200; i++)); do
		grep -qs '^listening on' "$TMP/out" && break
		kill -0 $SPID 2>/dev/null || break
		sleep 0.05
	done
	[ $i -lt 40 ] || echo "# $mode: the server took $((i / 20)) s to start"
	PORT=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)\/.*/\1/p' "$TMP/out")
	B=http://127.0.0.1:$PORT
	ok $([ -n "$PORT" ]; echo $?) "$mode: the server listens"
	[ -n "$PORT" ] || sed 's/^/# server: /' "$TMP/err" "$TMP/out"

	got=$("${C[@]}" --data-binary @"$TMP/body" "$B/work?ms=5" | sha256sum | cut -c1-64)
	is "$got" "$want" "$mode: a 300 kB body comes back whole"

	code=$("${C[@]}" -o /dev/null -w '%{http_code}' --data-binary x "$B/work?ms=3000")
	is "$code" 504 "$mode: a job running past the deadline is 504"

	# One request runs and holds the only worker for 2.5 s (its own
	# deadline: under load, eight curls took longer to start than the
	# 400 ms default, the worker was free again and the queued one ran);
	# eight more, 100 ms to live, arrive behind it: the queue holds one
	# (process mode: a worker may also hold a few it took ahead), the
	# rest are refused at once.
	"${C[@]}" -o /dev/null -w '%{http_code}' --data-binary x "$B/work?ms=3000&deadline=2500" >"$TMP/a" &
	pids=$!
	# not a fixed sleep: a loaded machine may take longer to get it there
	wait_stat in_flight 1
	for k in 1 2 3 4 5 6 7 8; do
		"${C[@]}" -o /dev/null -w '%{http_code}\n' --data-binary x \
			"$B/work?ms=5&deadline=100" >"$TMP/c$k" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	codes=$(cat "$TMP"/c? | sort | uniq -c | tr -s ' \n' ' ')
	ok $(grep -qx 503 "$TMP"/c?; echo $?) "$mode: requests over the full queue are 503 at once ($codes)"
	ok $(grep -qx 504 "$TMP"/c?; echo $?) "$mode: a queued one's deadline counted its queue time: 504"
	ok $([ "$(stat_of expired)" -ge 1 ] && [ "$(stat_of rejected)" -ge 1 ]; echo $?) \
		"$mode: stats: expired $(stat_of expired) (never ran), rejected $(stat_of rejected)"

	# the client leaves: its job is cancelled
	"${C[@]}" --max-time 0.15 --data-binary x "$B/work?ms=300" >/dev/null
	ok $(wait_stat cancelled_by_close 1; echo $?) \
		"$mode: a client that disconnects cancels its job"
	ok $(wait_stat cancelled 1; echo $?) \
		"$mode: the job ended cancelled (evpool_ctx_cancelled / killed), not by its deadline"
	is "$(stat_of in_flight)" 0 "$mode: no request in flight afterwards"

	# SIGINT with a request in flight: answered, then a clean exit
	"${C[@]}" -o "$TMP/last" -w '%{http_code} after %{time_total} s' \
		--data-binary 'last words' "$B/work?ms=200" >"$TMP/last.w" &
	pl=$!
	wait_stat in_flight 1
	kill -INT $SPID
	wait $pl
	wait $SPID
	rc=$?
	SPID=
	ok $([ "$(cat "$TMP/last")" = "last words" ] && [ $rc = 0 ]; echo $?) \
		"$mode: SIGINT lets the request in flight finish, then exits 0"
	[ "$(cat "$TMP/last")" = "last words" ] && [ $rc = 0 ] ||
		{ echo "answer '$(cat "$TMP/last")' ($(cat "$TMP/last.w")), exit $rc"; tail -5 "$TMP/err"; } |
		sed 's/^/# /'
done

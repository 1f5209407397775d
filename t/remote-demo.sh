#!/bin/sh
# TAP: examples/remote-demo across two processes, as the README shows it:
# a worker and a submitter against a redis-server started here.
: "${top_builddir:=.}"
demo="$top_builddir/examples/remote-demo"
if ! command -v redis-server >/dev/null 2>&1; then
	echo "1..0 # SKIP redis-server is not installed"; exit 0
fi
if ! "$demo" submit --redis unix:///nonexistent 2>&1 | grep -q "cannot reach"; then
	echo "1..0 # SKIP this build has no remote mode"; exit 0
fi
dir=$(mktemp -d /tmp/evpool-demo-XXXXXX)
sock="$dir/redis.sock"
redis-server --port 0 --unixsocket "$sock" --dir "$dir" --save '' \
	--appendonly yes --logfile "$dir/redis.log" &
rpid=$!
i=0; while [ ! -S "$sock" ] && [ $i -lt 300 ]; do sleep 0.02; i=$((i + 1)); done
"$demo" worker --redis "unix://$sock" --concurrency 2 &
wpid=$!
trap 'kill $wpid $rpid 2>/dev/null; wait; rm -rf "$dir"' EXIT
echo "1..3"
out=$("$demo" submit --redis "unix://$sock" --jobs 500 --sleep-ms 1)
rc=$?
last=$(printf '%s\n' "$out" | tail -1)
[ "$last" = "completed=500 failed=0 duplicate_callbacks=0 wrong_results=0" ] \
	&& echo "ok 1 - remote-demo submit: $last" \
	|| echo "not ok 1 - remote-demo submit: $last"
[ $rc -eq 0 ] && echo "ok 2 - submit exits 0" || echo "not ok 2 - submit exits $rc"
kill -TERM $wpid
wait $wpid
rc=$?
[ $rc -eq 0 ] && echo "ok 3 - the worker stops on SIGTERM with status 0" \
	|| echo "not ok 3 - the worker exits $rc on SIGTERM"

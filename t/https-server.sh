#!/bin/bash
# t/https-server.sh — drive examples/https-server with real clients (TAP).
#
# Starts the server on ephemeral ports (--port 0, so runs can be parallel)
# and checks it with curl and openssl s_client: every endpoint and its status
# codes, path traversal, limits, TLS versions, the certificate fingerprint,
# that the loop stays responsive while the pool is saturated (and is blocked
# with --inline), and that SIGTERM under load loses no accepted request.
# Orderings are asserted, not millisecond figures.
#
# Environment: top_builddir/top_srcdir (set by make check); HTTPS_SERVER to
# test another binary; HTTPS_SERVER_WRAPPER to run it under a tool, e.g.
#   HTTPS_SERVER_WRAPPER="$PWD/libtool --mode=execute valgrind -q
#     --leak-check=full --error-exitcode=99" make check TESTS=t/https-server.sh
# (a wrapper that is not exec'd breaks the signal tests; valgrind is fine).

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-..}
SERVER=${HTTPS_SERVER:-$top_builddir/examples/https-server}
WRAP=${HTTPS_SERVER_WRAPPER:-}
# 10 s for the server to start, 20 s to stop.
START_TRIES=200
STOP_TRIES=400
# skip_without, setup_tmp, ok, diag, start_server, stop_server, wait_server:
. "$top_srcdir/t/https-lib.sh"

skip_without curl openssl

echo "1..75"

setup_tmp https-test
# Clients still running in the background (only after a failure).
cleanup_more() {
	local p
	for p in "${CLIENTS[@]}"; do
		kill "$p" 2>/dev/null
	done
}

is() { # is GOT WANT DESCRIPTION
	n=$((n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $n - $3"
	else
		echo "not ok $n - $3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}
skip() { # skip COUNT REASON
	local i
	for ((i = 0; i < $1; i++)); do
		n=$((n + 1))
		echo "ok $n # SKIP $2"
	done
}
# A server that does not start fails the tests that needed it (never a SKIP).
fail_all() { # fail_all COUNT REASON
	local i
	for ((i = 0; i < $1; i++)); do
		ok 1 "$2"
	done
}
now_ms() { date +%s%3N; }

C=(curl -sk --path-as-is --max-time 30)
code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@"; }

# wait_stats REGEX: poll /stats until it matches (5 s at most).
wait_stats() {
	local i
	for ((i = 0; i < 100; i++)); do
		STATS=$("${C[@]}" "$B/stats")
		[[ $STATS =~ $1 ]] && return 0
		sleep 0.05
	done
	echo "# /stats never matched $1: $STATS"
	return 1
}

# fill_pool MS: with 2 workers, start 4 slow requests one by one until 2
# run and 2 wait in the queue.  Each records its status in $TMP/slowN.code
# and appends "slow" to $TMP/order when its response is complete.
# Their pids are in CLIENTS (wait for them with "wait_clients").
CLIENTS=()
wait_clients() {
	[ ${#CLIENTS[@]} = 0 ] || wait "${CLIENTS[@]}"
	CLIENTS=()
}
fill_pool() {
	local i want
	for i in 1 2 3 4; do
		("${C[@]}" -o "$TMP/slow$i.body" -w '%{http_code}' \
			"$B/sleep?ms=$1" >"$TMP/slow$i.code"
		 echo slow >>"$TMP/order") &
		CLIENTS+=($!)
		case $i in
		1) want='"queued":0,"running":1' ;;
		2) want='"queued":0,"running":2' ;;
		3) want='"queued":1,"running":2' ;;
		4) want='"queued":2,"running":2' ;;
		esac
		wait_stats "$want" || return 1
	done
}

# ---------------------------------------------------------------------------
# The web root: the shipped files plus traps.
mkdir -p "$TMP/www/sub"
cp "$top_srcdir"/examples/www/* "$TMP/www/"
echo "sub" >"$TMP/www/sub/x.txt"
ln -s hello.txt "$TMP/www/inside-link"
ln -s /etc/passwd "$TMP/www/escape-link"
ln -s /etc "$TMP/www/escape-dir"
mkfifo "$TMP/www/fifo"
head -c 3000000 /dev/urandom >"$TMP/www/big.bin"
head -c 100000 /dev/zero >"$TMP/big-body"

# ---------------------------------------------------------------------------
# Server A: thread pool of 2 workers, queue of 2, tight limits.
start_server a --workers 2 --queue 2 --root "$TMP/www" --max-body 65536 \
	--max-header 4096 --header-timeout 1 --timeout 5
ok $? "thread-mode server starts and prints its port"
[[ $PORT =~ ^[0-9]+$ && $PORT != 0 && ${#FP} = 95 ]]
ok $? "startup line gives the real port and a SHA-256 fingerprint"

body=$("${C[@]}" -D "$TMP/h" "$B/")
[[ $body == *'/stats'* && $body == *'/files/'* ]] && grep -qi '^content-type: text/html' "$TMP/h"
ok $? "GET / is the HTML endpoint list"
body=$("${C[@]}" -D "$TMP/h" "$B/files/hello.txt")
[[ $body == "$(cat "$TMP/www/hello.txt")" ]] && grep -qi '^content-type: text/plain' "$TMP/h"
ok $? "GET /files/hello.txt: the file, as text/plain"
"${C[@]}" -o /dev/null -D "$TMP/h" "$B/files/style.css"
grep -qi '^content-type: text/css' "$TMP/h"
ok $? "content type from the extension: .css"
"${C[@]}" -o /dev/null -D "$TMP/h" "$B/files/data.json"
grep -qi '^content-type: application/json' "$TMP/h"
ok $? "content type from the extension: .json"

before=$("${C[@]}" "$B/stats" | sed -n 's/.*"submitted":\([0-9]*\).*/\1/p')
sum=$("${C[@]}" -D "$TMP/h" "$B/files/big.bin" | sha256sum)
after=$("${C[@]}" "$B/stats" | sed -n 's/.*"submitted":\([0-9]*\).*/\1/p')
is "$sum" "$(sha256sum <"$TMP/www/big.bin")" "a 3 MB file streams intact"
grep -qi '^content-length: 3000000' "$TMP/h"
ok $? "the streamed file carries its Content-Length"
[ $((after - before)) -ge 23 ]
ok $? "it was read in chunks of under 128 KiB, one job each ($((after - before)) jobs)"
# Raw, so that a body sent after the head would show.
printf 'HEAD /files/big.bin HTTP/1.0\r\nHost: x\r\n\r\n' |
	openssl s_client -quiet -connect "127.0.0.1:$PORT" >"$TMP/head" 2>/dev/null
grep -qi '^content-length: 3000000' "$TMP/head" &&
	[ "$(sed -n '/^\r$/,$p' "$TMP/head" | wc -c)" = 2 ]
ok $? "HEAD gives the size and no body"
is "$(code "$B/files/inside-link")" 200 "a symlink inside the root is served"
is "$(code "$B/files/sub/x.txt")" 200 "a file in a subdirectory is served"
is "$(code "$B/files/missing.txt")" 404 "a missing file is 404"

is "$(code "$B/files/../../../../etc/passwd")" 403 "raw ../ traversal is refused"
is "$(code "$B/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd")" 403 "percent-encoded .. is refused"
is "$(code "$B/files/..%2f..%2f..%2fetc%2fpasswd")" 403 "..%2f traversal is refused"
is "$(code "$B/files//etc/passwd")" 403 "an absolute path is refused"
is "$(code "$B/files/escape-link")" 403 "a symlink leaving the root is refused"
is "$(code "$B/files/escape-dir/passwd")" 403 "a path through a symlinked directory outside is refused"
is "$(code "$B/files/fifo")" 403 "a FIFO is refused (and does not hang a worker)"
is "$(code "$B/files/a%00b")" 400 "a NUL in the path is refused"
for p in /files/../../../../etc/passwd /files/escape-link \
	/files/escape-dir/passwd /files//etc/passwd; do
	"${C[@]}" "$B$p"
done >"$TMP/refused"
! grep -q 'root:' "$TMP/refused"
ok $? "no refused request leaked /etc/passwd"

# RFC 7914 section 11 vectors (first 32 bytes of the 64-byte keys).
dk=$("${C[@]}" --data-binary passwd "$B/hash?iterations=1&salt=salt")
[[ $dk == *'"dk_hex":"55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"'* ]]
ok $? "POST /hash: PBKDF2-HMAC-SHA256 test vector, 1 iteration"
dk=$("${C[@]}" --data-binary Password "$B/hash?iterations=80000&salt=NaCl")
[[ $dk == *'"dk_hex":"4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"'* ]]
ok $? "POST /hash: test vector, 80000 iterations"
dk=$("${C[@]}" --data-binary x "$B/hash?iterations=10")
[[ $dk =~ \"salt_hex\":\"[0-9a-f]{32}\" ]]
ok $? "POST /hash without a salt uses a random 16-byte one"
is "$(code --data x "$B/hash?iterations=0")/$(code --data x "$B/hash?iterations=1000001")/$(code --data x "$B/hash?iterations=ten")" \
	400/400/400 "iterations out of range or not a number: 400"
is "$(code "$B/hash")" 405 "GET /hash is 405"
is "$(code --data-binary @"$TMP/big-body" "$B/hash?iterations=1")" 413 \
	"a body over --max-body is 413"
is "$(code -H "X-Big: $(head -c 6000 /dev/zero | tr '\0' a)" "$B/stats")" 431 \
	"a request head over --max-header is 431"

out=$("${C[@]}" "$B/resolve?host=localhost")
[[ $out == *'"127.0.0.1"'* || $out == *'"::1"'* ]]
ok $? "GET /resolve?host=localhost gives its addresses"
is "$(code "$B/resolve?host=")/$(code "$B/resolve?host=a%20b")/$(code "$B/resolve")" \
	400/400/400 "/resolve with an empty, bad or missing host: 400"
is "$("${C[@]}" "$B/sleep?ms=50")" '{"slept_ms":50}' "GET /sleep?ms=50 sleeps in the pool"
is "$(code "$B/sleep?ms=10001")/$(code "$B/sleep?ms=abc")/$(code "$B/sleep")" \
	400/400/400 "/sleep out of range, not a number or missing: 400"
out=$("${C[@]}" "$B/stats")
[[ $out == *'"mode":"thread"'* && $out == *'"submitted":'* && $out == *'"busy_workers":'* ]]
ok $? "GET /stats is the pool's stats as JSON"
is "$(code "$B/nope")" 404 "an unknown path is 404"
is "$(code -X POST "$B/stats")" 405 "POST /stats is 405"

# TLS
out=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 </dev/null 2>&1)
[ $? = 0 ] && [[ $out == *'New, TLSv1.2, Cipher is '* ]]
ok $? "TLS 1.2 is accepted"
out=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 </dev/null 2>&1)
[ $? = 0 ] && [[ $out == *'New, TLSv1.3, Cipher is '* ]]
ok $? "TLS 1.3 is accepted"
out=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 \
	-cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1)
[ $? != 0 ] && [[ $out == *'alert protocol version'* ]]
ok $? "TLS 1.1 is refused by the server (protocol_version alert)"
got=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
	openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//')
is "$got" "$FP" "the served certificate has the printed fingerprint"

# Slowloris: a head trickled one line every 250 ms is cut at the 1 s head
# deadline (the 5 s idle timeout alone would never cut it).
t0=$(now_ms)
out=$( (printf 'GET /stats HTTP/1.1\r\nHost: x\r\n'
	for i in $(seq 1 20); do printf 'X-Slow-%d: y\r\n' "$i"; sleep 0.25; done) |
	openssl s_client -quiet -connect "127.0.0.1:$PORT" 2>/dev/null)
t1=$(now_ms)
[ $((t1 - t0)) -lt 4000 ] && [[ $out != *'HTTP/1.1'* ]]
ok $? "a trickling request head is dropped at the head deadline ($((t1 - t0)) ms)"
t0=$(now_ms)
timeout 8 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && cat <&3" >/dev/null 2>&1
t1=$(now_ms)
[ $((t1 - t0)) -lt 4000 ]
ok $? "a connection that sends nothing is dropped ($((t1 - t0)) ms)"

# Responsiveness: 2 slow requests run, 2 wait; a fifth is turned away with
# 503 + Retry-After, and /stats answers before any slow one finishes.
rm -f "$TMP/order" "$TMP"/slow*
fill_pool 2000
ok $? "the pool fills: 2 running, 2 queued"
"${C[@]}" -o /dev/null -D "$TMP/h" "$B/sleep?ms=10"
grep -q '^HTTP/1.1 503' "$TMP/h" && grep -qi '^retry-after: 1' "$TMP/h"
ok $? "a full queue gives 503 with Retry-After"
"${C[@]}" -o /dev/null "$B/stats" && echo stats >>"$TMP/order"
wait_clients
is "$(head -n 1 "$TMP/order")" stats "/stats answers while the pool is saturated, before the slow requests"
is "$(cat "$TMP"/slow[1-4].code)" 200200200200 "all four slow requests then complete"

# SIGTERM under load: every accepted request gets its full response.
rm -f "$TMP"/slow*
fill_pool 2000 || echo "# could not fill the pool: the next checks will fail"
kill -TERM "$SPID"
for ((i = 0; i < 100; i++)); do
	code "$B/stats" >/dev/null
	rc=$?
	[ $rc = 7 ] && break
	sleep 0.05
done
is "$rc" 7 "after SIGTERM new connections are refused"
wait_rc=0
wait_server || wait_rc=$?
wait_clients
is "$(cat "$TMP"/slow[1-4].code)" 200200200200 "every accepted request got a response"
is "$(cat "$TMP"/slow[1-4].body | tr -d '\n')" '{"slept_ms":2000}{"slept_ms":2000}{"slept_ms":2000}{"slept_ms":2000}' \
	"and each response is complete"
is "$wait_rc" 0 "the server exits with status 0"
is "$(grep -c '"GET /sleep?ms=2000" 200 ' "$TMP/a.err")" 8 "one log line per request (8 slow ones, 8 lines)"

# ---------------------------------------------------------------------------
# Server H: 2 workers, queue of 1.  A download is stalled (its reader is
# held back) while slow jobs fill the pool; once it reads again, its next
# chunk finds the queue full, is resubmitted until there is room, and the
# file still arrives intact.
head -c 40000000 /dev/urandom >"$TMP/www/huge.bin"
if start_server h --workers 2 --queue 1 --root "$TMP/www"; then
	printf 'GET /files/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
		openssl s_client -quiet -connect "127.0.0.1:$PORT" 2>/dev/null |
		(while [ ! -e "$TMP/go" ]; do sleep 0.05; done; cat >"$TMP/huge.out") &
	dl=$!
	# Stalled: socket buffers full, no chunk job queued or running, and
	# none submitted for 200 ms.
	prev=-1
	for ((i = 0; i < 100; i++)); do
		st=$("${C[@]}" "$B/stats")
		sub=$(sed -n 's/.*"submitted":\([0-9]*\).*/\1/p' <<<"$st")
		[[ $st == *'"queued":0,"running":0'* && $sub == "$prev" ]] && break
		prev=$sub
		sleep 0.2
	done
	for ms in 1500 1500 100; do
		"${C[@]}" -o /dev/null "$B/sleep?ms=$ms" &
		CLIENTS+=($!)
		case $ms/${#CLIENTS[@]} in
		1500/1) wait_stats '"queued":0,"running":1' ;;
		1500/2) wait_stats '"queued":0,"running":2' ;;
		*) wait_stats '"queued":1,"running":2' ;;
		esac
	done
	touch "$TMP/go"
	wait $dl
	wait_clients
	r=$("${C[@]}" "$B/stats" | sed -n 's/.*"stream_retries":\([0-9]*\).*/\1/p')
	# Each kind of work has its own queue (issue 17): the sleep queue
	# being full does not hold up a file's next chunk.
	[ "${r:-1}" = 0 ]
	ok $? "a stream's chunks never wait for the full sleep queue ($r retries)"
	# The head, then exactly the 40 MB of the file.
	size=$(stat -c %s "$TMP/huge.out")
	[ "$(head -c $((size - 40000000)) "$TMP/huge.out" | tail -c 4 | od -An -c | tr -d ' ')" = '\r\n\r\n' ] &&
		[ "$(tail -c 40000000 "$TMP/huge.out" | sha256sum)" = "$(sha256sum <"$TMP/www/huge.bin")" ]
	ok $? "... and the 40 MB file arrives intact"
	stop_server
else
	fail_all 2 "server did not start"
fi
rm -f "$TMP/www/huge.bin"

# ---------------------------------------------------------------------------
# Server B: --inline, the default root, and --max-conns.
if start_server b --inline --max-conns 2 --header-timeout 2; then
	ok 0 "inline server starts"
	"${C[@]}" "$B/" | grep -q 'libevpool example HTTPS server'
	ok $? "the default --root serves the shipped examples/www"
	rm -f "$TMP/order"
	("${C[@]}" -v -o /dev/null "$B/sleep?ms=1500" 2>"$TMP/slow.trace"
	 echo slow >>"$TMP/order") &
	slow=$!
	# Once curl has sent it, the idle loop reads it at once and blocks.
	for ((i = 0; i < 100; i++)); do
		grep -q '^> GET /sleep' "$TMP/slow.trace" 2>/dev/null && break
		sleep 0.05
	done
	sleep 0.1
	"${C[@]}" -o /dev/null "$B/stats"
	wait $slow
	# Both clients are released at the same instant, so ask the server
	# (it logs each request as it completes) rather than the clients.
	first=$(grep -o -E '"GET /(sleep\?ms=1500|stats)"' "$TMP/b.err" | head -n 1)
	is "$first" '"GET /sleep?ms=1500"' "with --inline, /stats waits behind the slow request (loop blocked)"
	# Two silent connections take both slots; a third client waits in the
	# backlog until the 2 s head deadline frees one.
	exec 5<>"/dev/tcp/127.0.0.1/$PORT" 6<>"/dev/tcp/127.0.0.1/$PORT"
	sleep 0.2
	t0=$(now_ms)
	out=$("${C[@]}" "$B/stats")
	t1=$(now_ms)
	exec 5>&- 6>&-
	[[ $out == *'"connections":'[12]','* ]] && [ $((t1 - t0)) -ge 1000 ]
	ok $? "--max-conns 2: a third client waits for a free slot ($((t1 - t0)) ms)"
	stop_server
	ok $? "inline server exits 0 on SIGTERM"
else
	ok 1 "inline server starts"
	fail_all 4 "inline server did not start"
fi

# ---------------------------------------------------------------------------
# Server C: --cert/--key.
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 \
	-subj /CN=localhost >/dev/null 2>&1 &&
	start_server c --cert "$TMP/cert.pem" --key "$TMP/key.pem"; then
	want=$(openssl x509 -in "$TMP/cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
	is "$FP" "$want" "--cert/--key: the printed fingerprint is the file's"
	got=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//')
	is "$got" "$want" "--cert/--key: that certificate is served"
	stop_server
else
	fail_all 2 "could not make a certificate or start with it"
fi
"$SERVER" --port 0 --cert "$TMP/cert.pem" >/dev/null 2>&1
is "$?" 2 "--cert without --key is a usage error"
"$SERVER" --port 0 --workers 0 >/dev/null 2>&1
is "$?" 2 "--workers 0 is a usage error"

# libevpool's own settings: EVPOOL_* < --evpool-* < the server's options.
"$SERVER" --evpool-help >/dev/null 2>&1
is "$?" 0 "--evpool-help lists libevpool's options and exits 0"
EVPOOL_MAX_WORKERS=abc "$SERVER" --port 0 >/dev/null 2>&1
is "$?" 2 "a bad EVPOOL_* value is a usage error"
if EVPOOL_MAX_WORKERS=3 start_server f --evpool-max-workers=4; then
	m=$("${C[@]}" "$B/stats" | grep -o '"max_workers":[0-9]*' | head -1)
	stop_server
	EVPOOL_MAX_WORKERS=3 start_server g --evpool-max-workers=4 --workers 5
	m="$m $("${C[@]}" "$B/stats" | grep -o '"max_workers":[0-9]*' | head -1)"
	stop_server
fi
is "$m" '"max_workers":4 "max_workers":5' "--evpool-* beats EVPOOL_*, --workers beats both"

# ---------------------------------------------------------------------------
# Server D: --processes 2 share the port with SO_REUSEPORT.
if start_server d --processes 2 --workers 1; then
	ok 0 "--processes 2 starts"
	for i in $(seq 1 24); do
		"${C[@]}" "$B/stats" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p'
	done | sort -u >"$TMP/pids"
	is "$(wc -l <"$TMP/pids")" 2 "requests are spread over the 2 processes"
	stop_server
	ok $? "--processes: SIGTERM stops all, exit status 0"
else
	ok 1 "--processes 2 starts"
	fail_all 2 "--processes server did not start"
fi

# ---------------------------------------------------------------------------
# Server E: the same jobs in a process-mode pool (bytes in, bytes out).
if start_server e --mode process --workers 2 --root "$TMP/www"; then
	ok 0 "process-mode server starts"
	sum=$("${C[@]}" "$B/files/big.bin" | sha256sum)
	is "$sum" "$(sha256sum <"$TMP/www/big.bin")" "process mode: a 3 MB file streams intact"
	dk=$("${C[@]}" --data-binary passwd "$B/hash?iterations=1&salt=salt")
	[[ $dk == *'"dk_hex":"55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"'* ]]
	ok $? "process mode: /hash test vector"
	out=$("${C[@]}" "$B/resolve?host=localhost")
	[[ $out == *'"127.0.0.1"'* || $out == *'"::1"'* ]]
	ok $? "process mode: /resolve"
	is "$(code "$B/files/escape-link")" 403 "process mode: a symlink leaving the root is refused"
	rm -f "$TMP/order"
	fill_pool 2000
	"${C[@]}" "$B/stats" | grep -q '"mode":"process"' && echo stats >>"$TMP/order"
	wait_clients
	is "$(head -n 1 "$TMP/order")" stats "process mode: /stats answers while the pool is saturated"
	stop_server
	ok $? "process mode: SIGTERM, exit status 0"
elif grep -q 'evpool_new (process mode) failed' "$TMP/e.err"; then
	skip 7 "process mode not available"
else
	ok 1 "process-mode server starts"
	fail_all 6 "process-mode server did not start"
fi

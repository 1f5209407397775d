#!/bin/bash
# t/https-files.sh — examples/https-server's files without copies (TAP,
# issue 17): a 64 MiB file and a range inside it arrive byte-identical, in
# thread and in process mode, with the server's memory bounded by its
# window of chunks in flight (not the file); in thread mode every chunk
# reaches the TLS layer in the very memory the job read it into (the
# server's /stats compares the chunk's address with the one the job
# reported); a small response leaves in one TLS record, not two.
#
# Environment: top_builddir/top_srcdir (set by make check); HTTPS_SERVER to
# test another binary.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-..}
SERVER=${HTTPS_SERVER:-$top_builddir/examples/https-server}
WRAP=
# skip_without, setup_tmp, ok, diag, start_server, stop_server:
. "$top_srcdir/t/https-lib.sh"

skip_without curl openssl cmp

echo "1..15"

setup_tmp https-files
mkdir -p "$TMP/www"
printf 'Hello, files.\n' >"$TMP/www/hello.txt"
head -c $((64 << 20)) /dev/urandom >"$TMP/www/64m.bin"
# A range inside it that starts and ends inside chunks.
FROM=12345678 TO=40000000
tail -c +$((FROM + 1)) "$TMP/www/64m.bin" | head -c $((TO - FROM + 1)) >"$TMP/range.want"

# In an ASan build freed memory waits in a quarantine (256 MiB) before
# reuse: the peak memory would then count every chunk.  Keep it small.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
C=(curl -sk --max-time 60)
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SPID/status"; }
stat_num() { # stat_num KEY: the number after "KEY": in /stats
	"${C[@]}" "$B/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# files MODE: the checks in one mode (5 of them).
files() {
	local mode=$1 hwm0 hwm1 code
	"${C[@]}" -o /dev/null "$B/files/hello.txt"
	hwm0=$(hwm_kb)
	"${C[@]}" -o "$TMP/got" "$B/files/64m.bin"
	cmp -s "$TMP/got" "$TMP/www/64m.bin"
	ok $? "$mode mode: a 64 MiB file arrives byte-identical"
	hwm1=$(hwm_kb)
	# A server that read the whole file first would grow by 64 MiB; one
	# chunk in flight plus the TLS window is well under 1 MiB (a few MiB
	# in sanitizer builds: see ASAN_OPTIONS below).
	[ -n "$hwm0" ] && [ -n "$hwm1" ] && [ $((hwm1 - hwm0)) -lt 32768 ]
	ok $? "$mode mode: the server's peak memory grew by under 32 MiB (${hwm0:-?} -> ${hwm1:-?} kB)"
	code=$("${C[@]}" -o "$TMP/got" -w '%{http_code}' -r "$FROM-$TO" "$B/files/64m.bin")
	[ "$code" = 206 ]
	ok $? "$mode mode: a range inside it is a 206 (got $code)"
	cmp -s "$TMP/got" "$TMP/range.want"
	ok $? "$mode mode: bytes $FROM-$TO arrive byte-identical"
	"${C[@]}" -o "$TMP/got" -r "-1000001" "$B/files/64m.bin"
	cmp -s "$TMP/got" <(tail -c 1000001 "$TMP/www/64m.bin")
	ok $? "$mode mode: the last 1000001 bytes arrive byte-identical"
}

# Thread mode, then the chunks' addresses.
if start_server thread --mode thread --workers 2 --root "$TMP/www" -q; then
	ok 0 "thread-mode server starts"
	files thread
	sent=$(stat_num sent) inplace=$(stat_num in_place)
	# 64 MiB + the ranges: over 700 chunks of 128 KiB.
	[ "${sent:-0}" -ge 700 ] && [ "$sent" = "$inplace" ]
	ok $? "thread mode: every chunk sent from the memory the job read it into ($inplace of $sent)"
	# TLS 1.2 shows each record it receives (1.3 adds session tickets).
	printf 'GET /files/hello.txt HTTP/1.0\r\n\r\n' |
		timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 \
			-msg -ign_eof >"$TMP/msg" 2>/dev/null
	records=$(grep -A1 '^<<< .*RecordHeader' "$TMP/msg" | grep -c '^ *17 03 03')
	[ "$records" = 1 ] && grep -q 'Hello, files.' "$TMP/msg"
	ok $? "a small response (head and body) is one TLS record ($records)"
	stop_server
	ok $? "thread mode: SIGTERM, exit status 0"
else
	for i in $(seq 9); do ok 1 "thread-mode server did not start"; done
fi

if start_server process --mode process --workers 2 --root "$TMP/www" -q; then
	files process
	stop_server
	ok $? "process mode: SIGTERM, exit status 0"
elif grep -q 'evpool_new (process mode) failed' "$TMP/process.err"; then
	for i in $(seq 6); do echo "ok $((n + i)) # SKIP process mode not available"; done
	n=$((n + 6))
else
	for i in $(seq 6); do ok 1 "process-mode server did not start"; done
fi

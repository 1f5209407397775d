#!/bin/bash
# t/https-frame.sh — examples/https-server's request framing and TLS closes
# (TAP, issue 17), driven with raw bytes over TLS (t/https-raw.py: Python's
# ssl module with suppress_ragged_eofs=False) and openssl s_client.
#
# Every request-smuggling vector of issue 17 must get exactly one response,
# the right refusal (400; 501 for a Transfer-Encoding other than chunked; 505
# for HTTP/1.2; 413 for a declared length over --max-body, before the body
# and instead of "100 Continue"; 408 for a declared body that never comes),
# with "Connection: close", and the connection must then end with TLS
# close_notify; the request hidden in the body must never run.  Good
# requests that end the connection (HTTP/1.0, "Connection: close", the
# idle deadline) must end it with close_notify
# too, every response framed by Content-Length, and ALPN must choose
# http/1.1.  An absolute-form target is an ordinary request on a connection
# that stays open.
#
# Environment: top_builddir/top_srcdir (set by make check); HTTPS_SERVER to
# test another binary.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-..}
SERVER=${HTTPS_SERVER:-$top_builddir/examples/https-server}
WRAP=
# skip_without, setup_tmp, ok, diag, start_server, stop_server:
. "$top_srcdir/t/https-lib.sh"

skip_without openssl python3

setup_tmp https-frame

# NAME<TAB>statuses wanted<TAB>request (Python escapes).  A NAME ending in
# @S must be over within S seconds.  SMUGGLED is the request hidden in the
# bodies: it must never run.
S='GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n'
H='Host: a\r\n'
tab=$'\t'
cat >"$TMP/vectors" <<VEC
cl-space${tab}400${tab}POST /hash HTTP/1.1\r\n${H}Content-Length : 35\r\n\r\n$S
obs-fold${tab}400${tab}POST /hash HTTP/1.1\r\n${H}X-A: b\r\n Content-Length: 35\r\n\r\n$S
cl-different${tab}400${tab}POST /hash HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 40\r\n\r\nabcde$S
cl-twice${tab}400${tab}POST /hash HTTP/1.1\r\n${H}Content-Length: 35\r\nContent-Length: 35\r\n\r\n$S
cl-plus${tab}400${tab}POST /hash HTTP/1.1\r\n${H}Content-Length: +35\r\n\r\n$S
te-http10${tab}400${tab}POST /hash HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$S
te-gzip${tab}501${tab}POST /hash HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n$S
te-and-cl${tab}400${tab}POST /hash HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$S
no-host${tab}400${tab}GET /files/hello.txt HTTP/1.1\r\n\r\n
two-hosts${tab}400${tab}GET /files/hello.txt HTTP/1.1\r\n${H}Host: b\r\n\r\n
nul-in-value${tab}400${tab}GET /files/hello.txt HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n
bad-chunk-size${tab}400${tab}POST /hash HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n$S
http-1.2${tab}505${tab}GET /files/hello.txt HTTP/1.2\r\n${H}\r\n
bare-cr@2.5${tab}400${tab}GET /files/hello.txt HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n
too-large-expect@2.5${tab}413${tab}POST /hash HTTP/1.1\r\n${H}Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n
too-large@2.5${tab}413${tab}POST /hash HTTP/1.1\r\n${H}Content-Length: 100000000\r\n\r\nabc
body-never-sent@9${tab}408${tab}POST /hash HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\n
get-http1.0${tab}200${tab}GET /files/hello.txt HTTP/1.0\r\n\r\n
error-http1.0${tab}404${tab}GET /nothing-here HTTP/1.0\r\n\r\n
json-http1.0${tab}200${tab}GET /stats HTTP/1.0\r\n\r\n
connection-close${tab}200${tab}GET /files/hello.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n
absolute-form${tab}200 200${tab}GET https://a/files/hello.txt HTTP/1.1\r\n${H}\r\nGET /files/hello.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n
pipelined-then-bad${tab}200 505${tab}GET /files/hello.txt HTTP/1.1\r\n${H}\r\nGET /files/hello.txt HTTP/1.2\r\n${H}\r\n
post-content-length${tab}200${tab}POST /hash?iterations=1&salt=abc HTTP/1.1\r\n${H}Content-Length: 3\r\nConnection: close\r\n\r\npwd
post-chunked${tab}200${tab}POST /hash?iterations=1&salt=abc HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\npwd\r\n0\r\n\r\n
idle-deadline@9${tab}${tab}
VEC
nv=$(grep -c . "$TMP/vectors")

echo "1..$((nv + 4))"

# A short head deadline (also the body deadline): the 408 and idle vectors
# take that long.  A server that does not start fails every test.
if ! start_server srv --header-timeout 3; then
	ok 1 "the server starts"
	for ((i = 0; i < nv + 3; i++)); do ok 1 "(no server)"; done
	exit 0
fi
ok 0 "the server starts"

python3 "$top_srcdir/t/https-raw.py" "$PORT" "$TMP/vectors" >"$TMP/results" 2>&1
while IFS=$'\t' read -r name _; do
	if grep -qx "PASS $name" "$TMP/results"; then
		ok 0 "$name: answered as expected, closed with close_notify"
	else
		ok 1 "$name: answered as expected, closed with close_notify"
		grep -F " $name" "$TMP/results" | diag
	fi
done <"$TMP/vectors"

# openssl s_client, as the issue reproduces it.
printf 'GET /files/hello.txt HTTP/1.0\r\n\r\n' |
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -quiet \
		>"$TMP/s_client" 2>&1
grep -q '^Hello from' "$TMP/s_client" && ! grep -qi 'unexpected eof' "$TMP/s_client"
r=$?
ok $r "openssl s_client: the HTTP/1.0 response ends without 'unexpected eof'"
[ $r = 0 ] || diag "$TMP/s_client"

stop_server
ok $? "the server exits with status 0"
! grep -q '/smuggled' "$TMP/srv.err"
r=$?
ok $r "no request hidden in a body ever ran"
[ $r = 0 ] || grep '/smuggled' "$TMP/srv.err" | diag

#!/bin/bash
# t/https-queues.sh — examples/https-server keeps one kind of work from
# delaying another (TAP, issue 17): each kind (files, hash, resolve, sleep)
# has its own named queue in the pool, with its own workers and bound.
#
# 64 clients flood GET /sleep?ms=200 (a small --queue, so the sleep queue is
# full most of the time) while GET /files/hello.txt is fetched over fresh
# TLS connections: every fetch must succeed, quickly.  The figure asserted is
# generous (1 s, the machine may be loaded); bench/https-vs-nginx.sh
# measures the real one.  The flood's 503s must carry Retry-After and name
# the sleep queue, and /stats must show each queue.
#
# Environment: top_builddir/top_srcdir (set by make check); HTTPS_SERVER to
# test another binary.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-..}
SERVER=${HTTPS_SERVER:-$top_builddir/examples/https-server}
WRAP=
# skip_without, setup_tmp, ok, diag, start_server, stop_server:
. "$top_srcdir/t/https-lib.sh"

skip_without python3

setup_tmp https-queues
echo "1..6"

if ! start_server srv --queue 16 --workers 2 -q; then
	ok 1 "the server starts"
	for i in 2 3 4 5 6; do ok 1 "(no server)"; done
	exit 0
fi
ok 0 "the server starts"

python3 - "$PORT" >"$TMP/flood" 2>&1 <<'PY'
import http.client, json, ssl, sys, threading, time
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
stop = threading.Event()
lock = threading.Lock()
seen = {}
busy = []

def flood():
    c = None
    while not stop.is_set():
        try:
            if c is None:
                c = http.client.HTTPSConnection("127.0.0.1", port,
                                                context=ctx, timeout=30)
            c.request("GET", "/sleep?ms=200")
            r = c.getresponse()
            body = r.read()
            with lock:
                seen[r.status] = seen.get(r.status, 0) + 1
                if r.status == 503 and len(busy) < 3:
                    busy.append((r.getheader("Retry-After"), body.decode()))
            if r.status == 503:
                time.sleep(0.05)  # as Retry-After asks, in short
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                c = None
        except Exception as e:  # a failed flood request is only counted
            with lock:
                seen[type(e).__name__] = seen.get(type(e).__name__, 0) + 1
            c = None

threads = [threading.Thread(target=flood) for _ in range(64)]
for t in threads:
    t.start()
time.sleep(1.0)  # the flood is on: the sleep queue is full
files = []
for _ in range(10):
    t0 = time.monotonic()
    try:
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                        timeout=30)
        c.request("GET", "/files/hello.txt")
        r = c.getresponse()
        r.read()
        files.append((r.status, time.monotonic() - t0))
        c.close()
    except Exception as e:
        files.append((str(e), time.monotonic() - t0))
    time.sleep(0.1)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
c.request("GET", "/stats")
stats = json.loads(c.getresponse().read())
stop.set()
for t in threads:
    t.join()
print("files", " ".join("%s:%.3f" % f for f in files))
print("flood", json.dumps(seen, sort_keys=True))
print("busy", json.dumps(busy))
print("stats", json.dumps(stats.get("queues")))
PY
diag "$TMP/flood"

read -r -a f <<<"$(sed -n 's/^files //p' "$TMP/flood")"
bad=0
for x in "${f[@]}"; do
	st=${x%%:*}
	secs=${x#*:}
	[ "$st" = 200 ] && python3 -c "import sys; sys.exit(0 if $secs < 1.0 else 1)" || bad=1
done
[ ${#f[@]} = 10 ] && [ $bad = 0 ]
ok $? "during a /sleep flood, 10 of 10 /files/hello.txt fetches succeed, each in < 1 s"

grep -q '^flood .*"503": [1-9]' "$TMP/flood" &&
	grep -q '^busy \[\["1", "{\\"status\\":503,\\"error\\":\\"server busy: sleep queue full' "$TMP/flood"
ok $? "the flood's 503s carry Retry-After and name the sleep queue"

python3 - "$TMP/flood" <<'PY'
import json, sys
q = json.loads([l[6:] for l in open(sys.argv[1]) if l.startswith("stats ")][0])
assert sorted(q) == ["files", "hash", "resolve", "sleep"], q
assert q["sleep"]["busy_rejected"] > 0 and q["files"]["busy_rejected"] == 0, q
assert q["sleep"]["max_workers"] == 2 and q["files"]["max_workers"] == 2, q
PY
ok $? "/stats shows each queue: sleep refused work, files did not"

grep -q '^flood .*"200": [1-9]' "$TMP/flood"
ok $? "the flood's own requests are served too"

stop_server
ok $? "the server exits with status 0"

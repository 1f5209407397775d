#!/bin/bash
# bench/https-vs-nginx.sh — examples/https-server against nginx (Debian's
# nginx-light) on the same machine, same files, same TLS (issue 17).
# A benchmark, not a test: make check does not run it.
#
#   bench/https-vs-nginx.sh [ROUNDS]          (from the build tree)
#
# nginx runs non-daemonised in a temporary prefix: worker_processes 1, TLS
# 1.2/1.3 with a P-256 certificate, "aio threads" with a thread pool of as
# many threads as our pool has workers (WORKERS, default: online CPUs), and
# serves the same directory under /files/.  Our server runs in thread mode
# and in process mode with --workers WORKERS.  Per round, each server in
# turn (alternating, so drift hits all alike), wrk measures for SECS
# seconds each (default 5):
#   - /files/hello.txt req/s at -c16 and -c64;
#   - /files/1m.bin and /files/64m.bin MB/s at -c16 and -c64;
#   - /files/hello.txt p99 latency (wrk -c1 --latency) while /sleep?ms=100
#     is flooded at -c64.  Ours answers /sleep itself (a job in its sleep
#     queue); nginx has no such endpoint, so its /sleep is proxied to a
#     small threaded Python backend that sleeps the same 100 ms: both
#     servers then hold 64 slow requests open while serving files.
# Output: a Markdown table per round, with ratios (thread/nginx,
# process/nginx, process/thread).  The machine's other load shows in the
# figures: run it on a quiet machine, or read the ratios only.
set -u
ROUNDS=${1:-2}
SECS=${SECS:-5}
WORKERS=${WORKERS:-$(nproc)}
top_builddir=${top_builddir:-.}
SERVER=${HTTPS_SERVER:-$top_builddir/examples/https-server}
for t in nginx wrk openssl python3; do
	command -v "$t" >/dev/null 2>&1 || { echo "$t is not installed" >&2; exit 2; }
done
[ -x "$SERVER" ] || { echo "$SERVER not built" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/https-vs-nginx.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -s "$TMP/nginx/logs/error.log" ]; then
		echo "nginx's error log:" >&2
		tail -n 5 "$TMP/nginx/logs/error.log" >&2
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

mkdir -p "$TMP/www" "$TMP/nginx/logs"
chmod 755 "$TMP" "$TMP/www" # nginx's worker (run as root: nobody) reads them
printf 'Hello from the benchmark.\n' >"$TMP/www/hello.txt"
head -c $((1 << 20)) /dev/urandom >"$TMP/www/1m.bin"
head -c $((64 << 20)) /dev/urandom >"$TMP/www/64m.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 \
	-subj /CN=localhost 2>/dev/null || exit 1

# The slow backend nginx proxies /sleep to.
BPORT=$(free_port)
python3 - "$BPORT" 2>/dev/null <<'PY' &
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(0.1)
        body = b'{"slept_ms":100}\n'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)

NPORT=$(free_port)
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
thread_pool bench threads=$WORKERS max_queue=65536;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	keepalive_requests 1000000;
	upstream slow { server 127.0.0.1:$BPORT; keepalive 64; }
	server {
		listen 127.0.0.1:$NPORT ssl;
		ssl_certificate $TMP/cert.pem;
		ssl_certificate_key $TMP/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		location /files/ { alias $TMP/www/; aio threads=bench; }
		location /sleep {
			proxy_pass http://slow;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" &
PIDS+=($!)

start_ours() { # start_ours MODE: sets OPORT and OPID
	local err=$TMP/ours-$1.err i
	"$SERVER" --port 0 --mode "$1" --workers "$WORKERS" --root "$TMP/www" \
		--cert "$TMP/cert.pem" --key "$TMP/key.pem" --max-conns 4096 \
		--queue 4096 -q 2>"$err" &
	OPID=$!
	PIDS+=("$OPID")
	for ((i = 0; i < 200; i++)); do
		OPORT=$(sed -n 's/^listening on https:\/\/.*:\([0-9]*\) (.*/\1/p' "$err")
		[ -n "$OPORT" ] && return 0
		sleep 0.05
	done
	cat "$err" >&2
	return 1
}
start_ours thread || exit 1
TPORT=$OPORT
start_ours process || exit 1
PPORT=$OPORT
sleep 1

# wrk's Requests/sec, Transfer/sec in MB/s, and the 99 % latency in ms; a
# figure with errors or non-2xx answers is marked "!" (and not to be used).
bad() { grep -qE '^ *(Non-2xx|Socket errors)' "$1" && printf '!'; }
rps() { bad "$1"; sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
mbs() {
	bad "$1"
	sed -n 's/^Transfer\/sec: *\([0-9.]*\)\([KMG]\)B.*/\1 \2/p' "$1" |
		awk '{ f = $2 == "K" ? 1/1024 : $2 == "G" ? 1024 : 1; printf "%.1f", $1 * f }'
}
p99() {
	bad "$1"
	sed -n 's/^ *99% *\([0-9.]*\)\(us\|ms\|s\).*/\1 \2/p' "$1" |
		awk '{ f = $2 == "us" ? 0.001 : $2 == "s" ? 1000 : 1; printf "%.2f", $1 * f }'
}

declare -A R
run() { # run NAME PORT ROUND
	local name=$1 port=$2 r=$3 c f o=$TMP/wrk.out
	for c in 16 64; do
		wrk -t2 -c$c -d${SECS}s --timeout 60s "https://127.0.0.1:$port/files/hello.txt" >"$o" 2>&1
		R[$r,hello$c,$name]=$(rps "$o")
		for f in 1m 64m; do
			wrk -t2 -c$c -d${SECS}s --timeout 60s "https://127.0.0.1:$port/files/$f.bin" >"$o" 2>&1
			R[$r,$f$c,$name]=$(mbs "$o")
		done
	done
	wrk -t2 -c64 -d$((SECS + 2))s "https://127.0.0.1:$port/sleep?ms=100" >/dev/null 2>&1 &
	local flood=$!
	sleep 1
	wrk -t1 -c1 -d${SECS}s --latency "https://127.0.0.1:$port/files/hello.txt" >"$o" 2>&1
	R[$r,p99,$name]=$(p99 "$o")
	wait $flood
}

# ratio A B: A/B, "-" when either figure is marked or missing
ratio() {
	case "$1$2" in *'!'*) echo -; return ;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

echo "# https-vs-nginx: $(nginx -v 2>&1 | sed 's/.*: //'), $WORKERS workers/threads, ${SECS}s per figure, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
	run nginx "$NPORT" $r
	run thread "$TPORT" $r
	run process "$PPORT" $r
	echo
	echo "Round $r"
	echo
	echo "| figure | nginx | ours, thread | ours, process | thread/nginx | process/nginx | process/thread |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for k in hello16 hello64 1m16 1m64 64m16 64m64 p99; do
		case $k in
		hello*) label="hello.txt req/s -c${k#hello}" ;;
		1m*) label="1 MiB MB/s -c${k#1m}" ;;
		64m*) label="64 MiB MB/s -c${k#64m}" ;;
		p99) label="hello.txt p99 ms, /sleep flooded -c64" ;;
		esac
		n=${R[$r,$k,nginx]:-0} t=${R[$r,$k,thread]:-0} p=${R[$r,$k,process]:-0}
		echo "| $label | $n | $t | $p | $(ratio "$t" "$n") | $(ratio "$p" "$n") | $(ratio "$p" "$t") |"
	done
done

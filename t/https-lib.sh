# shellcheck shell=bash
# t/https-lib.sh — the shell shared by t/https-server.sh and t/https-attack.sh
# (TAP tests of examples/https-server).  Sourced, not run:
#   . "$top_srcdir/t/https-lib.sh"
#
# Provides: skip_without (the SKIP plan when a tool or the server is
# missing), setup_tmp (TMP, removed on exit with every pid in PIDS), the TAP
# helpers ok and diag (n counts the tests), and start_server, stop_server and
# wait_server, which run the server on an ephemeral port (--port 0).
#
# Callers set: SERVER, the binary; WRAP, a command to run it under (split
# into words; empty for none); START_TRIES and STOP_TRIES, how many 50 ms
# polls start_server waits for the listening line and stop_server/wait_server
# for the exit (default 200 and 400: 10 s and 20 s).  A caller may define
# cleanup_more, run on exit before TMP is removed.

n=0
PIDS=()

# skip_without TOOL...: a "1..0 # SKIP" plan and exit 0 unless every TOOL is
# installed and $SERVER is built.
skip_without() {
	local tool
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "1..0 # SKIP $tool is not installed"
			exit 0
		fi
	done
	if [ ! -x "$SERVER" ]; then
		echo "1..0 # SKIP $SERVER not built (no libevent_openssl/OpenSSL?)"
		exit 0
	fi
}

# setup_tmp NAME: TMP, a fresh directory NAME.XXXXXX under $TMPDIR; on exit
# every pid in PIDS is killed (SIGKILL) and TMP removed.
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	if declare -F cleanup_more >/dev/null; then
		cleanup_more
	fi
	rm -rf "$TMP"
}
setup_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

ok() { # ok STATUS DESCRIPTION: STATUS 0 passes
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
	fi
}
diag() { sed 's/^/# /' "$@"; }

# start_server NAME ARGS...: runs $WRAP $SERVER --port 0 ARGS with stderr in
# $TMP/NAME.err; sets PORT, FP (the certificate's SHA-256 fingerprint), SPID
# (also added to PIDS) and B (the base URL).  Returns 1 if the server exits
# (or says nothing for START_TRIES polls) instead of listening.
# shellcheck disable=SC2034 # FP and B are for the caller
start_server() {
	local name=$1 i
	shift
	# the background child truncates the file only when it runs: remove
	# it first, so that a reused NAME never shows the last server's line
	rm -f "$TMP/$name.err"
	SERR=$TMP/$name.err
	$WRAP "$SERVER" --port 0 "$@" 2>"$TMP/$name.err" &
	SPID=$!
	PIDS+=("$SPID")
	for ((i = 0; i < ${START_TRIES:-200}; i++)); do
		if grep -qs '^listening on ' "$TMP/$name.err"; then
			PORT=$(sed -n 's/^listening on https:\/\/.*:\([0-9]*\) (.*/\1/p' "$TMP/$name.err")
			FP=$(sed -n 's/^listening on .*(sha256 fingerprint \([0-9A-F:]*\)).*/\1/p' "$TMP/$name.err")
			B=https://127.0.0.1:$PORT
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	diag "$TMP/$name.err"
	return 1
}

# stop_server: SIGTERM and the exit status (124, after a SIGKILL, if it still
# runs after STOP_TRIES polls); when it is not 0, the end of the server's
# stderr as diagnostics (a sanitizer's report says why).  wait_server: the
# same without the SIGTERM.
stop_server() {
	local rc
	kill -TERM "$SPID" 2>/dev/null
	wait_server
	rc=$?
	if [ "$rc" != 0 ] && [ -n "${SERR:-}" ] && [ -s "$SERR" ]; then
		echo "# the server exited $rc; the end of its stderr:"
		tail -n 40 "$SERR" | sed 's/^/#   /'
	fi
	return "$rc"
}
wait_server() {
	local i
	for ((i = 0; i < ${STOP_TRIES:-400}; i++)); do
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$SPID" 2>/dev/null; then
		kill -KILL "$SPID"
		wait "$SPID" 2>/dev/null
		return 124
	fi
	wait "$SPID"
}

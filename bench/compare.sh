#!/bin/sh
# bench/compare.sh — libevpool side by side with libuv, GLib and Python
# (issue 6).  Builds the peer programs of bench/peers/, runs libevpool and
# each peer alternately (A B A B ...) for ROUNDS rounds so that a noisy
# machine's drift hits both alike, and prints the median of each figure and
# the ratio libevpool/peer against the targets of issue 6.
#
# usage: bench/compare.sh            (from the build directory, after make)
#        make bench-compare          (the same)
# environment:
#   EVPOOL_BENCH  the evpool-bench binary (default: ./bench/evpool-bench, then
#                 next to this script)
#   PEERS_DIR     the peer programs (default: bench/peers/ next to this script,
#                 in a clone and in the make dist tarball alike)
#   ROUNDS        rounds (default 5)
#   N, M          burst jobs and pingpong round trips, libevpool, libuv and
#                 GLib alike (default 1000000, 20000)
#   PROC_N, PROC_M  libevpool process-mode burst / pingpong (1000000, 20000:
#                 the same counts as the thread burst and pingpong they are
#                 compared with)
#   PY_N, PY_M    py-bench.py's arguments (100000, 5000; it runs its
#                 ProcessPoolExecutor with PY_N/10 and PY_M/5)
#   CC, PYTHON    compilers (cc, python3);  KEEP=1 keeps the raw logs
#   SCENARIOS     which sets to run (default "classic latency lowload"):
#                 classic: burst, pingpong, process, multi, memory, idle
#                 against the peers above; latency and lowload (issues 20,
#                 22): evpool-bench's scenarios of those names against
#                 bench/peers/uv-latency.c and glib-latency.c, alternating
#   LAT_N         latency round trips (default 20000: (a) 20000, (b) 2000
#                 at 1 ms, (c) 200000);  LOW_MS  lowload ms per period (3000)
# A peer whose package is missing (libuv1-dev, libglib2.0-dev, python3) is
# skipped with a message.  Exit status 0 unless libevpool itself failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
PEERS_DIR=${PEERS_DIR:-$here/peers}
ROUNDS=${ROUNDS:-5}
N=${N:-1000000}
M=${M:-20000}
PROC_N=${PROC_N:-1000000}
PROC_M=${PROC_M:-20000}
PY_N=${PY_N:-100000}
PY_M=${PY_M:-5000}
CC=${CC:-cc}
PYTHON=${PYTHON:-python3}
SCENARIOS=${SCENARIOS:-classic latency lowload}
LAT_N=${LAT_N:-20000}
LOW_MS=${LOW_MS:-3000}
want() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }

msg() { echo "compare.sh: $*" >&2; }

if [ -z "${EVPOOL_BENCH:-}" ]; then
	for b in ./bench/evpool-bench "$here/evpool-bench"; do
		if [ -x "$b" ] && [ -f "$b" ]; then EVPOOL_BENCH=$b; break; fi
	done
fi
if [ -z "${EVPOOL_BENCH:-}" ] || [ ! -x "$EVPOOL_BENCH" ]; then
	msg "no evpool-bench: run make, then this script from the build directory, or set EVPOOL_BENCH"
	exit 2
fi
if [ ! -d "$PEERS_DIR" ]; then
	msg "no peer programs in $PEERS_DIR (set PEERS_DIR)"
	exit 2
fi
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/evpool-compare.XXXXXX") || exit 2
if [ "${KEEP:-0}" = 1 ]; then
	msg "raw logs kept in $work"
else
	trap 'rm -rf "$work"' EXIT
fi
trap 'exit 130' INT TERM
mkdir "$work/v"

# A run that hangs must not hang the comparison.
if command -v timeout >/dev/null 2>&1; then TO="timeout 600"; else TO=; fi

# ---- build the peers ------------------------------------------------------
have_uv=0 have_glib=0 have_py=0 have_floor=0
if pkg-config --exists libuv 2>/dev/null; then
	# shellcheck disable=SC2046
	if $CC -O2 -o "$work/uv-bench" "$PEERS_DIR/uv-bench.c" \
	     $(pkg-config --cflags --libs libuv) 2>"$work/build-uv.log"; then
		have_uv=1
	else
		msg "libuv peer did not build, skipped:"; cat "$work/build-uv.log" >&2
	fi
else
	msg "libuv not found by pkg-config (Debian: libuv1-dev): libuv peer skipped"
fi
if pkg-config --exists gio-2.0 2>/dev/null; then
	# shellcheck disable=SC2046
	if $CC -O2 -o "$work/glib-bench" "$PEERS_DIR/glib-bench.c" \
	     $(pkg-config --cflags --libs gio-2.0) 2>"$work/build-glib.log"; then
		have_glib=1
	else
		msg "GLib peer did not build, skipped:"; cat "$work/build-glib.log" >&2
	fi
else
	msg "gio-2.0 not found by pkg-config (Debian: libglib2.0-dev): GLib peer skipped"
fi
if command -v "$PYTHON" >/dev/null 2>&1 &&
   "$PYTHON" -c 'import asyncio, concurrent.futures, multiprocessing.pool' 2>/dev/null; then
	have_py=1
else
	msg "$PYTHON with asyncio/concurrent.futures not found: Python peers skipped"
fi
have_uvlat=0 have_gliblat=0
if pkg-config --exists libuv 2>/dev/null &&
   $CC -O2 -o "$work/uv-latency" "$PEERS_DIR/uv-latency.c" \
     $(pkg-config --cflags --libs libuv) 2>"$work/build-uvlat.log"; then
	have_uvlat=1
elif want latency || want lowload; then
	msg "bench/peers/uv-latency.c did not build: libuv latency/lowload skipped"
fi
if pkg-config --exists gio-2.0 2>/dev/null &&
   $CC -O2 -o "$work/glib-latency" "$PEERS_DIR/glib-latency.c" \
     $(pkg-config --cflags --libs gio-2.0) 2>"$work/build-gliblat.log"; then
	have_gliblat=1
elif want latency || want lowload; then
	msg "bench/peers/glib-latency.c did not build: GLib latency/lowload skipped"
fi
if $CC -O2 -pthread -o "$work/floor-bench" "$PEERS_DIR/floor-bench.c" 2>"$work/build-floor.log"; then
	have_floor=1
else
	msg "floor-bench did not build, skipped"
fi

# ---- parsing ----------------------------------------------------------------
# put FIGURE VALUE: record one round's value (ignored when empty).
put() {
	if [ -n "$2" ]; then
		echo "$2" >>"$work/v/$1"
	else
		msg "round $round: no value for $1"
	fi
}
# evkey FILE KEY: the value of KEY=value in evpool-bench output.
evkey() { sed -n "s/^$2=\([-+0-9.eE]*\)\$/\1/p" "$1" | tail -n 1; }
# The peers print one line per pool, e.g.
#   ...: burst 1000000 tasks 0.345s = 2898550 tasks/s; pingpong p50 20.1 us p99 45.3 us
# line FILE PATTERN: the last line containing PATTERN (fixed string).
line() { grep -F -- "$2" "$1" | tail -n 1; }
tps() { printf '%s\n' "$1" | sed -n 's/.*= *\([0-9][0-9.eE+]*\) tasks\/s.*/\1/p'; }
p50() { printf '%s\n' "$1" | sed -n 's/.*p50 *\([0-9][0-9.eE+]*\) *us.*/\1/p'; }
p99() { printf '%s\n' "$1" | sed -n 's/.*p99 *\([0-9][0-9.eE+]*\) *us.*/\1/p'; }

# ---- the rounds -------------------------------------------------------------
ev_failed=0
proc_unavailable=0
ev_run=0
# run_evpool SCENARIO-ARGS...: one libevpool run per argument list, recorded
# as one sample of every figure it printed.
run_evpool() {
	ev_run=$((ev_run + 1))
	f=$work/evpool.$ev_run
	: >"$f"
	for args in "$@"; do
		# shellcheck disable=SC2086
		if ! $TO "$EVPOOL_BENCH" $args >>"$f" 2>>"$f.err"; then
			msg "round $round: evpool-bench $args failed:"
			tail -n 5 "$f.err" >&2
			ev_failed=1
		fi
	done
	for k in burst_jobs_per_s pingpong_p50_us pingpong_p99_us \
		 single_base_jobs_per_s multi_jobs_per_s multi_speedup \
		 bytes_per_queued_job idle_cpu_s idle_cpu_pct \
		 process_burst_jobs_per_s process_pingpong_p50_us \
		 process_pingpong_p99_us process_pingpong_down_p50_us \
		 process_pingpong_up_p50_us $LAT_KEYS; do
		v=$(evkey "$f" $k)
		[ -n "$v" ] && put "ev_$k" "$v"
	done
	if grep -q '^process=unavailable$' "$f"; then
		proc_unavailable=1
	fi
	return 0
}
EV_BP="burst pingpong -n $N -m $M"
EV_PROC="process -n $PROC_N -m $PROC_M"
PERIODS="200 1000 2000 10000"
LAT_KEYS=
for s in 1 timer 64; do
	for p in p50 p90 p99 p999 max; do LAT_KEYS="$LAT_KEYS latency_${s}_${p}_us"; done
done
for p in $PERIODS; do
	for k in cpu_pct cpu_us_per_job p50_us p99_us; do LAT_KEYS="$LAT_KEYS lowload_${p}_$k"; done
done
# run_peer NAME PROGRAM: one run of a latency/lowload peer, recorded as
# NAME_<key> samples.
run_peer() {
	f=$work/$1.$round
	# shellcheck disable=SC2086
	$TO "$2" $LL_ARGS >"$f" 2>&1 || msg "round $round: $2 failed"
	for k in $LAT_KEYS; do
		v=$(evkey "$f" $k)
		[ -n "$v" ] && put "$1_$k" "$v"
	done
	return 0
}
LL=
want latency && LL="$LL latency"
want lowload && LL="$LL lowload"

round=1
while [ "$round" -le "$ROUNDS" ]; do
	msg "round $round of $ROUNDS"
	# latency and lowload: libevpool, libuv, libevpool, GLib (one figure
	# set per program and round, so that each peer runs beside one).
	if [ -n "$LL" ]; then
		for peer in uv glib; do
			set --
			want latency && set -- "$@" "latency -n $LAT_N"
			want lowload && set -- "$@" "lowload -n $LOW_MS"
			run_evpool "$@"
			eval "have=\$have_${peer}lat"
			[ "$have" = 1 ] || continue
			if want latency; then
				LL_ARGS="-n $LAT_N latency"; run_peer "$peer" "$work/${peer}-latency"
			fi
			if want lowload; then
				LL_ARGS="-n $LOW_MS lowload"; run_peer "$peer" "$work/${peer}-latency"
			fi
		done
	fi
	if ! want classic; then round=$((round + 1)); continue; fi
	# Each peer runs right after a libevpool run of the same figures.
	run_evpool "$EV_BP" "multi memory idle"
	if [ $have_uv = 1 ]; then
		$TO "$work/uv-bench" "$N" "$M" >"$work/uv.$round" 2>&1 ||
			msg "round $round: uv-bench failed"
		l=$(line "$work/uv.$round" "uv_queue_work")
		put uv_burst "$(tps "$l")"; put uv_p50 "$(p50 "$l")"; put uv_p99 "$(p99 "$l")"
	fi
	run_evpool "$EV_BP"
	if [ $have_glib = 1 ]; then
		$TO "$work/glib-bench" "$N" "$M" >"$work/glib.$round" 2>&1 ||
			msg "round $round: glib-bench failed"
		l=$(line "$work/glib.$round" "GTask")
		put glib_burst "$(tps "$l")"; put glib_p50 "$(p50 "$l")"; put glib_p99 "$(p99 "$l")"
	fi
	run_evpool "$EV_PROC"
	# Process mode against libuv's threads (issue 20): a libuv run right
	# after it, recorded apart so that its ratio is taken within the round.
	if [ $have_uv = 1 ]; then
		$TO "$work/uv-bench" "$N" "$M" >"$work/uvp.$round" 2>&1 ||
			msg "round $round: uv-bench failed"
		l=$(line "$work/uvp.$round" "uv_queue_work")
		put uvp_burst "$(tps "$l")"; put uvp_p50 "$(p50 "$l")"
		r=$(awk -v a="$(evkey "$work/evpool.$ev_run" process_burst_jobs_per_s)" \
			-v b="$(tps "$l")" 'BEGIN { if (a > 0 && b > 0) printf "%.4g", a / b }')
		put ev_process_burst_per_uv "$r"
		r=$(awk -v a="$(evkey "$work/evpool.$ev_run" process_pingpong_p50_us)" \
			-v b="$(p50 "$l")" 'BEGIN { if (a > 0 && b > 0) printf "%.4g", a / b }')
		put ev_process_p50_per_uv "$r"
	fi
	if [ $have_py = 1 ]; then
		$TO "$PYTHON" "$PEERS_DIR/py-bench.py" "$PY_N" "$PY_M" >"$work/py.$round" 2>&1 ||
			msg "round $round: py-bench.py failed"
		l=$(line "$work/py.$round" "ThreadPoolExecutor")
		put tpe_burst "$(tps "$l")"; put tpe_p50 "$(p50 "$l")"
		l=$(line "$work/py.$round" "ThreadPool apply_async")
		put mptp_burst "$(tps "$l")"; put mptp_p50 "$(p50 "$l")"
		l=$(line "$work/py.$round" "ProcessPoolExecutor")
		put ppe_burst "$(tps "$l")"; put ppe_p50 "$(p50 "$l")"
	fi
	if [ $have_floor = 1 ]; then
		$TO "$work/floor-bench" >"$work/floor.$round" 2>&1 ||
			msg "round $round: floor-bench failed"
		put floor_eventfd_p50 "$(p50 "$(line "$work/floor.$round" "eventfd")")"
		put floor_spin_p50 "$(p50 "$(line "$work/floor.$round" "spinning")")"
	fi
	round=$((round + 1))
done

# ---- the table ----------------------------------------------------------------
# med FIGURE: the median of its values, or empty.
med() {
	[ -s "$work/v/$1" ] || return 0
	sort -g "$work/v/$1" | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
vals() { [ -s "$work/v/$1" ] && tr '\n' ' ' <"$work/v/$1"; }

# fmt VALUE: a figure for the table (jobs/s as k/M, else 3 significant digits)
fmt() {
	[ -n "$1" ] || { echo "n/a"; return; }
	awk -v x="$1" 'BEGIN {
		if (x >= 1e6) printf "%.2f M", x / 1e6
		else if (x >= 1e4) printf "%.1f k", x / 1e3
		else printf "%.3g", x }'
}

sep() { echo "----------------------------------------------------------------------------------------------------"; }
prow() { printf '%-32s %11s  %-31s %11s  %8s  %-9s %s\n' "$@"; }
# row LABEL EVFIG PEERNAME PEERFIG OP TARGET: one line of ratio EV/PEER.
# OP is ge / le (target met when ratio OP TARGET) or "-" (no target).
row() {
	a=$(med "$2"); b=$(med "$4")
	if [ -z "$a" ] || [ -z "$b" ]; then
		prow "$1" "$(fmt "$a")" "$3" "$(fmt "$b")" "n/a" \
			"$( [ "$5" = - ] || echo "$5 $6")" ""
		return
	fi
	r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.3g", a / b; else print "inf" }')
	case $5 in
	ge) met=$(awk -v r="$r" -v t="$6" 'BEGIN { print (r >= t) ? "MET" : "not met" }'); tgt=">= $6" ;;
	le) met=$(awk -v r="$r" -v t="$6" 'BEGIN { print (r <= t) ? "MET" : "not met" }'); tgt="<= $6" ;;
	*) met=""; tgt="" ;;
	esac
	prow "$1" "$(fmt "$a")" "$3" "$(fmt "$b")" "$r" "$tgt" "$met"
}
# absrow LABEL EVFIG OP TARGET UNIT: a figure with an absolute target.
absrow() {
	a=$(med "$2")
	if [ -z "$a" ]; then
		prow "$1" "n/a" "" "" "" "$3 $4" ""
		return
	fi
	case $3 in
	ge) met=$(awk -v a="$a" -v t="$4" 'BEGIN { print (a >= t) ? "MET" : "not met" }'); tgt=">= $4$5" ;;
	le) met=$(awk -v a="$a" -v t="$4" 'BEGIN { print (a <= t) ? "MET" : "not met" }'); tgt="<= $4$5" ;;
	lt) met=$(awk -v a="$a" -v t="$4" 'BEGIN { print (a < t) ? "MET" : "not met" }'); tgt="< $4$5" ;;
	esac
	prow "$1" "$(fmt "$a")" "(absolute)" "" "" "$tgt" "$met"
}

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo
echo "libevpool vs peers: medians of $ROUNDS alternating rounds, ratio = libevpool / peer"
echo "machine: $(nproc 2>/dev/null || echo '?') CPUs, ${cpu:-unknown CPU}, $(uname -sr)"
echo "libevpool $(sed -n 's/^evpool-bench: libevpool \([^,]*\),.*/\1/p' "$work/evpool.1.err" 2>/dev/null | head -n 1)," \
     "libuv $(pkg-config --modversion libuv 2>/dev/null || echo -)," \
     "GLib $(pkg-config --modversion glib-2.0 2>/dev/null || echo -)," \
     "$("$PYTHON" --version 2>&1 || echo 'no python')"
echo "default pool sizes: libevpool = online CPUs, libuv ${UV_THREADPOOL_SIZE:-4}, GLib's own, Python 2"
echo "N=$N M=$M PROC_N=$PROC_N PROC_M=$PROC_M PY_N=$PY_N PY_M=$PY_M"
sep
prow "figure" "libevpool" "peer" "peer" "ratio" "target" ""
sep
if want classic; then
row "burst jobs/s" ev_burst_jobs_per_s "libuv uv_queue_work" uv_burst ge 3
row "burst jobs/s" ev_burst_jobs_per_s "GLib GTask" glib_burst ge 30
row "burst jobs/s" ev_burst_jobs_per_s "asyncio+ThreadPoolExecutor(2)" tpe_burst - -
row "burst jobs/s" ev_burst_jobs_per_s "mp ThreadPool(2).apply_async" mptp_burst - -
row "pingpong p50 us" ev_pingpong_p50_us "libuv uv_queue_work" uv_p50 le 0.5
row "pingpong p99 us" ev_pingpong_p99_us "libuv uv_queue_work" uv_p99 - -
row "pingpong p50 us" ev_pingpong_p50_us "GLib GTask" glib_p50 - -
row "pingpong p50 us" ev_pingpong_p50_us "asyncio+ThreadPoolExecutor(2)" tpe_p50 - -
row "pingpong p50 us" ev_pingpong_p50_us "floor: eventfd round trip" floor_eventfd_p50 - -
row "pingpong p50 us" ev_pingpong_p50_us "floor: spinning round trip" floor_spin_p50 - -
if [ $proc_unavailable = 1 ] && [ ! -s "$work/v/ev_process_burst_jobs_per_s" ]; then
	prow "process burst jobs/s" "unavail." "(process mode not available)" "" "" "" ""
else
	row "process burst jobs/s" ev_process_burst_jobs_per_s "asyncio+ProcessPoolExecutor(2)" ppe_burst ge 100
	row "process burst jobs/s" ev_process_burst_jobs_per_s "libuv thread burst (next run)" uvp_burst ge 1
	absrow "  the same, per-round ratio" ev_process_burst_per_uv ge 1 ""
	row "process pingpong p50 us" ev_process_pingpong_p50_us "libuv thread pingpong (next run)" uvp_p50 le 1
	absrow "  the same, per-round ratio" ev_process_p50_per_uv le 1 ""
	row "process pingpong p50 us" ev_process_pingpong_p50_us "asyncio+ProcessPoolExecutor(2)" ppe_p50 - -
	prow "  of which loop -> job start" "$(fmt "$(med ev_process_pingpong_down_p50_us)")" "(p50 of each leg, a second" "" "" "" ""
	prow "  of which job end -> callback" "$(fmt "$(med ev_process_pingpong_up_p50_us)")" " run whose job returns 16 B)" "" "" "" ""
fi
row "2 bases jobs/s vs 1 base" ev_multi_jobs_per_s "libevpool, 1 base" ev_single_base_jobs_per_s - -
absrow "2 bases / 1 base (per round)" ev_multi_speedup ge 1.3 ""
absrow "bytes per queued job" ev_bytes_per_queued_job le 64 " B"
absrow "idle pool CPU, % of a core" ev_idle_cpu_pct lt 1 " %"
sep
fi
if want latency; then
	for peer in uv glib; do
		[ $peer = uv ] && pn="libuv uv_queue_work" || pn="GLib GTask"
		[ $peer = uv ] && op=le || op=-
		for s in 1 timer 64; do
			case $s in 1) sl="(a) 1 in flight" ;; timer) sl="(b) 1 per ms" ;; 64) sl="(c) 64 in flight" ;; esac
			row "$sl p50 us" ev_latency_${s}_p50_us "$pn" ${peer}_latency_${s}_p50_us - -
			row "$sl p90 us" ev_latency_${s}_p90_us "$pn" ${peer}_latency_${s}_p90_us - -
			if [ "$s" = 64 ]; then
				row "$sl p99 us" ev_latency_${s}_p99_us "$pn" ${peer}_latency_${s}_p99_us - -
				row "$sl p99.9 us" ev_latency_${s}_p999_us "$pn" ${peer}_latency_${s}_p999_us - -
			else
				row "$sl p99 us" ev_latency_${s}_p99_us "$pn" ${peer}_latency_${s}_p99_us $op 0.5
				row "$sl p99.9 us" ev_latency_${s}_p999_us "$pn" ${peer}_latency_${s}_p999_us $op 1
			fi
			row "$sl max us" ev_latency_${s}_max_us "$pn" ${peer}_latency_${s}_max_us - -
		done
	done
	sep
fi
if want lowload; then
	for peer in uv glib; do
		[ $peer = uv ] && pn="libuv uv_queue_work" || pn="GLib GTask"
		[ $peer = uv ] && op=le || op=-
		for p in $PERIODS; do
			row "every $p us: CPU us/job" ev_lowload_${p}_cpu_us_per_job "$pn" ${peer}_lowload_${p}_cpu_us_per_job $op 1
			row "every $p us: CPU % of a core" ev_lowload_${p}_cpu_pct "$pn" ${peer}_lowload_${p}_cpu_pct - -
			row "every $p us: p99 us" ev_lowload_${p}_p99_us "$pn" ${peer}_lowload_${p}_p99_us - -
		done
	done
	sep
fi
echo "raw values per round:"
for f in "$work"/v/*; do
	[ -f "$f" ] && printf '  %-32s %s\n' "$(basename "$f")" "$(vals "$(basename "$f")")"
done
exit $ev_failed

#!/bin/sh
# t/bench-smoke.sh — TAP: `bench/evpool-bench --smoke` runs every scenario
# (tiny) and prints every figure as name=value with a sane number.  This is a
# test of the benchmark and of the library's exactly-once bookkeeping under
# it, not a performance test: no figure is compared with a target here.
: "${top_builddir:=.}"
bench="$top_builddir/bench/evpool-bench"

# Figures that must be > 0.
positive="burst_jobs_per_s burst_submit_ns_per_job pingpong_p50_us pingpong_p99_us
window_1_jobs_per_s window_1_p99_us window_16_jobs_per_s window_16_p99_us
window_256_jobs_per_s window_256_p99_us
single_base_jobs_per_s multi_jobs_per_s multi_speedup
bytes_per_queued_job
payload_evbuffer_4k_MBps payload_evbuffer_1m_MBps payload_bytes_1m_MBps
latency_1_p50_us latency_1_p999_us latency_1_max_us
latency_timer_p50_us latency_timer_p99_us latency_timer_max_us
latency_timer_wake_p50_us latency_timer_back_p50_us
latency_64_p50_us latency_64_p99_us latency_64_max_us
lowload_200_jobs lowload_200_p50_us lowload_200_p99_us
lowload_1000_jobs lowload_1000_p50_us lowload_10000_p99_us"
# Figures that must be >= 0 (an idle pool may well burn nothing measurable;
# nor may 10 jobs in 100 ms, at getrusage()'s resolution).
nonneg="idle_cpu_s idle_cpu_pct lowload_200_cpu_pct lowload_1000_cpu_us_per_job
lowload_10000_cpu_pct lowload_10000_cpu_us_per_job"
# Present only when process mode / the map API exist.
process="process_burst_jobs_per_s process_pingpong_p50_us process_pingpong_p99_us
process_pingpong_down_p50_us process_pingpong_up_p50_us"
map="map_items_per_s map_discard_items_per_s"

# shellcheck disable=SC2086
count() { set -- $1; echo $#; }
plan=$((1 + $(count "$positive") + $(count "$nonneg") + $(count "$process") + $(count "$map")))
echo "1..$plan"

if [ ! -x "$bench" ]; then
	echo "Bail out! $bench is not built"
	exit 0
fi

tmp=${TMPDIR:-/tmp}/bench-smoke.$$
trap 'rm -f "$tmp.out" "$tmp.err"' EXIT INT TERM
"$bench" --smoke >"$tmp.out" 2>"$tmp.err"
rc=$?
sed 's/^/# /' "$tmp.err"
sed 's/^/# stdout: /' "$tmp.out"
n=1
if [ $rc -eq 0 ]; then
	echo "ok $n - evpool-bench --smoke exits 0"
else
	echo "not ok $n - evpool-bench --smoke exits 0 (got $rc)"
fi

# check KEY OP: the last KEY=value line holds a number OP 0 (OP: gt, ge)
check() {
	n=$((n + 1))
	v=$(sed -n "s/^$1=//p" "$tmp.out" | tail -n 1)
	if [ -z "$v" ]; then
		echo "not ok $n - $1 is printed"
	elif echo "$v" | awk -v op="$2" '
		$0 !~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ { exit 1 }
		{ exit !((op == "gt") ? ($0 + 0 > 0) : ($0 + 0 >= 0)) }'; then
		echo "ok $n - $1=$v"
	else
		echo "not ok $n - $1=$v is not a number $( [ "$2" = gt ] && echo '> 0' || echo '>= 0')"
	fi
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

for k in $positive; do check "$k" gt; done
for k in $nonneg; do check "$k" ge; done
if grep -q '^process=unavailable$' "$tmp.out"; then
	for k in $process; do skip "$k" "process mode unavailable"; done
else
	for k in $process; do check "$k" gt; done
fi
if grep -q '^map=unavailable$' "$tmp.out"; then
	for k in $map; do skip "$k" "no map API yet"; done
else
	for k in $map; do check "$k" gt; done
fi
exit 0

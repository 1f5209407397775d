#!/usr/bin/env python3
"""py-bench.py -- what a Python programmer would pick instead of libevpool,
on the two figures evpool-bench reports:

  burst     N no-op calls submitted at once; the time until the caller has
            seen every result (jobs/s)
  pingpong  one call in flight at a time; the median and p99 round trip (us)

for asyncio's loop.run_in_executor() with a ThreadPoolExecutor(2) and a
ProcessPoolExecutor(2) (the latter with N/10 and M/5: it is that much
slower), and for multiprocessing.pool.ThreadPool(2).apply_async().  One line
per pool, in the shape bench/compare.sh reads:

  NAME: burst N tasks = R tasks/s; pingpong p50 X us p99 Y us

usage: python3 py-bench.py [N [M]]
"""
import asyncio
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.pool import ThreadPool

WORKERS = 2
WARMUP = 1000


def noop():
    """The job: nothing, so that only the pool's own cost is measured."""
    return None


def percentile_us(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1e6


def report(name, n, seconds, rtt):
    print(f"{name}: burst {n} tasks = {n / seconds:.0f} tasks/s; "
          f"pingpong p50 {percentile_us(rtt, 0.5):.1f} us "
          f"p99 {percentile_us(rtt, 0.99):.1f} us", flush=True)


async def executor_figures(executor, n, m):
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(executor, noop)
                           for _ in range(WARMUP)))
    start = time.perf_counter()
    await asyncio.gather(*(loop.run_in_executor(executor, noop)
                           for _ in range(n)))
    seconds = time.perf_counter() - start
    rtt = []
    for _ in range(m):
        sent = time.perf_counter()
        await loop.run_in_executor(executor, noop)
        rtt.append(time.perf_counter() - sent)
    return seconds, rtt


def run_executor(executor_class, n, m):
    with executor_class(WORKERS) as executor:
        seconds, rtt = asyncio.run(executor_figures(executor, n, m))
    report(f"asyncio run_in_executor({executor_class.__name__}({WORKERS}))",
           n, seconds, rtt)


def run_threadpool(n, m):
    with ThreadPool(WORKERS) as pool:
        for r in [pool.apply_async(noop) for _ in range(WARMUP)]:
            r.get()
        start = time.perf_counter()
        for r in [pool.apply_async(noop) for _ in range(n)]:
            r.get()
        seconds = time.perf_counter() - start
        rtt = []
        for _ in range(m):
            sent = time.perf_counter()
            pool.apply_async(noop).get()
            rtt.append(time.perf_counter() - sent)
    report("multiprocessing.pool.ThreadPool apply_async", n, seconds, rtt)


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 100000
    m = int(argv[2]) if len(argv) > 2 else 5000
    run_executor(ThreadPoolExecutor, n, m)
    run_threadpool(n, m)
    run_executor(ProcessPoolExecutor, max(1, n // 10),
                 max(1, m // 5))


if __name__ == "__main__":
    main(sys.argv)

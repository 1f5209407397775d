"""Submit N jobs to Celery or RQ, wait for all, print the figures in
remote-demo's form:  jobs/s=... p50_ms=... p99_ms=...
All at once: latency is submit -> the job's end as the worker stamps it
(this favours the peers a little: remote-demo measures up to its callback).
With --serial: one job at a time, latency is submit -> the client seeing
the result (Celery's result.get(), RQ's status poll every 0.5 ms)."""
import os
import sys
import time

kind, n, sleep_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
serial = len(sys.argv) > 4 and sys.argv[4] == "--serial"   # one at a time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
t_start = time.time()
sent = []
if kind == "celery":
    from celery_app import work
    ends = []
    for i in range(n):
        sent.append((time.time(), work.apply_async((sleep_ms, "job-%d" % i), queue="bench")))
        if serial:
            t0, r = sent.pop()
            r.get(timeout=600)
            ends.append((t0, time.time()))
    ends += [(t0, r.get(timeout=600)[1]) for t0, r in sent]
else:
    import redis
    from rq import Queue
    from rq_jobs import work
    conn = redis.Redis.from_url(os.environ["BENCH_REDIS"])
    q = Queue("bench", connection=conn)
    ends = []
    for i in range(n):
        sent.append((time.time(), q.enqueue(work, sleep_ms, "job-%d" % i, result_ttl=600)))
        if serial:
            t0, job = sent.pop()
            while job.get_status(refresh=True) not in ("finished", "failed"):
                time.sleep(0.0005)
            ends.append((t0, time.time()))
    for t0, job in sent:
        while True:
            st = job.get_status(refresh=True)
            if st == "finished":
                ends.append((t0, job.return_value()[1]))
                break
            if st == "failed":
                sys.exit("job failed")
            time.sleep(0.002)
total = max(e for _, e in ends) - t_start
lat = sorted((e - t0) * 1000 for t0, e in ends)
print("jobs/s=%.0f p50_ms=%.3f p99_ms=%.3f" % (n / total, lat[n // 2], lat[min(n - 1, n * 99 // 100)]))

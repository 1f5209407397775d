"""The benchmark's Celery app: the same job as remote-demo's "hash" (sleep,
then hash the input), with Redis as broker and result backend."""
import os
import time
import hashlib

from celery import Celery

URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
app = Celery("bench", broker=URL, backend=URL)
app.conf.update(task_serializer="json", result_serializer="json",
                accept_content=["json"], worker_prefetch_multiplier=4,
                task_acks_late=False, result_expires=600,
                broker_connection_retry_on_startup=True)


@app.task(name="bench.work")
def work(sleep_ms, data):
    if sleep_ms:
        time.sleep(sleep_ms / 1000.0)
    return [hashlib.blake2b(data.encode(), digest_size=8).hexdigest(), time.time()]

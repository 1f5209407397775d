"""The benchmark's RQ job: the same work as celery_app.work."""
import time
import hashlib


def work(sleep_ms, data):
    if sleep_ms:
        time.sleep(sleep_ms / 1000.0)
    return [hashlib.blake2b(data.encode(), digest_size=8).hexdigest(), time.time()]

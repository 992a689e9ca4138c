"""The API's throttle counters live in Redis (the ``throttle`` cache) and outlive a test's database
transaction: each test starts with none, and each pytest process (xdist worker) keeps its own keys."""

from __future__ import annotations

import os

from django.core.cache import caches


def key_prefix() -> str:
    return f"throttle-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"


def reset() -> None:
    """Forget every throttle counter of this test process."""
    cache = caches["throttle"]
    client = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client is None:  # a local-memory cache (no REDIS_URL)
        cache.clear()
        return
    redis = client(None, write=True)
    keys = list(redis.scan_iter(match=f"{key_prefix()}:*", count=1000))
    if keys:
        redis.delete(*keys)

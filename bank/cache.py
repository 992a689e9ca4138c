"""The cache on Redis, degraded to "always a miss" while Redis is unreachable.

The cache only ever holds what can be computed again (throttle counters, memoised reads). A Redis
outage must therefore never turn a page view or a sensor's POST into a 500 or a long wait: each call
is bounded by the connection's socket timeouts (``OPTIONS``), a failure answers as a miss, and after
one failure the cache is skipped for ``PAUSE_SECONDS`` so a request with several cache calls waits
at most once.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_MISSING = object()


class ResilientRedisCache(RedisCache):
    PAUSE_SECONDS = 5.0
    # Per server list and process: a cache that is down for one thread is down for all of them.
    _paused_until: dict[tuple, float] = {}

    def _guarded(self, name: str, fallback, *args, **kwargs):
        key = tuple(self._servers)
        if time.monotonic() < self._paused_until.get(key, 0.0):
            return fallback
        try:
            return getattr(super(), name)(*args, **kwargs)
        except RedisError as exc:
            self._paused_until[key] = time.monotonic() + self.PAUSE_SECONDS
            log.warning("cache: Redis unreachable (%s); answering as a miss for %ss", exc, self.PAUSE_SECONDS)
            return fallback

    def get(self, key, default=None, version=None):
        return self._guarded("get", default, key, default, version)

    def get_many(self, keys, version=None):
        return self._guarded("get_many", {}, keys, version)

    def has_key(self, key, version=None):
        return self._guarded("has_key", False, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded("add", False, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded("set", None, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded("set_many", list(data), data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guarded("touch", False, key, timeout, version)

    def delete(self, key, version=None):
        return self._guarded("delete", False, key, version)

    def delete_many(self, keys, version=None):
        return self._guarded("delete_many", None, keys, version)

    def clear(self):
        return self._guarded("clear", False)

    def incr(self, key, delta=1, version=None):
        result = self._guarded("incr", _MISSING, key, delta, version)
        if result is _MISSING:  # callers treat ValueError as "no such key" and start again with add/set
            raise ValueError(f"Key '{key}' not found (the cache is unreachable).")
        return result

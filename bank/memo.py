"""A per-request memo for pure reads, only while a GET or HEAD request is being answered.

A page is built from panels that each ask the app owning a rule (the lot page's QC panel and the signature
manifest both ask qc for the lot's release readiness). Within a safe request nothing changes, so the second
asker may take the first answer: ``memoized(key, compute)``. Outside such a request (a POST, a service, a task, a
test calling a query) there is no memo and ``compute`` always runs: services decide on fresh reads under their
locks, never on a remembered one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_memo: ContextVar[dict | None] = ContextVar("bank_read_memo", default=None)

SAFE_METHODS = ("GET", "HEAD")


class ReadMemoMiddleware:
    """Opens the memo for a GET or HEAD request and drops it with the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in SAFE_METHODS:
            return self.get_response(request)
        token = _memo.set({})
        try:
            return self.get_response(request)
        finally:
            _memo.reset(token)


def memoized(key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered under ``key`` for the rest of a safe request (always computed otherwise)."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def recall(key: Any) -> Any:
    """What ``memoized`` remembered under ``key`` in this safe request, else None (nothing is computed)."""
    memo = _memo.get()
    return None if memo is None else memo.get(key)


def active() -> bool:
    """Is a safe request being answered (so ``memoized`` remembers)?"""
    return _memo.get() is not None

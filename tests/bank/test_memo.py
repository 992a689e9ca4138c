"""The per-request read memo: only inside a GET or HEAD request; a POST, a service or a test always recomputes."""

from django.http import HttpResponse
from django.test import RequestFactory

from bank.memo import ReadMemoMiddleware, memoized


def _count_calls(method: str) -> int:
    calls = []

    def view(request):
        for _ in range(3):
            memoized("k", lambda: calls.append(1) or len(calls))
        return HttpResponse("ok")

    ReadMemoMiddleware(view)(getattr(RequestFactory(), method)("/"))
    return len(calls)


def test_a_get_computes_once_a_post_every_time():
    assert _count_calls("get") == 1
    assert _count_calls("head") == 1
    assert _count_calls("post") == 3


def test_outside_a_request_nothing_is_remembered():
    calls = []
    for _ in range(2):
        memoized("k", lambda: calls.append(1))
    assert len(calls) == 2


def test_each_request_starts_empty():
    assert _count_calls("get") == 1 and _count_calls("get") == 1

"""Read-replica routing (issue 13): the catalog and the traces read from a replica when one is configured.

``DATABASE_REPLICA_URL`` adds a ``replica`` database: a streaming replica of the primary, so the same rows a
little later. Nothing goes there by default. A read goes to the replica only

- inside ``read_replica()`` (a context manager, also a view decorator: ``@reads_from_replica``), which
  ``ReplicaReadMiddleware`` enters for GET and HEAD requests to the views named in ``REPLICA_READ_VIEWS`` (the
  catalog and the traces: pages and API), and
- for a model of ``REPLICA_APPS`` (the bank's records). Sessions, users, API tokens, lockouts, the audit trail and
  notifications are always read from the primary: a session written a moment ago may not have reached the
  replica, and the request would look logged out.

Every write, and every read outside the context, goes to ``default``; so does everything when no replica is
configured (the embedded bank, the tests). A row read from the replica and then saved is written to the primary.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connections

DEFAULT = "default"
REPLICA = "replica"

_reading_from_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("stembank_read_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES and REPLICA in connections.settings


def replica_active() -> bool:
    """Whether reads of the bank's records go to the replica here and now."""
    return _reading_from_replica.get() and replica_configured()


@contextlib.contextmanager
def read_replica() -> Iterator[None]:
    """Read the bank's records from the replica (when there is one) inside this block. Writes still go to the
    primary; do not read-modify-write inside it (what you read may be a moment old)."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


def reads_from_replica(view: Callable) -> Callable:
    """A view decorator: the view's GET and HEAD requests read from the replica."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with read_replica():
            return view(request, *args, **kwargs)

    return wrapped


class ReplicaRouter:
    """``DATABASE_ROUTERS``: the replica for reads of ``REPLICA_APPS`` inside ``read_replica()``, else default.

    Explicit "default" answers, never None: Django would otherwise follow the instance a query starts from, and
    a row read from the replica would be saved to it."""

    def db_for_read(self, model, **hints) -> str:
        if replica_active() and model._meta.app_label in settings.REPLICA_APPS:
            return REPLICA
        return DEFAULT

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the primary's rows: a row read from one may refer to a row read from the other.
        if {obj1._state.db or DEFAULT, obj2._state.db or DEFAULT} <= {DEFAULT, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool | None:
        return db == DEFAULT  # the replica follows the primary's schema by replication


class ReplicaReadMiddleware:
    """Reads of the views named in ``REPLICA_READ_VIEWS`` (URL names, ``namespace:name``) from the replica, for
    GET and HEAD. The view and the rendering of its response run inside ``read_replica()``; a streamed body is
    read after the middleware returns, from the primary."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            token = request.__dict__.pop("_replica_token", None)
            if token is not None:
                _reading_from_replica.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if (request.method in ("GET", "HEAD") and match is not None and match.view_name in settings.REPLICA_READ_VIEWS
                and replica_configured() and "_replica_token" not in request.__dict__):
            request._replica_token = _reading_from_replica.set(True)
        return None

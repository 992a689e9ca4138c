"""Strict readers for settings taken from the environment.

A typo in a deployment variable must stop the process at start-up, not silently fall back to a
default: ``DEBUG=flase`` would otherwise leave a production bank in debug mode. Each reader also
honours a ``NAME_FILE`` variant (Docker/Kubernetes secrets) holding the value in a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_UNSET = object()


def _raw(name: str, environ=None) -> str | None:
    environ = os.environ if environ is None else environ
    if name in environ:
        return environ[name]
    file_name = environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return None


def env_str(name: str, default=_UNSET, environ=None) -> str:
    value = _raw(name, environ)
    if value is None or value == "":
        if default is _UNSET:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default
    return value


def env_bool(name: str, default: bool, environ=None) -> bool:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}."
    )


def env_int(name: str, default: int, environ=None, minimum: int | None = None) -> int:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_float(name: str, default: float, environ=None) -> float:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.")


def env_list(name: str, default: list[str], environ=None) -> list[str]:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str, conn_max_age: int = 0) -> dict:
    """Django DATABASES entry for ``postgres://user:pass@host:port/name`` or ``sqlite:///path``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no SQLite file.")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            # A web process, a worker and beat share the file: wait for locks instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no database.")
        options = dict(parse_qsl(parts.query))
        # The web's queries are short: PostgreSQL's JIT compiles a plan whose estimated cost is high (a count over a
        # million rows, a wide join) for ~100 ms before running it in a few. The random page cost of solid-state
        # storage (1.1, not the spinning disk's 4): otherwise reaching 4,000 stocked lines of a million by index
        # looks dearer than reading all million. No parallel workers: starting two takes a few milliseconds, and a
        # misjudged estimate (123,000 units "ready to list" where there are none) had the dashboard wait 7 ms for a
        # count that takes 1 ms alone; concurrent requests share the cores anyway. ``?options=`` in the URL
        # overrides all three (docs/performance.md); ``load_scale`` turns parallel workers back on for itself.
        options.setdefault("options", "-c jit=off -c random_page_cost=1.1 -c max_parallel_workers_per_gather=0")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {scheme!r} is not supported; use postgres:// or sqlite:///."
    )

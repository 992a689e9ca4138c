"""Domain errors: the one way a service says "no".

A service that refuses an action raises one of these with a stable ``code`` (part of the API
contract) and a human message. The API maps them to 409/403 ``{"detail", "code", ...extra}``;
a page shows ``detail`` as a message. Field-level input errors use Django's ``ValidationError``.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused an action. ``status`` is the HTTP status the API answers with."""

    status = 409
    default_code = "conflict"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        self.code = code or self.default_code
        self.detail = str(detail) if detail is not None else self.code
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        payload = {"detail": self.detail, "code": self.code}
        for key, value in self.extra.items():
            payload[key] = value
        return payload

    def __str__(self) -> str:
        return self.detail


class Conflict(DomainError):
    """The record's state forbids the action (HTTP 409)."""

    status = 409
    default_code = "conflict"


class Forbidden(DomainError):
    """A rule forbids this person from taking the action (HTTP 403)."""

    status = 403
    default_code = "forbidden"

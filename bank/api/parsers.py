"""The API's JSON parser: what cannot be stored is refused as a 400 here, once for every endpoint."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def has_lone_surrogate(text: str) -> bool:
    """True for a string holding half of a UTF-16 pair (JSON ``"\\ud800"``): no database can store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_strings(data) -> None:
    # Iterative, so a deeply nested body cannot exhaust the stack here either.
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                raise ParseError(_("JSON parse error - the text contains an invalid Unicode character "
                                   "(an unpaired surrogate)."))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class JSONParser(parsers.JSONParser):
    """DRF's parser, refusing with 400 what it lets through to a 500: unpaired surrogates (which crash the
    database driver and even the error page) and bodies nested too deeply for the decoder."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the document is nested too deeply."))
        _check_strings(data)
        return data

"""The body of a table upload: CSV text (``Content-Type: text/csv``, or ``text/plain``), read as UTF-8."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from bank.api.parsers import has_lone_surrogate

# A national table of 2-field A~B~DRB1 haplotypes runs to some tens of thousands of lines (~40 bytes each).
MAX_BYTES = 16_000_000


class CSVTextParser(BaseParser):
    """The request body as text: the service reads the lines (``haplobank.services``)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        limit = MAX_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise ParseError(_("The table is larger than %(size)s MB: split it or leave out the rarest haplotypes.")
                             % {"size": round(limit / 1_000_000, 1)})
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError(_("The table is not UTF-8 text: save it as CSV UTF-8 and upload it again."))
        if has_lone_surrogate(text) or "\x00" in text:
            raise ParseError(_("The table contains characters that are not text: save it as CSV UTF-8 and upload "
                               "it again."))
        return text


class PlainTextParser(CSVTextParser):
    media_type = "text/plain"

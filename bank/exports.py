"""Row exports as streamed downloads (issue 13: "exports streamed"), the one way every CSV export is written.

At the national profile an export can hold a million cord blood units or a year of the audit trail, so no export
is built whole, neither in memory nor in one response body: the rows come from a generator, are written through
``csv.writer`` into a small buffer (Django's "streaming large CSV files" pattern) and go out through
``StreamingHttpResponse`` a buffer at a time.

The rows are read in keyset chunks (``keyset_chunks``: ``pk > last`` on the primary key index, ``chunk_size`` rows a
query) rather than through ``QuerySet.iterator()``. A streamed body is read after the view returns, outside any
transaction, where Django opens PostgreSQL's server-side cursor ``WITH HOLD``, and PostgreSQL materialises the
whole result of a held cursor when its transaction commits: a million-row export would be computed and stored on
the database server before its first row left, and one cursor would stay open for the whole download (which a
read replica may cancel and a transaction-pooling proxy cannot carry). A keyset chunk is one short query with its
``select_related`` and one query per ``prefetch_related`` lookup, so an export runs a constant number of queries
per chunk and never holds more than a chunk of rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

CHUNK_SIZE = 2000
# A response chunk: large enough that a million rows are not a million socket writes, small enough to be nothing.
BUFFER_SIZE = 64 * 1024
BOM = "\ufeff"


def csv_chunks(header: Sequence, rows: Iterable[Sequence], *, bom: bool = False) -> Iterator[str]:
    """The CSV text of ``header`` then ``rows``, in pieces of about BUFFER_SIZE characters. The byte-order mark
    (``bom``) and the header go out at once, so the download starts before the first query answers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield (BOM if bom else "") + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= BUFFER_SIZE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def stream_csv(filename: str, header: Sequence, rows: Iterable[Sequence], *,
               bom: bool = False) -> StreamingHttpResponse:
    """A CSV download (UTF-8, ``attachment; filename=...``) streamed from the ``rows`` generator."""
    response = StreamingHttpResponse(csv_chunks(header, rows, bom=bom), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def keyset_chunks(queryset: QuerySet, *, chunk_size: int = CHUNK_SIZE) -> Iterator[list]:
    """The rows of ``queryset`` in pk order, a list of up to ``chunk_size`` at a time, each list one query (plus one
    per prefetch lookup) after the last pk seen. The queryset must not be sliced; its ordering is replaced by pk."""
    queryset = queryset.order_by("pk")
    last = None
    while True:
        batch = list((queryset if last is None else queryset.filter(pk__gt=last))[:chunk_size])
        if not batch:
            return
        yield batch
        last = batch[-1].pk

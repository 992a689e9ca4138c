"""Audit trail exports for inspectors: one record's trail, or a date range across the bank, as CSV or PDF.

Each entry says who, when, what (the action and the field changes), why (the reason) and where it stands in the
tamper-evident chain (``bank.audit_chain.link_states``). Only the history the reader may see is exported: the
reader needs ``bank.view_audit_trail``, and a record type is included only when ``bank.audit.can_read_history``
allows it (so a donor's identity history needs ``donors.view_donoridentity``; fields a model hides with
``AUDIT_HIDDEN_FIELDS`` never appear). CSV streams any number of entries, oldest first, with every cell that a
spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) neutralised; a PDF holds
up to ``AUDIT_EXPORT_PDF_MAX_ENTRIES``.
"""

from __future__ import annotations

import datetime
import heapq
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape

import reportlab
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bank import audit_chain
from bank.audit import audited_models, can_read_history, history_entries, object_history
from bank.exports import Column, Prepared, neutralise, register_export

BATCH = 1000


@dataclass(frozen=True)
class ExportScope:
    """What to export: one record (``object_type`` + ``object_id``), every record of a type in a date range, or
    every readable record type in a date range. ``start``/``end`` are aware datetimes, end exclusive."""

    models: dict[str, type]
    object_type: str = ""
    object_id: int | None = None
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None

    @property
    def start(self) -> datetime.datetime | None:
        return _local_midnight(self.date_from) if self.date_from else None

    @property
    def end(self) -> datetime.datetime | None:
        return _local_midnight(self.date_to + datetime.timedelta(days=1)) if self.date_to else None

    def describe(self) -> str:
        parts = []
        if self.object_type:
            parts.append(f"{self.object_type} #{self.object_id}" if self.object_id is not None else self.object_type)
        else:
            parts.append(_("every record type you may read (%(n)s)") % {"n": len(self.models)})
        if self.date_from or self.date_to:
            parts.append(_("from %(start)s to %(end)s") % {"start": self.date_from or "…", "end": self.date_to or "…"})
        return ", ".join(str(p) for p in parts)

    def filename(self, extension: str) -> str:
        what = f"{self.object_type}-{self.object_id}" if self.object_id is not None else (self.object_type or "bank")
        span = "-".join(d.isoformat() for d in (self.date_from, self.date_to) if d)
        return f"audit-{what}{'-' + span if span else ''}.{extension}"


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _date(value: str, field: str, errors: dict) -> datetime.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        errors[field] = [_("Enter a date as YYYY-MM-DD.")]
        return None


def parse_scope(params, user) -> ExportScope:
    """Check the reader and the query (``object_type``, ``object_id``, ``from``, ``to``): bad input raises
    ValidationError with field errors (a 400 or a form error), a reader without the right PermissionDenied."""
    if not user.has_perm("bank.view_audit_trail"):
        raise PermissionDenied(_("Your role may not read the audit trail."))
    errors: dict[str, list[str]] = {}
    object_type = (params.get("object_type") or "").strip().lower()
    raw_id = (params.get("object_id") or "").strip()
    date_from = _date(params.get("from", ""), "from", errors)
    date_to = _date(params.get("to", ""), "to", errors)
    object_id = None
    if raw_id:
        if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 18:
            errors["object_id"] = [_("Enter a record id (a whole number).")]
        else:
            object_id = int(raw_id)
    known = audited_models()
    if object_type and object_type not in known:
        errors["object_type"] = [_("Unknown object type. Use one of: %(types)s.") % {"types": ", ".join(sorted(known))}]
    if object_id is not None and not object_type:
        errors["object_type"] = [_("Name the type of the record.")]
    if date_from and date_to and date_from > date_to:
        errors["to"] = [_("The end of the range is before its start.")]
    if not errors and object_id is None and not (date_from and date_to):
        errors["from"] = [_("Choose a record, or a date range (from and to).")]
    if errors:
        raise ValidationError(errors)
    if object_type:
        model = known[object_type]
        if not can_read_history(user, model):
            raise PermissionDenied(_("Your role may not read this audit trail."))
        models = {object_type: model}
    else:
        models = {name: model for name, model in sorted(known.items()) if can_read_history(user, model)}
        if not models:
            raise PermissionDenied(_("Your role may not read any audit trail."))
    return ExportScope(models=models, object_type=object_type, object_id=object_id, date_from=date_from,
                       date_to=date_to)


# --- the entries ----------------------------------------------------------------------------------------


def _entries(name: str, model, rows: list) -> list[dict]:
    """A batch of one record type's history rows as audit entries, each with its state in the chain (a constant
    number of queries a batch: ``history_entries`` and ``audit_chain.link_states``)."""
    table = model.history.model._meta.db_table
    states = audit_chain.link_states(table, model, [r.history_id for r in rows])
    entries = history_entries(rows)
    for entry in entries:
        state = states.get(entry["id"], {})
        entry.update({"object_type": name, "table": table, "link": state.get("link"),
                      "chain": state.get("state", "no_chain")})
    return entries


def _model_entries(name: str, model, scope: ExportScope) -> Iterator[dict]:
    """One record type's entries in (time, history id) order, read in keyset batches of BATCH rows."""
    # object_history: the rows a record's audit trail page lists, here oldest first.
    qs = object_history(model, scope.object_id).order_by("history_date", "history_id")
    if scope.start is not None:
        qs = qs.filter(history_date__gte=scope.start)
    if scope.end is not None:
        qs = qs.filter(history_date__lt=scope.end)
    after = None
    while True:
        page = qs if after is None else qs.filter(
            Q(history_date__gt=after[0]) | Q(history_date=after[0], history_id__gt=after[1]))
        rows = list(page[:BATCH])
        if not rows:
            return
        yield from _entries(name, model, rows)
        if len(rows) < BATCH:
            return
        after = (rows[-1].history_date, rows[-1].history_id)


def export_entries(scope: ExportScope) -> Iterator[dict]:
    """Every entry of the scope, oldest first across record types (a k-way merge of per-type streams)."""
    streams = [_model_entries(name, model, scope) for name, model in scope.models.items()]
    return heapq.merge(*streams, key=lambda e: (e["at"], e["table"], e["id"]))


def chain_label(state: str) -> str:
    labels = {
        "verified": _("verified"), "unsealed": _("not sealed yet"), "row_changed": _("ROW CHANGED"),
        "chain_broken": _("CHAIN BROKEN"), "link_missing": _("NO LINK"), "no_chain": _("no chain (PostgreSQL only)"),
    }
    return str(labels.get(state, state))


def _changes_text(changes: dict) -> str:
    return "; ".join(f"{field}: {'' if old is None else old} → {'' if new is None else new}"
                     for field, (old, new) in changes.items())


# --- CSV and XLSX ------------------------------------------------------------------------------------------

# The columns of every audit export: the audit area's and a record's CSV, and a record's CSV or XLSX from its audit
# trail page (``bank.exports``, "bank.audit" below).
AUDIT_COLUMNS = [
    Column(gettext_lazy("time (UTC)"), lambda e: e["at"].astimezone(datetime.UTC).isoformat()),
    Column(gettext_lazy("user"), lambda e: e["user"] or ""),
    Column(gettext_lazy("user name"), lambda e: e["user_display"] or ""),
    Column(gettext_lazy("action"), lambda e: e["action"]),
    Column(gettext_lazy("record type"), lambda e: e["object_type"]),
    Column(gettext_lazy("record id"), lambda e: e["object_id"]),
    Column(gettext_lazy("changes"), lambda e: json.dumps(e["changes"], ensure_ascii=False, default=str)),
    Column(gettext_lazy("reason"), lambda e: e["reason"]),
    Column(gettext_lazy("history table"), lambda e: e["table"]),
    Column(gettext_lazy("history id"), lambda e: e["id"]),
    Column(gettext_lazy("chain link"), lambda e: e["link"] or ""),
    Column(gettext_lazy("chain state"), lambda e: chain_label(e["chain"])),
]


def csv_header() -> list[str]:
    return [str(column.header) for column in AUDIT_COLUMNS]


def csv_rows(entries: Iterable[dict]) -> Iterator[list[str]]:
    """The CSV rows of the entries, every cell neutralised (streamed through ``bank.exports.stream_csv``, with a
    byte-order mark so spreadsheets read Chinese text as UTF-8)."""
    for e in entries:
        yield [neutralise(column.value(e)) for column in AUDIT_COLUMNS]


@register_export("bank.audit", url="audit", perms=("bank.view_audit_trail",), title=gettext_lazy("Audit trail"),
                 filename="audit-trail")
def record_trail(user, params):
    """One record's audit trail as its page lists it (``object_history``), as CSV or XLSX from the page's export
    links, for whoever may read that record type's trail (``parse_scope``: the one check of every audit export).
    The rows come in history order, read in keyset chunks with their chain states."""
    scope = parse_scope({"object_type": params.get("object_type", ""), "object_id": params.get("object_id", "")},
                        user)
    ((name, model),) = scope.models.items()
    return Prepared(object_history(model, scope.object_id), lambda rows: _entries(name, model, rows)), AUDIT_COLUMNS


# --- PDF ---------------------------------------------------------------------------------------------------

CJK_FONT = "STSong-Light"


def _fonts() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    registered = pdfmetrics.getRegisteredFontNames()
    if "Vera" not in registered:
        folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
        pdfmetrics.registerFont(TTFont("Vera", os.path.join(folder, "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("VeraBd", os.path.join(folder, "VeraBd.ttf")))
    if CJK_FONT not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return "Vera", "VeraBd"


def _needs_cjk(text: str) -> bool:
    # Vera covers Latin, Greek and the symbols we print (→ ≥ ≤ ×); anything in the CJK blocks goes to STSong.
    return any(ord(ch) >= 0x2E80 for ch in text)


def pdf_content(scope: ExportScope, user) -> dict:
    """What the PDF says (also what the tests check): its facts and one row per entry, oldest first. Raises
    ValidationError when the scope holds more than AUDIT_EXPORT_PDF_MAX_ENTRIES entries."""
    limit = settings.AUDIT_EXPORT_PDF_MAX_ENTRIES
    entries = []
    for entry in export_entries(scope):
        entries.append(entry)
        if len(entries) > limit:
            raise ValidationError({"to": [_("More than %(n)s entries: narrow the range for a PDF, or export CSV.")
                                          % {"n": limit}]})
    states: dict[str, int] = {}
    for entry in entries:
        states[entry["chain"]] = states.get(entry["chain"], 0) + 1
    status = audit_chain.chain_status()
    if status["supported"]:
        last = status["last_checkpoint"]
        chain_text = _("PostgreSQL chain sealed up to link %(head)s, %(unsealed)s link(s) not sealed yet; last keyed "
                       "checkpoint %(checkpoint)s.") % {
            "head": status["head_link_id"], "unsealed": status["unsealed"],
            "checkpoint": (f"#{last['id']} {timezone.localtime(last['at']):%Y-%m-%d %H:%M %Z} "
                           f"(link {last['last_link_id']}, key {last['key_id']})") if last else _("none yet")}
    else:
        chain_text = _("This bank runs without the tamper-evident chain (it needs PostgreSQL).")
    facts = [
        (_("Scope"), scope.describe()),
        (_("Exported by"), f"{user.get_full_name() or user.get_username()} ({user.get_username()})"),
        (_("Exported at"), timezone.localtime().strftime("%Y-%m-%d %H:%M:%S %Z")),
        (_("Entries"), str(len(entries))),
        (_("Audit chain"), chain_text),
        (_("Chain state of these entries"),
         ", ".join(f"{chain_label(k)}: {v}" for k, v in sorted(states.items())) or "—"),
    ]
    rows = [{
        "when": timezone.localtime(e["at"]).strftime("%Y-%m-%d %H:%M:%S"),
        "who": e["user_display"] or _("system"), "action": e["action"],
        "record": f"{e['object_type']} #{e['object_id']}", "changes": _changes_text(e["changes"]),
        "reason": e["reason"], "chain": chain_label(e["chain"]) + (f" · {e['link']}" if e["link"] else ""),
        "broken": e["chain"] not in ("verified", "unsealed", "no_chain"),
    } for e in entries]
    return {"facts": facts, "rows": rows}


def audit_pdf(scope: ExportScope, user) -> bytes:
    """The trail as a PDF (A4 landscape): the scope, who exported it and when, the chain's state, then one row
    per entry (rows whose chain state is broken on red)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    content = pdf_content(scope, user)
    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=7.5, leading=9.5)
    small = ParagraphStyle("small", parent=body, fontSize=7, leading=9, textColor=colors.HexColor("#5b6675"))
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=15, leading=19, spaceAfter=4)
    head = ParagraphStyle("head", parent=body, fontName=bold)

    def p(text, style=body):
        text = "" if text is None else str(text)
        if _needs_cjk(text):
            style = ParagraphStyle(f"{style.name}-cjk", parent=style, fontName=CJK_FONT)
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

    story = [p(settings.BANK_NAME, small), p(_("Audit trail"), title)]
    fact_table = Table([[p(k, small), p(v)] for k, v in content["facts"]], colWidths=[45 * mm, 215 * mm])
    fact_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    story += [fact_table, Spacer(1, 4 * mm)]
    rows = [[p(h, head) for h in (_("When"), _("Who"), _("Action"), _("Record"), _("Changes"), _("Reason"),
                                  _("Chain"))]]
    broken = []
    for index, row in enumerate(content["rows"], start=1):
        rows.append([p(row[k]) for k in ("when", "who", "action", "record", "changes", "reason", "chain")])
        if row["broken"]:
            broken.append(index)
    table = Table(rows, colWidths=[28 * mm, 30 * mm, 16 * mm, 30 * mm, 100 * mm, 35 * mm, 34 * mm], repeatRows=1)
    style = [("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#aab4c0")),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    style += [("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fde2e0")) for i in broken]
    table.setStyle(TableStyle(style))
    story.append(table)
    story += [Spacer(1, 4 * mm), p(_("Times are in %(tz)s. Exported from the audit trail, which no page or endpoint "
                                      "can change (21 CFR 11.10(e)).") % {"tz": settings.TIME_ZONE}, small)]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title=_("Audit trail"), author=settings.BANK_NAME)
    doc.build(story)
    return buffer.getvalue()

"""The certificate of analysis of a released lot, as a PDF (reportlab).

It carries the line, lot, tier, passage, the specification version that judged the lot, each test
with its method, criterion and result, and the manifestation of the release signature (printed
name, date/time, meaning: 21 CFR 11.50). Latin text is set in the Bitstream Vera fonts shipped with
reportlab (they have ≥ ≤ ×); Simplified Chinese in reportlab's built-in STSong-Light CID font.
"""

from __future__ import annotations

import io
import os
from xml.sax.saxutils import escape

import reportlab
from django.conf import settings
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from bank.errors import Conflict
from bank.signatures import manifestation, signatures_for
from lots.choices import LotStatus
from lots.models import Lot
from qc.choices import CERTIFIABLE_LOT_STATUSES, Decision
from qc.queries import latest_decision, release_readiness


def _fonts() -> tuple[str, str]:
    if (get_language() or "").lower().startswith("zh"):
        if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        return "STSong-Light", "STSong-Light"
    if "Vera" not in pdfmetrics.getRegisteredFontNames():
        folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
        pdfmetrics.registerFont(TTFont("Vera", os.path.join(folder, "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("VeraBd", os.path.join(folder, "VeraBd.ttf")))
    return "Vera", "VeraBd"


def certificate_content(lot: Lot) -> dict:
    """What the CoA says (also what the tests check); 409 ``not_released`` unless the lot is (or was,
    until depleted) released."""
    lot = Lot.objects.select_related("cell_line").get(pk=lot.pk)
    decision = latest_decision(lot, Decision.RELEASE)
    if lot.status not in CERTIFIABLE_LOT_STATUSES or decision is None:
        raise Conflict(
            _("Lot %(lot)s is %(status)s: a certificate of analysis exists only for a released lot.")
            % {"lot": lot.lot_number, "status": LotStatus(lot.status).label},
            code="not_released", status=lot.status,
        )
    readiness = release_readiness(lot)
    line = lot.cell_line
    spec = decision.specification or readiness.specification
    facts = [
        (_("Cell line"), f"{line.name} ({line.cell_type}, {line.get_grade_display()})"),
        (_("Lot"), lot.lot_number),
        (_("Tier"), str(lot.get_tier_display())),
        (_("Passage at freeze"), str(lot.passage)),
        (_("Frozen on"), lot.frozen_on.isoformat()),
        (_("Vials frozen"), str(lot.vial_count)),
        (_("Specification"), f"{spec.cell_type} {spec.tier} — {_('version')} {spec.version}" if spec else "—"),
    ]
    rows = []
    for row in readiness.rows:
        # The results QA signed on: the latest of each test entered before the release decision.
        latest = next((r for r in row.results if r.entered_at <= decision.decided_at), None)
        rows.append({
            "test": row.test.code, "name": row.test.name,
            "method": latest.method if latest and latest.method else "—",
            "criterion": row.criterion.describe() + ("" if row.blocking else f" ({_('reference')})"),
            "result": latest.display if latest else "—",
            "tested_on": latest.tested_on.isoformat() if latest else "—",
            "conclusion": str(_("Pass") if latest and latest.passed else (_("Fail") if latest else _("Not tested"))),
        })
    signature = next(iter(signatures_for(decision)), None)
    sig = None
    if signature is not None:
        shown = manifestation(signature, decision)
        sig = {
            "name": shown["printed_name"], "signer": shown["signer"],
            "signed_at": timezone.localtime(shown["signed_at"]).strftime("%Y-%m-%d %H:%M:%S %Z"),
            "meaning": str(shown["meaning_display"]), "statement": shown["statement"],
            "matches": shown["matches"], "content_matches": shown["content_matches"],
            "manifest_matches": shown["manifest_matches"], "manifest_hash": shown["manifest_hash"],
            "reviewed": _manifest_summary(shown["manifest"]), "differences": shown["differences"],
        }
    return {"lot": lot, "facts": facts, "rows": rows, "signature": sig}


def _manifest_summary(manifest: dict | None) -> list[tuple[str, str]]:
    """What the release signature covers, in a few lines for the CoA (the manifest of qc.queries.lot_manifest)."""
    if not manifest:
        return []
    spec = manifest.get("specification")
    results = manifest.get("results", {})
    counted = [f"{code} #{entry['result']}" for code, entry in results.items() if entry.get("result")]
    counted += [f"{code} #{entry['result']}" for code, entry in manifest.get("other_results", {}).items()]
    deviations = manifest.get("deviations", {})
    donor = manifest.get("donor", {})
    markers = donor.get("missing_markers", []) + donor.get("positive_markers", [])
    return [
        (_("Specification"), f"{spec['cell_type']} {spec['tier']} — {_('version')} {spec['version']}" if spec else "—"),
        (_("Results reviewed"), f"{len(counted)}: " + ", ".join(counted) if counted else "0"),
        (_("Deviations"), ", ".join(f"{number} ({entry['status']})" for number, entry in deviations.items())
         or _("none")),
        (_("Donor"), _("eligibility %(status)s%(markers)s; consent %(consent)s") % {
            "status": donor.get("eligibility", "—"), "markers": f" ({', '.join(markers)})" if markers else "",
            "consent": donor.get("consent", "—")}),
    ]


def certificate_pdf(lot: Lot) -> bytes:
    content = certificate_content(lot)
    lot = content["lot"]
    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#5b6675"))
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=16, leading=20, spaceAfter=4)
    heading = ParagraphStyle("heading", parent=body, fontName=bold, fontSize=11, leading=14, spaceBefore=8,
                             spaceAfter=4)
    head_cell = ParagraphStyle("head", parent=body, fontName=bold, fontSize=8)

    def p(text, style=body):
        return Paragraph(escape(str(text)), style)

    story = [p(settings.BANK_NAME, small), p(_("Certificate of analysis"), title)]
    fact_table = Table([[p(k, small), p(v)] for k, v in content["facts"]], colWidths=[40 * mm, 130 * mm])
    fact_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    story += [fact_table, p(_("Test results"), heading)]
    table = [[p(h, head_cell) for h in (_("Test"), _("Method"), _("Criterion"), _("Result"), _("Tested on"),
                                         _("Conclusion"))]]
    for row in content["rows"]:
        table.append([p(f"{row['name']} [{row['test']}]"), p(row["method"]), p(row["criterion"]), p(row["result"]),
                      p(row["tested_on"]), p(row["conclusion"])])
    results = Table(table, colWidths=[44 * mm, 36 * mm, 26 * mm, 24 * mm, 20 * mm, 20 * mm], repeatRows=1)
    results.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#aab4c0")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    story += [results, p(_("Release"), heading)]
    sig = content["signature"]
    if sig is not None:
        sig_rows = [(_("Released by"), f"{sig['name']} ({sig['signer']})"), (_("Signed"), sig["signed_at"]),
                    (_("Meaning"), sig["meaning"])]
        if sig["statement"]:
            sig_rows.append((_("Statement"), sig["statement"]))
        for label, value in sig["reviewed"]:
            sig_rows.append((_("Reviewed: %(what)s") % {"what": label}, value))
        if sig["manifest_hash"]:
            sig_rows.append((_("Manifest SHA-256"), sig["manifest_hash"]))
        if sig["matches"]:
            state = (_("Matches: the decision and everything reviewed are unchanged since signing.")
                     if sig["manifest_hash"] else _("Matches: the decision is unchanged since signing."))
        elif not sig["content_matches"]:
            state = _("NO LONGER MATCHES: the decision record changed after it was signed.")
        else:
            state = _("NO LONGER MATCHES: what was reviewed has changed since signing: %(changes)s") % {
                "changes": "; ".join(f"{d['path']}: {d['signed']} → {d['now']}" for d in sig["differences"][:12])}
        sig_rows.append((_("Signature check"), state))
        border = colors.HexColor("#1d7a3e") if sig["matches"] else colors.HexColor("#b3261e")
        sig_table = Table([[p(k, small), p(v)] for k, v in sig_rows], colWidths=[40 * mm, 130 * mm])
        sig_table.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 1, border),
                                       ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(sig_table)
    story += [
        Spacer(1, 6 * mm),
        p(_("Electronically signed (21 CFR Part 11). Issued %(at)s; the audit trail of every result is kept by "
            "the bank.") % {"at": timezone.localtime().strftime("%Y-%m-%d %H:%M %Z")}, small),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=f"CoA {lot.lot_number}", author=settings.BANK_NAME)
    doc.build(story)
    return buffer.getvalue()

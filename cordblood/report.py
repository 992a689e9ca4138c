"""The unit report (PDF, English or Simplified Chinese by the request's language): characterisation, HLA,
blood group, maternal tests, processing and storage of one frozen unit. Fonts as qc's certificate of
analysis (Vera for Latin text, STSong-Light for Chinese)."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from cordblood.models import CordBloodUnit
from cordblood.services import din_check_character
from qc.certificate import _fonts


def _fmt(value, pattern: str = "{:.2e}") -> str:
    return "–" if value in (None, "") else pattern.format(value)


def report_content(unit: CordBloodUnit) -> dict:
    """What the report says (also what the tests check)."""
    unit = (CordBloodUnit.objects.select_related("donation__infant", "donation__collection", "donation__site", "lot")
            .get(pk=unit.pk))
    donation, infant = unit.donation, unit.donation.infant
    facts = [
        (_("DIN"), f"{unit.din} {din_check_character(unit.din)}"),
        (_("Ownership"), unit.get_ownership_display()),
        (_("Search status"), unit.get_listing_status_display()),
        (_("Lot"), f"{unit.lot.lot_number} ({unit.lot.get_status_display()})" if unit.lot else "–"),
        (_("Born at"), timezone.localtime(donation.born_at).strftime("%Y-%m-%d %H:%M")),
        (_("Sex"), infant.get_sex_display()),
        (_("Gestational age (weeks)"), str(donation.gestational_age_weeks)),
        (_("Birth weight (g)"), str(donation.birth_weight_g)),
        (_("Collection site"), donation.site.name),
        (_("Blood group"), f"{unit.abo or '–'} {unit.get_rh_display() if unit.rh else ''}".strip()),
    ]
    processing = [
        (_("Processing method"), unit.processing_method or "–"),
        (_("Volume before / after (mL)"), f"{unit.volume_pre_ml or '–'} / {unit.volume_post_ml or '–'}"),
        (_("TNC before / after"), f"{_fmt(unit.tnc_pre)} / {_fmt(unit.tnc_post)}"),
        (_("TNC recovery (%)"), _fmt(unit.recovery_pct, "{}")),
        (_("CD34+ cells after processing"), _fmt(unit.cd34_post)),
        (_("NRBC (%)"), _fmt(unit.nrbc_pct, "{}")),
        (_("Haematocrit (%)"), _fmt(unit.hct_pct, "{}")),
        (_("Frozen at"), timezone.localtime(unit.frozen_at).strftime("%Y-%m-%d %H:%M") if unit.frozen_at else "–"),
    ]
    hla = getattr(infant, "hla", None)
    typing = [(locus, " / ".join(a for a in alleles if a)) for locus, alleles in hla.alleles().items()] if hla else []
    maternal = [(s.sample_drawn_on.isoformat(), r.marker, r.get_result_display())
                for s in infant.screenings.filter(maternal_sample=True).prefetch_related("results")
                .order_by("sample_drawn_on") for r in s.results.all()]
    containers = [(v.barcode, v.get_kind_display(), v.get_status_display(), str(v.box) if v.box_id else "–")
                  for v in unit.lot.vials.select_related("box").order_by("number")] if unit.lot else []
    return {"unit": unit, "facts": facts, "processing": processing, "hla": typing, "maternal": maternal,
            "containers": containers}


def report_pdf(unit: CordBloodUnit) -> bytes:
    content = report_content(unit)
    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#5b6675"))
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=16, leading=20, spaceAfter=4)
    heading = ParagraphStyle("heading", parent=body, fontName=bold, fontSize=11, leading=14, spaceBefore=8,
                             spaceAfter=4)
    head_cell = ParagraphStyle("head", parent=body, fontName=bold, fontSize=8)

    def p(text, style=body):
        return Paragraph(escape(str(text)), style)

    def pairs(rows):
        table = Table([[p(k, small), p(v)] for k, v in rows], colWidths=[55 * mm, 115 * mm])
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
        return table

    def grid(headers, rows, widths):
        table = Table([[p(h, head_cell) for h in headers], *[[p(c) for c in row] for row in rows]],
                      colWidths=[w * mm for w in widths], repeatRows=1)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c9d2dc")),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return table

    story = [p(settings.BANK_NAME, small), p(_("Cord blood unit report"), title), pairs(content["facts"]),
             p(_("Processing and characterisation"), heading), pairs(content["processing"]),
             p(_("HLA typing (registration)"), heading)]
    story.append(grid([_("Locus"), _("Alleles")], content["hla"], [30, 140]) if content["hla"]
                 else p(_("Not typed yet.")))
    story.append(p(_("Maternal infectious-disease tests"), heading))
    story.append(grid([_("Sample drawn on"), _("Marker"), _("Result")], content["maternal"], [40, 70, 60])
                 if content["maternal"] else p(_("No maternal sample recorded.")))
    story.append(p(_("Storage"), heading))
    story.append(grid([_("Barcode"), _("Kind"), _("Status"), _("Box")], content["containers"], [45, 50, 30, 45])
                 if content["containers"] else p(_("Not frozen yet.")))
    story.append(p(_("Printed %(when)s") % {"when": timezone.localtime().strftime("%Y-%m-%d %H:%M")}, small))
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                      bottomMargin=18 * mm, title=f"{content['unit'].din}").build(story)
    return buffer.getvalue()

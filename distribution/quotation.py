"""The quotation of an enterprise request, as a PDF (reportlab), like the certificate of analysis (qc/certificate.py).

Enterprises pay for what public institutions receive free (issue 15, benefit sharing): the quotation states the fee
stored on the request when it was submitted (vials × fee per vial, in the bank's currency), who is quoted (the
institution, its billing contact from the researcher's institution profile), the line, and the MTA version accepted.
"""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from distribution.choices import InstitutionType, IntendedUse
from distribution.models import DistributionRequest, InstitutionProfile
from qc.certificate import _fonts as pdf_fonts

# A quotation binds the bank for this many days from its issue.
QUOTATION_VALID_DAYS = 30


def has_quotation(request: DistributionRequest) -> bool:
    """Enterprise requests are quoted; public institutions' requests carry no quotation."""
    return request.institution_type == InstitutionType.ENTERPRISE


def quotation_content(request: DistributionRequest) -> dict:
    """What the quotation says (also what the tests check)."""
    line = request.cell_line
    researcher = request.researcher
    profile = InstitutionProfile.objects.filter(user=researcher).first()
    per_vial = (request.fee_amount / request.vials).quantize(Decimal("0.01")) if request.vials else Decimal("0")
    issued = timezone.localdate()
    recipient = [
        (_("Institution"), request.institution or (profile.name if profile else "") or "—"),
        (_("Institution type"), str(InstitutionType(request.institution_type).label)),
        (_("Researcher"), f"{researcher.get_full_name() or researcher.get_username()} <{researcher.email}>"
         if researcher.email else (researcher.get_full_name() or researcher.get_username())),
        (_("Country"), request.recipient_country),
    ]
    if profile and (profile.billing_contact or profile.billing_email):
        recipient.append((_("Billing contact"), " ".join(x for x in (profile.billing_contact,
                                                                      f"<{profile.billing_email}>"
                                                                      if profile.billing_email else "") if x)))
    if request.shipping_address:
        recipient.append((_("Ship to"), request.shipping_address))
    return {
        "number": f"Q-{request.number}",
        "request": request.number,
        "issued": issued,
        "valid_until": issued + datetime.timedelta(days=QUOTATION_VALID_DAYS),
        "recipient": recipient,
        "item": {
            "description": f"{line.name} ({line.get_cell_type_display()}, {line.get_grade_display()})",
            "vials": request.vials, "per_vial": per_vial, "total": request.fee_amount,
            "currency": request.fee_currency,
        },
        "facts": [
            (_("Project"), request.project_title),
            (_("Intended use"), str(IntendedUse(request.intended_use).label)),
            (_("Material transfer agreement"), _("%(version)s, accepted %(at)s") % {
                "version": request.mta.version,
                "at": timezone.localtime(request.mta_accepted_at).strftime("%Y-%m-%d %H:%M")}),
        ],
    }


def quotation_pdf(request: DistributionRequest) -> bytes:
    content = quotation_content(request)
    regular, bold = pdf_fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#5b6675"))
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=16, leading=20, spaceAfter=4)
    heading = ParagraphStyle("heading", parent=body, fontName=bold, fontSize=11, leading=14, spaceBefore=8,
                             spaceAfter=4)
    head_cell = ParagraphStyle("head", parent=body, fontName=bold, fontSize=8)

    def p(text, style=body):
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)

    def facts(rows):
        table = Table([[p(k, small), p(v)] for k, v in rows], colWidths=[40 * mm, 130 * mm])
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
        return table

    item = content["item"]
    story = [
        p(settings.BANK_NAME, small), p(_("Quotation"), title),
        facts([(_("Quotation"), content["number"]), (_("Request"), content["request"]),
               (_("Issued"), content["issued"].isoformat()), (_("Valid until"), content["valid_until"].isoformat())]),
        p(_("Quoted to"), heading), facts(content["recipient"]),
        p(_("Items"), heading),
    ]
    rows = [[p(h, head_cell) for h in (_("Description"), _("Vials"), _("Fee per vial"), _("Amount"))],
            [p(item["description"]), p(item["vials"]), p(f"{item['per_vial']} {item['currency']}"),
             p(f"{item['total']} {item['currency']}")],
            [p(""), p(""), p(_("Total"), head_cell), p(f"{item['total']} {item['currency']}", head_cell)]]
    table = Table(rows, colWidths=[86 * mm, 20 * mm, 32 * mm, 32 * mm])
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, 1), 0.4, colors.HexColor("#aab4c0")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
        ("LINEABOVE", (2, 2), (-1, 2), 1, colors.HexColor("#1f2a37")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    story += [table, p(_("Request"), heading), facts(content["facts"]), Spacer(1, 6 * mm),
              p(_("The fee was fixed when the request was submitted. Vials are reserved only when QA approves the "
                  "request, and are invoiced with the shipment."), small)]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title=content["number"], author=settings.BANK_NAME)
    doc.build(story)
    return buffer.getvalue()

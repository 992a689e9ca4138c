"""The downloadable templates: the header row of each kind, as CSV or as an XLSX workbook whose second sheet
explains every column (the import reads the first sheet only)."""

from __future__ import annotations

import csv
import io

from django.utils.translation import gettext as _

from imports.services.engine import Spec


def template_csv(spec: Spec) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([c.name for c in spec.columns])
    return buffer.getvalue().encode("utf-8")


def template_xlsx(spec: Spec) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "import"
    sheet.append([c.name for c in spec.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("columns")
    help_sheet.append([_("column"), _("required"), _("what to write"), _("example")])
    for cell in help_sheet[1]:
        cell.font = Font(bold=True)
    for column in spec.columns:
        help_sheet.append([column.name, _("yes") if column.required else _("no"), str(column.help), column.example])
    help_sheet.column_dimensions["C"].width = 80
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

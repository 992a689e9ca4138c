"""Import of cell lines: each keeps its legacy name (an hPSCreg name such as ``ABCi012-A`` keeps its number and
subclone), and is attached to a collection already in StemBank (by its code), as lots' ``create_cell_line``
requires: the source tissue must suit the cell type, and nothing is derived from a donor who withdrew consent."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bank.audit import bulk_create_audited
from donors.choices import Tissue
from donors.models import Collection
from imports.choices import RefKind
from imports.services.common import _Errors, as_date, code, not_future, text
from imports.services.engine import Context, Report, Spec, add_refs, existing_refs
from imports.services.reader import Column
from lots import naming
from lots.choices import PLURIPOTENT_TYPES, CellType, Grade, ReprogrammingMethod
from lots.models import CellLine
from lots.services import SOURCE_TISSUES

L = gettext_lazy

COLUMNS = [
    Column("external_id", True, L("The line's ID in the legacy system."), "LINE-17"),
    Column("name", True, L("The line's name, kept as it is (hPSCreg names keep their number)."), "SCBi101-A"),
    Column("collection", True, L("The code of the collection it was established from (in StemBank)."),
           "COL-2019-0001"),
    Column("cell_type", True, L("iPSC, ESC, UC-MSC, AD-MSC, BM-MSC, … (StemBank's cell types)."), "iPSC"),
    Column("grade", True, L("research or clinical."), "research"),
    Column("reprogramming_method", False, L("iPSC only: sendai, episomal, mrna, lentivirus or other."), "sendai"),
    Column("parent_line", False, L("A subclone's parent line name."), ""),
    Column("established_on", False, L("YYYY-MM-DD."), "2019-03-01"),
    Column("description", False, L("Free text."), ""),
    Column("genetic_modification", False, L("Empty unless the line is genetically modified."), ""),
    Column("hpscreg_id", False, L("The line's hPSCreg ID."), ""),
    Column("icscb_id", False, L("The line's ICSCB ID."), ""),
]


@dataclass
class State:
    names: dict = field(default_factory=dict)  # upper name -> row number (the file's lines)
    registry: set = field(default_factory=set)  # (cell type, number, subclone)
    collections: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)  # upper name -> id once written


def validate(batch: list[tuple[int, dict]], state: State, report: Report, ctx: Context) -> list:
    refs = existing_refs(ctx.source, RefKind.CELL_LINE, (text(r.get("external_id"), "", _Errors())
                                                        for _n, r in batch))
    names = {text(r.get("name"), "", _Errors()).upper() for _n, r in batch}
    parents = {text(r.get("parent_line"), "", _Errors()).upper() for _n, r in batch} - {""}
    in_bank = {row["u"]: row for row in CellLine.objects.annotate(u=Upper("name")).filter(u__in=list(names | parents))
               .values("u", "id", "name", "cell_type", "registry_number", "subclone", "collection_id")}
    wanted = {code(r.get("collection"), "", _Errors()) for _n, r in batch} - set(state.collections) - {""}
    if wanted:
        for c in (Collection.objects.filter(code__in=list(wanted))
                  .values("code", "id", "donor_id", "tissue", "donor__consent_withdrawn_at")):
            state.collections[c["code"]] = c
    registry_wanted = []
    parsed_names = {}
    for number, row in batch:
        match = naming.HPSCREG_NAME.match(text(row.get("name"), "", _Errors()))
        if match:
            parsed_names[number] = (int(match["number"]), match["subclone"])
            registry_wanted.append(Q(registry_number=int(match["number"]), subclone=match["subclone"]))
    registry_taken = set()
    if registry_wanted:
        query = registry_wanted[0]
        for q in registry_wanted[1:]:
            query |= q
        registry_taken = set(CellLine.objects.filter(query).values_list("cell_type", "registry_number", "subclone"))
    items = []
    for number, row in batch:
        errors = _Errors()
        external = text(row.get("external_id"), "external_id", errors, required=True, max_length=100)
        if external in refs:
            report.skipped += 1
            continue
        name = text(row.get("name"), "name", errors, required=True, max_length=40)
        key = name.upper()
        if key in state.names:
            errors.add("name", _("Line %(name)s is on row %(row)s too.") % {"name": name, "row": state.names[key]})
        elif key in in_bank:
            errors.add("name", _("A line named %(name)s is already in the bank.") % {"name": in_bank[key]["name"]})
        cell_type = text(row.get("cell_type"), "cell_type", errors, required=True)
        if cell_type and cell_type not in CellType.values:
            errors.add("cell_type", _("Unknown cell type “%(value)s”. Use one of: %(choices)s.") % {
                "value": cell_type, "choices": ", ".join(CellType.values)})
        if cell_type == CellType.CB_HSC:
            errors.add("cell_type", _("Cord blood units come in through the cord blood import."))
        grade = text(row.get("grade"), "grade", errors, required=True).lower()
        if grade and grade not in Grade.values:
            errors.add("grade", _("Write research or clinical."))
        method = text(row.get("reprogramming_method"), "reprogramming_method", errors).lower()
        if method not in ReprogrammingMethod.values:
            errors.add("reprogramming_method", _("Write one of: %(choices)s.") % {
                "choices": ", ".join(v for v in ReprogrammingMethod.values if v)})
        elif cell_type == CellType.IPSC and not method:
            errors.add("reprogramming_method", _("An iPSC line is reprogrammed: say how (e.g. sendai)."))
        elif cell_type in CellType.values and cell_type != CellType.IPSC and method:
            errors.add("reprogramming_method", _("Only iPSC lines are reprogrammed; leave the method empty."))
        collection = state.collections.get(code(row.get("collection"), "collection", errors, required=True))
        if row.get("collection") and collection is None:
            errors.add("collection", _("No collection %(code)s in StemBank. Register the donor and the collection "
                                       "first, or correct the code.") % {"code": row.get("collection")})
        elif collection is not None:
            if cell_type in SOURCE_TISSUES and collection["tissue"] not in (*SOURCE_TISSUES[cell_type], "other"):
                errors.add("collection", _("A %(type)s line comes from %(tissue)s; collection %(code)s is %(actual)s.")
                           % {"type": cell_type, "tissue": " / ".join(SOURCE_TISSUES[cell_type]),
                              "code": collection["code"], "actual": Tissue(collection["tissue"]).label})
            if collection["donor__consent_withdrawn_at"] is not None:
                errors.add("collection", _("The donor of collection %(code)s withdrew consent: nothing may be derived "
                                           "from their material.") % {"code": collection["code"]})
        parent_name = text(row.get("parent_line"), "parent_line", errors, max_length=40)
        parent_id = None
        if parent_name:
            parent = in_bank.get(parent_name.upper())
            if parent is None and parent_name.upper() not in state.names:
                errors.add("parent_line", _("No line %(name)s in the bank or earlier in the file.") % {
                    "name": parent_name})
            elif parent is not None:
                parent_id = parent["id"]
        established = as_date(row.get("established_on"), "established_on", errors, required=False)
        not_future(established, "established_on", errors, _("The date"))
        description = text(row.get("description"), "description", errors, max_length=4000)
        modification = text(row.get("genetic_modification"), "genetic_modification", errors)
        hpscreg = text(row.get("hpscreg_id"), "hpscreg_id", errors, max_length=40)
        icscb = text(row.get("icscb_id"), "icscb_id", errors, max_length=40)
        registry_number, subclone = None, ""
        if cell_type in PLURIPOTENT_TYPES and number in parsed_names:
            registry_number, subclone = parsed_names[number]
            triple = (cell_type, registry_number, subclone)
            if triple in registry_taken or triple in state.registry:
                errors.add("name", _("hPSCreg number %(n)03d-%(s)s of %(type)s is taken by another line.") % {
                    "n": registry_number, "s": subclone, "type": cell_type})
            state.registry.add(triple)
        if key:
            state.names.setdefault(key, number)
        if errors:
            report.add_field_errors(number, errors.by_field)
            continue
        items.append({"external": external, "name": name, "collection": collection, "cell_type": cell_type,
                      "grade": grade, "method": method, "parent_id": parent_id, "parent": parent_name.upper(),
                      "established": established, "description": description, "modification": modification,
                      "hpscreg": hpscreg, "icscb": icscb, "registry_number": registry_number, "subclone": subclone})
        report.created["cell_lines"] += 1
    return items


def write(items: list, state: State, ctx: Context) -> None:
    """Parent lines before their subclones (a subclone's parent may be new in the same batch)."""
    names = {item["name"].upper() for item in items}
    waiting = [item for item in items if item["parent"] and item["parent"] in names]
    first = [item for item in items if not (item["parent"] and item["parent"] in names)]
    for group in (first, waiting):
        if group:
            _write(group, state, ctx)


def _write(items: list, state: State, ctx: Context) -> None:
    now = timezone.now()
    lines = []
    for item in items:
        parent_id = item["parent_id"] or (state.ids.get(item["parent"]) if item["parent"] else None)
        lines.append(CellLine(
            name=item["name"], collection_id=item["collection"]["id"], donor_id=item["collection"]["donor_id"],
            cell_type=item["cell_type"], grade=item["grade"], reprogramming_method=item["method"],
            parent_line_id=parent_id, registry_number=item["registry_number"], subclone=item["subclone"],
            description=item["description"], established_on=item["established"] or timezone.localdate(),
            genetic_modification=item["modification"], hpscreg_id=item["hpscreg"], icscb_id=item["icscb"],
            created_by=ctx.actor, created_at=now))
    bulk_create_audited(CellLine, lines, batch_size=len(lines))
    for line in lines:
        state.ids[line.name.upper()] = line.pk
    add_refs(ctx, RefKind.CELL_LINE, [(item["external"], line.pk) for item, line in zip(items, lines, strict=True)])


SPEC = Spec(key="cell_lines", label=L("Cell lines"), columns=COLUMNS, permission="imports.import_inventory",
            new_state=lambda ctx: State(), validate=validate, write=write)

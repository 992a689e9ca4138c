"""Registry export (issue 15): a cell line's record in hPSCreg's and ICSCB's data fields, and the public catalog feed
partner banks harvest.

Built here, downstream of lots, donors and qc, because a record is what the catalog already knows of a line, told in
a registry's words: the characterisation (karyotype, pluripotency, STR) is the catalog's — the counted result of
each test from the line's distributable lots (``queries.shape_entries``) — and HLA appears only where the donor
consented to data sharing (``queries.shared_hla_of``, the catalog's one rule). The donor is described by sex, an
age range and the disease; never by identity or donor code.

The field lists below are the contract: the README lists them under "Registry export" and a test compares the
two, so neither can drift.
"""

from __future__ import annotations

import csv
import io

from django.conf import settings
from django.utils.translation import gettext as _

from bank.exports import neutralise
from distribution import queries
from donors.choices import DonorType
from lots.choices import PLURIPOTENT_TYPES, CellType, ReprogrammingMethod
from lots.models import CellLine

HPSCREG = "hpscreg"
ICSCB = "icscb"
REGISTRIES = {HPSCREG: "hPSCreg", ICSCB: "ICSCB"}

HPSCREG_FIELDS = (
    "name", "hpscreg_id", "provider", "cell_line_type", "grade", "donor_sex", "donor_age_range", "disease",
    "source_tissue", "derivation_date", "reprogramming_method", "vector_integrating", "karyotype", "pluripotency",
    "str_identity", "hla", "genetic_modification",
)
ICSCB_FIELDS = (
    "cell_line_name", "icscb_id", "bank", "cell_type", "sex", "age_range", "disease_status", "disease",
    "tissue_source", "derivation_method", "karyotype", "pluripotency_markers", "str_profile", "hla_typing",
    "genetically_modified", "genetic_modification_detail",
)
FIELDS = {HPSCREG: HPSCREG_FIELDS, ICSCB: ICSCB_FIELDS}

# hPSCreg's cell line types; other lines go by the bank's code.
LINE_TYPES = {CellType.IPSC: "hiPSC", CellType.ESC: "hESC"}
# Vectors that integrate into the genome (hPSCreg asks whether the reprogramming was integrating).
INTEGRATING = {ReprogrammingMethod.LENTIVIRUS: True, ReprogrammingMethod.SENDAI: False,
               ReprogrammingMethod.EPISOMAL: False, ReprogrammingMethod.MRNA: False}
CHARACTERISATION = ("karyotype", "pluripotency", "str_identity")
AGE_BIN = 5


class NotRegistrable(ValueError):
    """hPSCreg registers pluripotent lines only."""


def age_range(age: int | None) -> str:
    """The donor's age at collection in five-year bins (``30-34``): a registry never gets the birth year."""
    if age is None or age < 0:
        return ""
    low = age // AGE_BIN * AGE_BIN
    return f"{low}-{low + AGE_BIN - 1}"


def _facts(line: CellLine) -> dict:
    """What both registries ask, in the bank's words (two queries for the characterisation and shared HLA)."""
    donor, collection = line.donor, line.collection
    parts = queries.shape_entries([line.pk]).get(line.pk, {})
    results = {item["test"]: item for item in parts.get("characterization", [])}
    patient = donor.donor_type == DonorType.PATIENT
    return {
        "name": line.name,
        "cell_type": line.cell_type,
        "grade": line.grade,
        "sex": {"F": "female", "M": "male"}.get(donor.sex, ""),
        "age_range": age_range(collection.collected_at.year - donor.birth_year if collection.collected_at else None),
        "patient": patient,
        "disease": (donor.diagnosis or "").strip() if patient else "",
        "tissue": collection.tissue,
        "derivation_date": line.established_on.strftime("%Y-%m") if line.established_on else "",
        "reprogramming_method": line.reprogramming_method,
        "integrating": INTEGRATING.get(line.reprogramming_method),
        "results": {test: results[test]["result"] if test in results else None for test in CHARACTERISATION},
        "hla": parts.get("hla"),
        "genetic_modification": line.genetic_modification,
    }


def hla_text(hla: dict | None) -> str:
    """``A*24:02/A*02:01; B*52:01/B*07:02; ...`` (CSV and the ICSCB field)."""
    if not hla:
        return ""
    return "; ".join(f"{'/'.join(alleles)}" for _locus, alleles in hla.get("alleles", {}).items() if alleles)


def registry_record(line: CellLine, registry: str) -> dict:
    """The line's record in ``registry``'s fields, in their order (``FIELDS``)."""
    if registry not in FIELDS:
        raise ValueError(registry)
    if registry == HPSCREG and line.cell_type not in PLURIPOTENT_TYPES:
        raise NotRegistrable(_("hPSCreg registers pluripotent lines (iPSC, ESC) only; %(line)s is %(type)s. Export "
                               "it for ICSCB.") % {"line": line.name, "type": line.cell_type})
    f = _facts(line)
    provider = settings.INSTITUTE_CODE
    if registry == HPSCREG:
        record = {
            "name": f["name"], "hpscreg_id": line.hpscreg_id, "provider": provider,
            "cell_line_type": LINE_TYPES.get(f["cell_type"], f["cell_type"]), "grade": f["grade"],
            "donor_sex": f["sex"], "donor_age_range": f["age_range"], "disease": f["disease"] or "healthy",
            "source_tissue": f["tissue"], "derivation_date": f["derivation_date"],
            "reprogramming_method": f["reprogramming_method"], "vector_integrating": f["integrating"],
            "karyotype": f["results"]["karyotype"], "pluripotency": f["results"]["pluripotency"],
            "str_identity": f["results"]["str_identity"], "hla": f["hla"],
            "genetic_modification": f["genetic_modification"] or "none",
        }
    else:
        record = {
            "cell_line_name": f["name"], "icscb_id": line.icscb_id, "bank": provider, "cell_type": f["cell_type"],
            "sex": f["sex"], "age_range": f["age_range"], "disease_status": "diseased" if f["patient"] else "healthy",
            "disease": f["disease"], "tissue_source": f["tissue"],
            "derivation_method": f["reprogramming_method"] or "primary culture",
            "karyotype": f["results"]["karyotype"], "pluripotency_markers": f["results"]["pluripotency"],
            "str_profile": f["results"]["str_identity"], "hla_typing": hla_text(f["hla"]) or None,
            "genetically_modified": bool(f["genetic_modification"]),
            "genetic_modification_detail": f["genetic_modification"],
        }
    return {name: record[name] for name in FIELDS[registry]}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return hla_text(value)
    # A spreadsheet must never run a cell as a formula (CSV injection): the bank's one rule for it.
    return neutralise(value)


def registry_csv(records: list[dict], registry: str) -> str:
    """Records as CSV with a header row of the registry's field names."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS[registry])
    for record in records:
        writer.writerow([_cell(record[name]) for name in FIELDS[registry]])
    return out.getvalue()


# --- the public catalog feed ------------------------------------------------------------------------------------

PUBLIC_FIELDS = ("id", "name", "cell_type", "grade", "description", "available_vials", "passages", "tiers",
                 "characterization", "hla", "hpscreg_id", "icscb_id")


def public_entries(rows) -> list[dict]:
    """A page of the catalog (``queries.catalog_lines``: released, stocked lines) as the public feed shows it: the
    catalog's own entry (no donor, no collection; HLA only where consented) with the registry IDs."""
    entries = queries.catalog_entries(rows)
    ids = dict((pk, (h, i)) for pk, h, i in CellLine.objects.filter(pk__in=[e.id for e in entries])
               .values_list("pk", "hpscreg_id", "icscb_id"))
    out = []
    for entry in entries:
        hpscreg_id, icscb_id = ids.get(entry.id, ("", ""))
        out.append({
            "id": entry.id, "name": entry.name, "cell_type": entry.cell_type, "grade": entry.grade,
            "description": entry.description, "available_vials": entry.available_vials, "passages": entry.passages,
            "tiers": entry.tiers,
            "characterization": [{"test": c["test"], "name": c["name"], "result": c["result"], "passed": c["passed"],
                                  "tested_on": c["tested_on"]} for c in entry.characterization],
            "hla": entry.hla, "hpscreg_id": hpscreg_id, "icscb_id": icscb_id,
        })
    return out


# --- the line page's section --------------------------------------------------------------------------------------


def line_panel(request, line) -> dict | None:
    """The line page's "Registries" section: the export links and the IDs (with their form for QA)."""
    registries = [{"key": ICSCB, "label": REGISTRIES[ICSCB]}]
    if line.cell_type in PLURIPOTENT_TYPES:
        registries.insert(0, {"key": HPSCREG, "label": REGISTRIES[HPSCREG]})
    return {"line": line, "registries": registries,
            "can_record": request.user.has_perm("lots.record_registry_id")}


def register() -> None:
    """Called from DistributionConfig.ready()."""
    from bank.registry import register_object_panel

    register_object_panel("lots.cellline", "registry", "distribution/panels/registry.html", line_panel,
                          perms=("lots.view_cellline",), order=650)



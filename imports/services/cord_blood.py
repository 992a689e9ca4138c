"""Import of cord blood units with their HLA typings: one row per unit.

Each row becomes what ``cordblood.services.register_infant_donation`` records for a birth: the infant donor, the
consent the mother signed for the baby, the cord blood collection, the donation and its unit (the legacy DIN kept),
plus the infant's registration HLA typing (``donors.services.clean_hla``: WHO nomenclature, A, B, C, DRB1, DQB1 and
optionally DPB1) and its match-search keys. Mothers are identified by their legacy ID: rows with the same
``mother_id`` are one mother (twins, later pregnancies), registered once as a pseudonymous donor whose identity may
be added on her donor page. Units arrive awaiting acceptance or accepted, never frozen or listed: the freeze, QC and
listing of a legacy unit are recorded in StemBank.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bank import coding, sequences
from bank.audit import bulk_create_audited
from cordblood.choices import Acceptance, DeliveryType, Ownership
from cordblood.models import CollectionSite, CordBloodUnit, InfantDonation
from donors.choices import ALL_HLA_LOCI, DonorType, HLAMethod, HLAResolution, Sex, Tissue
from donors.hla_index import fill_hla_keys
from donors.models import Collection, Consent, Donor, HLATyping
from donors.services import new_donor_codes
from donors.services.consent import _clean_scopes
from donors.services.hla import clean_hla
from imports.choices import RefKind
from imports.services.common import _Errors, as_date, as_datetime, code, decimal_in, int_in, not_future, text
from imports.services.engine import Context, Report, Spec, add_refs, existing_refs
from imports.services.reader import Column
from lots.models import Lot

L = gettext_lazy

HLA_COLUMNS = [Column(f"hla_{locus.lower()}_{i}", False, L("Allele in WHO nomenclature, e.g. A*02:01."),
                      example) for locus, examples in (("A", ("A*02:01", "A*24:02")), ("B", ("B*40:01", "B*46:01")),
                                                       ("C", ("C*01:02", "C*07:02")),
                                                       ("DRB1", ("DRB1*09:01", "DRB1*15:01")),
                                                       ("DQB1", ("DQB1*03:03", "DQB1*06:02")),
                                                       ("DPB1", ("", "")))
               for i, example in enumerate(examples, start=1)]
COLUMNS = [
    Column("external_id", True, L("The unit's ID in the legacy system."), "CBU-2019-0042"),
    Column("din", True, L("The unit's ISBT 128 DIN (13 characters)."), ""),
    Column("ownership", False, L("public (default) or family."), "public"),
    Column("mother_id", True, L("The mother's ID in the legacy system (the same on her babies' rows)."), "M-0042"),
    Column("mother_birth_year", True, L("The mother's year of birth."), "1990"),
    Column("infant_sex", True, L("F or M."), "F"),
    Column("born_at", True, L("Birth date and time, ISO 8601 (2019-05-14T08:30)."), "2019-05-14T08:30"),
    Column("birth_order", False, L("1 for a single birth; 1, 2 … for twins."), "1"),
    Column("gestational_age_weeks", True, L("Weeks (22–45)."), "39"),
    Column("birth_weight_g", True, L("Grams."), "3300"),
    Column("delivery_type", True, L("vaginal or caesarean."), "vaginal"),
    Column("site", True, L("The collection site's code in StemBank."), "GZ-01"),
    Column("collected_at", False, L("Collection date and time; empty: the birth."), ""),
    Column("collected_volume_ml", False, L("Collected volume in mL."), "95"),
    Column("consent_form_version", True, L("The consent form the mother signed."), "CB-2018"),
    Column("consent_signed_on", False, L("YYYY-MM-DD; empty: the birth date."), ""),
    Column("consent_scopes", True, L("Scopes, separated by spaces: clinical research …"), "clinical research"),
    Column("acceptance", False, L("pending (default) or accepted."), "accepted"),
    *HLA_COLUMNS,
    Column("hla_method", False, L("sso, ssp, sbt, ngs or other."), "sbt"),
    Column("hla_typed_on", False, L("YYYY-MM-DD."), "2019-06-01"),
    Column("hla_laboratory", False, L("The typing laboratory."), ""),
]
HLA_NAMES = [c.name for c in HLA_COLUMNS]


@dataclass
class State:
    dins: set = field(default_factory=set)
    mothers: dict = field(default_factory=dict)  # legacy mother ID -> (row, birth year)
    births: set = field(default_factory=set)  # (mother, birth order, birth day)
    sites: dict = field(default_factory=dict)
    mother_ids: dict = field(default_factory=dict)  # legacy mother ID -> donor id (in the bank, or written)


def _din(value, errors: _Errors) -> str:
    raw = text(value, "din", errors, required=True)
    if not raw:
        return ""
    try:
        parsed = coding.parse_din(raw)
    except coding.CodeError as exc:
        errors.add("din", str(exc))
        return ""
    if parsed is None:
        errors.add("din", _("%(din)s is not an ISBT 128 DIN.") % {"din": raw})
        return ""
    return parsed.din


def validate(batch: list[tuple[int, dict]], state: State, report: Report, ctx: Context) -> list:
    quiet = _Errors()
    refs = existing_refs(ctx.source, RefKind.CORD_BLOOD_UNIT, (text(r.get("external_id"), "", quiet)
                                                              for _n, r in batch))
    dins = set()
    for _n, row in batch:
        try:
            parsed = coding.parse_din(str(row.get("din") or ""))
        except coding.CodeError:
            parsed = None
        if parsed is not None:
            dins.add(parsed.din)
    taken = set(CordBloodUnit.objects.filter(din__in=list(dins)).values_list("din", flat=True)) if dins else set()
    if dins:
        taken |= set(Lot.objects.filter(din__in=list(dins)).values_list("din", flat=True))
    mothers = {text(r.get("mother_id"), "", quiet) for _n, r in batch} - set(state.mother_ids) - {""}
    if mothers:
        known = existing_refs(ctx.source, RefKind.MOTHER, mothers)
        withdrawn = set(Donor.objects.filter(pk__in=list(known.values()), consent_withdrawn_at__isnull=False)
                        .values_list("pk", flat=True)) if known else set()
        for legacy, pk in known.items():
            state.mother_ids[legacy] = -pk if pk in withdrawn else pk
    sites = {code(r.get("site"), "", quiet) for _n, r in batch} - set(state.sites) - {""}
    if sites:
        for site in CollectionSite.objects.filter(code__in=list(sites)):
            state.sites[site.code] = site
    items = []
    for number, row in batch:
        errors = _Errors()
        external = text(row.get("external_id"), "external_id", errors, required=True, max_length=100)
        if external in refs:
            report.skipped += 1
            continue
        din = _din(row.get("din"), errors)
        if din and (din in taken or din in state.dins):
            errors.add("din", _("DIN %(din)s is on another unit or lot already.") % {"din": din})
        state.dins.add(din)
        ownership = (text(row.get("ownership"), "ownership", errors) or Ownership.PUBLIC).lower()
        if ownership not in Ownership.values:
            errors.add("ownership", _("Write public or family."))
        mother = text(row.get("mother_id"), "mother_id", errors, required=True, max_length=100)
        mother_year = int_in(row.get("mother_birth_year"), "mother_birth_year", errors, low=1900,
                             high=timezone.localdate().year - 10, required=True)
        if mother in state.mothers and mother_year is not None and state.mothers[mother][1] != mother_year:
            errors.add("mother_birth_year", _("Mother %(id)s was born in %(year)s on row %(row)s.") % {
                "id": mother, "year": state.mothers[mother][1], "row": state.mothers[mother][0]})
        elif mother:
            state.mothers.setdefault(mother, (number, mother_year))
        if state.mother_ids.get(mother, 0) < 0:
            errors.add("mother_id", _("Mother %(id)s withdrew consent: nothing more can be collected under it.") % {
                "id": mother})
        sex = text(row.get("infant_sex"), "infant_sex", errors, required=True).upper()
        if sex and sex not in Sex.values:
            errors.add("infant_sex", _("Write F or M."))
        born = as_datetime(row.get("born_at"), "born_at", errors)
        not_future(born, "born_at", errors, _("The birth time"))
        order = int_in(row.get("birth_order") or "1", "birth_order", errors, low=1, high=8)
        weeks = int_in(row.get("gestational_age_weeks"), "gestational_age_weeks", errors, low=22, high=45,
                       required=True)
        weight = int_in(row.get("birth_weight_g"), "birth_weight_g", errors, low=300, high=7000, required=True)
        delivery = text(row.get("delivery_type"), "delivery_type", errors, required=True).lower()
        if delivery and delivery not in DeliveryType.values:
            errors.add("delivery_type", _("Write vaginal or caesarean."))
        site = state.sites.get(code(row.get("site"), "site", errors, required=True))
        if row.get("site") and site is None:
            errors.add("site", _("No collection site %(code)s: add it in StemBank first.") % {"code": row["site"]})
        collected = as_datetime(row.get("collected_at"), "collected_at", errors, required=False) or born
        if collected and born and collected < born - datetime.timedelta(hours=1):
            errors.add("collected_at", _("Cord blood is collected at the birth, not before."))
        volume = decimal_in(row.get("collected_volume_ml"), "collected_volume_ml", errors, high="500", places="0.1")
        form = text(row.get("consent_form_version"), "consent_form_version", errors, required=True, max_length=40)
        signed = as_date(row.get("consent_signed_on"), "consent_signed_on", errors, required=False) or (
            timezone.localtime(born).date() if born else None)
        not_future(signed, "consent_signed_on", errors, _("The signing date"))
        scope_errors = _Errors()
        scopes = _clean_scopes(text(row.get("consent_scopes"), "consent_scopes", errors), scope_errors)
        for message in scope_errors.by_field.get("scopes", []):
            errors.add("consent_scopes", message)
        acceptance = (text(row.get("acceptance"), "acceptance", errors) or Acceptance.PENDING).lower()
        if acceptance not in (Acceptance.PENDING, Acceptance.ACCEPTED):
            errors.add("acceptance", _("Write pending or accepted; discards and diversions are recorded in "
                                       "StemBank."))
        if born and order and mother:
            birth = (mother, order, timezone.localtime(born).date())
            if birth in state.births:
                errors.add("birth_order", _("Mother %(id)s has another baby number %(order)d born that day. Give "
                                            "twins birth orders 1, 2 …") % {"id": mother, "order": order})
            state.births.add(birth)
        typing = None
        if any(str(row.get(name) or "").strip() for name in HLA_NAMES):
            hla_errors = _Errors()
            alleles = {locus: [row.get(f"hla_{locus.lower()}_1", ""), row.get(f"hla_{locus.lower()}_2", "")]
                       for locus in ALL_HLA_LOCI}
            cleaned, lowest = clean_hla(alleles, hla_errors)
            for locus, messages in hla_errors.by_field.items():
                for message in messages:
                    errors.add(f"hla_{locus.lower()}_1" if locus in ALL_HLA_LOCI else "hla_a_1", message)
            method = text(row.get("hla_method"), "hla_method", errors).lower()
            if method and method not in HLAMethod.values:
                errors.add("hla_method", _("Write one of: %(choices)s.") % {"choices": ", ".join(HLAMethod.values)})
            typed_on = as_date(row.get("hla_typed_on"), "hla_typed_on", errors, required=False)
            not_future(typed_on, "hla_typed_on", errors, _("The typing date"))
            laboratory = text(row.get("hla_laboratory"), "hla_laboratory", errors)
            values = {f"{locus.lower()}_{i + 1}": cleaned[locus][i] for locus in cleaned for i in range(2)}
            typing = {**values, "method": method, "typed_on": typed_on, "laboratory": laboratory,
                      "resolution": HLAResolution.TWO_FIELD if lowest == 2 else HLAResolution.ONE_FIELD}
        if errors:
            report.add_field_errors(number, errors.by_field)
            continue
        items.append({"external": external, "din": din, "ownership": ownership, "mother": mother,
                      "mother_year": mother_year, "sex": sex, "born": born, "order": order, "weeks": weeks,
                      "weight": weight, "delivery": delivery, "site": site, "collected": collected, "volume": volume,
                      "form": form, "signed": signed, "scopes": scopes, "acceptance": acceptance, "typing": typing})
        report.created["cord_blood_units"] += 1
        if typing:
            report.created["hla_typings"] += 1
        if mother not in state.mother_ids and state.mothers[mother][0] == number:
            report.created["mothers"] += 1
    return items


def write(items: list, state: State, ctx: Context) -> None:
    if not items:
        return
    actor, now = ctx.actor, timezone.now()
    new_mothers = []
    for item in items:
        if item["mother"] not in state.mother_ids and item["mother"] not in {m for m, _y in new_mothers}:
            new_mothers.append((item["mother"], item["mother_year"]))
    codes = new_donor_codes(len(new_mothers) + len(items))
    if new_mothers:
        donors = bulk_create_audited(Donor, [
            Donor(code=code_, sex=Sex.FEMALE, birth_year=year, donor_type=DonorType.HEALTHY, registered_by=actor)
            for code_, (_m, year) in zip(codes, new_mothers, strict=False)], batch_size=len(new_mothers))
        for (legacy, _year), donor in zip(new_mothers, donors, strict=True):
            state.mother_ids[legacy] = donor.pk
        add_refs(ctx, RefKind.MOTHER, [(legacy, donor.pk) for (legacy, _y), donor in zip(new_mothers, donors,
                                                                                          strict=True)])
    infant_codes = codes[len(new_mothers):]
    infants = bulk_create_audited(Donor, [
        Donor(code=code_, sex=item["sex"], birth_year=timezone.localtime(item["born"]).year,
              donor_type=DonorType.HEALTHY, registered_by=actor)
        for code_, item in zip(infant_codes, items, strict=True)], batch_size=len(items))
    consents = bulk_create_audited(Consent, [
        Consent(donor=infant, form_version=item["form"], signed_on=item["signed"], scopes=item["scopes"],
                recorded_by=actor) for infant, item in zip(infants, items, strict=True)], batch_size=len(items))
    by_year = defaultdict(list)
    for index, item in enumerate(items):
        by_year[timezone.localtime(item["collected"]).year].append(index)
    collection_codes = [""] * len(items)
    for year, indexes in by_year.items():
        for index, n in zip(indexes, sequences.take(f"collection:{year}", len(indexes)), strict=True):
            collection_codes[index] = f"COL-{year}-{n:04d}"
    collections = bulk_create_audited(Collection, [
        Collection(code=collection_codes[i], donor=infants[i], consent=consents[i], tissue=Tissue.CORD_BLOOD,
                   collected_at=item["collected"], received_at=item["collected"], received_by=actor,
                   notes=_("Legacy cord blood unit %(id)s") % {"id": item["external"]})
        for i, item in enumerate(items)], batch_size=len(items))
    donations = bulk_create_audited(InfantDonation, [
        InfantDonation(mother_id=state.mother_ids[item["mother"]], infant=infants[i], birth_order=item["order"],
                       born_at=item["born"], gestational_age_weeks=item["weeks"], birth_weight_g=item["weight"],
                       delivery_type=item["delivery"], site=item["site"], collection=collections[i],
                       recorded_by=actor, recorded_at=now)
        for i, item in enumerate(items)], batch_size=len(items))
    units = bulk_create_audited(CordBloodUnit, [
        CordBloodUnit(donation=donations[i], din=item["din"], ownership=item["ownership"],
                      collected_volume_ml=item["volume"], acceptance=item["acceptance"],
                      accepted_at=now if item["acceptance"] == Acceptance.ACCEPTED else None,
                      accepted_by=actor if item["acceptance"] == Acceptance.ACCEPTED else None, created_at=now)
        for i, item in enumerate(items)], batch_size=len(items))
    typings = [HLATyping(donor=infants[i], recorded_by=actor, **item["typing"])
               for i, item in enumerate(items) if item["typing"]]
    if typings:
        bulk_create_audited(HLATyping, typings, batch_size=len(typings))
        ids = ",".join(str(t.donor_id) for t in typings)
        with connection.cursor() as cursor:  # the match search's keys (bulk_create sends no post_save)
            fill_hla_keys(cursor, where=f"t.donor_id IN ({ids})")
    add_refs(ctx, RefKind.CORD_BLOOD_UNIT, [(item["external"], unit.pk) for item, unit in zip(items, units,
                                                                                              strict=True)])


SPEC = Spec(key="cord_blood", label=L("Cord blood units with their HLA typings"), columns=COLUMNS,
            permission="imports.import_cordblood", new_state=lambda ctx: State(), validate=validate, write=write)

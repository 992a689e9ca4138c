"""Issue 17, exports: every list page exports its filtered rows as CSV and XLSX (``bank.exports``).

- Every registered export answers CSV and XLSX for a role that may see its page (200, the right type, the page's
  headers), and refuses a role that may not.
- The list pages that show the export links are exactly the registry's pages, and every paginated list page is one
  of them (found by opening every page of the project: a new list page without an export fails here).
- The export takes the page's filters, its visibility and its masking (a researcher gets their own requests, never
  a donor; no export holds a donor's identity).
- Cells a spreadsheet would run (= + - @, tab, CR first) are neutralised in CSV and written as text in XLSX.
- CSV streams in keyset chunks: a constant number of queries per chunk, pinned for two sizes.
- A big XLSX is a job (``bank.jobs``) that re-applies the filters for its user and leaves a readable file.
"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.core.paginator import Page
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from bank import exports
from bank.jobs import run_job
from bank.models import Job
from bank.roles import ROLES
from lots.models import Lot
from tests.factories import (
    BoxFactory,
    DistributionRequestFactory,
    DonorFactory,
    DonorIdentityFactory,
    EthicsApprovalFactory,
    LotFactory,
    StorageUnitFactory,
    UserFactory,
    VialFactory,
)

pytestmark = pytest.mark.django_db

REGISTRY = exports.registered_exports()
CSV_TYPE = "text/csv; charset=utf-8"
# Roles tried first for "its role": the least privileged who may see the page, the admin last.
ROLE_ORDER = ["researcher", "clinician", "technician", "coordinator", "qa", "medical_director", "admin"]


def csv_rows(response) -> list[list[str]]:
    assert response.streaming, "a CSV export is streamed"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff"), "UTF-8 with a byte-order mark, so Excel reads Chinese text"
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_rows(content: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.values)


# --- pages that need an object or a query: how to open them in a test ---------------------------------------------


def _lot_vials(user):
    return reverse("lots:lot_detail", args=[LotFactory().pk]), {}


def _unit_search(user):
    from tests.transplant import helpers as th

    return reverse("transplant:patient", args=[th.patient(user).pk]), {}


def _recruitment(user):
    from tests.haplobank import helpers as hh

    population = hh.population(haplotypes="A*24:02~B*52:01~DRB1*15:02,0.085\n")
    return reverse("haplobank:recruitment"), {"population": population.pk, "haplotype": "A*24:02~B*52:01~DRB1*15:02"}


def _lot_results(user):
    return reverse("qc:lot-results", args=[LotFactory().pk]), {}


def _box(user):
    box = BoxFactory()
    VialFactory(box=box, row=1, col=2, barcode="=CMD-1")
    return reverse("storage:box", args=[box.pk]), {}


def _audit_trail(user):
    return reverse("audit", args=["lot", LotFactory(vials=False).pk]), {}


NEEDS_AN_OBJECT = {"lots.vials": _lot_vials, "transplant.search": _unit_search,
                   "haplobank.recruitment": _recruitment, "qc.results": _lot_results, "storage.box": _box,
                   "bank.audit": _audit_trail}


def population_with_table():
    """The coverage page lists lines once a population has its haplotype table."""
    from tests.haplobank import helpers as hh

    return hh.population(haplotypes="A*24:02~B*52:01~DRB1*15:02,0.085\n")


def user_for(spec, users):
    """The first role (least privileged first) that may export ``spec``; a clinician works at a centre."""
    for role in ROLE_ORDER:
        if role == "clinician":
            from tests.transplant import helpers as th

            user = th.clinician(username="export-clinician")
        else:
            user = users[role]
        if spec.may_export(user):
            return user
    raise AssertionError(f"no role may export {spec.name}")


def page_of(spec, user):
    if spec.name in NEEDS_AN_OBJECT:
        return NEEDS_AN_OBJECT[spec.name](user)
    if spec.name == "haplobank.coverage":
        population_with_table()
    return reverse(spec.url), {}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_list_page_exports_csv_and_xlsx_for_its_role(client, users, name):
    spec = REGISTRY[name]
    user = user_for(spec, users)
    client.force_login(user)
    url, query = page_of(spec, user)
    page = client.get(url, query)
    assert page.status_code == 200, (name, url)
    assert "bank/partials/export_links.html" in [t.name for t in page.templates], f"{name}: no export links"
    params = {**query, **{k: str(v) for k, v in resolve(url).kwargs.items()}}  # what the page passes its builder
    headers = [str(c.header) for c in exports.build(name, user, params)[1]]

    response = client.get(url, {**query, "export": "csv"})
    assert response.status_code == 200, (name, response.content[:300] if not response.streaming else "")
    assert response["Content-Type"] == CSV_TYPE
    assert response["Content-Disposition"].startswith(f'attachment; filename="{spec.filename}-')
    assert csv_rows(response)[0] == [exports.neutralise(h) for h in headers]

    response = client.get(url, {**query, "export": "xlsx"})
    assert response.status_code == 200, name
    assert response["Content-Type"] == exports.XLSX_TYPE
    assert response["Content-Disposition"].endswith('.xlsx"')
    assert list(xlsx_rows(response.content)[0]) == headers

    bad = client.get(url, {**query, "export": "pdf"})
    assert bad.status_code == 400

    # A role that may not see the page gets no export, from the page or from a job.
    refused = [role for role in ROLES if role != "sensor" and not spec.may_export(users[role])]
    if refused:
        client.force_login(users[refused[0]])
        assert client.get(url, {**query, "export": "csv"}).status_code in (403, 404)
        with pytest.raises(exports.PermissionDenied):
            exports.build(name, users[refused[0]], params)


# --- the set of list pages with export links is the registry ------------------------------------------------------

SKIPPED_PREFIXES = ("/admin/", "/api/", "/accounts/logout", "/accounts/session", "/i18n/", "/healthz",
                    "/operations/", "/barcodes/")


def _plain_urls(resolver=None, prefix="", namespace=""):
    """Every URL of the project that takes no argument, with its name (``namespace:name``)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.pattern.regex.groups:
                continue
            ns = entry.namespace or namespace
            yield from _plain_urls(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and not entry.pattern.regex.groups and entry.name:
            route = "/" + prefix + str(entry.pattern)
            if "<" in route or "^" in route or "(" in route:
                continue
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), route


def _is_paginated(response) -> bool:
    for context in response.context or []:
        for value in context.flatten().values():
            if isinstance(value, Page):
                return True
    return False


def test_the_list_pages_with_export_links_are_the_registry_and_every_paginated_list_is_one(client, users):
    admin = UserFactory(username="root", role="admin", is_superuser=True)
    population_with_table()
    client.force_login(admin)
    with_links, paginated = set(), set()
    for name, route in _plain_urls():
        if route.startswith(SKIPPED_PREFIXES):
            continue
        response = client.get(route)
        if response.status_code != 200 or response.streaming or not response.templates:
            continue
        if "bank/partials/export_links.html" in [t.name for t in response.templates]:
            with_links.add(name)
        if _is_paginated(response):
            paginated.add(name)
    registered = {spec.url for spec in REGISTRY.values() if spec.name not in NEEDS_AN_OBJECT}
    assert with_links == registered
    # Every paginated list has an export.
    assert paginated <= with_links, f"paginated list pages without an export: {sorted(paginated - with_links)}"
    assert len(registered) >= 35


# --- filters, visibility, masking ---------------------------------------------------------------------------------


def test_the_export_has_the_rows_of_the_page_s_filters_not_only_its_page(client, users, settings):
    released = [LotFactory(status="released", vials=False) for _ in range(3)]
    LotFactory(status="quarantine", vials=False)
    client.force_login(users["technician"])
    rows = csv_rows(client.get("/lots/", {"status": "released", "page": "2", "export": "csv"}))
    assert sorted(r[0] for r in rows[1:]) == sorted(lot.lot_number for lot in released)
    content = client.get("/lots/", {"status": "released", "export": "xlsx"}).content
    assert sorted(r[0] for r in xlsx_rows(content)[1:]) == sorted(lot.lot_number for lot in released)
    # a search too: the donor codes that contain the text, whatever the page size
    donors = [DonorFactory() for _ in range(3)]
    rows = csv_rows(client.get("/donors/", {"q": donors[1].code, "export": "csv"}))
    assert [r[0] for r in rows[1:]] == [donors[1].code]


def test_a_researcher_exports_their_own_requests_and_the_catalog_never_a_donor(client, users):
    mine = DistributionRequestFactory(researcher=users["researcher"])
    DistributionRequestFactory()  # someone else's
    client.force_login(users["researcher"])
    rows = csv_rows(client.get("/distribution/requests/", {"export": "csv"}))
    assert [r[0] for r in rows[1:]] == [mine.number]
    assert "Researcher" not in rows[0] and "Institution" not in rows[0]  # the page shows no "who" to them
    assert client.get("/donors/", {"export": "csv"}).status_code == 403
    assert client.get("/lots/lines/", {"export": "xlsx"}).status_code == 403
    catalog = csv_rows(client.get("/distribution/catalog/", {"export": "csv"}))
    assert not any("Donor" in h for h in catalog[0])
    # staff see who asked
    client.force_login(users["qa"])
    rows = csv_rows(client.get("/distribution/requests/", {"export": "csv"}))
    assert "Researcher" in rows[0] and len(rows) == 3


def test_no_export_holds_a_donor_s_identity(client, users):
    identity = DonorIdentityFactory(full_name="Wang Xiaoming", national_id="110101199001011234")
    client.force_login(users["coordinator"])  # who may read identities on the donor's page
    text = b"".join(client.get("/donors/", {"export": "csv"}).streaming_content).decode()
    assert identity.donor.code in text
    assert "Wang Xiaoming" not in text and "110101199001011234" not in text
    content = client.get("/donors/", {"export": "xlsx"}).content
    cells = {str(c) for row in xlsx_rows(content) for c in row}
    assert identity.donor.code in cells and "Wang Xiaoming" not in cells


# --- neutralising ------------------------------------------------------------------------------------------------


def test_cells_that_look_like_formulas_are_neutralised_in_csv_and_text_in_xlsx(client, users):
    EthicsApprovalFactory(approval_number="IEC-FORMULA", committee="=1+1", scope="@SUM(A1)",
                          withdrawal_reason="")
    EthicsApprovalFactory(approval_number="IEC-MINUS", committee="-2+3", scope="\tcmd|' /C calc'!A0")
    StorageUnitFactory(name="LN2-NUM")
    client.force_login(users["coordinator"])
    rows = {r[0]: r for r in csv_rows(client.get("/donors/ethics/", {"export": "csv"}))[1:]}
    assert rows["IEC-FORMULA"][1:3] == ["'=1+1", "'@SUM(A1)"]
    assert rows["IEC-MINUS"][1:3] == ["'-2+3", "'\tcmd|' /C calc'!A0"]

    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/donors/ethics/", {"export": "xlsx"}).content)).active
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    formula = cells["IEC-FORMULA"][1]
    assert formula.value == "=1+1" and formula.data_type == "s" and formula.quotePrefix  # text, not a formula
    assert cells["IEC-FORMULA"][2].data_type == "s" and cells["IEC-MINUS"][1].value == "-2+3"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)

    # Numbers stay numbers: a minimum of -196 °C is neither prefixed in CSV nor text in XLSX.
    client.force_login(users["technician"])
    unit_rows = csv_rows(client.get("/storage/", {"export": "csv"}))
    minimum = unit_rows[0].index("Minimum temperature (°C)")
    assert [r[minimum] for r in unit_rows[1:] if r[0] == "LN2-NUM"] == ["-196.0"]
    sheet = xlsx_rows(client.get("/storage/", {"export": "xlsx"}).content)
    assert [r[minimum] for r in sheet[1:] if r[0] == "LN2-NUM"] == [-196]


def test_neutralise_is_the_one_rule():
    from bank import audit_export
    from distribution import registry_export

    assert audit_export.neutralise is exports.neutralise is registry_export.neutralise
    assert [exports.neutralise(v) for v in ("=A1", "+1", "-1", "@x", "\tx", "\rx", "ok", None)] == [
        "'=A1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "ok", ""]
    assert exports.csv_cell(-3) == "-3" and exports.csv_cell("-3") == "'-3"


# --- streamed CSV: constant queries per chunk ------------------------------------------------------------------


@pytest.mark.parametrize(("lots", "chunks"), [(5, 1), (23, 3)])
def test_a_csv_export_runs_a_constant_number_of_queries_per_chunk(client, users, monkeypatch,
                                                                 django_assert_num_queries, lots, chunks):
    for _ in range(lots):
        LotFactory(vial_count=2)
    monkeypatch.setattr(exports, "CHUNK_SIZE", 10)
    client.force_login(users["technician"])
    # The request: session, user, its roles, its permissions and its roles' permissions (5). Each chunk of 10 lots:
    # the lots with line and parent (1) and their vial counts by status (1); then the query that finds no more (1).
    with django_assert_num_queries(5 + 2 * chunks + 1):
        response = client.get("/lots/", {"export": "csv"})
        rows = csv_rows(response)
    assert len(rows) == lots + 1 == Lot.objects.count() + 1


# --- a big XLSX is a job ---------------------------------------------------------------------------------------


def test_a_big_xlsx_export_is_a_job_with_progress_and_a_readable_file(client, users, settings):
    settings.EXPORT_XLSX_SYNC_MAX_ROWS = 2
    released = [LotFactory(status="released", vials=False) for _ in range(4)]
    LotFactory(status="quarantine", vials=False)
    client.force_login(users["technician"])
    response = client.get("/lots/", {"status": "released", "page": "3", "export": "xlsx"})
    job = Job.objects.get(kind=exports.JOB_KIND)
    assert response.status_code == 302 and response.url == reverse("job", args=[job.pk])
    assert job.user == users["technician"] and job.params == {
        "export": "lots", "query": {"status": ["released"]}, "format": "xlsx"}
    # a small one is answered at once
    assert client.get("/lots/", {"status": "quarantine", "export": "xlsx"}).status_code == 200

    assert run_job(job.pk) == Job.Status.DONE
    job.refresh_from_db()
    assert (job.done, job.total) == (4, 4) and job.result["rows"] == 4
    assert job.result_type == exports.XLSX_TYPE and job.result_name.endswith(".xlsx")
    rows = xlsx_rows(job.result_file.read())
    assert rows[0][0] == "Lot" and sorted(r[0] for r in rows[1:]) == sorted(lot.lot_number for lot in released)


def test_an_export_job_re_checks_its_user(users):
    job = exports.start_export_job("donors", user=users["researcher"], params={}, title="Donors")
    assert run_job(job.pk) == Job.Status.FAILED
    job.refresh_from_db()
    assert "may not export" in job.error and not job.result_file

"""Regression tests of the transplant app's review: one rule per source, constant query counts on lists,
permission holes, bad input that must never be a 500, and strings that must be marked for translation."""

from __future__ import annotations

import ast
import datetime
from pathlib import Path
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bank.errors import Conflict
from lots.models import Lot
from tests import cordblood_factories as cb
from tests.factories import PASSWORD
from tests.transplant import helpers as tx
from transplant import queries, services
from transplant.choices import OrderStatus

pytestmark = pytest.mark.django_db

TRANSPLANT = Path(__file__).resolve().parents[2] / "transplant"


@pytest.fixture
def clin(db):
    return tx.clinician()


@pytest.fixture
def pat(clin):
    return tx.patient(clin)


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200, url
    return len(ctx)


# --- one source per rule: distributable lots (distribution.queries.distributable_lots_q) ---------------------


def test_a_unit_flagged_for_a_withdrawn_consent_is_neither_found_nor_reserved(clin, pat):
    """The search and the reservation re-derived "may this lot leave" as "status released" and missed the
    consent-withdrawal flag; they ask distribution's one rule now."""
    flagged = cb.unit()
    Lot.objects.filter(pk=flagged.lot_id).update(consent_withdrawn_flagged_at=timezone.now())
    assert flagged.pk not in [u.pk for u in queries.search_units(pat)]
    with pytest.raises(Conflict) as refused:
        tx.reserved(flagged, pat, clin)
    assert refused.value.code == "unit_not_available"


def test_a_freed_unit_of_a_flagged_lot_is_not_listed_again(clin, pat):
    unit = cb.unit()
    reservation = tx.reserved(unit, pat, clin)
    Lot.objects.filter(pk=unit.lot_id).update(consent_withdrawn_flagged_at=timezone.now())
    services.cancel_reservation(reservation, actor=clin)
    unit.refresh_from_db()
    assert unit.listing_status == "not_listed"


def test_the_typing_page_offers_only_typing_samples(client, clin, pat, users):
    """The page listed every container but the bag (plasma, DNA, maternal samples); cordblood's
    TYPING_SAMPLE_KINDS decides what a typing may use."""
    unit = cb.unit()
    ct = services.request_typing(unit, pat, actor=clin)
    client.force_login(users["technician"])
    html = client.get(f"/transplant/typing/{ct.pk}/").content.decode()
    for vial in unit.lot.vials.all():
        assert (vial.barcode in html) is (vial.kind in ("segment", "reference_cells")), vial.kind


# --- permissions ----------------------------------------------------------------------------------------------


def test_the_bank_staff_cannot_cancel_an_order_through_the_api(clin, pat, users, api):
    """The API's cancel asked only view_order, so a technician or QA could cancel a centre's order; the page
    asked add_order or change_order. Both ask queries.may_cancel_order now."""
    order = tx.ordered(cb.unit(), pat, clin)
    for role in ("technician", "qa"):
        response = api(users[role]).post(f"/api/v1/transplant/orders/{order.pk}/cancel/", {"reason": "x"},
                                         format="json")
        assert response.status_code == 403, role
    order.refresh_from_db()
    assert order.status == OrderStatus.ORDERED
    response = api(users["medical_director"]).post(f"/api/v1/transplant/orders/{order.pk}/cancel/",
                                                   {"reason": "Patient unfit"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_a_refused_page_action_is_403_not_404(client, clin, pat, users):
    order = tx.ordered(cb.unit(), pat, clin)
    client.force_login(users["technician"])
    assert client.post(f"/transplant/orders/{order.pk}/cancel/", {"reason": "x"}).status_code == 403


# --- bad input is never a 500 ---------------------------------------------------------------------------------


def test_a_reservation_cancel_with_a_body_that_is_not_an_object_is_400(clin, pat, api):
    reservation = tx.reserved(cb.unit(), pat, clin)
    response = api(clin).post(f"/api/v1/transplant/reservations/{reservation.pk}/cancel/", ["x"], format="json")
    assert response.status_code == 400


def test_a_logger_file_name_with_quotes_and_line_breaks_downloads(client, clin, pat, users):
    """The download built its Content-Disposition by hand from the uploader's file name: a quote broke the
    header and a line break was a 500 (BadHeaderError)."""
    unit = cb.unit()
    tx.ct_done(unit, pat, clin, users["technician"])
    order = services.release_order(tx.ordered(unit, pat, clin), actor=users["medical_director"], password=PASSWORD)
    services.ship_order(order, actor=users["technician"],
                        **tx.ship_kwargs(order, logger_name='log "A"\r\nSet-Cookie: x=1.csv'))
    log = order.temperature_logs.get()
    client.force_login(users["qa"])
    response = client.get(f"/transplant/orders/{order.pk}/logs/{log.pk}/")
    assert response.status_code == 200 and bytes(response.content) == tx.LOGGER
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert "\n" not in response["Content-Disposition"] and "\r" not in response["Content-Disposition"]


def test_a_patient_registered_twice_at_the_same_moment_is_a_field_error(clin, pat):
    """The duplicate check ran outside the transaction: two clinicians registering the same code at once got an
    IntegrityError (500). The unique constraint's refusal is the field error now."""
    with mock.patch.object(QuerySet, "exists", return_value=False), pytest.raises(ValidationError) as invalid:
        tx.patient(clin, code=pat.code)
    assert "code" in invalid.value.message_dict


def test_a_non_text_hla_is_a_field_error(clin, api):
    response = api(clin).post("/api/v1/transplant/patients/", {
        "code": "P-900", "diagnosis": "AML", "weight_kg": "20.0", "hla": {"A": [2, None], "B": {"x": 1}}},
        format="json")
    assert response.status_code == 400 and "hla" in response.json()


def test_a_shipper_or_centre_code_is_normalised_so_shipment_finds_it(clin, pat, users):
    shipper = services.save_dry_shipper(actor=users["qa"], code=" ds-77 ",
                                        validated_until=timezone.localdate() + datetime.timedelta(days=30))
    assert shipper.code == "DS-77"
    assert services.save_centre(actor=users["qa"], code="tc-01", name="Again").pk == tx.centre().pk


# --- lists run a constant number of queries --------------------------------------------------------------------


def _orders(clin, n: int, start: int):
    made = []
    for i in range(start, start + n):
        patient = tx.patient(clin, code=f"P-{i:03d}")
        order = tx.ordered(cb.unit(), patient, clin)
        services.request_typing(cb.unit(), patient, actor=clin)
        made.append(order)
    return made


def test_the_order_api_list_is_constant_in_queries(clin, api, django_assert_num_queries):
    """The order API read each order's thaw report and follow-ups one query at a time (2 per order)."""
    _orders(clin, 2, 0)
    client = api(clin)
    client.get("/api/v1/transplant/orders/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/transplant/orders/").json()["count"] == 2
    base = len(ctx)
    _orders(clin, 3, 10)
    # user roles, centre link, count, page of orders (+ thaw report joined), follow-ups, adverse events, look-back
    with django_assert_num_queries(base):
        assert client.get("/api/v1/transplant/orders/").json()["count"] == 5


LISTS = ["/transplant/", "/transplant/orders/", "/transplant/typing/?status=", "/transplant/patients/",
         "/transplant/follow-ups/?status=all", "/api/v1/transplant/typing-requests/",
         "/api/v1/transplant/reservations/", "/api/v1/transplant/adverse-events/", "/api/v1/transplant/patients/",
         "/api/v1/transplant/follow-ups/"]


def test_lists_are_constant_in_queries(client, clin, pat, users, django_assert_num_queries):
    unit = cb.unit()
    tx.ct_done(unit, pat, clin, users["technician"])
    order = services.release_order(tx.ordered(unit, pat, clin, days=0), actor=users["medical_director"],
                                   password=PASSWORD)
    services.ship_order(order, actor=users["technician"], **tx.ship_kwargs(order))
    services.receive_order(order, actor=clin)
    services.record_thaw_report(order, actor=clin, thawed_at=timezone.now(), viable_cd34_pct="80",
                                viable_cd45_pct="60", cfu_growth=True, identity_confirmed=True,
                                infused_on=timezone.localdate())
    from transplant.services import safety

    safety.report_adverse_event(order, actor=clin, kind="other", severity="mild", occurred_on=timezone.localdate(),
                                description="Rash")
    _orders(clin, 1, 0)
    client.force_login(clin)
    for url in LISTS:
        _queries(client, url)
    base = {url: _queries(client, url) for url in LISTS}
    _orders(clin, 3, 10)
    # session, user, roles, centre link, then one query per table shown (count + page): never one per row
    for url, n in base.items():
        with django_assert_num_queries(n):
            assert client.get(url).status_code == 200, url


# --- strings marked for translation -----------------------------------------------------------------------------


def _bare_literals(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        # A history reason is shown in the audit trail: acting(actor, "text") must be acting(actor, _("text")).
        if name == "acting" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            yield f"{path.name}:{node.lineno} acting(..., {node.args[1].value!r})"
        # An API error body is shown to the user: Response({"field": ["text"]}) must use _().
        if name == "Response" and node.args and isinstance(node.args[0], ast.Dict):
            for value in node.args[0].values:
                if isinstance(value, ast.List) and any(isinstance(e, ast.Constant) for e in value.elts):
                    yield f"{path.name}:{node.lineno} Response({{...: [literal]}})"


def test_history_reasons_and_api_messages_are_marked_for_translation():
    found = [hit for path in sorted(TRANSPLANT.rglob("*.py")) if "migrations" not in path.parts
             for hit in _bare_literals(path)]
    assert found == []


def test_file_upload_is_still_accepted_for_shipping(clin, pat, users, api):
    """The ship action kept its multipart contract after the review (a file, the document pack)."""
    unit = cb.unit()
    tx.ct_done(unit, pat, clin, users["technician"])
    order = services.release_order(tx.ordered(unit, pat, clin), actor=users["medical_director"], password=PASSWORD)
    values = tx.ship_kwargs(order)
    response = api(users["technician"]).post(f"/api/v1/transplant/orders/{order.pk}/ship/", {
        "bag_barcode": values["bag_barcode"], "dry_shipper": values["dry_shipper"].lower(),
        "documents": values["documents"], "temperature_log": SimpleUploadedFile("l.csv", tx.LOGGER)},
        format="multipart")
    assert response.status_code == 200, response.json()

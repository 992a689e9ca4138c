"""Role matrix: a donor's identity (full name, national ID, phone) never reaches technicians, QA or
researchers — not from any endpoint, page, search, scan or audit trail — and reaches coordinators and admins
only where identity belongs (the donor's detail, never a list)."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from donors import services
from tests.factories import LotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ethics_in_force(db):
    """Issue 15: collections need an ethics approval in force (REQUIRE_ETHICS_APPROVAL); the bank has one."""
    from tests.factories import ethics_in_force

    ethics_in_force()

NAME, NATIONAL_ID, PHONE = "Qiuyue Secretname", "SECRETID20260001", "+86 199 8765 4321"
SECRETS = (NAME, NATIONAL_ID, PHONE, "Secretname", "SECRETID")


@pytest.fixture
def world(users):
    coordinator = users["coordinator"]
    donor = services.register_donor(actor=coordinator, sex="F", birth_year=1990, donor_type="healthy",
                                    identity={"full_name": NAME, "national_id": NATIONAL_ID, "phone": PHONE})
    # a correction of the identity leaves two history rows to (not) show
    services.update_donor(donor, actor=coordinator, reason="phone changed", identity={"phone": PHONE})
    services.update_donor(donor, actor=coordinator, reason="name spelling", identity={"full_name": NAME})
    consent = services.record_consent(donor, actor=coordinator, form_version="ICF-v3", scopes=["research"],
                                      signed_on=timezone.localdate() - datetime.timedelta(days=20))
    collected = timezone.now() - datetime.timedelta(days=10)
    collection = services.record_collection(actor=users["technician"], donor=donor, tissue="skin",
                                            collected_at=collected, received_at=collected + datetime.timedelta(hours=2))
    screening = services.record_screening(donor, actor=coordinator, sample_drawn_on=collected.date(),
                                          results=[{"marker": "hiv_ab", "result": "negative"}])
    services.set_hla(donor, actor=coordinator, alleles={
        "A": ["A*24:02", "A*24:02"], "B": ["B*52", "B*52"], "C": ["C*12", "C*12"], "DRB1": ["DRB1*15", "DRB1*15"],
        "DQB1": ["DQB1*06", "DQB1*06"]})
    lot = LotFactory(cell_line__collection=collection, cell_line__donor=donor, vial_count=1)
    return {"donor": donor, "consent": consent, "collection": collection, "screening": screening, "lot": lot,
            "identity": donor.identity}


def api_paths(w):
    d, c = w["donor"], w["collection"]
    return [
        "/api/v1/donors/", f"/api/v1/donors/?code={d.code}", f"/api/v1/donors/{d.pk}/",
        f"/api/v1/donors/{d.pk}/consents/", f"/api/v1/donors/{d.pk}/screenings/", f"/api/v1/donors/{d.pk}/hla/",
        f"/api/v1/donors/{d.pk}/derived-lots/", f"/api/v1/consents/{w['consent'].pk}/",
        "/api/v1/collections/", f"/api/v1/collections/{c.pk}/", f"/api/v1/collections/?donor={d.pk}",
        "/api/v1/ethics-approvals/", "/api/v1/screening-markers/",
        "/api/v1/audit/?object_type=donoridentity",
        f"/api/v1/audit/?object_type=donoridentity&object_id={w['identity'].pk}",
        f"/api/v1/audit/?object_type=donor&object_id={d.pk}",
        f"/api/v1/audit/?object_type=consent&object_id={w['consent'].pk}",
        f"/api/v1/audit/?object_type=collection&object_id={c.pk}",
        "/api/v1/notifications/", "/api/v1/me/",
    ]


def page_paths(w):
    d, c = w["donor"], w["collection"]
    tabs = [f"/donors/{d.pk}/?tab={tab}" for tab in ("consent", "screening", "hla", "collections", "history")]
    return [
        "/", "/donors/", f"/donors/?q={d.code}", *tabs,
        "/donors/collections/", f"/donors/collections/{c.pk}/", f"/donors/collections/?q={d.code}",
        f"/donors/{d.pk}/edit/", f"/donors/consents/{w['consent'].pk}/withdraw/",
        f"/audit/donoridentity/{w['identity'].pk}/", f"/audit/donor/{d.pk}/",
        f"/audit/collection/{c.pk}/", f"/audit/consent/{w['consent'].pk}/",
        f"/scan/?code={d.code}", f"/scan/?code={c.code}",
        "/donors/ethics/", "/donors/panel/", "/notifications/",
    ]


def leaked(body: str) -> list[str]:
    return [secret for secret in SECRETS if secret in body]


@pytest.mark.parametrize("role", ["technician", "qa", "researcher"])
def test_other_roles_never_receive_identity(role, users, world, client):
    user = users[role]
    api = APIClient()
    api.force_authenticate(user)
    client.force_login(user)
    seen = {}
    for path in api_paths(world):
        response = api.get(path)
        assert response.status_code in (200, 403, 404), (path, response.status_code)
        assert not leaked(response.content.decode()), (role, path)
        seen[path] = response.status_code
    for path in page_paths(world):
        response = client.get(path, follow=True)
        assert response.status_code in (200, 403, 404), (path, response.status_code)
        assert not leaked(response.content.decode()), (role, path)
    # identity is not a search key: searching or scanning a national ID or name finds no donor
    for term in (NATIONAL_ID, NAME):
        assert f'data-donor="{world["donor"].code}"' not in client.get("/donors/", {"q": term}).content.decode()
        assert client.get("/scan/", {"code": term}).status_code == 404
    # the probes really read donor data where the role may (so "no leak" is not "no access")
    if role != "researcher":
        assert seen[f"/api/v1/donors/{world['donor'].pk}/"] == 200
        assert seen[f"/api/v1/audit/?object_type=donor&object_id={world['donor'].pk}"] == 200
        assert seen["/api/v1/audit/?object_type=donoridentity"] == 403
        assert client.get(f"/donors/{world['donor'].pk}/").status_code == 200
        assert client.get(f"/audit/donoridentity/{world['identity'].pk}/").status_code == 403
    else:
        assert set(seen[p] for p in api_paths(world) if "/donors/" in p or "/collections/" in p) == {403}


def test_writes_by_a_technician_do_not_echo_identity(users, world):
    api = APIClient()
    api.force_authenticate(users["technician"])
    collected = timezone.now() - datetime.timedelta(days=2)
    response = api.post("/api/v1/collections/", {
        "donor": world["donor"].pk, "tissue": "skin", "collected_at": collected.isoformat(),
        "received_at": (collected + datetime.timedelta(hours=1)).isoformat()}, format="json")
    assert response.status_code == 201 and not leaked(response.content.decode())


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_see_identity_on_the_detail_only(role, users, world, client):
    api = APIClient()
    api.force_authenticate(users[role])
    donor = world["donor"]
    detail = api.get(f"/api/v1/donors/{donor.pk}/").json()
    assert detail["identity"] == {"full_name": NAME, "national_id": NATIONAL_ID, "phone": PHONE}
    assert not leaked(api.get("/api/v1/donors/").content.decode())
    assert not leaked(api.get(f"/api/v1/donors/?code={donor.code}").content.decode())
    # Issue 11: the identity's audit trail holds ciphertext only; it shows that the values were set, never them.
    audit = api.get(f"/api/v1/audit/?object_type=donoridentity&object_id={world['identity'].pk}")
    assert audit.status_code == 200 and not leaked(audit.content.decode())
    assert audit.json()["results"][-1]["changes"]["national_id_encrypted"] == [None, "(encrypted)"]
    client.force_login(users[role])
    page = client.get(f"/donors/{donor.pk}/").content.decode()
    assert NAME in page and NATIONAL_ID in page and PHONE in page
    assert not leaked(client.get("/donors/").content.decode())
    # the pseudonymous list is never searchable by identity
    assert f'data-donor="{donor.code}"' not in client.get("/donors/", {"q": NATIONAL_ID}).content.decode()

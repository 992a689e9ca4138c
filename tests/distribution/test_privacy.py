"""A researcher must never see who the donor is: no identity and no donor code on any page or endpoint
they can open — every distribution URL is scanned, plus the shared pages they use."""

import pytest
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone

from distribution import services
from distribution import urls as page_urls
from distribution.api import urls as api_urls
from tests.distribution.factories import add_lot, make_line, shipped_request, submit
from tests.factories import PASSWORD, HLATypingFactory

pytestmark = pytest.mark.django_db


def _names(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _names(pattern.url_patterns, namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), list(pattern.pattern.regex.groupindex)


@pytest.fixture
def researcher_world(users):
    """The researcher has requests in every state, a recall notice and a consent-withdrawal notice."""
    researcher, qa, tech = users["researcher"], users["qa"], users["technician"]
    line = make_line(hla=True)  # HLA shareable: shown, but never with the donor
    lot = add_lot(line, vials=12)
    shared_line = make_line(hla=False, scopes=["research"])
    HLATypingFactory(donor=shared_line.donor)  # typed, not shareable: never shown
    add_lot(shared_line, vials=4)
    received = shipped_request(researcher, qa, tech, line)
    services.receive_request(received, actor=researcher, condition="good")
    shipped = shipped_request(researcher, qa, tech, line)
    approved = services.approve_request(submit(researcher, line), actor=qa)
    submitted = submit(researcher, line)
    rejected = services.reject_request(submit(researcher, line), actor=qa, reason="Summary missing")
    cancelled = services.cancel_request(submit(researcher, line), actor=researcher)
    withdrawn_line_request = shipped_request(researcher, qa, tech, shared_line)
    pending_on_withdrawn = submit(researcher, shared_line)
    recall = services.recall_lot(lot, actor=qa, password=PASSWORD, reason="Sterility failure")
    shared_line.donor.consent_withdrawn_at = timezone.now()
    shared_line.donor.save(update_fields=["consent_withdrawn_at"])
    services.consent_withdrawal_recall(shared_line.donor, actor=users["coordinator"], reason="Donor withdrew")
    requests = [received, shipped, approved, submitted, rejected, cancelled, withdrawn_line_request,
                pending_on_withdrawn]
    secrets = []
    for donor_line in (line, shared_line):
        donor = donor_line.donor
        identity = donor.identity
        secrets += [donor.code, donor_line.collection.code, identity.full_name, identity.national_id, identity.phone]
    return {"line": line, "lot": lot, "requests": requests, "recall": recall, "secrets": secrets,
            "vial": received.allocations.first().vial}


def test_no_donor_code_or_identity_anywhere_a_researcher_can_look(client, users, researcher_world):
    world = researcher_world
    client.force_login(users["researcher"])
    samples = {
        "pk": [world["line"].pk, world["lot"].pk, world["recall"].pk, world["line"].donor_id,
               *[r.pk for r in world["requests"]]],
        "barcode": [world["vial"].barcode],
    }
    urls = {"/", "/notifications/", "/api/v1/notifications/", "/api/v1/me/", "/api/v1/catalog/?hla=A*24:02",
            "/distribution/catalog/?hla=A*24:02",
            *[f"/distribution/requests/?status={s}" for s in ("submitted", "approved", "shipped", "received",
                                                               "rejected", "cancelled")]}
    names = list(_names(page_urls.urlpatterns, "distribution")) + list(_names(api_urls.urlpatterns))
    assert len(names) >= 25
    for name, params in names:
        if "format" in params:
            continue
        if not params:
            urls.add(reverse(name))
        for param in params:
            for value in samples[param]:
                urls.add(reverse(name, kwargs={param: value}))
    visible = 0
    for url in sorted(urls):
        response = client.get(url)
        body = response.content.decode() + response.headers.get("Location", "")
        for secret in world["secrets"]:
            assert secret not in body, f"{secret!r} shown at {url}"
        if response.status_code == 200:
            visible += 1
    # the researcher really could open their catalog, requests and notifications
    assert visible >= 20
    # typing a donor code finds nothing (the page only echoes what was typed)
    code = world["line"].donor.code
    assert "data-line=" not in client.get("/distribution/catalog/", {"q": code}).content.decode()
    assert client.get("/api/v1/catalog/", {"q": code}).json()["count"] == 0
    assert client.get("/scan/", {"code": code}).status_code == 404


def test_the_researcher_did_get_the_recall_messages(users, researcher_world):
    subjects = list(users["researcher"].notifications.values_list("subject", flat=True))
    # the lot recall reaches both shipped requests, the withdrawal the third
    assert sum(1 for s in subjects if s.startswith("RECALL")) == 3
    assert any("was rejected" in s for s in subjects)

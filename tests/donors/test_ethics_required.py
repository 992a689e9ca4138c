"""Issue 15, ethics: with REQUIRE_ETHICS_APPROVAL on (the default) a collection needs an approval in force on its
collection date (409 no_ethics_approval); the single one in force is cited when none is named; an approval that
expires or is withdrawn flags the lines derived under it for QA on the dashboard."""

import datetime

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bank.errors import Conflict
from donors import services
from donors.models import Collection, EthicsApproval
from donors.views import ethics_panel
from tests.factories import CellLineFactory, CollectionFactory, ConsentFactory, EthicsApprovalFactory

pytestmark = pytest.mark.django_db

YEAR = datetime.timedelta(days=365)


def today(days: int = 0) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


def in_force(**kwargs) -> EthicsApproval:
    return EthicsApprovalFactory(valid_from=today() - YEAR, valid_to=today() + YEAR, **kwargs)


def collect(users, donor, **overrides):
    collected = timezone.now() - datetime.timedelta(days=2)
    data = {"tissue": "skin", "collected_at": collected, "received_at": collected + datetime.timedelta(hours=3),
            "transport_temperature_c": "4"}
    data.update(overrides)
    return services.record_collection(actor=users["technician"], donor=donor, **data)


def post_collection(api, user, donor, **extra):
    collected = timezone.now() - datetime.timedelta(days=2)
    body = {"donor": donor.pk, "tissue": "skin", "collected_at": collected.isoformat(),
            "received_at": (collected + datetime.timedelta(hours=3)).isoformat(), "transport_temperature_c": 4.0,
            **extra}
    return api(user).post("/api/v1/collections/", body, format="json")


def test_the_setting_is_on_by_default():
    assert django_settings.REQUIRE_ETHICS_APPROVAL is True


# --- refused, accepted, cited ---------------------------------------------------------------------------------


def test_a_collection_without_an_approval_is_refused_when_required(api, users):
    consent = ConsentFactory()
    response = post_collection(api, users["technician"], consent.donor)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "no_ethics_approval"
    assert "Record the ethics committee's approval" in body["detail"]
    assert not Collection.objects.exists()


def test_a_collection_without_an_approval_is_accepted_when_the_setting_is_off(api, users, settings):
    settings.REQUIRE_ETHICS_APPROVAL = False
    consent = ConsentFactory()
    response = post_collection(api, users["technician"], consent.donor)
    assert response.status_code == 201, response.json()
    assert response.json()["ethics_approval"] is None
    assert Collection.objects.get().ethics_approval is None


def test_the_single_approval_in_force_is_cited_automatically(api, users):
    consent = ConsentFactory()
    EthicsApprovalFactory(valid_from=today() - 3 * YEAR, valid_to=today() - 2 * YEAR)  # expired: not a candidate
    current = in_force()
    response = post_collection(api, users["technician"], consent.donor)
    assert response.status_code == 201, response.json()
    assert response.json()["ethics_approval"] == current.pk
    assert response.json()["ethics_approval_number"] == current.approval_number
    assert Collection.objects.get().ethics_approval == current


def test_the_named_approval_wins_over_the_automatic_choice(api, users):
    consent = ConsentFactory()
    in_force()
    named = in_force()
    response = post_collection(api, users["technician"], consent.donor, ethics_approval=named.pk)
    assert response.status_code == 201 and response.json()["ethics_approval"] == named.pk


def test_several_approvals_in_force_and_none_named_is_a_400_naming_them(api, users):
    consent = ConsentFactory()
    first, second = in_force(), in_force()
    response = post_collection(api, users["technician"], consent.donor)
    assert response.status_code == 400
    message = response.json()["ethics_approval"][0]
    assert first.approval_number in message and second.approval_number in message
    assert not Collection.objects.exists()


def test_only_expired_approvals_is_refused_409(api, users):
    consent = ConsentFactory()
    EthicsApprovalFactory(valid_from=today() - 3 * YEAR, valid_to=today(-30))
    response = post_collection(api, users["technician"], consent.donor)
    assert response.status_code == 409 and response.json()["code"] == "no_ethics_approval"
    assert not Collection.objects.exists()


def test_an_expired_approval_named_is_refused(api, users):
    consent = ConsentFactory()
    expired = EthicsApprovalFactory(valid_from=today() - 3 * YEAR, valid_to=today(-30))
    in_force()  # another in force: the named one is still checked, never swapped
    response = post_collection(api, users["technician"], consent.donor, ethics_approval=expired.pk)
    assert response.status_code == 400
    assert expired.approval_number in response.json()["ethics_approval"][0]
    assert not Collection.objects.exists()


def test_a_withdrawn_approval_covers_nothing_from_its_withdrawal_and_is_never_cited_unasked(users):
    consent = ConsentFactory(signed_on=today(-60))
    approval = in_force()
    services.withdraw_ethics_approval(approval, actor=users["coordinator"], reason="committee letter W-1",
                                      withdrawn_on=today(-5))
    approval.refresh_from_db()
    assert approval.is_valid_on(today(-6)) and not approval.is_valid_on(today(-5))
    with pytest.raises(ValidationError) as exc:
        collect(users, consent.donor, ethics_approval=approval)  # collected 2 days ago: after the withdrawal
    assert "withdrawn" in exc.value.message_dict["ethics_approval"][0]
    with pytest.raises(Conflict) as conflict:
        collect(users, consent.donor)  # it was in force 10 days ago, but is not cited unasked
    assert conflict.value.code == "no_ethics_approval"
    before = timezone.now() - datetime.timedelta(days=10)
    late_entry = collect(users, consent.donor, ethics_approval=approval, collected_at=before,
                         received_at=before + datetime.timedelta(hours=3))
    assert late_entry.ethics_approval == approval


def test_the_collection_page_says_what_to_do_without_an_approval(client, users):
    consent = ConsentFactory()
    client.force_login(users["technician"])
    page = client.get("/donors/collections/new/")
    assert "No ethics approval is in force today" in page.content.decode()
    collected = timezone.localtime() - datetime.timedelta(days=1)
    response = client.post("/donors/collections/new/", {
        "donor_code": consent.donor.code, "tissue": "skin", "collected_at": collected.strftime("%Y-%m-%dT%H:%M"),
        "received_at": (collected + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "transport_temperature_c": "4"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "No ethics approval is in force on the collection date" in html
    assert "Record the ethics committee" in html and 'id="form-errors"' in html
    assert not Collection.objects.exists()
    in_force()
    response = client.post("/donors/collections/new/", {
        "donor_code": consent.donor.code, "tissue": "skin", "collected_at": collected.strftime("%Y-%m-%dT%H:%M"),
        "received_at": (collected + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "transport_temperature_c": "4"})
    assert response.status_code == 302
    assert Collection.objects.get().ethics_approval is not None


def test_cord_blood_registration_needs_an_approval_too(users):
    from cordblood import services as cb
    from tests.cordblood.helpers import mother as a_mother
    from tests.cordblood.helpers import site_and_collector

    site, collector = site_and_collector()
    mother = a_mother()
    born = timezone.now() - datetime.timedelta(hours=6)

    def register():
        return cb.register_infant_donation(
            mother, actor=users["coordinator"], sex="F", born_at=born, gestational_age_weeks=39,
            birth_weight_g=3300, delivery_type="vaginal", site=site, collector=collector,
            consent_form_version="CB-1", consent_scopes=["clinical", "research"], collected_volume_ml="90",
            received_at=born + datetime.timedelta(hours=2), ownership="public")

    with pytest.raises(Conflict) as exc:
        register()
    assert exc.value.code == "no_ethics_approval"
    approval = in_force()
    assert register().collection.ethics_approval == approval


# --- withdrawal -------------------------------------------------------------------------------------------------


def test_withdrawal_through_the_api_with_reason_history_and_a_second_time_409(api, users):
    approval = in_force()
    client = api(users["coordinator"])
    assert client.post(f"/api/v1/ethics-approvals/{approval.pk}/withdraw/", {}, format="json").status_code == 400
    response = client.post(f"/api/v1/ethics-approvals/{approval.pk}/withdraw/",
                           {"reason": "Committee letter 2026/17", "withdrawn_on": today(-1).isoformat()},
                           format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["withdrawn_on"] == today(-1).isoformat() and body["withdrawn_by"] == "coordinator"
    assert body["withdrawal_reason"] == "Committee letter 2026/17"
    latest = approval.history.order_by("-history_date", "-history_id").first()
    assert latest.history_change_reason == "Committee letter 2026/17" and latest.history_user == users["coordinator"]
    again = client.post(f"/api/v1/ethics-approvals/{approval.pk}/withdraw/", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_withdrawn"


@pytest.mark.parametrize("role,status", [("technician", 403), ("qa", 403), ("researcher", 403), ("admin", 200)])
def test_who_may_withdraw(api, users, role, status):
    approval = in_force()
    response = api(users[role]).post(f"/api/v1/ethics-approvals/{approval.pk}/withdraw/", {"reason": "letter"},
                                     format="json")
    assert response.status_code == status


def test_a_withdrawal_in_the_future_is_refused(users):
    approval = in_force()
    with pytest.raises(ValidationError) as exc:
        services.withdraw_ethics_approval(approval, actor=users["coordinator"], reason="letter",
                                          withdrawn_on=today(3))
    assert "withdrawn_on" in exc.value.message_dict
    approval.refresh_from_db()
    assert approval.withdrawn_on is None


def test_the_withdraw_page_lists_the_lines_and_records_with_a_confirmation(client, users):
    approval = in_force()
    line = CellLineFactory(collection=CollectionFactory(ethics_approval=approval))
    client.force_login(users["coordinator"])
    page = client.get(f"/donors/ethics/{approval.pk}/withdraw/")
    assert page.status_code == 200 and line.name in page.content.decode()
    unconfirmed = client.post(f"/donors/ethics/{approval.pk}/withdraw/",
                              {"reason": "letter", "withdrawn_on": today().isoformat()})
    assert unconfirmed.status_code == 200
    approval.refresh_from_db()
    assert approval.withdrawn_on is None
    done = client.post(f"/donors/ethics/{approval.pk}/withdraw/",
                       {"reason": "letter", "withdrawn_on": today().isoformat(), "confirm": "on"})
    assert done.status_code == 302
    approval.refresh_from_db()
    assert approval.withdrawn_on == today() and approval.withdrawn_by == users["coordinator"]
    listing = client.get("/donors/ethics/").content.decode()
    assert "withdrawn " + today().isoformat() in listing


# --- the dashboard flag -----------------------------------------------------------------------------------------


def _panel_for(user, rf):
    request = rf.get("/")
    request.user = user
    return ethics_panel(request)


def test_no_flag_while_the_approval_is_in_force(users, rf):
    CellLineFactory(collection=CollectionFactory(ethics_approval=in_force()))
    assert _panel_for(users["qa"], rf) is None


def test_lines_are_flagged_once_their_approval_expired(users, rf):
    collected = timezone.now() - 2 * YEAR
    expired = EthicsApprovalFactory(valid_from=today() - 3 * YEAR, valid_to=today(-1))
    line = CellLineFactory(collection=CollectionFactory(ethics_approval=expired, collected_at=collected))
    CellLineFactory(collection=CollectionFactory(ethics_approval=in_force()))  # not flagged
    panel = _panel_for(users["qa"], rf)
    assert [x.pk for x in panel["lines"]] == [line.pk] and panel["count"] == 1
    assert [a.pk for a in panel["approvals"]] == [expired.pk]


def test_lines_are_flagged_once_their_approval_is_withdrawn(users, rf, client):
    approval = in_force()
    line = CellLineFactory(collection=CollectionFactory(ethics_approval=approval))
    assert _panel_for(users["qa"], rf) is None
    services.withdraw_ethics_approval(approval, actor=users["coordinator"], reason="committee letter")
    panel = _panel_for(users["qa"], rf)
    assert [x.pk for x in panel["lines"]] == [line.pk]
    client.force_login(users["qa"])
    home = client.get("/").content.decode()
    assert 'id="dashboard-ethics"' in home and line.name in home and approval.approval_number in home
    collection_page = client.get(f"/donors/collections/{line.collection_id}/").content.decode()
    assert 'id="ethics-lapsed"' in collection_page
    client.force_login(users["researcher"])
    assert 'id="dashboard-ethics"' not in client.get("/").content.decode()


def test_the_flag_is_bounded_whatever_the_number_of_lines(users, rf):
    """Queries: the lapsed approvals (1), the newest lines with their collection and approval (1), the capped
    count (1) — whatever the number of lines."""
    approval = in_force()
    for _ in range(3):
        CellLineFactory(collection=CollectionFactory(ethics_approval=approval))
    services.withdraw_ethics_approval(approval, actor=users["coordinator"], reason="letter")
    with CaptureQueriesContext(connection) as few:
        panel = _panel_for(users["qa"], rf)
    assert panel["count"] == 3
    for _ in range(12):
        CellLineFactory(collection=CollectionFactory(ethics_approval=approval))
    with CaptureQueriesContext(connection) as many:
        panel = _panel_for(users["qa"], rf)
    assert len(many) == len(few) == 3, [q["sql"] for q in many.captured_queries]
    assert panel["shown"] == 10 and panel["count"] == 15


def test_the_count_stops_at_its_cap():
    from lots.queries import lines_under_approvals

    approval = in_force()
    for _ in range(4):
        CellLineFactory(collection=CollectionFactory(ethics_approval=approval))
    assert lines_under_approvals([approval.pk], limit=2, count_cap=3)["count"] is None
    assert lines_under_approvals([approval.pk], limit=2, count_cap=4)["count"] == 4


# --- the demo bank ----------------------------------------------------------------------------------------------


def test_the_demo_bank_shows_ethics_and_custody(rf):
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from donors.models import CustodyHandover
    from qc.models import Deviation

    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "Demo bank loaded." in out.getvalue()
    users = {"qa": get_user_model().objects.get(username="qa")}
    pilot = EthicsApproval.objects.get(approval_number="IEC-2025-031")
    assert pilot.is_withdrawn and pilot.withdrawal_reason
    assert EthicsApproval.objects.get(approval_number="IEC-2025-017").is_valid_on(today())
    # Every demo collection received through the services cites an approval valid on its day.
    for collection in Collection.objects.exclude(ethics_approval=None).select_related("ethics_approval"):
        day = timezone.localtime(collection.collected_at).date()
        assert collection.ethics_approval.valid_from <= day <= collection.ethics_approval.valid_to
    panel = _panel_for(users["qa"], rf)
    assert panel is not None and {line.collection.ethics_approval_id for line in panel["lines"]} == {pilot.pk}
    chains = {c: list(CustodyHandover.objects.filter(collection=c).order_by("at")) for c in
              Collection.objects.filter(handovers__isnull=False).distinct()}
    assert len(chains) == 2 and all(len(legs) == 2 for legs in chains.values())
    warm = [h for legs in chains.values() for h in legs if not h.within_limits]
    assert len(warm) == 1 and warm[0].collection.tissue == "umbilical_cord"
    assert Deviation.objects.filter(collection=warm[0].collection).exists()


def test_the_scale_bank_cites_an_approval_in_force_for_every_collection(settings):
    import io

    from django.core.management import call_command
    from django.db.models import F

    settings.DEBUG = True
    call_command("load_scale", "--profile", "test", stdout=io.StringIO())
    collections = Collection.objects.all()
    assert collections.count() > 100
    assert not collections.filter(ethics_approval=None).exists()
    outside = collections.exclude(ethics_approval__valid_from__lte=F("collected_at__date"),
                                  ethics_approval__valid_to__gte=F("collected_at__date"))
    assert not outside.exists()


def test_the_valid_on_filter_leaves_out_a_withdrawn_approval(api, users):
    approval = in_force()
    services.withdraw_ethics_approval(approval, actor=users["coordinator"], reason="letter", withdrawn_on=today(-3))
    client = api(users["technician"])
    before = client.get("/api/v1/ethics-approvals/", {"valid_on": today(-4).isoformat()}).json()
    after = client.get("/api/v1/ethics-approvals/", {"valid_on": today(-3).isoformat()}).json()
    assert [a["id"] for a in before["results"]] == [approval.pk] and after["results"] == []

"""manage.py load_scale (issue 13): the set-based scale loader leaves a bank the app itself accepts.

The suite loads the ``test`` profile (every kind of row the national profile has, a few hundred units, in
seconds); ``ci`` and ``national`` are the same code with bigger sizes.
"""

from __future__ import annotations

import fnmatch
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, Q

from bank.models import Sequence
from bank.scale import PROFILES, SCALE_PREFIX, marker_key

pytestmark = pytest.mark.django_db


def load(profile: str = "test") -> str:
    out = io.StringIO()
    call_command("load_scale", "--profile", profile, stdout=out)
    return out.getvalue()


@pytest.fixture
def loaded(settings):
    settings.DEBUG = True
    return load()


def test_refused_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        load()
    assert not Sequence.objects.filter(key=marker_key(PROFILES["test"])).exists()


def test_refused_without_postgresql(settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="PostgreSQL"):
        load()


def test_profiles_keep_their_proportions():
    national, ci = PROFILES["national"], PROFILES["ci"]
    assert national.units == 1_000_000 and national.lines == 4_000 and national.requests == 50_000
    assert national.storage_units == 300
    assert national.lines * (national.mcb_vials + national.wcbs * national.wcb_vials) == 2_800_000
    assert (ci.units, ci.lines, ci.requests) == (national.units // 100, national.lines // 100, national.requests // 100)


def test_loaded_bank_keeps_the_apps_invariants(loaded, users, api):
    from cordblood.models import CordBloodUnit, FamilyContract
    from distribution.models import Allocation, DistributionRequest, Shipment
    from donors.models import Donor, DonorIdentity, HLATyping
    from lots.models import CellLine, Lot, Vial
    from qc.models import LotDecision
    from storage.models import Box, StorageUnit

    profile = PROFILES["test"]
    assert "Loaded the test profile in" in loaded and "storage.scale:layout" in loaded
    units = CordBloodUnit.objects.filter(lot__isnull=False)
    assert units.count() == profile.units
    assert not DonorIdentity.objects.exists()  # scale donors are pseudonymous only
    assert Donor.objects.count() == 2 * profile.units + profile.lines
    # Every lot released by QA, every cord blood unit a released lot with one bag, public units listed.
    assert Lot.objects.count() == profile.units + profile.lines * (1 + profile.wcbs)
    assert not Lot.objects.exclude(status="released").exists()
    assert LotDecision.objects.filter(decision="release").count() == Lot.objects.count()
    assert not units.exclude(lot__status="released").exists()
    assert not units.filter(ownership="public").exclude(listing_status="available").exists()
    assert not units.filter(ownership="family").exclude(listing_status="not_listed").exists()
    assert FamilyContract.objects.count() == units.filter(ownership="family").count()
    assert Vial.objects.filter(kind="bag").count() == profile.units
    # Every vial placed but those shipped; reserved ones stay in their box for a request that has not shipped.
    assert not Vial.objects.filter(box__isnull=True).exclude(status="shipped").exists()
    assert not Vial.objects.filter(status="shipped", box__isnull=False).exists()
    assert StorageUnit.objects.filter(name__startswith=SCALE_PREFIX).count() == profile.storage_units
    live = Allocation.objects.filter(released_at__isnull=True)
    assert set(Vial.objects.filter(status__in=["reserved", "shipped"]).values_list("pk", flat=True)) == set(
        live.values_list("vial_id", flat=True))
    assert not live.filter(request__status="approved").exclude(vial__status="reserved").exists()
    assert not live.filter(request__status__in=["shipped", "received"]).exclude(vial__status="shipped").exists()
    requests = DistributionRequest.objects.annotate(n=Count("allocations"))
    assert requests.count() == profile.requests and not [r for r in requests if r.n != r.vials]
    assert Shipment.objects.count() == requests.exclude(status="approved").count()
    # Box counters (kept by storage's triggers) agree with the vials in the boxes.
    wrong = Box.objects.annotate(n=Count("vials")).exclude(occupied=models_f("n"))
    assert not wrong.exists()
    assert Box.objects.filter(occupied__gt=0).exists()
    # The lines' stock counters (recounted after a load with the triggers off) agree with the vials.
    from lots import stock

    assert stock.drift(connection) == []
    assert "foreign keys checked" in loaded and "lots.stock:recount" in loaded

    # The app reads them: a unit lot's detail, a vial's scan, the catalog, the release readiness and signatures.
    from bank.signatures import check
    from distribution.queries import catalog_lines
    from lots.queries import vial_by_barcode
    from qc.queries import readiness_for

    unit_lot = units.order_by("pk").first().lot
    response = api(users["qa"]).get(f"/api/v1/lots/{unit_lot.pk}/")
    assert response.status_code == 200, response.content[:300]
    assert response.data["lot_number"] == unit_lot.lot_number
    assert response.data["qc_summary"]["complete"] is True
    vial = Vial.objects.filter(status="available", kind="vial").order_by("-pk").first()
    found = vial_by_barcode(vial.barcode.lower())
    assert found is not None and found.box_id == vial.box_id
    from django.test import Client

    page = Client()
    page.force_login(users["technician"])
    assert page.get("/scan/", {"code": vial.barcode}).status_code == 302
    line_names = {row.cell_line.name for row in catalog_lines().select_related("cell_line")}
    scale_lines = CellLine.objects.filter(lots__tier="MCB").distinct()
    assert scale_lines.count() == profile.lines
    assert {line.name for line in scale_lines} <= line_names
    sample = list(Lot.objects.select_related("cell_line").filter(Q(tier="unit") | Q(tier="WCB")).order_by("pk")[:5])
    sample += list(Lot.objects.select_related("cell_line").filter(tier="MCB").order_by("-pk")[:3])
    for lot, readiness in readiness_for(sample).items():
        assert readiness.blockers() == [], (lot, [b.code for b in readiness.blockers()])
    from bank.models import Signature

    for decision in LotDecision.objects.filter(lot__in=sample):
        signature = Signature.objects.get(content_type__model="lotdecision", object_id=decision.pk)
        result = check(signature, decision)
        assert result.content_matches and result.manifest_matches, result.differences

    # HLA: 2-field, from the synthetic table, some donors homozygous at A, B and DRB1.
    typing = HLATyping.objects.order_by("pk").first()
    assert typing.a_1.startswith("A*") and typing.resolution == "2-field" and typing.a_1.count(":") == 1
    homozygous = HLATyping.objects.filter(a_1=models_f("a_2"), b_1=models_f("b_2"), drb1_1=models_f("drb1_2"))
    assert homozygous.exists()

    # The audit trail: history rows written for the main records, and the chain verifies.
    assert Lot.history.filter(history_type="+").count() == Lot.objects.count()
    assert CordBloodUnit.history.count() == profile.units
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "clean" in out.getvalue()

    # The app's next numbers follow the load's.
    from bank.barcodes import issue
    from bank.sequences import take_one

    code = issue("vial")[0]
    assert not Vial.objects.filter(barcode=code).exists()
    box_code = issue("box")[0]
    assert not Box.objects.filter(barcode=box_code).exists()
    year = units.order_by("-pk").first().donation.collection.collected_at.year
    number = take_one(f"collection:{year}")
    from donors.models import Collection

    assert not Collection.objects.filter(code=f"COL-{year}-{number:04d}").exists()

    # A second run finds the profile loaded and does nothing.
    counts = (Vial.objects.count(), Lot.history.count(), Donor.objects.count())
    assert "already loaded" in load()
    assert (Vial.objects.count(), Lot.history.count(), Donor.objects.count()) == counts

    hot_paths_run_the_same_queries_whatever_the_size(users)


def models_f(name: str):
    from django.db.models import F

    return F(name)


def test_every_trigger_is_stood_in_for_by_the_load():
    """A superuser's load runs with the triggers off; every trigger must be one the load knows how to make up
    for (a counter recounted, history's links written set-wise, a guard against updates). A new trigger fails
    here until load_scale says what stands in for it."""
    from bank.management.commands.load_scale import GUARD_TRIGGERS, HISTORY_TRIGGER_SUFFIXES, RECOUNTS

    known = {name for names in RECOUNTS.values() for name in names} | set(GUARD_TRIGGERS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal")
        triggers = cursor.fetchall()
    assert triggers

    def stood_in(table: str, name: str) -> bool:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in known):
            return True
        history = "_historical" in table or table == "bank_auditcheckpoint"
        return history and name.endswith(HISTORY_TRIGGER_SUFFIXES)

    unknown = [(table, name) for table, name in triggers if not stood_in(table, name)]
    assert unknown == []
    for recount in RECOUNTS:  # each stand-in exists
        module, _sep, function = recount.partition(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_a_dangling_reference_rolls_the_load_back(settings, monkeypatch):
    """The foreign keys the triggers no longer check are checked after the steps: one that points nowhere
    stops the load and nothing of it stays. (Two steps only: the storage layout, then a box on no rack.)"""
    from bank.management.commands import load_scale
    from storage.models import Box, StorageUnit

    settings.DEBUG = True
    monkeypatch.setattr(load_scale, "STEPS", ["storage.scale:layout", "tests.bank.test_load_scale:_dangling_box"])
    with pytest.raises(ValueError, match="storage_box"):
        load()
    assert not StorageUnit.objects.filter(name__startswith=SCALE_PREFIX).exists()
    assert not Box.objects.exists()
    assert not Sequence.objects.filter(key=marker_key(PROFILES["test"])).exists()


def _dangling_box(ctx) -> None:
    ctx.execute("INSERT INTO storage_box (rack_id, name, barcode, rows, cols, position, occupied, created_at) "
                "SELECT max(id) + 1000, 'nowhere', 'SBX-NOWHERE', 9, 9, 1, 0, now() FROM storage_rack")


# The hot paths of bench/http.py on the loaded bank: their query counts do not depend on how many rows the bank
# holds (the same code answers the ci and national profiles; the counts here are what it runs there too).
HOT_PATHS = [
    # (role, url template)
    ("qa", "/api/v1/vials/?barcode={barcode}"),
    ("qa", "/api/v1/storage/boxes/{box}/map/"),
    ("qa", "/api/v1/lots/{wcb}/"),
    ("qa", "/api/v1/trace/vials/{barcode}/"),
    ("qa", "/api/v1/trace/lots/{wcb}/"),
    ("researcher", "/api/v1/catalog/"),
    ("researcher", "/api/v1/catalog/?hla={allele}"),
    ("qa", "/"),
    ("qa", "/lots/{wcb}/"),
    ("qa", "/donors/"),
    ("qa", "/lots/"),
    ("qa", "/storage/"),
    ("qa", "/cordblood/"),
    ("qa", "/cordblood/sites/"),
    ("qa", "/distribution/requests/"),
    ("researcher", "/distribution/catalog/"),
]


def hot_paths_run_the_same_queries_whatever_the_size(users):
    """Each hot path on the loaded test profile, then again after the bank grew (a second line's lots and vials
    seen by the same pages): the number of queries of a steady read (after two warming reads) is the same. (Run at
    the end of the loaded-bank test: one load.)"""
    from django.db import connection as conn
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()

    from lots.models import Lot, Vial

    wcb = Lot.objects.filter(tier="WCB").order_by("pk").first()
    vial = Vial.objects.filter(lot=wcb, status="available").order_by("pk").first()
    typing = wcb.cell_line.donor.hla
    targets = {"barcode": vial.barcode, "box": vial.box_id, "wcb": wcb.pk, "allele": typing.a_1}

    def counts() -> dict[str, int]:
        found = {}
        for role, template in HOT_PATHS:
            url = template.format(**targets)
            client.force_login(users[role])
            for _warm in range(2):  # kept catalog entries (distribution/catalog_cache.py) are made on the first reads
                client.get(url)
            with CaptureQueriesContext(conn) as ctx:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            found[url] = len(ctx)
        return found

    from tests.distribution.factories import add_lot

    # The QA dashboard's drift search reads the lines of the banks frozen in the last year (3 queries), none when
    # there are none (the loaded profile's are older): a bank frozen today first, so both counts see some.
    add_lot(wcb.cell_line, vials=2)
    before = counts()
    # The bank grows (a second load is refused: idempotent): more released lots and vials on the same lines.
    grown_from = Vial.objects.count()

    for lot in Lot.objects.filter(tier="WCB").order_by("pk")[:3]:
        add_lot(lot.cell_line, vials=40)
    assert Vial.objects.count() > grown_from
    assert counts() == before

"""``consent_scope_q`` (SQL) and ``consent_scopes`` (Python) are one rule in two forms: they must agree."""

import datetime

import pytest
from django.utils import timezone

from donors.models import Donor
from donors.queries import consent_scope_q, consent_scopes
from tests.factories import ConsentFactory, DonorFactory

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def _cases():
    today = timezone.localdate()
    cases = {}
    cases["none on file"] = DonorFactory()
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["research", "data_sharing"])
    cases["one naming it"] = d
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["research"])
    cases["one not naming it"] = d
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["research", "data_sharing"], signed_on=today - 10 * DAY)
    ConsentFactory(donor=d, scopes=["research"], signed_on=today - DAY)
    cases["re-consent without it"] = d
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["research"], signed_on=today - 10 * DAY)
    ConsentFactory(donor=d, scopes=["data_sharing"], signed_on=today - DAY)
    cases["re-consent adding it"] = d
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["research", "data_sharing"], signed_on=today - 10 * DAY)
    ConsentFactory(donor=d, scopes=["research"], signed_on=today - DAY, withdrawn_at=timezone.now())
    cases["newest withdrawn, older names it"] = d
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["data_sharing"], signed_on=today - DAY)
    ConsentFactory(donor=d, scopes=["research"], signed_on=today - DAY)
    cases["same day: the later record wins"] = d
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["research"], signed_on=today - DAY)
    ConsentFactory(donor=d, scopes=["data_sharing"], signed_on=today - DAY)
    cases["same day: the later record names it"] = d
    d = DonorFactory(consent_withdrawn_at=timezone.now())
    ConsentFactory(donor=d, scopes=["data_sharing"])
    cases["donor withdrew"] = d
    d = DonorFactory()
    ConsentFactory(donor=d, scopes=["data_sharing_extended"])
    cases["a longer code is not the code"] = d
    return cases


def test_sql_and_python_forms_agree():
    cases = _cases()
    ids = {d.pk for d in cases.values()}
    in_sql = set(Donor.objects.filter(pk__in=ids).filter(consent_scope_q("data_sharing")).values_list("pk", flat=True))
    expected = {"one naming it", "re-consent adding it", "newest withdrawn, older names it",
                "same day: the later record names it"}
    for label, donor in cases.items():
        donor = Donor.objects.prefetch_related("consents").get(pk=donor.pk)
        in_python = "data_sharing" in consent_scopes(donor)
        assert (donor.pk in in_sql) == in_python, label
        assert in_python == (label in expected), label

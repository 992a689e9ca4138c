"""The HLA lookup keys (donors.HLAKey, donors.hla_index): kept by every saved typing, and the set-based fill of
bulk loads writes exactly what the Python writes."""

from __future__ import annotations

import pytest
from django.db import connection

from donors import hla_index
from donors.models import HLAKey
from donors.services import set_hla
from tests.factories import DonorFactory, HLATypingFactory
from tests.haplobank import helpers

pytestmark = pytest.mark.django_db

TYPINGS = [
    "A*24:02~B*52:01~DRB1*15:02",  # homozygous at 2 fields
    {"A": ["A*24:02", "A*24:03"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*15:01"]},  # by groups
    {"A": ["A*24", "A*24"], "B": ["B*52", "B*52"], "DRB1": ["DRB1*15", "DRB1*15"]},  # typed at 1 field
    {"A": ["A*24:02", "A*24"], "B": ["B*52:01", "B*52:01"], "DRB1": ["DRB1*15:02", "DRB1*15:02"]},  # mixed
    {"A": ["A*11:01", "A*02:01"], "C": ["C*07:02", "C*01:02"]},  # heterozygous, alleles out of order
    {"A": ["A*02:10", "A*02:01"], "DQB1": ["DQB1*03", "DQB1*03:01"]},
]


def test_the_keys_of_a_typing():
    typing = HLATypingFactory.build(**helpers.typing_fields(TYPINGS[1]))
    keys = hla_index.keys_for(typing)
    assert keys["a_key"] == "A*24:02/A*24:03" and keys["a_group"] == "A*24/A*24"
    assert keys["c_key"] == "C*01:02/C*07:02" and keys["c_group"] == "C*01/C*07"
    assert keys["haplotype"] == "" and keys["haplotype_group"] == "A*24~B*52~DRB1*15"
    homozygous = hla_index.keys_for(HLATypingFactory.build(**helpers.typing_fields(TYPINGS[0])))
    assert homozygous["haplotype"] == "A*24:02~B*52:01~DRB1*15:02"
    one_field = hla_index.keys_for(HLATypingFactory.build(**helpers.typing_fields(TYPINGS[2])))
    assert one_field["haplotype"] == "" and one_field["haplotype_group"] == "A*24~B*52~DRB1*15"


def test_set_hla_keeps_the_keys(users):
    donor = DonorFactory()
    set_hla(donor, actor=users["coordinator"], alleles=helpers.typing("A*24:02~B*52:01~DRB1*15:02"))
    assert HLAKey.objects.get(donor=donor).haplotype == "A*24:02~B*52:01~DRB1*15:02"
    set_hla(donor, actor=users["coordinator"], alleles=helpers.typing({"A": ["A*24:02", "A*02:01"]}),
            reason="corrected")
    key = HLAKey.objects.get(donor=donor)
    assert key.haplotype == "" and key.a_key == "A*02:01/A*24:02"


def test_the_set_based_fill_writes_what_the_python_writes():
    typings = [HLATypingFactory(**helpers.typing_fields(hla)) for hla in TYPINGS]
    expected = {t.donor_id: hla_index.keys_for(t) for t in typings}
    HLAKey.objects.all().delete()  # as after a bulk load in SQL: typings without keys
    with connection.cursor() as cursor:
        assert hla_index.fill_hla_keys(cursor) == len(TYPINGS)
        assert hla_index.fill_hla_keys(cursor) == 0  # a second run leaves them as they are
    fields = list(expected[typings[0].donor_id])
    filled = {row["donor_id"]: {f: row[f] for f in fields} for row in HLAKey.objects.values("donor_id", *fields)}
    assert filled == expected


def test_the_fill_reads_typings_whatever_the_collation():
    """``COLLATE "C"``: a pair is ordered by code point in SQL as in Python (``A*02`` before ``A*02:01``)."""
    typing = HLATypingFactory(**helpers.typing_fields({"A": ["A*02:01", "A*02"], "B": ["B*07:02", "B*07"]}))
    HLAKey.objects.all().delete()
    with connection.cursor() as cursor:
        hla_index.fill_hla_keys(cursor)
    key = HLAKey.objects.get(donor_id=typing.donor_id)
    assert (key.a_key, key.b_key) == ("A*02/A*02:01", "B*07/B*07:02") == (
        hla_index.genotype_key("A*02:01", "A*02"), hla_index.genotype_key("B*07:02", "B*07"))

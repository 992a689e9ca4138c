"""The MTA: a new version goes into force; requests keep the version their researcher accepted."""

import io

import pytest
from django.core.management import CommandError, call_command

from distribution.models import MaterialTransferAgreement
from tests.distribution.factories import stocked_line, submit

pytestmark = pytest.mark.django_db


def test_publishing_a_new_version(tmp_path, users):
    line, _lot = stocked_line()
    before = submit(users["researcher"], line)
    text = tmp_path / "mta.txt"
    text.write_text("1. New terms.\n2. 新条款。", encoding="utf-8")
    out = io.StringIO()
    call_command("publish_mta", "MTA-2027-1", "--title", "MTA 2027", "--file", str(text), stdout=out)
    assert "MTA-2027-1 is in force" in out.getvalue()
    assert list(MaterialTransferAgreement.objects.filter(active=True).values_list("version", flat=True)) == [
        "MTA-2027-1"]
    after = submit(users["researcher"], line)
    before.refresh_from_db()
    assert before.mta.version == "MTA-2026-1" and after.mta.version == "MTA-2027-1"
    with pytest.raises(CommandError, match="exists already"):
        call_command("publish_mta", "MTA-2027-1", "--file", str(text), stdout=io.StringIO())
    # a researcher who read the old text must read the new one again
    with pytest.raises(Exception) as refused:
        submit(users["researcher"], line, mta_version="MTA-2026-1")
    assert "mta_accepted" in refused.value.message_dict

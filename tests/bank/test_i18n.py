"""The Simplified Chinese catalog is complete: every marked string is translated and compiled."""

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

from bank import pofile

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
APPS = ["bank", "donors", "lots", "storage", "qc", "distribution", "cordblood", "transplant", "haplobank", "quality",
        "imports", "labels"]
SOURCES = [*APPS, "templates", "locale", "manage.py"]


def test_every_project_app_is_checked():
    """An app left out of ``APPS`` would have its strings escape the coverage check below (and would not be
    importable from the copy it runs in)."""
    from django.apps import apps

    project = {c.name for c in apps.get_app_configs() if Path(c.path).resolve().parent == ROOT}
    assert project == set(APPS)


def test_catalog_has_no_untranslated_or_fuzzy_entries():
    missing = [e.msgid for e in pofile.untranslated(pofile.load(PO))]
    assert missing == [], "run `python manage.py po missing` and translate these"


def test_catalog_covers_every_marked_string(tmp_path):
    """makemessages over a copy of the sources finds no string the committed catalog lacks."""
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    out = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    regenerated = pofile.load(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    committed = {e.key for e in pofile.load(PO) if e.msgid}
    new = sorted(e.msgid for e in regenerated if e.msgid and e.key not in committed)
    assert new == [], "run `make messages` and translate the new strings"
    missing = [e.msgid for e in pofile.untranslated(regenerated)]
    assert missing == []


def test_compiled_catalog_matches_the_po_file():
    catalog = gettext.GNUTranslations(MO.open("rb"))
    stale = []
    for entry in pofile.load(PO):
        if not entry.msgid or entry.msgid_plural is not None:
            continue
        msgid = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if catalog.gettext(msgid) != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert stale == [], "run `make messages` to recompile django.mo"


def test_seeded_vocabulary_is_shown_translated_and_own_names_pass_through():
    from django.template import Context, Template
    from django.utils import translation

    template = Template("{% load bank_tags %}{{ a|data }}|{{ b|data }}|{{ c|data }}")
    with translation.override("zh-hans"):
        html = template.render(Context({"a": "Post-thaw viability", "b": "negative", "c": "In-house potency assay"}))
    assert html == "复苏后活率|阴性|In-house potency assay"

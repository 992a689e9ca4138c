"""manage.py po missing|apply FILE — list untranslated Simplified Chinese strings, or fill them in.

FILE is a JSON object {msgid: translation} or another .po file whose translations are harvested.

``missing`` prints a JSON object {msgid: ""} of every untranslated or fuzzy entry (plural entries
as {msgid: ["", ""]}); translate the values and ``apply`` the file. Then ``make messages`` compiles.
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bank import pofile


def catalog_path(language: str = "zh_Hans") -> Path:
    return Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES" / "django.po"


class Command(BaseCommand):
    help = "List or fill untranslated catalog entries."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["missing", "apply"])
        parser.add_argument("file", nargs="?")

    def handle(self, *args, action, file=None, **options):
        path = catalog_path()
        entries = pofile.load(path)
        if action == "missing":
            todo = {}
            for entry in pofile.untranslated(entries):
                todo[entry.msgid] = ["", ""] if entry.msgid_plural is not None else ""
            self.stdout.write(json.dumps(todo, ensure_ascii=False, indent=1))
            return
        if not file:
            raise CommandError("apply needs a JSON file")
        if file.endswith(".po"):  # harvest another catalog (e.g. a branch's) for a merge
            translations = {e.msgid: [e.msgstr[i] for i in sorted(e.msgstr)] if e.msgid_plural is not None
                            else e.msgstr.get(0, "") for e in pofile.load(Path(file)) if e.msgid and e.translated}
        else:
            translations = json.loads(Path(file).read_text(encoding="utf-8"))
        filled = 0
        for entry in entries:
            value = translations.get(entry.msgid)
            if not entry.msgid or value in (None, "", ["", ""]):
                continue
            if entry.msgid_plural is not None:
                values = value if isinstance(value, list) else [value]
                entry.msgstr = {i: v for i, v in enumerate(values[:1] or values)}
            else:
                entry.msgstr = {0: value if isinstance(value, str) else value[0]}
            entry.flags.discard("fuzzy")
            filled += 1
        path.write_text(pofile.render(entries), encoding="utf-8")
        left = len(pofile.untranslated(entries))
        self.stdout.write(f"filled {filled}; {left} still untranslated")

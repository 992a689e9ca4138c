"""manage.py publish_mta VERSION --title T --file agreement.txt — put a new MTA text in force."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from distribution.services import publish_mta


class Command(BaseCommand):
    help = "Publish a new version of the material transfer agreement researchers accept with each request."

    def add_arguments(self, parser):
        parser.add_argument("version", help="e.g. MTA-2027-1")
        parser.add_argument("--title", default="")
        parser.add_argument("--file", required=True, help="a UTF-8 text file with the agreement")

    def handle(self, *args, version, title, file, **options):
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}")
        try:
            mta = publish_mta(actor=None, version=version, title=title, text=text)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages))
        self.stdout.write(self.style.SUCCESS(f"{mta.version} is in force from {mta.effective_from}."))

"""``manage.py assign_dins``: give clinical-grade lots frozen before issue 15 their ISBT 128 DIN."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from lots import services


class Command(BaseCommand):
    help = ("Give every clinical-grade lot without a DIN the next ISBT 128 DIN of its freeze year "
            "(ISBT_FACILITY_CODE), oldest first; recorded in each lot's history under the user given.")

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the username the history records (e.g. a QA officer)")
        parser.add_argument("--limit", type=int, default=None, help="at most this many lots in this run")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        lots = services.assign_missing_dins(actor=user, reason="DIN assigned (manage.py assign_dins)",
                                            limit=options["limit"])
        for lot in lots:
            self.stdout.write(f"{lot.lot_number}: {lot.din}")
        self.stdout.write(self.style.SUCCESS(f"{len(lots)} lot(s) given a DIN."))

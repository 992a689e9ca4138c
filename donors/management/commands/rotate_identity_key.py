"""manage.py rotate_identity_key [--new-key] — make a master key, or re-wrap every donor's data key under it.

Rotation, step by step (README, "Privacy"):
1. ``manage.py rotate_identity_key --new-key`` prints a new key.
2. Set it as DONOR_IDENTITY_KEY and move the former key to DONOR_IDENTITY_RETIRED_KEYS; restart.
3. ``manage.py rotate_identity_key`` re-wraps every data key (and re-indexes national IDs) under the new key.
4. Drop the former key from DONOR_IDENTITY_RETIRED_KEYS.
"""

from django.core.management.base import BaseCommand, CommandError

from bank.management.commands.add_user import operator
from donors import crypto
from donors.services.keys import rotate_identity_keys


class Command(BaseCommand):
    help = "Re-wrap every donor's data key under DONOR_IDENTITY_KEY (or, with --new-key, print a new key)."

    def add_arguments(self, parser):
        parser.add_argument("--new-key", action="store_true", help="print a new random master key and stop")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, new_key: bool, batch_size: int, **options):
        if new_key:
            self.stdout.write(crypto.generate_key())
            return
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            done = rotate_identity_keys(reason=f"by {operator()}", batch_size=batch_size)
        except crypto.IdentityKeyUnavailable as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"{done.rewrapped} data keys re-wrapped and {done.reindexed} national IDs re-indexed under "
                          f"identity key {done.key_id}. Former keys may now leave DONOR_IDENTITY_RETIRED_KEYS.")

"""``manage.py audit_checkpoint``: seal the audit chain and store a keyed checkpoint of its head."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from bank import audit_chain


class Command(BaseCommand):
    help = "Seal the audit chain and store a checkpoint of its head keyed with AUDIT_CHAIN_KEY (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--verify", action="store_true",
                            help="first verify since the last good checkpoint, and tell admins and QA when broken "
                                 "(what the daily beat task does)")

    def handle(self, *args, **options):
        if not audit_chain.chain_supported():
            raise CommandError("This database has no audit chain (it needs PostgreSQL): no checkpoint.", returncode=2)
        if options["verify"]:
            summary = audit_chain.daily_checkpoint()
            self.stdout.write(f"Verified since the last checkpoint: {'clean' if summary['clean'] else 'BROKEN'} "
                              f"({summary['problem_count']} problem(s)).")
            made = (audit_chain.AuditCheckpoint.objects.get(pk=summary["checkpoint"])
                    if summary["checkpoint"] else None)
        else:
            made = audit_chain.checkpoint()
        if made is None:
            self.stdout.write("Nothing is sealed yet: no checkpoint.")
            return
        self.stdout.write(self.style.SUCCESS(
            f"Checkpoint #{made.pk} at {made.at.isoformat()}: link {made.last_link_id}, chain {made.chain_hash} "
            f"(key {made.key_id})."))

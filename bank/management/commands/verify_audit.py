"""``manage.py verify_audit``: recompute the audit chain and name the first broken link.

Exit status 0 when the chain verifies, 1 when something is broken, 2 when this database has no chain (SQLite:
the chain needs PostgreSQL's triggers — never reported as clean).
"""

from __future__ import annotations

import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from bank import audit_chain


class Command(BaseCommand):
    help = ("Verify the tamper-evident audit chain: every history row's hash, the chain, and the keyed checkpoints. "
            "Exit status 0 clean, 1 broken, 2 no chain (SQLite).")

    def add_arguments(self, parser):
        parser.add_argument("--since-checkpoint", action="store_true",
                            help="verify only what follows the newest checkpoint whose keyed hash verifies")
        parser.add_argument("--since", metavar="YYYY-MM-DD",
                            help="verify from the newest good checkpoint made on or before this date")
        parser.add_argument("--batch-size", type=int, default=None, help="links read per batch")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--no-seal", action="store_true", help="do not seal pending links first")

    def handle(self, *args, **options):
        since = None
        if options["since"]:
            try:
                since = datetime.date.fromisoformat(options["since"])
            except ValueError:
                raise CommandError(f"--since {options['since']!r} is not a date (YYYY-MM-DD).")
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if not audit_chain.chain_supported():
            message = ("This database has no audit chain: the chain needs PostgreSQL (its triggers link every history "
                       "row). Nothing was verified.")
            if options["json"]:
                self.stdout.write(json.dumps({"supported": False, "clean": False, "detail": message}))
            raise CommandError(message, returncode=2)
        if not options["no_seal"]:
            audit_chain.seal()
        verbosity = options["verbosity"]

        def progress(done: int, head: int) -> None:
            if verbosity >= 2:
                self.stderr.write(f"  {done} links checked (head {head})")

        result = audit_chain.verify(since_checkpoint=options["since_checkpoint"], since=since,
                                    batch_size=options["batch_size"], progress=progress)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, default=str, indent=2))
        else:
            self.stdout.write(
                f"Audit chain ({result.mode}): links {result.from_link_id + 1}..{result.head_link_id}, "
                f"{result.links_checked} links and {result.rows_checked} rows checked, "
                f"{result.checkpoints_checked} checkpoints, {result.unsealed} links not sealed yet, "
                f"{result.seconds:.1f} s.")
            for problem in result.problems:
                self.stdout.write(
                    f"  {problem.kind}: {problem.table or '-'} history_id={problem.history_id or '-'} "
                    f"link={problem.link_id or '-'} record={problem.object_type or '-'} {problem.object_id or ''} "
                    f"at={problem.at.isoformat() if problem.at else '-'} — {problem.detail}")
            if result.problem_count > len(result.problems):
                self.stdout.write(f"  ... and {result.problem_count - len(result.problems)} more")
        if not result.clean:
            first = result.first
            raise CommandError(
                f"The audit chain is broken ({result.problem_count} problem(s)). First: {first.kind} in "
                f"{first.table or 'the checkpoints'} history_id={first.history_id} link={first.link_id} "
                f"record={first.object_type} {first.object_id} — {first.detail}", returncode=1)
        self.stdout.write(self.style.SUCCESS("The audit chain verifies: clean."))

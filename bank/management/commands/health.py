"""manage.py health — readiness from the command line (container health checks, monitoring scripts).

Prints the checks (as GET /healthz/ready shows them to an admin) and exits 1 when one fails:
`manage.py health --check beat` is beat's container health check (beat writes its own heartbeat).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from bank import health


class Command(BaseCommand):
    help = "Check the database, the worker's and beat's heartbeats and the outbox; exit 1 when one fails."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="append", choices=["database", *health.PROCESSES, "outbox"],
                            help="only these checks (repeatable); default: all")

    def handle(self, *args, check, **options):
        state = health.readiness()
        body = state.as_dict(details=True)
        if check:
            body["checks"] = {name: value for name, value in body["checks"].items() if name in check}
            body["status"] = "ok" if all(value["ok"] for value in body["checks"].values()) else "unavailable"
        self.stdout.write(json.dumps(body, indent=2, sort_keys=True))
        if body["status"] != "ok":
            raise CommandError("not ready: " + ", ".join(n for n, v in body["checks"].items() if not v["ok"]))

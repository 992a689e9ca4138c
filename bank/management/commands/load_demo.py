"""manage.py load_demo — fill an empty database with a living demo bank (idempotent)."""

import importlib

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from bank.audit import acting

# Each app contributes one step, in lifecycle order; a step gets the shared context of the earlier ones.
STEPS = ["bank.demo", "labels.demo", "donors.demo", "lots.demo", "storage.demo", "qc.demo", "distribution.demo",
         "cordblood.demo", "transplant.demo", "haplobank.demo", "quality.demo",
         "imports.demo"]


class Command(BaseCommand):
    help = "Load the demo bank: users per role, donors, lines, lots in every state, full boxes, requests."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="load even if the demo users exist")

    def handle(self, *args, force=False, **options):
        if get_user_model().objects.filter(username="admin").exists() and not force:
            self.stdout.write("The demo bank is already loaded.")
            return
        ctx: dict = {"stdout": self.stdout}
        for step in STEPS:
            try:
                module = importlib.import_module(step)
            except ModuleNotFoundError as exc:
                if exc.name == step:
                    continue
                raise
            self.stdout.write(f"  demo: {step}")
            actor = ctx.get("users", {}).get("admin")
            with transaction.atomic(), acting(actor, "demo bank"):
                module.load(ctx)
        self.stdout.write(self.style.SUCCESS("Demo bank loaded."))

"""Demo bank, labels step (issue 17): the default printer profiles — cryo vial labels on A4 sheets and on a Zebra
roll, box labels, lot labels on letter sheets — so every label page of the demo has profiles to choose from."""

from __future__ import annotations

from bank.printers import seed_default_profiles


def load(ctx: dict) -> None:
    admin = ctx.get("users", {}).get("admin")
    created = seed_default_profiles(actor=admin)
    stdout = ctx.get("stdout")
    if stdout is not None:
        stdout.write(f"    {len(created)} printer profiles")

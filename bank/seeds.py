"""Reference data the bank starts from (screening panel, QC catalog and specifications, default MTA).

Data migrations load it once. A database flush (tests that run in real transactions, or
``manage.py flush``) empties those tables too; ``reseed_empty_tables`` runs after every migrate and
flush and loads a seed again only where its table is empty, so a bank's own edits are never overwritten.
"""

from __future__ import annotations

import importlib

from django.apps import apps

# (model whose emptiness means "not seeded", module of the data migration with a seed(apps, schema_editor))
SEEDS = [
    ("donors.ScreeningMarker", "donors.migrations.0002_screening_panel"),
    ("qc.QCTest", "qc.migrations.0002_catalog_v1"),
    ("distribution.MaterialTransferAgreement", "distribution.migrations.0003_default_mta"),
]


def reseed_empty_tables(sender=None, using: str = "default", **kwargs) -> None:
    for label, module in SEEDS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if not model._default_manager.using(using).exists():
            importlib.import_module(module).seed(apps, None)

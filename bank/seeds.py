"""Reference data the bank starts from (screening panel, QC catalog and specifications, default MTA).

Data migrations load it once. A database flush (tests that run in real transactions, or
``manage.py flush``) empties those tables too; ``reseed_empty_tables`` runs after every migrate and
flush and loads a seed again only where its table is empty, so a bank's own edits are never overwritten.
"""

from __future__ import annotations

import importlib

from django.apps import apps

# (model whose emptiness means "not seeded", the data migrations that seed it, in order, each with a
# seed(apps, schema_editor) that may run again). The one list: the post-flush reseed and the tests read it.
SEEDS = [
    ("donors.ScreeningMarker", ("donors.migrations.0002_screening_panel",)),
    ("qc.QCTest", ("qc.migrations.0002_catalog_v1",  # v1 of every cell type's specification
                   "qc.migrations.0005_cord_blood_catalog",  # the cord blood tests and the unit's version 2
                   "qc.migrations.0008_potency_assay")),
    ("distribution.MaterialTransferAgreement", ("distribution.migrations.0003_default_mta",)),
]


def _seed(modules) -> None:
    for module in modules:
        importlib.import_module(module).seed(apps, None)


def reseed_empty_tables(sender=None, using: str = "default", **kwargs) -> None:
    for label, modules in SEEDS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if not model._default_manager.using(using).exists():
            _seed(modules)


def reseed_all() -> None:
    """Every seed again, whatever is there (each one keeps what it finds): for tests that start from a database
    another test may have flushed."""
    for _label, modules in SEEDS:
        _seed(modules)

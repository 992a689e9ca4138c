"""Every write and state change of the qc app: specifications, results, deviations, QA decisions,
stability plans and re-checks.

Decisions are electronic signatures (21 CFR Part 11): the password is re-checked *outside* the
transaction (so a failed attempt is recorded even though nothing else is), then the decision, the
lot's status change and the signature commit together. Lot statuses move only through
``lots.services.change_lot_status``; a thawed vial leaves through ``change_vial_status`` and
``storage.services.remove_from_storage``.

One module per sub-domain; import from the package (``from qc.services import release_lot``),
which re-exports every public name:

- ``specifications.py``: versioned specifications (``publish_specification``) and the test catalog (``add_test``).
- ``results.py``: QC results and thawing a vial for testing (``record_qc_result``).
- ``deviations.py``: deviations (``open_deviation``, ``open_collection_deviation``, ``update_deviation``,
  ``close_deviation``).
- ``decisions.py``: QA's lot decisions (``release_lot``, ``reject_lot``, ``lift_hold``).
- ``stability.py``: stability plans, the daily re-check task and re-check results
  (``set_stability_plan``, ``open_due_rechecks``, ``record_recheck_result``, ``_insert_rechecks``).
- ``_common.py``: helpers every module uses (``_require_perm``, ``_require_qa_signer``, ``_lock_lot``,
  ``_decimal``, ``_today`` ...).
"""

from .decisions import DEFAULT_MIN_VIABILITY, lift_hold, reject_lot, release_lot
from .deviations import close_deviation, open_collection_deviation, open_deviation, update_deviation
from .results import record_qc_result
from .specifications import add_test, publish_specification
from .stability import MAX_INTERVAL_DAYS, _insert_rechecks, open_due_rechecks, record_recheck_result, set_stability_plan

__all__ = [
    # decisions.py
    "DEFAULT_MIN_VIABILITY",
    "lift_hold",
    "reject_lot",
    "release_lot",
    # deviations.py
    "close_deviation",
    "open_collection_deviation",
    "open_deviation",
    "update_deviation",
    # results.py
    "record_qc_result",
    # specifications.py
    "add_test",
    "publish_specification",
    # stability.py
    "MAX_INTERVAL_DAYS",
    "open_due_rechecks",
    "record_recheck_result",
    "set_stability_plan",
    "_insert_rechecks",
]

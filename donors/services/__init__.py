"""Every write and state change of the donors app.

Each function runs in ``transaction.atomic`` inside ``acting(actor, reason)`` so the audit trail
names who did it and why. Bad input raises Django's ``ValidationError`` with field keys (API 400,
form errors); a state that forbids the action raises ``bank.errors.Conflict`` with an API.md code.
Nothing is half-saved: validation runs before the first write, and every write is in one transaction.

Privacy: the donor's identity lives only in ``DonorIdentity``; no message, notification or history
reason written here names anything but the pseudonymous donor code.

One module per sub-domain; import from the package (``from donors.services import register_donor``),
which re-exports every public name:

- ``_input.py``: the small validators every module uses (``_Errors``, ``_text``, ``_require_reason``,
  ``_as_date``, ``_as_datetime``, ``_not_future_date``).
- ``registry.py``: donor registration and corrections, identity sealed under the donor's own data key, donor
  codes (``register_donor``, ``update_donor``, ``new_donor_codes``, ``normalise_national_id``, ``store_identity``).
- ``erasure.py``: erasure of a donor's identity by crypto-shredding (``erase_identity``).
- ``keys.py``: rotation of the master identity key (``rotate_identity_keys``).
- ``consent.py``: consents and their withdrawal (``record_consent``, ``withdraw_consent``, ``Withdrawal``).
- ``ethics.py``: ethics approvals (``create_ethics_approval``, ``update_ethics_approval``,
  ``withdraw_ethics_approval``).
- ``screening.py``: screening samples and results, corrections, the marker panel and sampling windows
  (``record_screening``, ``correct_result``, ``configure_marker``, ``add_marker``, ``configure_window``).
- ``hla.py``: HLA typing (``parse_allele``, ``clean_hla``, ``set_hla``).
- ``collections.py``: receiving collections under an ethics approval (``record_collection``,
  ``approval_for_collection``) and the tissue's transport limits (``transport_limits``, ``transport_problems``).
- ``custody.py``: a collection's chain of custody (``record_handover``).
- ``csv_import.py``: the all-or-nothing CSV import (``import_donors_csv``, ``ImportRejected``, ``ImportResult``).
"""

from .collections import (
    CLOCK_SKEW,
    approval_for_collection,
    ethics_required,
    open_transport_deviation,
    record_collection,
    transport_limit_hours,
    transport_limits,
    transport_problems,
)
from .consent import Withdrawal, record_consent, withdraw_consent
from .csv_import import (
    FALSE_WORDS,
    IMPORT_MAX_ROWS,
    IMPORT_OPTIONAL,
    IMPORT_REQUIRED,
    TRUE_WORDS,
    ImportRejected,
    ImportResult,
    import_columns,
    import_donors_csv,
)
from .custody import record_handover
from .erasure import erase_identity
from .ethics import create_ethics_approval, update_ethics_approval, withdraw_ethics_approval
from .hla import ALLELE_RE, clean_hla, parse_allele, set_hla
from .keys import Rotation, rotate_identity_keys
from .registry import (
    CODE_ALPHABET,
    CODE_LENGTH,
    DONOR_FIELDS,
    IDENTITY_FIELDS,
    NATIONAL_ID_RE,
    PHONE_RE,
    donor_code_prefix,
    new_donor_codes,
    normalise_national_id,
    register_donor,
    sealed_identity,
    store_identity,
    update_donor,
)
from .screening import (
    MARKER_CODE_RE,
    add_marker,
    configure_marker,
    configure_window,
    correct_result,
    default_maternal_sample,
    record_screening,
)

__all__ = [
    # collections.py
    "CLOCK_SKEW",
    "approval_for_collection",
    "ethics_required",
    "open_transport_deviation",
    "record_collection",
    "transport_limit_hours",
    "transport_limits",
    "transport_problems",
    # custody.py
    "record_handover",
    # consent.py
    "Withdrawal",
    "record_consent",
    "withdraw_consent",
    # csv_import.py
    "FALSE_WORDS",
    "IMPORT_MAX_ROWS",
    "IMPORT_OPTIONAL",
    "IMPORT_REQUIRED",
    "TRUE_WORDS",
    "ImportRejected",
    "ImportResult",
    "import_columns",
    "import_donors_csv",
    # erasure.py
    "erase_identity",
    # ethics.py
    "create_ethics_approval",
    "update_ethics_approval",
    "withdraw_ethics_approval",
    # hla.py
    "ALLELE_RE",
    "clean_hla",
    "parse_allele",
    "set_hla",
    # keys.py
    "Rotation",
    "rotate_identity_keys",
    # registry.py
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "DONOR_FIELDS",
    "IDENTITY_FIELDS",
    "NATIONAL_ID_RE",
    "PHONE_RE",
    "donor_code_prefix",
    "new_donor_codes",
    "normalise_national_id",
    "register_donor",
    "sealed_identity",
    "store_identity",
    "update_donor",
    # screening.py
    "MARKER_CODE_RE",
    "add_marker",
    "configure_marker",
    "configure_window",
    "correct_result",
    "default_maternal_sample",
    "record_screening",
]

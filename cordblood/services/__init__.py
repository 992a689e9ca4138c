"""Business rules of cord blood banking: the pages, the API and the tasks call these.

- ``sites.py``: collection sites and their collectors.
- ``donations.py``: mothers, infant donations (infant donor, consent signed by the mother, collection,
  unit with its DIN), the maternal sample, the questionnaire.
- ``processing.py``: acceptance, discard, diversion to research, the processing record, the freeze.
- ``listing.py``: the search status of public units (``set_listing``, called by the transplant app;
  ``set_listing_by_qa`` for QA's pages and API).
- ``family.py``: family storage contracts, payments, the owner's release request, donation to public.
"""

from .donations import (
    din_check_character,
    next_din,
    pregnancy_donations,
    record_maternal_screening,
    register_infant_donation,
    register_mother,
    update_questionnaire,
)
from .family import create_contract, donate_to_public, owner_requested_release, record_payment, request_release
from .listing import QA_STATUSES, end_temporary_unavailability, set_listing, set_listing_by_qa
from .processing import (
    accept_unit,
    acceptance_failures,
    discard_unit,
    divert_to_research,
    freeze_unit,
    freeze_window_hours,
    record_processing,
    unit_containers,
)
from .sites import add_collector, create_site, set_collector_active, update_site

__all__ = [
    "accept_unit", "acceptance_failures", "add_collector", "create_contract", "create_site", "din_check_character",
    "discard_unit", "divert_to_research", "donate_to_public", "end_temporary_unavailability", "freeze_unit",
    "freeze_window_hours", "next_din", "owner_requested_release", "pregnancy_donations", "record_maternal_screening",
    "record_payment", "record_processing", "register_infant_donation", "register_mother", "request_release",
    "set_collector_active", "set_listing", "set_listing_by_qa",
    "QA_STATUSES", "unit_containers", "update_questionnaire", "update_site",
]

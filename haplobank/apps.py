from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HaplobankConfig(AppConfig):
    """Haplobank sits downstream of donors, lots, qc, distribution and cordblood: it reads their queries, and none
    of them imports it. Its pages (coverage, planning, match) register their navigation here once they exist
    (``bank.registry.register_nav``); the API needs no registration."""

    name = "haplobank"
    verbose_name = _("Haplobank")

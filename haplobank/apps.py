from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HaplobankConfig(AppConfig):
    """Haplobank sits downstream of donors, lots, qc, distribution and cordblood: it reads their queries, and none
    of them imports it. Its pages (coverage, planning, match) register their navigation here once they exist
    (``bank.registry.register_nav``); the API needs no registration."""

    name = "haplobank"
    verbose_name = _("Haplobank")

    def ready(self) -> None:
        from bank.registry import register_nav
        from bank.roles import RESEARCHER
        from haplobank.queries import MANAGE_PERMISSION

        # Coverage, planning, populations and the match search sit under one entry (tabs on the pages) for those
        # who keep the tables (queries.may_manage's permission); a researcher's one page is the match search.
        register_nav("haplobank", _("Haplobank"), "haplobank:coverage", perms=(MANAGE_PERMISSION,), order=800)
        register_nav("hla-match", _("HLA match"), "haplobank:match", roles=(RESEARCHER,), order=810)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DonorsConfig(AppConfig):
    name = "donors"
    verbose_name = _("Donors")

    def ready(self) -> None:
        from django.core import checks

        from bank.registry import register_nav, register_panel, register_scanner
        from bank.roles import ADMIN, COORDINATOR, QA, TECHNICIAN
        from bank.tally import define
        from donors import checks as donor_checks
        from donors import views

        # The dashboard's figures and the list's total, kept (bank/tally.py): donors live / withdrawn, and donors
        # with a consent on file (each donor's first consent row counts; consents are never deleted, and the
        # consent service locks the donor first, so two first consents of one donor cannot race).
        define("donors.donor", "donors_donor",
               "CASE WHEN {r}.consent_withdrawn_at IS NULL THEN 'live' ELSE 'withdrawn' END")
        define("donors.consented", "donors_consent", "'donors'",
               where="NOT EXISTS (SELECT 1 FROM donors_consent c WHERE c.donor_id = {r}.donor_id AND c.id < {r}.id)")

        checks.register(donor_checks.check_identity_key)

        # The HLA lookup keys (derived data, like an index) follow every saved typing: set_hla, and any other ORM
        # write of a typing (donors.hla_index). Bulk loads in SQL call donors.hla_index.fill_hla_keys instead.
        from django.db.models.signals import post_save

        from donors import hla_index
        from donors.models import HLATyping

        post_save.connect(hla_index.on_typing_saved, sender=HLATyping, dispatch_uid="donors_hla_keys")

        # Researchers never see donors: the role list and the permission both keep them out.
        register_nav("donors", _("Donors"), "donors:list", perms=("donors.view_donor",),
                     roles=(COORDINATOR, TECHNICIAN, QA, ADMIN), order=10)
        register_scanner(views.resolve_scan, order=50)
        register_panel("donors", "donors/partials/dashboard_panel.html", views.dashboard_panel,
                       perms=("donors.view_donor",), order=10)
        # Issue 15: lines derived under an expired or withdrawn ethics approval, for QA to review.
        register_panel("donors-ethics", "donors/partials/ethics_panel.html", views.ethics_panel,
                       perms=("donors.view_ethicsapproval", "lots.view_cellline"), order=11)

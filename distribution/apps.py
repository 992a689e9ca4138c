from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DistributionConfig(AppConfig):
    name = "distribution"
    verbose_name = _("Distribution")

    def ready(self) -> None:
        from bank.registry import register_hook, register_nav, register_object_panel, register_panel, register_scanner
        from bank.roles import RESEARCHER
        from bank.tally import define
        from distribution import panels, services

        define("distribution.request_status", "distribution_distributionrequest", "{r}.status")  # the tabs' counts
        from django.db.models.signals import post_migrate

        from distribution.catalog_cache import install_catalog_triggers

        # The catalog's kept entries: their versions are bumped by triggers (distribution/catalog_cache.py).
        post_migrate.connect(install_catalog_triggers, sender=self, dispatch_uid="distribution.catalog.triggers")

        register_hook("consent_withdrawn", services.on_consent_withdrawn, order=60)
        from django.core.checks import register as register_check

        from distribution.countries import check_bank_country

        register_check(check_bank_country)  # issue 15: the export gate compares against BANK_COUNTRY
        from distribution.views import request_url_for_scan

        register_nav("catalog", _("Catalog"), "distribution:catalog", roles=(RESEARCHER,), order=600)
        register_nav("requests", _("Requests"), "distribution:requests",
                     perms=("distribution.view_distributionrequest",), order=610)
        register_nav("trace", _("Trace"), "distribution:trace", perms=("distribution.view_trace",), order=620)
        register_scanner(request_url_for_scan, order=600)
        register_panel("distribution-review", "distribution/panels/review.html", panels.review_panel,
                       perms=("distribution.review_request",), order=600)
        register_panel("distribution-pick", "distribution/panels/pick.html", panels.pick_panel,
                       perms=("distribution.ship_request",), order=610)
        register_panel("distribution-mine", "distribution/panels/mine.html", panels.my_requests_panel,
                       perms=("distribution.add_distributionrequest",), order=600)
        register_object_panel("lots.lot", "distribution", "distribution/panels/lot.html", panels.lot_panel,
                              perms=("distribution.view_trace",), order=600)
        from distribution import registry_export

        registry_export.register()  # issue 15: the line page's registry export section

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CordbloodConfig(AppConfig):
    name = "cordblood"
    verbose_name = _("Cord blood")

    def ready(self) -> None:
        from bank.registry import register_hook, register_nav, register_object_panel, register_panel, register_scanner
        from bank.tally import define

        # Kept counts (bank/tally.py) for the unit list's total and the acceptance and discard figures: a million
        # units are never counted row by row on a page.
        define("cordblood.unit", "cordblood_cordbloodunit", "{r}.ownership || ':' || {r}.listing_status")
        define("cordblood.acceptance", "cordblood_cordbloodunit", "{r}.acceptance")
        define("cordblood.discard", "cordblood_cordbloodunit", "{r}.acceptance_reason",
               where="{r}.acceptance = 'discarded'")
        define("cordblood.donation", "cordblood_infantdonation", "'all'")
        define("cordblood.site_donations", "cordblood_infantdonation", "CAST({r}.site_id AS TEXT)")
        from cordblood import panels, views
        from cordblood.services import listing, typing

        typing.register()  # a discordant verification typing blocks release (qc's release_blockers hook)
        # A recalled lot's unit leaves public search (before transplant's look-back frees its reservations).
        register_hook("lot_recalled", listing.on_lot_recalled, order=50)
        register_nav("cordblood", _("Cord blood"), "cordblood:units", perms=("cordblood.view_cordbloodunit",),
                     order=700)
        register_nav("cordblood-sites", _("Collection sites"), "cordblood:sites",
                     perms=("cordblood.add_collectionsite",), order=710)
        register_panel("cordblood-ready-to-list", "cordblood/panels/ready_to_list.html", panels.ready_to_list_panel,
                       perms=("cordblood.list_cordbloodunit",), order=720)
        register_scanner(views.unit_url_for_scan, order=15)  # a unit's DIN: the unit page, not its lot's
        register_object_panel("donors.donor", "cordblood", "cordblood/panels/donor.html", panels.donor_panel,
                              perms=("cordblood.view_infantdonation",), order=700)
        register_object_panel("lots.lot", "cordblood", "cordblood/panels/lot.html", panels.lot_panel,
                              perms=("cordblood.view_cordbloodunit",), order=700)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StorageConfig(AppConfig):
    name = "storage"
    verbose_name = _("Cryostorage")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from storage.occupancy import install_occupancy_triggers

        post_migrate.connect(install_occupancy_triggers, sender=self, dispatch_uid="storage.occupancy.triggers")

        from bank.registry import register_hook, register_nav, register_object_panel, register_panel, register_scanner
        from bank.roles import ADMIN, QA, TECHNICIAN
        from storage import panels, services

        register_hook("vials_consumed", services.remove_from_storage)

        from bank.jobs import register_job

        register_job("storage.evacuate", "storage.jobs.run_evacuation", label=_("Evacuation of a storage unit"))
        register_job("storage.excursion_snapshot", "storage.jobs.run_excursion_snapshot",
                     label=_("Vials in a unit at an excursion"))

        register_nav("storage", _("Storage"), "storage:index", roles=(TECHNICIAN, QA, ADMIN),
                     perms=("storage.view_storageunit",), order=30)
        register_scanner(panels.resolve_box_scan, order=30)
        register_panel("storage", "storage/partials/dashboard_panel.html", panels.dashboard_context,
                       perms=("storage.view_alarm",), order=30)
        register_object_panel("lots.lot", "storage", "storage/partials/lot_panel.html", panels.lot_panel_context,
                              perms=("storage.view_box",), order=30)
        register_object_panel("lots.vial", "storage", "storage/partials/vial_panel.html", panels.vial_panel_context,
                              perms=("storage.view_vialmove",), order=30)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CordbloodConfig(AppConfig):
    name = "cordblood"
    verbose_name = _("Cord blood")

    def ready(self) -> None:
        pass

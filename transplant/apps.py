from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransplantConfig(AppConfig):
    name = "transplant"
    verbose_name = _("Transplant centres")

    def ready(self) -> None:
        pass

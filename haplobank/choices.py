"""Stable stored values of the haplobank app (they appear in history and the API)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

# A population's table resolution is the donors app's: the same two values a typing is stored at.
from donors.choices import HLAResolution  # noqa: F401 - re-exported for the app's models, forms and API


class CoverageDefinition(models.TextChoices):
    """How coverage is counted (API.md "Haplobank")."""

    HAPLOTYPE = "haplotype", _("Haplotype (Hardy–Weinberg from the haplotype table)")
    GENOTYPE = "genotype", _("Genotype (the typed cohort, zero host-versus-graft mismatches)")

"""Stable stored values of the donors app (they appear in history and the API)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class DonorType(models.TextChoices):
    HEALTHY = "healthy", _("Healthy donor")
    PATIENT = "patient", _("Patient")


class ConsentScope(models.TextChoices):
    RESEARCH = "research", _("Research")
    CLINICAL = "clinical", _("Clinical use")
    COMMERCIAL = "commercial", _("Commercial use")
    GENETIC_ANALYSIS = "genetic_analysis", _("Genetic analysis")
    DATA_SHARING = "data_sharing", _("Data sharing")
    RECONTACT = "recontact", _("Recontact")


class ScreeningOutcome(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    POSITIVE = "positive", _("Positive")
    INDETERMINATE = "indeterminate", _("Indeterminate")


class Eligibility(models.TextChoices):
    ELIGIBLE = "eligible", _("Eligible")
    INELIGIBLE = "ineligible", _("Ineligible")
    INCOMPLETE = "incomplete", _("Incomplete")


class ConsentState(models.TextChoices):
    NONE = "none", _("No consent")
    ACTIVE = "active", _("Active")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Tissue(models.TextChoices):
    UMBILICAL_CORD = "umbilical_cord", _("Umbilical cord")
    CORD_BLOOD = "cord_blood", _("Cord blood")
    PLACENTA = "placenta", _("Placenta")
    ADIPOSE = "adipose", _("Adipose tissue")
    BONE_MARROW = "bone_marrow", _("Bone marrow")
    DENTAL_PULP = "dental_pulp", _("Dental pulp")
    SKIN = "skin", _("Skin biopsy")
    PERIPHERAL_BLOOD = "peripheral_blood", _("Peripheral blood")
    EMBRYO = "embryo", _("Embryo")
    OTHER = "other", _("Other")
    # Issue 15: every bank type of the seed review's Table 1.
    AMNION = "amnion", _("Amnion")
    ENDOMETRIUM = "endometrium", _("Endometrium")
    MENSTRUAL_BLOOD = "menstrual_blood", _("Menstrual blood")
    NEURAL_TISSUE = "neural_tissue", _("Neural tissue")
    MUSCLE = "muscle", _("Muscle")


# Birth-mother samples are screened for these tissues (QC_SPECS.md).
MATERNAL_TISSUES = (Tissue.CORD_BLOOD, Tissue.UMBILICAL_CORD, Tissue.PLACENTA, Tissue.AMNION)


class HLAMethod(models.TextChoices):
    SSO = "sso", _("PCR-SSO")
    SSP = "ssp", _("PCR-SSP")
    SBT = "sbt", _("Sanger sequencing (SBT)")
    NGS = "ngs", _("Next-generation sequencing")
    OTHER = "other", _("Other")


class HLAResolution(models.TextChoices):
    ONE_FIELD = "1-field", _("1-field (allele group)")
    TWO_FIELD = "2-field", _("2-field (protein)")


HLA_LOCI = ("A", "B", "C", "DRB1", "DQB1")
# Typed when the laboratory reports it (issue 12: cord blood units are listed with DPB1); never required.
OPTIONAL_HLA_LOCI = ("DPB1",)
ALL_HLA_LOCI = HLA_LOCI + OPTIONAL_HLA_LOCI

"""Population HLA tables: a population, its A~B~DRB1 haplotype frequencies and its typed cohort.

A table is uploaded whole and replaces the one in force: each upload writes its rows under the next version
number and moves the population's pointer (``haplotype_version`` / ``genotype_version``) in the same transaction,
so readers see the old table or the new one, never a mixture, and every table ever used stays on file (a coverage
figure printed last year can be traced to the frequencies it came from). Rows are never changed or deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bank.audit import audit_history
from haplobank.choices import HLAResolution

User = settings.AUTH_USER_MODEL


class Population(models.Model):
    """A reference population (e.g. Han Chinese) with the source and resolution of its HLA tables."""

    name = models.CharField(_("name"), max_length=120)
    source = models.CharField(_("source"), max_length=300,
                              help_text=_("Where the frequencies come from (study, registry, year), or that they are "
                                          "synthetic."))
    resolution = models.CharField(_("resolution"), max_length=10, choices=HLAResolution.choices)
    # The table versions in force (0: none uploaded yet); the rows of every version are kept.
    haplotype_version = models.PositiveIntegerField(_("haplotype table version"), default=0)
    haplotypes_uploaded_at = models.DateTimeField(_("haplotype table uploaded at"), null=True, blank=True)
    genotype_version = models.PositiveIntegerField(_("cohort version"), default=0)
    genotypes_uploaded_at = models.DateTimeField(_("cohort uploaded at"), null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = audit_history()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="haplobank_population_order_idx")]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="haplobank_population_name_unique"),
            models.CheckConstraint(condition=models.Q(resolution__in=HLAResolution.values),
                                   name="haplobank_population_resolution_valid"),
        ]
        verbose_name = _("population")
        verbose_name_plural = _("populations")

    def __str__(self) -> str:
        return self.name


class HaplotypeFrequency(models.Model):
    """One A~B~DRB1 haplotype of a population's table and its frequency among haplotypes (0 < f ≤ 1), alleles
    normalised to the population's resolution."""

    population = models.ForeignKey(Population, on_delete=models.PROTECT, related_name="haplotypes")
    version = models.PositiveIntegerField(_("table version"))
    a = models.CharField("A", max_length=20)
    b = models.CharField("B", max_length=20)
    drb1 = models.CharField("DRB1", max_length=20)
    frequency = models.DecimalField(_("frequency"), max_digits=11, decimal_places=10)
    line = models.PositiveIntegerField(_("line in the uploaded file"))

    history = audit_history()

    class Meta:
        ordering = ["population_id", "version", "-frequency", "a", "b", "drb1"]
        indexes = [models.Index(fields=["population", "version", "-frequency"], name="haplobank_haplo_table_idx")]
        constraints = [
            models.UniqueConstraint(fields=["population", "version", "a", "b", "drb1"],
                                    name="haplobank_haplotypefrequency_unique"),
            models.CheckConstraint(condition=models.Q(frequency__gt=0, frequency__lte=1),
                                   name="haplobank_haplotypefrequency_range"),
        ]
        verbose_name = _("haplotype frequency")
        verbose_name_plural = _("haplotype frequencies")

    def __str__(self) -> str:
        return f"{self.haplotype} {self.frequency}"

    @property
    def haplotype(self) -> str:
        return f"{self.a}~{self.b}~{self.drb1}"


class CohortGenotype(models.Model):
    """One typed person of a population's cohort (genotype counting): two alleles at each of A, B and DRB1,
    normalised to the population's resolution, each pair in code-point order."""

    population = models.ForeignKey(Population, on_delete=models.PROTECT, related_name="genotypes")
    version = models.PositiveIntegerField(_("cohort version"))
    a_1 = models.CharField("A (1)", max_length=20)
    a_2 = models.CharField("A (2)", max_length=20)
    b_1 = models.CharField("B (1)", max_length=20)
    b_2 = models.CharField("B (2)", max_length=20)
    drb1_1 = models.CharField("DRB1 (1)", max_length=20)
    drb1_2 = models.CharField("DRB1 (2)", max_length=20)
    line = models.PositiveIntegerField(_("line in the uploaded file"))

    history = audit_history()

    class Meta:
        ordering = ["population_id", "version", "line"]
        indexes = [models.Index(fields=["population", "version", "line"], name="haplobank_cohort_table_idx")]
        verbose_name = _("cohort genotype")
        verbose_name_plural = _("cohort genotypes")

    def __str__(self) -> str:
        return f"{self.a_1},{self.a_2},{self.b_1},{self.b_2},{self.drb1_1},{self.drb1_2}"

    def alleles(self) -> dict[str, tuple[str, str]]:
        return {"A": (self.a_1, self.a_2), "B": (self.b_1, self.b_2), "DRB1": (self.drb1_1, self.drb1_2)}

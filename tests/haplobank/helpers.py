"""Builders for the haplobank tests: typed lines in any lot state, cord blood units, populations with tables."""

from __future__ import annotations

import itertools

from haplobank import services
from haplobank.models import Population
from tests import cordblood_factories as cb
from tests.distribution.factories import make_line
from tests.factories import HLATypingFactory, LotFactory, UserFactory

_names = itertools.count(1)

# C and DQB1 of a typing when a test does not care about them.
DEFAULT_TYPING = {"A": ["A*11:01", "A*02:01"], "B": ["B*40:01", "B*46:01"], "C": ["C*07:02", "C*01:02"],
                  "DRB1": ["DRB1*09:01", "DRB1*12:02"], "DQB1": ["DQB1*03:03", "DQB1*03:01"]}


def typing(hla: dict | str | None = None) -> dict[str, list[str]]:
    """A full typing: ``"A*24:02~B*52:01~DRB1*15:02"`` makes a donor homozygous at A, B and DRB1; a dict replaces
    the loci it names."""
    alleles = {locus: list(pair) for locus, pair in DEFAULT_TYPING.items()}
    if isinstance(hla, str):
        a, b, drb1 = hla.split("~")
        alleles.update(A=[a, a], B=[b, b], DRB1=[drb1, drb1])
    elif hla:
        alleles.update({locus: list(pair) for locus, pair in hla.items()})
    return alleles


def typing_fields(hla: dict | str | None = None) -> dict[str, str]:
    return {f"{locus.lower()}_{i + 1}": pair[i] for locus, pair in typing(hla).items() for i in range(2)}


def line(hla: dict | str | None = None, *, status: str = "released", scopes: list[str] | None = None,
         name: str | None = None, cell_type: str = "iPSC", lot: bool = True):
    """A line of an eligible, consenting donor typed ``hla``, with one lot of ``status`` (its vials need not exist:
    coverage and match read lots, not stock)."""
    n = next(_names)
    extra = {"reprogramming_method": "sendai"} if cell_type == "iPSC" else {"reprogramming_method": ""}
    new = make_line(scopes=scopes, identity=False, cell_type=cell_type, name=name or f"HBL{n:04d}-A", **extra)
    HLATypingFactory(donor=new.donor, **typing_fields(hla))
    if lot:
        LotFactory(cell_line=new, status=status, vials=False, lot_number=f"MCB-HB-{n:05d}", barcode=f"SBHB{n:07d}")
    return new


def unit(hla: dict | str | None = None, *, ownership: str = "public", status: str = "released"):
    """A frozen cord blood unit (a CB-HSC line with a lot of tier unit) whose infant is typed ``hla``."""
    return cb.unit(ownership=ownership, status=status, hla=typing_fields(hla))


def population(*, resolution: str = "2-field", haplotypes: str | None = None, genotypes: str | None = None,
               name: str | None = None, actor=None) -> Population:
    actor = actor or UserFactory(username="hb-qa", role="qa")
    made = services.create_population(actor=actor, name=name or f"Population {next(_names)}",
                                      source="test frequencies", resolution=resolution)
    if haplotypes is not None:
        made = services.replace_haplotypes(made, haplotypes, actor=actor)
    if genotypes is not None:
        made = services.replace_genotypes(made, genotypes, actor=actor)
    return made

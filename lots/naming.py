"""Names the bank gives: hPSCreg names of iPSC/ESC lines, bank names of other lines, lot numbers.

hPSCreg standard nomenclature (Kurtz et al., Stem Cell Reports 2018): the institute code registered
with hPSCreg, ``i`` (iPSC) or ``e`` (ESC), a three-digit number counted per institute and kind, a
hyphen and the subclone letter (``A`` for the first clone, ``B``, ``C`` ... for further clones of the
same derivation), e.g. ``SCBi001-A``; at most 15 characters.

Numbers come from ``bank.sequences`` (one locked row per family), so concurrent registrations never
collide and a committed name is never handed out again.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from bank import sequences
from lots.choices import CellType

HPSCREG_NAME = re.compile(r"^(?P<institute>[A-Z]{2,6})(?P<kind>[ie])(?P<number>\d{3})-(?P<subclone>[A-Z]{1,2})$")
HPSCREG_MAX_LENGTH = 15
INSTITUTE_CODE = re.compile(r"^[A-Z]{2,6}$")
HPSCREG_KIND = {CellType.IPSC: "i", CellType.ESC: "e"}
HPSCREG_MAX_NUMBER = 999
# Short codes of the other cell types in bank names such as SCB-UCMSC-001.
BANK_CODES = {
    CellType.UC_MSC: "UCMSC",
    CellType.AD_MSC: "ADMSC",
    CellType.BM_MSC: "BMMSC",
    CellType.DP_MSC: "DPMSC",
    CellType.P_MSC: "PMSC",
    CellType.CB_HSC: "CBHSC",
    CellType.NSC: "NSC",
    CellType.AM_MSC: "AMMSC",
    CellType.EN_MSC: "ENMSC",
    CellType.MB_MSC: "MBMSC",
    CellType.MUSC: "MUSC",
    CellType.SKSC: "SKSC",
    CellType.OTHER: "CELL",
}
LOT_PATTERN_FIELDS = {"tier", "line", "year", "seq"}


def institute_code() -> str:
    code = settings.INSTITUTE_CODE
    if not INSTITUTE_CODE.match(code or ""):
        raise ValidationError(
            _("INSTITUTE_CODE %(code)r is not an hPSCreg institute code (2 to 6 capital letters).") % {"code": code}
        )
    return code


def hpscreg_name(institute: str, cell_type: str, number: int, subclone: str) -> str:
    return f"{institute}{HPSCREG_KIND[cell_type]}{number:03d}-{subclone}"


def validate_hpscreg_name(name: str) -> None:
    """Refuse a name that does not follow the hPSCreg pattern (e.g. ``SCBi001-A``)."""
    if len(name) > HPSCREG_MAX_LENGTH or not HPSCREG_NAME.match(name):
        raise ValidationError(
            _("%(name)s is not a valid hPSCreg name (institute code, i or e, three digits, hyphen, "
              "subclone letter, e.g. SCBi001-A).") % {"name": name},
            code="invalid_hpscreg_name",
        )


def subclone_letters() -> Iterator[str]:
    """A, B, ... Z, then AA, AB, ... ZZ."""
    yield from string.ascii_uppercase
    for first in string.ascii_uppercase:
        for second in string.ascii_uppercase:
            yield first + second


def next_subclone(taken: set[str]) -> str:
    for letter in subclone_letters():
        if letter not in taken:
            return letter
    raise ValidationError(_("Every subclone letter of this line is taken."), code="subclones_exhausted")


def bank_name_prefix(cell_type: str) -> str:
    return f"{institute_code()}-{BANK_CODES[cell_type]}-"


def allocate(key: str, *, taken: Callable[[int], bool], limit: int | None = None) -> int:
    """The next free number of the name family ``key``; call inside the transaction that stores the name.

    ``taken(n)`` skips numbers already used by a name that did not come from the sequence (an imported
    legacy line, a hand-made lot number). See ``bank.sequences`` for the locking.
    """
    return sequences.take_one(key if key.startswith("lot:") else f"name:{key}", taken=taken, limit=limit)


class _SeqMarker:
    def __format__(self, spec: str) -> str:
        return "#"


def check_lot_number_pattern(pattern: str) -> list[str]:
    """Problems with a LOT_NUMBER_PATTERN (empty when it is usable)."""
    problems = []
    try:
        fields = {name for _text, name, _spec, _conv in string.Formatter().parse(pattern) if name is not None}
    except ValueError as exc:
        return [str(exc)]
    unknown = fields - LOT_PATTERN_FIELDS
    if unknown:
        problems.append(f"unknown fields {sorted(unknown)}; use {sorted(LOT_PATTERN_FIELDS)}")
    if "seq" not in fields:
        problems.append("the pattern needs {seq} (e.g. {seq:04d}) so lot numbers are unique")
    if not problems:
        try:
            sample = pattern.format(tier="MCB", line="SCBi001-A", year=2026, seq=1)
        except (ValueError, KeyError, IndexError) as exc:
            problems.append(str(exc))
        else:
            if len(sample) > 40:
                problems.append(f"lot numbers would be longer than 40 characters ({sample!r})")
    return problems


def lot_number_key(pattern: str, parts: dict) -> str:
    """The sequence family of a lot number: the pattern filled in except ``{seq}``."""
    return "lot:" + pattern.format(seq=_SeqMarker(), **parts)

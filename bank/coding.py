"""ISBT 128 donation identification numbers (DIN) and the EU Single European Code (SEC): build, check, parse.

The one place these rules live: cord blood units (cordblood) and clinical-grade lots (lots) get their DINs here,
labels print them, and every door that takes a typed or scanned code (the header scan field, the vial scan API)
asks ``identify`` whether the code is a DIN or a SEC and whether it is intact.

**DIN** (ICCBBA ST-001, data structure 001): facility identification number (5: a letter A–N or P–Z and four
digits), year (2), sequence number (6) — the 13 characters that identify a donation — followed on the label by
two flag characters (``00`` when unused). The keyboard check character is ISO/IEC 7064 MOD 37-2 over the 13
characters only (never the flags); it is printed boxed after the DIN so a DIN typed by hand can be verified. A
barcode carries ``=`` + the 13 characters + the flags (its own symbol check protects it).

**SEC** (Commission Directive (EU) 2015/565, Annex VII of Directive 2006/86/EC), 40 characters:
donation identification sequence = EU tissue establishment code (ISO country code, 2 letters, + tissue
establishment number, 6 alphanumeric) + unique donation number (13 alphanumeric: the ISBT 128 DIN where ISBT 128
is used); product identification sequence = product code (coding system ``E`` EUTC, ``A`` ISBT 128 or ``B``
Eurocode, + product number, 7 alphanumeric) + split number (3 alphanumeric) + expiry date (``YYYYMMDD``;
``00000000`` when no expiry date is defined).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

# ISO/IEC 7064 MOD 37-2: the values 0–36 are written 0–9, A–Z and "*".
MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
FACILITY = re.compile(r"^[A-NP-Z][0-9]{4}$")
DIN_BODY = re.compile(r"^[A-NP-Z][0-9]{12}$")
DIN_FLAGS = re.compile(r"^[0-9]{2}$")
DIN_MAX_SEQUENCE = 999_999

SEC_LENGTH = 40
SEC_CODING_SYSTEMS = {"E": "EUTC", "A": "ISBT 128", "B": "Eurocode"}
SEC_NO_EXPIRY = "00000000"
TE_CODE = re.compile(r"^[A-Z]{2}[A-Z0-9]{6}$")
PRODUCT_CODE = re.compile(r"^[EAB][A-Z0-9]{7}$")
_ALNUM = re.compile(r"^[A-Z0-9]+$")


class CodeError(ValueError):
    """A code that has the shape of a DIN or a SEC but is not a valid one (the message says why)."""


def check_character(data: str) -> str:
    """The ISO/IEC 7064 MOD 37-2 check character of ``data`` (digits and capital letters)."""
    total = 0
    for char in data.upper():
        value = MOD37_ALPHABET.find(char)
        if value < 0 or value == 36:
            raise CodeError(_("“%(char)s” cannot be part of an ISBT 128 code.") % {"char": char})
        total = ((total + value) * 2) % 37
    return MOD37_ALPHABET[(38 - total) % 37]


def din_check_character(din: str) -> str:
    """The keyboard check character of a 13-character DIN (the flags are never part of it)."""
    din = (din or "").strip().upper()
    if not DIN_BODY.match(din):
        raise CodeError(_("%(din)s is not a DIN: facility code (a letter and 4 digits), year (2 digits) and "
                          "sequence number (6 digits).") % {"din": din})
    return check_character(din)


def build_din(facility: str, year: int, sequence: int) -> str:
    """The 13-character DIN of ``facility`` for donation number ``sequence`` of ``year``."""
    if not FACILITY.match(facility or ""):
        raise CodeError(_("%(code)s is not an ISBT 128 facility identification number (a letter A–N or P–Z and "
                          "4 digits, e.g. W0000).") % {"code": facility})
    if not 1 <= sequence <= DIN_MAX_SEQUENCE:
        raise CodeError(_("A DIN's sequence number runs from 000001 to 999999."))
    return f"{facility}{year % 100:02d}{sequence:06d}"


def facility_code() -> str:
    """The bank's ISBT 128 facility identification number (``ISBT_FACILITY_CODE``)."""
    return settings.ISBT_FACILITY_CODE


def next_din(year: int, *, taken=None) -> str:
    """The next DIN of the bank's facility for ``year``; call inside the transaction that stores it.

    Cord blood units and clinical-grade lots take their numbers from this one family (``din:<FIN>:<yy>``), so
    no two donations of the bank ever share a DIN; ``taken(n)`` skips numbers used outside the sequence.
    """
    from bank import sequences

    facility, yy = facility_code(), year % 100
    number = sequences.take_one(f"din:{facility}:{yy:02d}", limit=DIN_MAX_SEQUENCE,
                                taken=(lambda n: taken(build_din(facility, yy, n))) if taken else None)
    return build_din(facility, yy, number)


@dataclass(frozen=True)
class Din:
    din: str  # the 13 characters
    flags: str = ""  # two flag characters when given
    check: str = ""  # the check character when given (verified)

    @property
    def facility(self) -> str:
        return self.din[:5]

    @property
    def year(self) -> str:
        return self.din[5:7]

    @property
    def sequence(self) -> str:
        return self.din[7:]

    @property
    def eye_readable(self) -> str:
        """As printed: ``W0000 26 000042`` (the flags and the boxed check character follow)."""
        return f"{self.facility} {self.year} {self.sequence}"


def din_parts(din: str) -> Din:
    """A stored DIN with its check character, for labels and pages."""
    return Din(din=din, flags="00", check=din_check_character(din))


def _compact(text: str) -> str:
    return re.sub(r"[\s\u00a0]+", "", (text or "")).upper()


def parse_din(text: str) -> Din | None:
    """A typed or scanned DIN, or None when ``text`` does not have the shape of one.

    Accepted: the barcode's ``=`` + 13 characters + 2 flags; the 13 characters alone; followed by the check
    character (keyboard entry); followed by the flags, or the flags and the check character (typed as printed).
    Spaces are ignored. A check character that does not match raises ``CodeError``: a mistyped DIN must never
    find another donation.
    """
    code = _compact(text)
    if code.startswith("="):
        body, flags = code[1:14], code[14:]
        if len(code) == 16 and DIN_BODY.match(body) and DIN_FLAGS.match(flags):
            return Din(din=body, flags=flags)
        return None
    body, rest = code[:13], code[13:]
    if not DIN_BODY.match(body) or len(rest) > 3:
        return None
    flags, check = "", ""
    if len(rest) == 1:
        check = rest
    elif len(rest) == 2:
        if not DIN_FLAGS.match(rest):
            return None
        flags = rest
    elif len(rest) == 3:
        if not DIN_FLAGS.match(rest[:2]):
            return None
        flags, check = rest[:2], rest[2]
    if check:
        if check not in MOD37_ALPHABET:
            return None
        expected = check_character(body)
        if check != expected:
            raise CodeError(_("DIN %(din)s: the check character %(given)s is wrong — the DIN was mistyped or "
                              "misread. Scan the label again or type the DIN and its boxed character as printed.")
                            % {"din": body, "given": check})
    return Din(din=body, flags=flags, check=check)


# --- Single European Code ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sec:
    te_code: str  # ISO country code (2) + tissue establishment number (6)
    donation_number: str  # 13
    product_code: str  # coding system (1) + product number (7)
    split: str  # 3
    expiry: str  # YYYYMMDD or 00000000

    @property
    def country(self) -> str:
        return self.te_code[:2]

    @property
    def donation_sequence(self) -> str:
        """The donation identification sequence (SEC-DI), 21 characters."""
        return self.te_code + self.donation_number

    @property
    def product_sequence(self) -> str:
        """The product identification sequence (SEC-PI), 19 characters."""
        return self.product_code + self.split + self.expiry

    @property
    def code(self) -> str:
        return self.donation_sequence + self.product_sequence

    @property
    def eye_readable(self) -> str:
        """As printed on a label: ``IT000A12 W000026000042 E0000123 001 00000000``."""
        return " ".join((self.te_code, self.donation_number, self.product_code, self.split, self.expiry))

    @property
    def expires_on(self) -> datetime.date | None:
        if self.expiry == SEC_NO_EXPIRY:
            return None
        return datetime.datetime.strptime(self.expiry, "%Y%m%d").date()


def split_number(n: int) -> str:
    """Split number ``n`` (1, 2 ...) in the SEC's 3 alphanumeric characters: 001–999, then base 36 (A00 ...)."""
    if n < 1:
        raise CodeError(_("A split number starts at 1."))
    if n <= 999:
        return f"{n:03d}"
    index = n - 1000  # then a letter and two base-36 characters: A00 ... ZZZ
    if index >= 26 * 36 * 36:
        raise CodeError(_("Too many splits for a SEC split number."))
    base36 = MOD37_ALPHABET[:36]
    return MOD37_ALPHABET[10 + index // 1296] + base36[(index // 36) % 36] + base36[index % 36]


def _sec_errors(te_code: str, donation_number: str, product_code: str, split: str, expiry: str) -> list[str]:
    errors = []
    if not TE_CODE.match(te_code):
        errors.append(_("the tissue establishment code is the ISO country code (2 letters) and the establishment "
                        "number (6 letters or digits); got %(value)s") % {"value": te_code or "—"})
    if len(donation_number) != 13 or not _ALNUM.match(donation_number):
        errors.append(_("the unique donation number is 13 letters or digits; got %(value)s")
                      % {"value": donation_number or "—"})
    if not PRODUCT_CODE.match(product_code):
        errors.append(_("the product code is E (EUTC), A (ISBT 128) or B (Eurocode) and a 7-character product "
                        "number; got %(value)s") % {"value": product_code or "—"})
    if len(split) != 3 or not _ALNUM.match(split):
        errors.append(_("the split number is 3 letters or digits; got %(value)s") % {"value": split or "—"})
    if expiry != SEC_NO_EXPIRY:
        try:
            if not re.match(r"^[0-9]{8}$", expiry):
                raise ValueError
            datetime.datetime.strptime(expiry, "%Y%m%d")
        except ValueError:
            errors.append(_("the expiry date is YYYYMMDD (00000000 when none is defined); got %(value)s")
                          % {"value": expiry or "—"})
    return errors


def build_sec(*, te_code: str, donation_number: str, product_code: str, split: str | int = 1,
              expires_on: datetime.date | None = None) -> Sec:
    """The SEC of one product (raises ``CodeError`` listing every part that is wrong)."""
    split = split_number(split) if isinstance(split, int) else str(split).upper()
    expiry = expires_on.strftime("%Y%m%d") if expires_on else SEC_NO_EXPIRY
    parts = (_compact(te_code), _compact(donation_number), _compact(product_code), split, expiry)
    errors = _sec_errors(*parts)
    if errors:
        raise CodeError(_("Not a valid Single European Code: %(errors)s.") % {"errors": "; ".join(errors)})
    return Sec(*parts)


def sec_settings_problems() -> list[str]:
    """What is wrong with the SEC settings (empty when usable or when the bank prints no SEC)."""
    problems = []
    te_code = settings.SEC_TISSUE_ESTABLISHMENT_CODE
    if te_code and not TE_CODE.match(te_code):
        problems.append(f"SEC_TISSUE_ESTABLISHMENT_CODE={te_code!r} is not an ISO country code and a 6-character "
                        "establishment number")
    for cell_type, code in settings.SEC_PRODUCT_CODES.items():
        if not PRODUCT_CODE.match(code):
            problems.append(f"SEC_PRODUCT_CODES: {cell_type}={code!r} is not E/A/B and a 7-character product number")
    return problems


def sec_for(*, donation_number: str, cell_type: str, split: int | str = 1,
            expires_on: datetime.date | None = None) -> Sec | None:
    """The bank's SEC of a product, or None when the bank prints none (no tissue establishment code, or no
    product code for this cell type)."""
    te_code = settings.SEC_TISSUE_ESTABLISHMENT_CODE
    product_code = settings.SEC_PRODUCT_CODES.get(cell_type)
    if not te_code or not product_code or not donation_number:
        return None
    return build_sec(te_code=te_code, donation_number=donation_number, product_code=product_code, split=split,
                     expires_on=expires_on)


def looks_like_sec(text: str) -> bool:
    code = _compact(text)
    # 40 letters and digits that start with a country code: a lot number or line name has hyphens
    return len(code) == SEC_LENGTH and code[:2].isalpha() and bool(_ALNUM.match(code))


def parse_sec(text: str) -> Sec | None:
    """A typed or scanned SEC (spaces ignored), None when ``text`` does not have its shape (40 characters that
    start with a country code); ``CodeError`` when it has the shape but a part is wrong."""
    code = _compact(text)
    if not looks_like_sec(code):
        return None
    parts = (code[0:8], code[8:21], code[21:29], code[29:32], code[32:40])
    errors = _sec_errors(*parts)
    if errors:
        raise CodeError(_("%(code)s is not a valid Single European Code: %(errors)s.")
                        % {"code": code, "errors": "; ".join(errors)})
    return Sec(*parts)


def identify(text: str) -> Din | Sec | None:
    """What a typed or scanned code is: a ``Din``, a ``Sec``, or None (some other code: a vial barcode, a lot
    number ...). Raises ``CodeError`` for a DIN with a wrong check character or a malformed SEC."""
    return parse_sec(text) or parse_din(text)


def donation_number(text: str) -> str | None:
    """The 13-character donation number of one of the bank's own donations that a scanned DIN or SEC names:
    None for other codes and for a SEC of another tissue establishment; ``CodeError`` when the code is broken."""
    found = identify(text)
    if isinstance(found, Sec):
        te_code = settings.SEC_TISSUE_ESTABLISHMENT_CODE
        return found.donation_number if te_code and found.te_code == te_code else None
    if isinstance(found, Din):
        return found.din
    return None

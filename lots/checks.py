"""System checks of the lots settings: a typo in a naming setting stops the start-up, not a freeze."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error

from bank import coding
from lots import naming


def check_naming_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    if not naming.INSTITUTE_CODE.match(settings.INSTITUTE_CODE or ""):
        errors.append(Error(
            f"INSTITUTE_CODE={settings.INSTITUTE_CODE!r} is not an hPSCreg institute code.",
            hint="Use the 2 to 6 capital letters registered with hPSCreg, e.g. SCB.", id="lots.E001",
        ))
    for problem in naming.check_lot_number_pattern(settings.LOT_NUMBER_PATTERN):
        errors.append(Error(
            f"LOT_NUMBER_PATTERN={settings.LOT_NUMBER_PATTERN!r}: {problem}.",
            hint="Fields: {tier}, {line}, {year}, {seq:04d}; e.g. {tier}-{year}-{seq:04d}.", id="lots.E002",
        ))
    if settings.LABEL_WIDTH_IN <= 0 or settings.LABEL_HEIGHT_IN <= 0:
        errors.append(Error("LABEL_WIDTH_IN and LABEL_HEIGHT_IN must be above zero.", id="lots.E003"))
    if settings.LABEL_SHEET_PAGE.lower() not in ("a4", "letter"):
        errors.append(Error(f"LABEL_SHEET_PAGE={settings.LABEL_SHEET_PAGE!r}: use A4 or letter.", id="lots.E004"))
    if not coding.FACILITY.match(settings.ISBT_FACILITY_CODE or ""):
        errors.append(Error(
            f"ISBT_FACILITY_CODE={settings.ISBT_FACILITY_CODE!r} is not an ISBT 128 facility identification number.",
            hint="A letter A-N or P-Z and 4 digits, as ICCBBA assigned it (W0000 is the example code).",
            id="lots.E005"))
    for problem in coding.sec_settings_problems():
        errors.append(Error(f"{problem}.", hint="e.g. SEC_TISSUE_ESTABLISHMENT_CODE=IT000A12 and "
                            "SEC_PRODUCT_CODES=CB-HSC=A0000000", id="lots.E006"))
    return errors

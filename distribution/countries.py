"""ISO 3166-1 alpha-2 country codes (the 249 officially assigned codes, as listed in the tz database's
iso3166.tab). A recipient's country is one of these; the bank's own is settings.BANK_COUNTRY."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

ISO_3166_ALPHA2 = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO
FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE
JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO
MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM
TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())


def clean_country(value: str | None) -> str:
    """The code in upper case; ValidationError unless it is an assigned ISO 3166-1 alpha-2 code."""
    code = (value or "").strip().upper()
    if code not in ISO_3166_ALPHA2:
        raise ValidationError(_("%(value)s is not an ISO 3166-1 alpha-2 country code (e.g. CN, DE, US).")
                              % {"value": value or "—"})
    return code


def check_bank_country(app_configs=None, **kwargs):
    """System check: settings.BANK_COUNTRY must be a country code, or every recipient would count as abroad."""
    from django.conf import settings
    from django.core.checks import Error

    if (settings.BANK_COUNTRY or "").upper() in ISO_3166_ALPHA2:
        return []
    return [Error(f"BANK_COUNTRY={settings.BANK_COUNTRY!r} is not an ISO 3166-1 alpha-2 country code (e.g. CN).",
                  id="distribution.E001")]

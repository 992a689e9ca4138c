"""Names of the seeded screening markers, so that pages can show them translated (``{{ value|data }}``)."""

from django.utils.translation import gettext_noop

VOCABULARY = [
    gettext_noop('Anti-HIV-1/2'),
    gettext_noop('HIV-1 NAT'),
    gettext_noop('HBsAg'),
    gettext_noop('Anti-HBc'),
    gettext_noop('HBV NAT'),
    gettext_noop('Anti-HCV'),
    gettext_noop('HCV NAT'),
    gettext_noop('Anti-HTLV-I/II'),
    gettext_noop('Syphilis (Treponema pallidum)'),
    gettext_noop('CMV (IgG/IgM)'),
]

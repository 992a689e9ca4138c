"""Words of the seeded QC catalog, so that pages can show them translated (``{{ value|data }}``).

Test names, outcomes and units are data a bank may edit; these are the seeded ones. makemessages
collects them from here; a name QA changes simply has no translation and is shown as typed.
"""

from django.utils.translation import gettext_noop

VOCABULARY = [
    gettext_noop('Sterility (bacteria and fungi)'),
    gettext_noop('Mycoplasma'),
    gettext_noop('Endotoxin'),
    gettext_noop('Post-thaw viability'),
    gettext_noop('STR identity vs donor/parent'),
    gettext_noop('Karyotype'),
    gettext_noop('Pluripotency markers (OCT4, SSEA-4, TRA-1-60)'),
    gettext_noop('Residual Sendai vector'),
    gettext_noop('CD73'),
    gettext_noop('CD90'),
    gettext_noop('CD105'),
    gettext_noop('CD45, CD34, CD14/CD11b, CD19/CD79a, HLA-DR'),
    gettext_noop('Osteo/adipo/chondro differentiation'),
    gettext_noop('Total nucleated cells'),
    gettext_noop('Viable CD34+ cells'),
    gettext_noop('Colony-forming units'),
    gettext_noop('abnormal'),
    gettext_noop('match'),
    gettext_noop('mismatch'),
    gettext_noop('negative'),
    gettext_noop('normal'),
    gettext_noop('positive'),
    gettext_noop('% positive'),
    gettext_noop('EU/mL'),
    gettext_noop('×10^6 cells'),
    gettext_noop('×10^8 cells'),
]

"""Roles are Django groups (created by a data migration); their permissions are kept in sync here.

``ROLE_PERMISSIONS`` is the one table of who may do what. After every ``migrate`` the groups get
exactly these permissions (``sync_role_permissions``), so a new model's permissions reach the roles
without a hand-written migration. Views, the API and services ask ``user.has_perm(...)``.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy as _

log = logging.getLogger(__name__)

COORDINATOR = "coordinator"
TECHNICIAN = "technician"
QA = "qa"
RESEARCHER = "researcher"
SENSOR = "sensor"
ADMIN = "admin"
CLINICIAN = "clinician"  # issue 12: a transplant centre's clinician (outside the bank, like a researcher)
MEDICAL_DIRECTOR = "medical_director"  # issue 12: signs a cord blood unit's release for administration

ROLES = {
    COORDINATOR: _("Coordinator"),
    TECHNICIAN: _("Technician"),
    QA: _("QA officer"),
    RESEARCHER: _("Researcher"),
    SENSOR: _("Temperature sensor"),
    ADMIN: _("Administrator"),
    CLINICIAN: _("Transplant centre clinician"),
    MEDICAL_DIRECTOR: _("Medical director"),
}

# Roles that work inside the bank (as opposed to researchers outside it and sensor accounts).
STAFF_ROLES = (COORDINATOR, TECHNICIAN, QA, ADMIN)

_STAFF_READ = [
    "bank.view_audit_trail",
    "bank.view_signature",
    "bank.view_printerprofile",  # issue 17: who prints labels chooses a printer profile (admins keep them)
]


def _perms(app: str, actions: str, models: str) -> list[str]:
    return [f"{app}.{action}_{model}" for model in models.split() for action in actions.split()]


_DONOR_READ = _perms("donors", "view", "donor consent screening screeningresult hlatyping collection ethicsapproval "
                     "screeningmarker screeningwindow custodyhandover")
_LOT_READ = _perms("lots", "view", "cellline culture passage lot vial")
_STORAGE_READ = _perms("storage", "view", "storageunit rack box vialmove temperaturereading alarm alarmvial")
_QC_READ = _perms("qc", "view", "qctest specification criterion lotspecification qcresult deviation lotdecision "
                  "stabilityplan recheck")
_DISTRIBUTION_READ = _perms("distribution", "view",
                            "distributionrequest allocation shipment recall recallnotice materialtransferagreement "
                            "exportapproval feerate")
_CORDBLOOD_READ = _perms("cordblood", "view", "collectionsite collector infantdonation cordbloodunit "
                         "verificationtyping familycontract contractpayment")
# issue 12, transplant: what bank staff and the medical director read of the transplant-centre path.
# issue 16, quality management: every member of staff reads the quality records (their own trainings, the register).
_QUALITY_READ = _perms("quality", "view", "sop sopversion training equipment calibration material materialuse "
                       "instrumentuse cleanroom environmentresult roomuse")
_TRANSPLANT_READ = _perms("transplant", "view", "transplantcentre centreclinician patient typingrequest reservation "
                          "order dryshipper temperaturelog thawreport followup")
# issue 14, haplobank: QA and coordinators keep the population tables (a table or cohort upload adds its rows and
# moves the population's version) and read them, their history included.
_HAPLOBANK_KEEP = [*_perms("haplobank", "view", "population haplotypefrequency cohortgenotype"),
                   *_perms("haplobank", "add change", "population"),
                   *_perms("haplobank", "add", "haplotypefrequency cohortgenotype")]

# role -> "app_label.codename" permissions. Admin gets every permission of the project.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    COORDINATOR: [
        *_STAFF_READ, *_DONOR_READ, *_LOT_READ, *_QUALITY_READ,
        *_perms("donors", "add change", "donor donoridentity ethicsapproval hlatyping"),
        "donors.view_donoridentity",
        "donors.erase_donoridentity",  # issue 11, privacy: erasure on the donor's request (crypto-shredding)
        *_perms("donors", "add", "consent screening screeningresult collection"),
        "donors.withdraw_consent",
        "donors.withdraw_ethicsapproval", "donors.add_custodyhandover",  # issue 15: ethics, collection custody
        "distribution.view_trace",
        # issue 12 cord blood: mothers and infants, sites and collectors, family contracts
        *_CORDBLOOD_READ, *_perms("cordblood", "add change", "collectionsite collector infantdonation familycontract"),
        "cordblood.add_contractpayment",
        "imports.import_cordblood", "imports.view_importrun",  # issue 17: cord blood units from a legacy system
        *_HAPLOBANK_KEEP,
    ],
    TECHNICIAN: [
        *_STAFF_READ, *_DONOR_READ, *_LOT_READ, *_STORAGE_READ, *_QC_READ, *_DISTRIBUTION_READ,
        "donors.add_collection", "donors.add_custodyhandover",  # issue 15: collection custody
        *_perms("lots", "add", "cellline culture passage lot"),
        "storage.add_vialmove", "storage.change_alarm",
        "qc.add_qcresult", "qc.add_deviation", "qc.change_recheck",
        "distribution.ship_request", "distribution.add_shipment", "distribution.view_catalog",
        "distribution.view_trace",
        *_CORDBLOOD_READ, "cordblood.process_cordbloodunit",  # issue 12: accept, process, freeze
        *_TRANSPLANT_READ, "transplant.ship_order", "transplant.complete_typingrequest",  # issue 12: ship, type CT
        *_QUALITY_READ,  # issue 16: technicians read the quality records (QA keeps them)
        "imports.import_inventory", "imports.view_importrun",  # issue 17: lines, lots and vials from a legacy system
    ],
    QA: [
        *_STAFF_READ, *_DONOR_READ, *_LOT_READ, *_STORAGE_READ, *_QC_READ, *_DISTRIBUTION_READ,
        "storage.change_alarm",
        "bank.view_auditcheckpoint",  # issue 11: the audit chain's integrity page and verification (QA and admin)
        *_perms("qc", "add", "specification criterion qcresult deviation lotdecision stabilityplan"),
        "qc.change_deviation", "qc.close_deviation", "qc.release_lot", "qc.change_stabilityplan", "qc.change_recheck",
        "distribution.review_request", "distribution.add_recall", "distribution.view_catalog",
        "distribution.view_trace",
        # issue 15, sharing: QA records export approvals, sets line and grade fees, publishes MTA versions
        "distribution.add_exportapproval", *_perms("distribution", "add change", "feerate"),
        "distribution.add_materialtransferagreement",
        "lots.record_registry_id",  # issue 15: the IDs hPSCreg and ICSCB gave a line's record
        *_CORDBLOOD_READ, "cordblood.list_cordbloodunit",  # issue 12: list and delist units for search
        *_TRANSPLANT_READ, "transplant.complete_typingrequest",  # issue 12: centres, dry shippers, CT results
        *_perms("transplant", "add change", "transplantcentre centreclinician dryshipper"),
        # issue 16: QA manages the quality records (SOP approval and material release are e-signed by QA)
        *_QUALITY_READ, *_perms("quality", "add", "sop sopversion training equipment calibration material cleanroom "
                                "environmentresult"),
        "quality.change_equipment", "quality.release_material",
        *_HAPLOBANK_KEEP,
    ],
    RESEARCHER: [
        "distribution.view_catalog",
        "distribution.add_distributionrequest",
        "distribution.view_distributionrequest",
        "distribution.view_shipment",
        "distribution.view_materialtransferagreement",
        "distribution.view_institutionprofile",  # issue 15: their own institution profile
    ],
    SENSOR: ["storage.add_temperaturereading"],
    # issue 12 (cord blood): the transplant app fills these two.
    # A clinician sees only their centre's records (transplant.queries scopes every list) and nothing of the bank's.
    CLINICIAN: [
        *_perms("transplant", "view", "transplantcentre patient typingrequest reservation order thawreport followup"),
        *_perms("transplant", "add change", "patient"),
        "transplant.search_units", "transplant.add_typingrequest", "transplant.add_reservation",
        "transplant.change_reservation", "transplant.add_order", "transplant.receive_order",
        "transplant.add_thawreport", "transplant.change_followup",
    ],
    MEDICAL_DIRECTOR: [*_STAFF_READ, *_TRANSPLANT_READ, "transplant.release_order", "transplant.change_order"],
    ADMIN: [],  # all permissions, see sync_role_permissions
}


def user_roles(user) -> set[str]:
    """The role names of ``user`` (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_stembank_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached.add(ADMIN)
        user._stembank_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def is_sensor_account(user) -> bool:
    """A temperature sensor's account: it posts readings through the API with a token, and opens no page."""
    roles = user_roles(user)
    return SENSOR in roles and ADMIN not in roles


def primary_role(user) -> str | None:
    roles = user_roles(user)
    for role in (ADMIN, MEDICAL_DIRECTOR, QA, COORDINATOR, TECHNICIAN, CLINICIAN, RESEARCHER, SENSOR):
        if role in roles:
            return role
    return None


def missing_permissions() -> list[str]:
    """Permissions named in ROLE_PERMISSIONS that do not exist (a typo or a removed model)."""
    from django.contrib.auth.models import Permission

    existing = {
        f"{app}.{code}"
        for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }
    return sorted({p for perms in ROLE_PERMISSIONS.values() for p in perms} - existing)


def sync_role_permissions(**kwargs) -> None:
    """post_migrate receiver: give each role group exactly its permissions, and take away every permission
    granted to a user directly (idempotent): only roles grant permissions, so what a user may do is always
    what their roles say, and every change of it is a role change in the audit trail."""
    from django.contrib.auth.models import Group, Permission

    using = kwargs.get("using", "default")
    by_name = {
        f"{app}.{code}": pk
        for pk, app, code in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    from bank.audit import PROJECT_APPS

    project_apps = (*PROJECT_APPS, "auth")
    for role in ROLES:
        group, _created = Group.objects.using(using).get_or_create(name=role)
        if role == ADMIN:
            wanted = [pk for name, pk in by_name.items() if name.split(".")[0] in project_apps]
        else:
            wanted = [by_name[p] for p in ROLE_PERMISSIONS[role] if p in by_name]
        group.permissions.set(wanted)
    remove_user_permissions(using=using)


def remove_user_permissions(*, using: str = "default", actor=None) -> list:
    """Clear every per-user permission grant, recording an ``AccountChange`` (``permissions``) for each user
    cleaned. Returns the users cleaned."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from bank.audit import acting
    from bank.models import AccountChange

    User = get_user_model()
    through = User.user_permissions.through
    grants: dict[int, list[str]] = {}
    for user_id, app, code in (through.objects.using(using)
                               .values_list("user_id", "permission__content_type__app_label",
                                            "permission__codename").order_by("user_id", "permission_id")):
        grants.setdefault(user_id, []).append(f"{app}.{code}")
    if not grants:
        return []
    reason = str(_("Only roles grant permissions: per-user grants removed by the role sync"))
    cleaned = list(User.objects.using(using).filter(pk__in=grants).order_by("pk"))
    with transaction.atomic(using=using), acting(actor, reason):
        for user in cleaned:
            AccountChange.objects.using(using).create(
                user=user, actor=actor, kind=AccountChange.Kind.PERMISSIONS,
                before={"permissions": grants[user.pk]}, after={"permissions": []}, reason=reason[:300])
        through.objects.using(using).filter(user_id__in=grants).delete()
    for user in cleaned:
        log.warning("removed per-user permissions of %s: %s", user.get_username(), ", ".join(grants[user.pk]))
    return cleaned

"""Demo bank, step 1: one account per role. Each app adds its own step (``<app>/demo.py``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from bank.roles import ADMIN, CLINICIAN, COORDINATOR, MEDICAL_DIRECTOR, QA, RESEARCHER, SENSOR, TECHNICIAN
from bank.services import create_user, save_user

# username, role, full name, password — listed in the README and printed by `make run`.
DEMO_USERS = [
    ("coordinator", COORDINATOR, "Zhang Min", "demo-coordinator"),
    ("technician", TECHNICIAN, "Li Wei", "demo-technician"),
    ("technician2", TECHNICIAN, "Chen Jing", "demo-technician2"),
    ("qa", QA, "Wang Fang", "demo-qa"),
    ("qa2", QA, "Liu Yang", "demo-qa2"),
    ("researcher", RESEARCHER, "Dr. Zhao Lei", "demo-researcher"),
    ("researcher2", RESEARCHER, "Dr. Sun Hui", "demo-researcher2"),
    ("admin", ADMIN, "Huang Tao", "demo-admin"),
    ("sensor-tank", SENSOR, "Tank sensor gateway", "demo-sensor"),
    ("clinician", CLINICIAN, "Dr. Qian Ming", "demo-clinician"),
    ("director", MEDICAL_DIRECTOR, "Dr. Zhou Hong", "demo-director"),
]
# An extra account, outside the logins above: an admin created it and requires a new password at the first login
# (issue 17, user management). Logging in as newhire / demo-newhire leads to the password change page only.
NEW_HIRE = ("newhire", TECHNICIAN, "Ma Lin", "demo-newhire")


def load(ctx: dict) -> None:
    users = {}
    for username, role, full_name, password in DEMO_USERS:
        users[username] = save_user(
            username, roles=[role], password=password, full_name=full_name,
            email=f"{username}@bank.example", validate=False, reason="demo bank",
        )
    username, role, full_name, password = NEW_HIRE
    if not get_user_model().objects.filter(username=username).exists():
        create_user(username, roles=[role], password=password, full_name=full_name,
                    email=f"{username}@bank.example", actor=users["admin"], validate=False,
                    reason="demo bank: a new technician, to choose a password at the first login")
    ctx["users"] = users

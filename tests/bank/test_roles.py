"""Roles are groups created by migration with the permissions of API.md; add_user sets them up."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from bank.roles import ROLE_PERMISSIONS, ROLES, missing_permissions, user_roles

pytestmark = pytest.mark.django_db


def test_every_role_group_exists():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


def test_groups_hold_exactly_their_permissions():
    for role, perms in ROLE_PERMISSIONS.items():
        if role == "admin":
            continue
        group = Group.objects.get(name=role)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(perms), role


def test_admin_holds_every_project_permission():
    assert Group.objects.get(name="admin").permissions.filter(codename="view_audit_trail").exists()


def test_every_named_permission_exists():
    assert missing_permissions() == []


def test_add_user_command_creates_and_updates():
    out = io.StringIO()
    call_command("add_user", "mei", "--role", "qa", "--password", "a-long-passphrase-42", stdout=out)
    user = get_user_model().objects.get(username="mei")
    assert user.check_password("a-long-passphrase-42")
    assert user_roles(user) == {"qa"}
    assert "mei: qa" in out.getvalue()
    call_command("add_user", "mei", "--role", "admin", "--password", "another-passphrase-43", stdout=io.StringIO())
    user.refresh_from_db()
    del user._stembank_roles
    assert user_roles(user) == {"admin"} and user.is_staff
    # the account's history names the command as the reason
    assert user.history.first().history_change_reason.startswith("manage.py add_user (by ")


def test_add_user_rejects_unknown_role_and_weak_password():
    with pytest.raises(CommandError):
        call_command("add_user", "x", "--role", "boss", "--password", "a-long-passphrase-42")
    with pytest.raises(CommandError):
        call_command("add_user", "x", "--role", "qa", "--password", "123")
    assert not get_user_model().objects.filter(username="x").exists()


def test_add_user_prompts_for_password(monkeypatch):
    answers = iter(["prompted-passphrase-77", "prompted-passphrase-77"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr("bank.management.commands.add_user.Command.stdin_is_tty", staticmethod(lambda: True))
    call_command("add_user", "ling", "--role", "technician", stdout=io.StringIO())
    assert get_user_model().objects.get(username="ling").check_password("prompted-passphrase-77")

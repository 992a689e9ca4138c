"""manage.py add_user USERNAME --role ROLE [--password P] — create or update an account with a role.

A new account goes through ``bank.services.create_user``, the rule the users page and ``POST /api/v1/accounts/``
follow (username, e-mail and password checks); an existing one through ``save_user`` (roles, password)."""

import getpass
import socket

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from bank.roles import ROLES
from bank.services import create_user, save_user


def operator() -> str:
    """Who ran the command, for the audit reason: the OS account and host."""
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except OSError:
        return "unknown operator"


class Command(BaseCommand):
    help = "Create (or update) a user with a role. Prompts for the password when --password is left out."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", action="append", required=True, choices=sorted(ROLES),
                            help="a role; repeat for several")
        parser.add_argument("--password", help="the password (prompted for when left out)")
        parser.add_argument("--full-name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--no-validate", action="store_true", help="skip password strength rules")
        parser.add_argument("--must-change-password", action="store_true",
                            help="a new account must change its password at the first login")
        parser.add_argument("--generate-password", action="store_true",
                            help="a new account gets a generated password, printed once")

    def handle(self, *args, username, role, password, full_name, email, no_validate, must_change_password=False,
               generate_password=False, **options):
        reason = f"manage.py add_user (by {operator()})"
        exists = get_user_model().objects.filter(username=username.strip()).exists()
        if not exists and generate_password:
            try:
                user, generated = create_user(username, roles=role, full_name=full_name, email=email, reason=reason,
                                              must_change_password=must_change_password)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages))
            self.stdout.write(self.style.SUCCESS(f"{user.username}: {', '.join(role)}"))
            self.stdout.write(f"Initial password (shown once): {generated}")
            return
        if password is None:
            if not self.stdin_is_tty():
                raise CommandError("No --password given and no terminal to prompt on.")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        try:
            if exists:
                user = save_user(username, roles=role, password=password, full_name=full_name, email=email,
                                 validate=not no_validate, reason=reason)
            else:
                user, _generated = create_user(username, roles=role, password=password, full_name=full_name,
                                               email=email, reason=reason, validate=not no_validate,
                                               must_change_password=must_change_password)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages))
        self.stdout.write(self.style.SUCCESS(f"{user.username}: {', '.join(role)}"))

    @staticmethod
    def stdin_is_tty() -> bool:
        import sys

        return sys.stdin.isatty()

"""manage.py restore BACKUP_PATH — restore a backup made by manage.py backup into an EMPTY database.

Checks every checksum of the backup first, refuses a database that has any table, restores in one
transaction, then compares every table's row count with the manifest (and fails loudly if one differs).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from bank import backup
from bank.env import database_from_url


class Command(BaseCommand):
    help = "Restore a StemBank backup directory into an empty PostgreSQL database."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a backup directory (BACKUP_DIR/stembank-...)")
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the DATABASES alias to restore into")
        target.add_argument("--database-url", default=None,
                            help="restore into this database instead (postgres://owner@host:5432/name)")
        parser.add_argument("--no-acl", action="store_true",
                            help="leave out the grants (a server without the bank's database roles)")
        parser.add_argument("--files-to", type=Path, default=None, help="where stored files go (default MEDIA_ROOT)")
        parser.add_argument("--verify-only", action="store_true", help="only check the backup's checksums")

    def handle(self, *args, path, database, database_url, no_acl, files_to, verify_only, **options):
        db = database_from_url(database_url) if database_url else connections[database].settings_dict
        try:
            if verify_only:
                manifest = backup.verify(path)
                self.stdout.write(self.style.SUCCESS(f"{path}: every checksum matches ({manifest['created_at']})."))
                return
            manifest = backup.restore(path, db, acl=not no_acl, files_to=files_to)
        except backup.BackupError as exc:
            raise CommandError(str(exc))
        rows = sum(manifest["row_counts"].values())
        self.stdout.write(self.style.SUCCESS(
            f"Restored {path.name} into {db['NAME']}: {len(manifest['row_counts'])} tables, {rows} rows, "
            "row counts match the manifest."))

"""manage.py backup — back up the database (pg_dump) and the stored files, with a manifest of checksums and
row counts, into a new directory under BACKUP_DIR; keep the newest --keep (BACKUP_KEEP) backups.

Run it nightly (cron, a systemd timer, or `docker compose run --rm backup`); see README "Backups".
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from bank import backup


class Command(BaseCommand):
    help = "Back up the PostgreSQL database and stored files into BACKUP_DIR/stembank-<UTC time>/."

    def add_arguments(self, parser):
        parser.add_argument("--dir", dest="backup_dir", type=Path, default=None,
                            help="where backups go (default: BACKUP_DIR)")
        parser.add_argument("--keep", type=int, default=None,
                            help="keep the newest N backups, delete older ones (default: BACKUP_KEEP)")
        parser.add_argument("--no-prune", action="store_true", help="delete no older backup")
        parser.add_argument("--keys-to", type=Path, default=None,
                            help="also copy the key files (settings *_KEY_FILE) to this directory, which must be "
                                 "outside the backup directory (another disk, a safe)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, backup_dir, keep, no_prune, keys_to, database, **options):
        backup_dir = backup_dir or Path(settings.BACKUP_DIR)
        keep = None if no_prune else (keep or settings.BACKUP_KEEP)
        try:
            if keys_to is not None:
                for key in backup.copy_key_files(keys_to, backup_dir):
                    self.stdout.write(f"key copied to {key}")
            result = backup.backup(connections[database].settings_dict, backup_dir, keep=keep)
        except backup.BackupError as exc:
            raise CommandError(str(exc))
        tables = len(result.manifest["row_counts"])
        rows = sum(result.manifest["row_counts"].values())
        self.stdout.write(self.style.SUCCESS(f"{result.path}"))
        self.stdout.write(f"{tables} tables, {rows} rows, {result.manifest['stored_files']['count']} stored files")
        for path in result.pruned:
            self.stdout.write(f"deleted old backup {path}")

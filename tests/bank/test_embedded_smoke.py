"""What `make run` shows a newcomer works on the embedded default: SQLite, no Redis, the demo bank,
every page reachable from the navigation opened as every demo user without a server error."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_bank_on_sqlite_has_no_broken_page(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(STEMBANK_VAR_DIR=str(tmp_path), EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)

    for step in (("migrate", "--noinput", "-v0"), ("load_demo",)):
        done = manage(*step)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "stembank.sqlite3").exists()
    crawl = manage("smoke")
    assert crawl.returncode == 0, crawl.stdout[-5000:] + crawl.stderr[-5000:]
    assert "; 0 errors" in crawl.stdout
    pages = int(crawl.stdout.strip().splitlines()[-1].split()[0])
    assert pages > 300, crawl.stdout

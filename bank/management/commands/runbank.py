"""manage.py runbank — start the web server, a Celery worker and Celery beat together (make run)."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from bank.demo import DEMO_USERS, NEW_HIRE


class Command(BaseCommand):
    help = "Run web + Celery worker + beat in one terminal; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr, **options):
        python = sys.executable
        host = addr if ":" in addr else f"127.0.0.1:{addr}"
        env = dict(os.environ)
        env.setdefault("SITE_URL", f"http://{host}")  # links in the e-mails the worker sends
        procs = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [python, "-m", "celery", "-A", "bank", "worker", "-l", "warning", "--concurrency", "2"],
            "beat": [python, "-m", "celery", "-A", "bank", "beat", "-l", "warning",
                     "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }
        running = {name: subprocess.Popen(cmd, env=env) for name, cmd in procs.items()}  # noqa: S603
        self.stdout.write(self.style.SUCCESS(f"\nStemBank is running at http://{host}/"))
        self.stdout.write(f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; "
                          f"broker: {settings.CELERY_BROKER_URL.split('@')[-1]}")
        self.stdout.write("Demo logins (username / password):")
        for username, role, full_name, password in DEMO_USERS:
            self.stdout.write(f"  {username:<12} {password:<18} {role} ({full_name})")
        username, role, full_name, password = NEW_HIRE
        self.stdout.write(f"  {username:<12} {password:<18} {role} ({full_name}; must change the password first)")
        self.stdout.write("Ctrl-C stops web, worker and beat.\n")

        def stop(*_args):
            for proc in running.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.time() + 10
            for proc in running.values():
                try:
                    proc.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    proc.kill()

        signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
        try:
            while True:
                for name, proc in running.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} stopped with exit code {proc.returncode}; stopping the rest.")
                        stop()
                        sys.exit(proc.returncode or 1)
                time.sleep(1)
        except KeyboardInterrupt:
            stop()

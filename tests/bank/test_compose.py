"""docker-compose.yml parses and each service's command names a real module (no Docker engine here)."""

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


ONE_SHOT = {"migrate", "backup"}


def test_services_volumes_and_healthchecks():
    compose = load()
    assert set(compose["services"]) == {"db", "redis", "migrate", "web", "worker", "beat", "backup", "proxy"}
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
        else:
            assert "healthcheck" in service, name
    assert compose["services"]["backup"]["profiles"] == ["backup"]  # run on demand (cron), not by `up`
    assert {"pgdata", "redisdata", "appdata", "backups"} <= set(compose["volumes"])
    web = compose["services"]["web"]
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert web["environment"]["DATABASE_URL"].startswith("postgres://")
    assert web["environment"]["REDIS_URL"].startswith("redis://")


def test_commands_name_real_modules():
    services = load()["services"]
    web = " ".join(services["web"]["command"])
    assert "gunicorn bank.wsgi:application" in web
    assert "migrate" not in web  # the one-shot migrate service does it, as the owner role
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["backup"]["command"] == ["python", "manage.py", "backup"]
    module, attr = "bank.wsgi", "application"
    assert callable(getattr(importlib.import_module(module), attr))
    for name in ("worker", "beat"):
        cmd = services[name]["command"]
        assert cmd[:3] == ["celery", "-A", "bank"] and cmd[3] == name
    from bank import celery_app

    assert celery_app.main == "bank"
    # the beat schedule names registered tasks only
    from django.conf import settings

    celery_app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in celery_app.tasks, entry["task"]


def test_every_variable_compose_passes_is_one_the_bank_reads():
    import re

    read = set(re.findall(r'env_\w+\("([A-Z0-9_]+)"', (ROOT / "bank" / "settings.py").read_text()))
    read |= {"DATABASE_URL", "STEMBANK_VAR_DIR"}
    passed = set(load()["x-app-env"])
    assert passed - read == set(), "compose passes variables the settings never read (a typo?)"


def test_gunicorn_does_not_cut_a_long_streamed_export():
    """A sync worker is killed --timeout seconds into any response (it tells the arbiter it lives only between
    requests), so a CSV export streaming a national list for minutes would be cut at 30 s. gthread workers tell it
    from their own loop whatever a request does: --timeout there is a heartbeat that finds a hung process."""
    command = load()["services"]["web"]["command"]

    def option(name):
        assert command.count(name) == 1, name
        return command[command.index(name) + 1]

    assert option("--worker-class") == "gthread"
    assert option("--threads") == "1"  # as measured (docs/performance.md); threads multiply database connections
    assert 10 <= int(option("--timeout")) <= 120
    assert int(option("--workers")) >= 2


def test_the_images_own_command_starts_the_web_as_compose_does():
    """Whoever runs the image without compose gets the same gunicorn (gthread: no cut streams)."""
    import json
    import re

    text = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*?\])\s*$", text.replace("\\\n", " "), re.M | re.S)
    assert cmd, "the Dockerfile has no JSON-form CMD"
    command = json.loads(cmd.group(1))
    assert command == load()["services"]["web"]["command"]

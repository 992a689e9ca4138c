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

"""docker-compose.yml parses and each service's command names a real module (no Docker engine here)."""

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_volumes_and_healthchecks():
    compose = load()
    assert set(compose["services"]) == {"db", "redis", "web", "worker", "beat"}
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
    assert {"pgdata", "redisdata", "appdata"} <= set(compose["volumes"])
    web = compose["services"]["web"]
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["environment"]["DATABASE_URL"].startswith("postgres://")
    assert web["environment"]["REDIS_URL"].startswith("redis://")


def test_commands_name_real_modules():
    services = load()["services"]
    web = " ".join(services["web"]["command"])
    assert "gunicorn bank.wsgi:application" in web
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

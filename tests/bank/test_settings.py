"""Settings come from the environment through strict helpers; production mode passes check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from bank.env import database_from_url, env_bool, env_int, env_str

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("raw,expected", [("true", True), ("1", True), ("Yes", True), ("off", False), ("0", False)])
def test_env_bool_accepts_clear_values(raw, expected):
    assert env_bool("X", not expected, environ={"X": raw}) is expected


@pytest.mark.parametrize("raw", ["ture", "flase", "y", "enabled", "2"])
def test_env_bool_rejects_typos(raw):
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env_bool("X", False, environ={"X": raw})


def test_env_int_rejects_text_and_small_values():
    assert env_int("N", 5, environ={}) == 5
    with pytest.raises(ImproperlyConfigured):
        env_int("N", 5, environ={"N": "five"})
    with pytest.raises(ImproperlyConfigured):
        env_int("N", 5, environ={"N": "0"}, minimum=1)


def test_secret_file_variant(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    assert env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == "s3cr3t"
    with pytest.raises(ImproperlyConfigured):
        env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(ImproperlyConfigured, match="required"):
        env_str("SECRET_KEY", environ={})


def test_database_urls():
    pg = database_from_url("postgres://bank:p%40ss@db.example:5433/stembank?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "bank", "p@ss", "db.example", "5433", "stembank")
    assert pg["OPTIONS"] == {"sslmode": "require",
                             "options": "-c jit=off -c random_page_cost=1.1 -c max_parallel_workers_per_gather=0"}
    assert database_from_url("postgres://x@y/z?options=-c%20jit%3Don")["OPTIONS"] == {"options": "-c jit=on"}
    lite = database_from_url("sqlite:////tmp/bank.sqlite3")
    assert lite["ENGINE"] == "django.db.backends.sqlite3" and lite["NAME"] == "/tmp/bank.sqlite3"
    with pytest.raises(ImproperlyConfigured):
        database_from_url("mysql://x@y/z")


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(extra)
    return env


def _settings_probe(env, code):
    return subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','bank.settings');"
         "django.setup(); from django.conf import settings as s; " + code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def test_embedded_default_needs_no_servers(tmp_path):
    out = _settings_probe(
        _clean_env(STEMBANK_VAR_DIR=str(tmp_path)),
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.DEBUG)",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "True"]


def test_redis_url_switches_broker_and_cache(tmp_path):
    out = _settings_probe(
        _clean_env(STEMBANK_VAR_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:6379/3"),
        "print(s.CELERY_BROKER_URL, s.CACHES['default']['BACKEND'])",
    )
    assert out.returncode == 0, out.stderr
    # Django's Redis cache, answering as a miss while Redis is down (bank/cache.py)
    assert out.stdout.split() == ["redis://127.0.0.1:6379/3", "bank.cache.ResilientRedisCache"]


def test_production_refuses_the_development_secret(tmp_path):
    out = _settings_probe(_clean_env(STEMBANK_VAR_DIR=str(tmp_path), DEBUG="false", ALLOWED_HOSTS="bank.example"),
                          "print(1)")
    assert out.returncode != 0
    assert "SECRET_KEY" in out.stderr


def test_production_mode_passes_check_deploy(tmp_path):
    env = _clean_env(
        STEMBANK_VAR_DIR=str(tmp_path), DEBUG="false", ALLOWED_HOSTS="bank.example",
        SECRET_KEY="a-real-production-secret-of-sufficient-length-0123456789-abcdef",
        # issue 11: production needs the donor identity key (without it: donors.E001, tests/security/test_privacy.py)
        DONOR_IDENTITY_KEY="cHJvZHVjdGlvbi1jaGVjay1pZGVudGl0eS1rZXktMDA=",
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout

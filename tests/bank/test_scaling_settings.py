"""Beyond one machine (issue 13): files through the storage API (local disk by default, an S3-compatible bucket
when STORAGE_S3_BUCKET is set), shared sessions and cache, and the read-replica router."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages

from bank import db_router
from bank.db_router import ReplicaRouter, read_replica, reads_from_replica

ROOT = Path(__file__).resolve().parents[2]
PROBE_VARS = {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_REPLICA_URL",
              "MEDIA_ROOT"}


def probe(code: str, **env):
    clean = {k: v for k, v in os.environ.items() if k not in PROBE_VARS and not k.startswith("STORAGE_S3_")}
    clean.update(env)
    out = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','bank.settings');"
         "django.setup(); from django.conf import settings as s; " + code],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60,
    )
    return out


# --- storage -----------------------------------------------------------------------------------------------


def test_local_disk_by_default_under_media_root(tmp_path):
    out = probe("print(s.STORAGES['default']['BACKEND'], s.STORAGES['default']['OPTIONS']['location'])",
                STEMBANK_VAR_DIR=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["django.core.files.storage.FileSystemStorage", str(tmp_path / "media")]


def test_s3_compatible_bucket_when_configured(tmp_path):
    code = ("from django.core.files.storage import storages; import json; d = storages['default']; "
            "print(json.dumps(s.STORAGES['default'])); print(type(d).__module__ + '.' + type(d).__name__); "
            "print(d.url('coa/CoA-1.pdf'))")
    out = probe(code, STEMBANK_VAR_DIR=str(tmp_path), STORAGE_S3_BUCKET="stembank-files",
                STORAGE_S3_ENDPOINT_URL="https://minio.bank.example:9000", STORAGE_S3_REGION="cn-north-1",
                STORAGE_S3_ACCESS_KEY="AKIDEXAMPLE", STORAGE_S3_SECRET_KEY="s3cr3t", STORAGE_S3_PREFIX="/prod/",
                STORAGE_S3_ADDRESSING_STYLE="path")
    assert out.returncode == 0, out.stderr
    import json

    config, backend, url = out.stdout.strip().splitlines()
    assert json.loads(config) == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "stembank-files", "endpoint_url": "https://minio.bank.example:9000",
                    "region_name": "cn-north-1", "access_key": "AKIDEXAMPLE", "secret_key": "s3cr3t",
                    "location": "prod", "addressing_style": "path", "querystring_auth": True,
                    "querystring_expire": 300, "file_overwrite": False},
    }
    assert backend == "storages.backends.s3.S3Storage"
    # Private objects: a signed, expiring URL (made locally: no request reaches the endpoint).
    assert url.startswith("https://minio.bank.example:9000/stembank-files/prod/coa/CoA-1.pdf?")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url


def test_s3_keys_come_in_pairs(tmp_path):
    out = probe("print(1)", STEMBANK_VAR_DIR=str(tmp_path), STORAGE_S3_BUCKET="b", STORAGE_S3_ACCESS_KEY="only")
    assert out.returncode != 0 and "STORAGE_S3_SECRET_KEY" in out.stderr


def test_s3_without_keys_uses_the_default_credential_chain(tmp_path):
    out = probe("print(sorted(s.STORAGES['default']['OPTIONS']))", STEMBANK_VAR_DIR=str(tmp_path),
                STORAGE_S3_BUCKET="b")
    assert out.returncode == 0, out.stderr
    assert "access_key" not in out.stdout and "endpoint_url" not in out.stdout


def test_files_round_trip_through_the_storage_api(tmp_path, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"],
                                                          "OPTIONS": {**settings.STORAGES["default"]["OPTIONS"],
                                                                      "location": str(tmp_path)}}}
    from django.core.files.storage import default_storage

    assert isinstance(storages["default"], FileSystemStorage)
    name = default_storage.save("reports/unit.pdf", ContentFile(b"%PDF-1.4 test"))
    assert (tmp_path / name).read_bytes() == b"%PDF-1.4 test"
    assert oct((tmp_path / name).stat().st_mode & 0o777) == oct(0o640)
    # Never overwrites: the same name again is stored beside it.
    other = default_storage.save("reports/unit.pdf", ContentFile(b"second"))
    assert other != name and default_storage.open(other).read() == b"second"
    default_storage.delete(other)
    default_storage.delete(name)
    assert not default_storage.exists(name)


# --- sessions and cache ---------------------------------------------------------------------------------------


def test_sessions_and_cache_are_shared_between_processes():
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    # Under test REDIS_URL is set (tests/conftest.py): the cache and the throttle counters are in Redis.
    assert settings.CACHES["default"]["BACKEND"] == "bank.cache.ResilientRedisCache"
    assert settings.CACHES["throttle"]["BACKEND"] == "bank.cache.ResilientRedisCache"


# --- read replica ---------------------------------------------------------------------------------------------


class Model:
    """A stand-in with the one thing the router reads."""

    def __init__(self, app_label):
        self._meta = type("Meta", (), {"app_label": app_label})()


def test_router_without_a_replica_sends_everything_to_default():
    router = ReplicaRouter()
    assert "replica" not in settings.DATABASES
    with read_replica():
        assert router.db_for_read(Model("distribution")) == "default"
    assert router.db_for_write(Model("distribution")) == "default"
    assert router.allow_migrate("default", "lots") and not router.allow_migrate("replica", "lots")


def test_router_with_a_replica_reads_records_in_the_context_only(monkeypatch):
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)
    router = ReplicaRouter()
    assert router.db_for_read(Model("distribution")) == "default"  # outside the context
    with read_replica():
        for app in ("distribution", "lots", "donors", "qc", "storage", "cordblood", "transplant"):
            assert router.db_for_read(Model(app)) == "replica", app
        # The session, the user, the token and the lockout rows of the same request come from the primary.
        for app in ("sessions", "auth", "knox", "bank", "otp_totp", "contenttypes"):
            assert router.db_for_read(Model(app)) == "default", app
        assert router.db_for_write(Model("distribution")) == "default"
    assert router.db_for_read(Model("distribution")) == "default"


def test_the_decorator_reads_from_the_replica_for_get_only(monkeypatch, rf):
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)
    seen = []

    @reads_from_replica
    def view(request):
        seen.append(db_router.replica_active())
        return None

    view(rf.get("/"))
    view(rf.post("/"))
    assert seen == [True, False]


def test_settings_with_a_replica(tmp_path):
    code = ("from django.db import connections; from lots.models import Lot; from django.contrib.sessions.models "
            "import Session; from bank.db_router import read_replica; "
            "print(s.DATABASES['replica']['NAME'], s.DATABASES['replica']['TEST']['MIRROR']); "
            "print(Lot.objects.all().db, Session.objects.all().db); "
            "ctx = read_replica(); ctx.__enter__(); print(Lot.objects.all().db, Session.objects.all().db, "
            "Lot.objects.all().select_for_update().db)")
    out = probe(code, STEMBANK_VAR_DIR=str(tmp_path), DATABASE_URL="postgres://app@primary.bank.example/stembank",
                DATABASE_REPLICA_URL="postgres://app@replica.bank.example/stembank")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["stembank default", "default default",
                                       "replica default default"]
    bad = probe("print(1)", STEMBANK_VAR_DIR=str(tmp_path), DATABASE_URL="postgres://app@primary/stembank",
                DATABASE_REPLICA_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert bad.returncode != 0 and "DATABASE_REPLICA_URL" in bad.stderr


@pytest.mark.django_db
def test_catalog_and_trace_views_read_from_the_replica(monkeypatch, client, users):
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)
    # The test database has no replica: record what the router would do and read from default all the same.
    chosen = []

    def db_for_read(self, model, **hints):
        chosen.append((model._meta.app_label, db_router.replica_active()))
        return "default"

    monkeypatch.setattr(ReplicaRouter, "db_for_read", db_for_read)
    client.force_login(users["researcher"])
    assert client.get("/distribution/catalog/").status_code == 200
    assert ("distribution", True) in chosen or ("lots", True) in chosen
    assert not db_router.replica_active()  # reset once the response is made
    chosen.clear()
    assert client.get("/").status_code == 200  # the dashboard is not listed: primary
    assert all(not active for _app, active in chosen)
    assert {"distribution:catalog", "distribution:trace-lot", "api-catalog", "api-trace-vial"} <= set(
        settings.REPLICA_READ_VIEWS)

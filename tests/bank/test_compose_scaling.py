"""`docker compose up --scale web=2 --scale worker=2` (issue 13): only the proxy publishes a port, web and worker
have no fixed port or name, and nginx spreads requests over every web container. No Docker engine here: the
files are checked as text."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def services():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_web_and_worker_scale_and_only_the_proxy_publishes_a_port():
    compose = services()
    for name in ("web", "worker", "beat"):
        assert "ports" not in compose[name], f"{name} would clash with itself under --scale"
        assert "container_name" not in compose[name], name
    assert [p for name, s in compose.items() for p in s.get("ports", [])] == ["${PROXY_PORT:-8000}:80"]
    proxy = compose["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert "./deploy/nginx/stembank.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    # The client's address comes through the proxy's X-Forwarded-For (lockout and throttles per address).
    assert compose["web"]["environment"]["TRUSTED_PROXY_COUNT"] == "${TRUSTED_PROXY_COUNT:-1}"


def test_nginx_proxies_to_every_web_container():
    conf = (ROOT / "deploy" / "nginx" / "stembank.conf").read_text()
    assert re.search(r"resolver 127\.0\.0\.11\b", conf)  # Docker's DNS: one address per web container
    assert re.search(r"server web:8000 resolve\b", conf)
    assert "proxy_pass http://stembank_web;" in conf
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf  # never a client's own header
    assert conf.count("{") == conf.count("}")
    # The web port nginx uses is the one gunicorn binds in the image and in compose.
    assert "0.0.0.0:8000" in " ".join(services()["web"]["command"])
    assert "EXPOSE 8000" in (ROOT / "Dockerfile").read_text()


def test_scaling_variables_reach_the_app():
    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app-env"]
    assert {"STORAGE_S3_BUCKET", "STORAGE_S3_ENDPOINT_URL", "STORAGE_S3_ACCESS_KEY", "STORAGE_S3_SECRET_KEY",
            "DATABASE_REPLICA_URL", "BEAT_LEASE_SECONDS"} <= set(env)

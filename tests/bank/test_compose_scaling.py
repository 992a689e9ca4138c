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


# --- request limits (issue 17): big imports reach the app, long exports are not cut ----------------------------------

NGINX_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")


def nginx_tree(text: str) -> list:
    """nginx's configuration as statements ``(words, children)``; ``children`` is None for a plain directive."""
    tokens = re.findall(r'[{};]|"[^"]*"|[^\s{};"]+', re.sub(r"#[^\n]*", "", text))
    stack: list[list] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            block: list = []
            stack[-1].append((words, block))
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        elif token == ";":
            stack[-1].append((words, None))
            words = []
        else:
            words.append(token.strip('"'))
    assert len(stack) == 1 and not words, "unbalanced braces"
    return stack[0]


def directive(block: list, name: str) -> list[str] | None:
    """The arguments of ``name`` set directly in ``block`` (not in a nested block), or None."""
    found = [words[1:] for words, children in block if children is None and words[0] == name]
    assert len(found) <= 1, f"{name} set twice"
    return found[0] if found else None


def size_in_bytes(value: str) -> int:
    number, unit = NGINX_SIZE.match(value).groups()
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]


def server_block() -> list:
    tree = nginx_tree((ROOT / "deploy" / "nginx" / "stembank.conf").read_text())
    (server,) = [children for words, children in tree if words == ["server"]]
    return server


def locations(server: list) -> dict[tuple[str, ...], list]:
    return {tuple(words[1:]): children for words, children in server if words[0] == "location"}


def location_for(server: list, path: str) -> tuple[str, ...]:
    """The location nginx picks for ``path``: an exact match, else the longest prefix unless a regular expression
    matches (the first in the file), unless that prefix is ``^~`` (nginx's documented order)."""
    where = list(locations(server))
    exact = [loc for loc in where if loc[0] == "=" and loc[1] == path]
    if exact:
        return exact[0]
    prefixes = sorted((loc for loc in where if len(loc) == 1 or loc[0] == "^~"), key=lambda loc: -len(loc[-1]))
    prefix = next((loc for loc in prefixes if path.startswith(loc[-1])), None)
    if prefix is not None and prefix[0] == "^~":
        return prefix
    for loc in where:
        if loc[0] in ("~", "~*") and re.search(loc[1], path, re.IGNORECASE if loc[0] == "~*" else 0):
            return loc
    assert prefix is not None, f"no location for {path}"
    return prefix


def body_limit(server: list, path: str) -> int:
    own = directive(locations(server)[location_for(server, path)], "client_max_body_size")
    return size_in_bytes((own or directive(server, "client_max_body_size"))[0])


IMPORT_PATHS = ["/imports/", "/api/v1/imports/inventory/", "/api/v1/imports/cord_blood/",
                "/api/v1/imports/cell_lines/"]
OTHER_POSTS = ["/api/v1/storage/units/1/readings/", "/transplant/orders/1/ship/", "/api/v1/lots/",
               "/importsx/", "/api/v1/importsx/", "/x/imports/", "/api/v1/storage/imports/", "/jobs/1/"]


def test_only_the_import_paths_take_a_million_row_file():
    """The page and API that import (imports/urls.py, imports/api/urls.py) take a 1,000,000-row file; every other
    path keeps the 12 MB limit (forms, JSON, the temperature logger's file of 5 MB at most)."""
    from django.urls import resolve

    server = server_block()
    assert directive(server, "client_max_body_size") == ["12m"]
    assert resolve("/imports/").url_name == "index"
    for path in IMPORT_PATHS[1:]:
        assert resolve(path).url_name == "api-import", path
    # The longest row of the shipped samples, a million times (cord blood rows with HLA are the widest).
    samples = ROOT / "imports" / "samples"
    widest = max(len(line.encode()) + 1 for f in samples.glob("*.csv") for line in f.read_text().splitlines()[1:])
    assert widest > 200
    for path in IMPORT_PATHS:
        assert body_limit(server, path) >= 1_000_000 * widest, path
    for path in OTHER_POSTS:
        assert body_limit(server, path) == 12 * 1024 * 1024, path
    # Exactly one location raises the limit, and it is the imports' one.
    raised = [loc for loc, block in locations(server).items() if directive(block, "client_max_body_size")]
    assert raised == [location_for(server, "/imports/")] == [location_for(server, "/api/v1/imports/inventory/")]


def test_an_import_is_read_whole_by_the_proxy_before_it_reaches_web():
    server = server_block()
    imports = locations(server)[location_for(server, "/imports/")]
    # Buffered to the proxy's disk first (the default, spelt out): a slow upload holds no gunicorn worker.
    assert directive(imports, "proxy_request_buffering") == ["on"]
    assert directive(imports, "proxy_pass") == ["http://stembank_web"]
    assert int(directive(imports, "proxy_read_timeout")[0].rstrip("s")) >= 120


def test_streamed_exports_are_neither_buffered_nor_cut_by_the_proxy():
    server = server_block()
    assert directive(server, "proxy_buffering") == ["off"]
    assert int(directive(server, "proxy_read_timeout")[0].rstrip("s")) >= 120
    for loc, block in locations(server).items():
        assert directive(block, "proxy_pass") == ["http://stembank_web"], loc
        # A location that sets any proxy_set_header would lose the server's (nginx does not merge them).
        assert directive(block, "proxy_set_header") is None, loc
        assert directive(block, "proxy_buffering") in (None, ["off"]), loc
    headers = {words[1] for words, children in server if words[0] == "proxy_set_header"}
    assert {"Host", "X-Forwarded-For", "X-Forwarded-Proto", "Connection"} <= headers


def test_gunicorn_keeps_connections_longer_than_the_proxy_reuses_them():
    """gthread workers keep a connection alive (sync ones close every one): gunicorn's --keep-alive must outlast
    nginx's idle upstream connections, or nginx may send a request on a connection gunicorn just closed."""
    command = services()["web"]["command"]
    keep_alive = int(command[command.index("--keep-alive") + 1])
    tree = nginx_tree((ROOT / "deploy" / "nginx" / "stembank.conf").read_text())
    (upstream,) = [children for words, children in tree if words[:1] == ["upstream"]]
    assert keep_alive > int(directive(upstream, "keepalive_timeout")[0].rstrip("s"))

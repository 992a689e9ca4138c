"""manage.py smoke — open every page reachable from the navigation as each demo user; report errors
and dead links (a page linking to something its reader may not open).

Used on the embedded SQLite default (tests/bank/test_embedded_smoke.py) after ``load_demo``, so what
``make run`` shows a newcomer is checked the way they would click through it: links followed from the
dashboard, at most a few URLs per URL shape, any 5xx or exception reported.
"""

import json as jsonlib
import re
from collections import deque
from html.parser import HTMLParser

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.test import Client

from bank.demo import DEMO_USERS
from bank.roles import is_sensor_account

SKIP = re.compile(r"^/(static|admin|accounts/logout|i18n)/|^/api/v1/docs/")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith("/") and not href.startswith("//"):
                self.links.append(href.split("#")[0])


def shape(url: str) -> str:
    """The URL with numbers and query values blanked: /lots/12/?tab=x -> /lots/N/?tab="""
    path, _sep, query = url.partition("?")
    return re.sub(r"\d+", "N", path) + ("?" + re.sub(r"=[^&]*", "=", query) if query else "")


class Command(BaseCommand):
    help = "Crawl the pages of the demo bank as every demo user; exit 1 on any server error."

    def add_arguments(self, parser):
        parser.add_argument("--per-shape", type=int, default=2)
        parser.add_argument("--max-pages", type=int, default=200)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, per_shape, max_pages, json: bool = False, **options):
        report = {"pages": 0, "errors": [], "dead_links": [], "users": {}}
        for username, _role, _name, _password in DEMO_USERS:
            user = get_user_model().objects.get(username=username)
            client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
            client.force_login(user)
            if is_sensor_account(user):
                # A sensor opens no page: the home page must refuse it, and there is nothing to crawl.
                status = client.get("/").status_code
                if status != 403:
                    report["errors"].append({"user": username, "url": "/", "status": status})
                report["users"][username] = 1
                report["pages"] += 1
                continue
            seen, shapes, queue = set(), {}, deque([("/", None)])
            while queue and len(seen) < max_pages:
                url, parent = queue.popleft()
                if url in seen or SKIP.search(url):
                    continue
                key = shape(url)
                if shapes.get(key, 0) >= per_shape:
                    continue
                shapes[key] = shapes.get(key, 0) + 1
                seen.add(url)
                response = client.get(url)
                if response.status_code >= 500:
                    report["errors"].append({"user": username, "url": url, "status": response.status_code})
                    continue
                if response.status_code in (403, 404):  # a page linked to something this user cannot open
                    report["dead_links"].append({"user": username, "url": url, "status": response.status_code,
                                                 "from": parent})
                    continue
                if response.get("Content-Type", "").startswith("text/html") and response.status_code == 200:
                    parser = _Links()
                    parser.feed(response.content.decode("utf-8", "replace"))
                    queue.extend((link, url) for link in parser.links if link not in seen)
            report["users"][username] = len(seen)
            report["pages"] += len(seen)
        if json:
            self.stdout.write(jsonlib.dumps(report))
        else:
            self.stdout.write(f"{report['pages']} pages opened; {len(report['errors'])} errors; "
                              f"{len(report['dead_links'])} dead links")
            for error in report["errors"] + report["dead_links"]:
                self.stdout.write(f"  {error['status']} {error['user']} {error['url']} (from {error.get('from')})")
        if report["errors"] or report["dead_links"]:
            raise SystemExit(1)

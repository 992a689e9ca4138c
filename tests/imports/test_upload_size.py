"""A big import file reaches the job whole (issue 17: files of a million rows run as jobs).

The proxy lets the import paths take up to 1 GB (deploy/nginx/stembank.conf, pinned by
tests/bank/test_compose_scaling.py); past the proxy nothing in Django or in imports/ caps the file: a multipart
file is written to a temporary file once past FILE_UPLOAD_MAX_MEMORY_SIZE and is not counted against
DATA_UPLOAD_MAX_MEMORY_SIZE (which bounds the other fields), and a file over IMPORTS_SYNC_MAX_BYTES goes to a job.
These tests post a file bigger than every one of those limits, with the settings as shipped."""

from __future__ import annotations

import hashlib

import pytest
from django.conf import settings

from bank.models import Job
from imports.models import ImportRun
from tests.imports.conftest import build_file, vial_rows

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def big_file_content() -> bytes:
    """An inventory CSV of about 3.2 MB: 360 lots of 81 vials."""
    rows = [row for k in range(360) for row in vial_rows("ABCi001-A", f"MCB-BIG-{k:03d}", "QBOX1", 81)]
    return build_file("inventory", rows).read()


def upload(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("legacy-inventory.csv", content, content_type="text/csv")


def assert_handed_whole_to_a_job(content: bytes) -> Job:
    run = ImportRun.objects.get()
    assert run.filename == "legacy-inventory.csv" and run.sha256 == hashlib.sha256(content).hexdigest()
    job = run.job
    assert job.kind == "imports.run" and job.status == Job.Status.QUEUED
    with job.input_file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == run.sha256  # stored whole for the worker
    return job


def test_the_file_is_bigger_than_every_limit_django_and_imports_apply(big_file_content):
    size = len(big_file_content)
    assert size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # 2.5 MB: not applied to a multipart file
    assert size > settings.FILE_UPLOAD_MAX_MEMORY_SIZE  # past it the upload goes to a temporary file
    assert size > settings.IMPORTS_SYNC_MAX_BYTES  # past it the import is a job


def test_the_api_hands_a_big_file_to_a_job(place, users, api, big_file_content):
    answer = api(users["technician"]).post("/api/v1/imports/inventory/",
                                           {"file": upload(big_file_content), "source": "old-lims"},
                                           format="multipart")
    assert answer.status_code == 202, answer.content[:500]
    job = assert_handed_whole_to_a_job(big_file_content)
    assert answer.json()["job"]["id"] == job.pk and answer["Location"].endswith(f"/api/v1/jobs/{job.pk}/")


def test_the_page_hands_a_big_file_to_a_job(place, users, client, big_file_content):
    client.force_login(users["technician"])
    answer = client.post("/imports/", {"kind": "inventory", "source": "old-lims", "file": upload(big_file_content),
                                       "signer_username": "", "signer_password": ""})
    assert answer.status_code == 302, answer.content[:500]
    job = assert_handed_whole_to_a_job(big_file_content)
    assert answer.url == f"/jobs/{job.pk}/"

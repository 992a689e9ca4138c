"""Every cord blood test runs in a bank with an ethics approval in force (issue 15: REQUIRE_ETHICS_APPROVAL, on by
default, refuses a collection without one); the rule itself is tested in tests/donors/test_ethics_required.py."""

import pytest


@pytest.fixture(autouse=True)
def _ethics_in_force(request):
    if "django_db" not in {mark.name for mark in request.node.iter_markers()}:
        return
    request.getfixturevalue("db")  # the test's own database set-up (transactional when its marker says so)
    from tests.factories import ethics_in_force

    ethics_in_force()

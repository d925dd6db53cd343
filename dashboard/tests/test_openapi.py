"""The OpenAPI document is locked: the served one must equal the stored copy, parse strictly and validate."""

from __future__ import annotations

import difflib
import io

import pytest
from django.core.management import call_command
from openapi_spec_validator import validate

from dashboard.management.commands.openapi import STORED, canonical, strict_loads

pytestmark = pytest.mark.django_db

REGENERATE = ".venv/bin/python manage.py openapi --write"


@pytest.fixture
def served(client, viewer_user) -> str:
    """The text /api/v1/openapi.json answers a logged-in viewer."""
    client.force_login(viewer_user)
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.content.decode()


def test_the_served_document_has_no_key_twice(served):
    strict_loads(served)


def test_the_served_document_is_valid_openapi(served):
    validate(strict_loads(served))


def test_the_served_document_is_the_stored_copy(served):
    expected = STORED.read_text(encoding="utf-8")
    actual = canonical(strict_loads(served))
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile="dashboard/tests/openapi.json (stored)",
                tofile="/api/v1/openapi.json (served)",
                n=4,
            )
        )
        pytest.fail(
            f"The API's OpenAPI document changed. If the change is intended, store it with `{REGENERATE}` "
            f"and commit the file with the change; otherwise undo what changed it.\n{diff}",
            pytrace=False,
        )


def test_the_command_prints_what_is_served(served):
    out = io.StringIO()
    call_command("openapi", stdout=out)
    assert out.getvalue() == canonical(strict_loads(served))


def test_strict_loads_refuses_a_key_twice():
    with pytest.raises(ValueError, match="'503' appears twice"):
        strict_loads('{"responses": {"503": {}, "200": {}, "503": {}}}')

"""The API's error answers: the shared shape, documented in OpenAPI, with the right status codes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_every_operation_documents_the_error_shape(client, viewer_user):
    client.force_login(viewer_user)
    schema = client.get("/api/v1/openapi.json").json()
    error = schema["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"detail"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            ref = responses["4XX"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorOut", f"{method} {path}"


def test_npm_not_configured_is_a_client_side_409_not_a_bad_gateway(api_client, viewer_user, monkeypatch):
    for name in ("PORTICO_NPM_URL", "PORTICO_NPM_IDENTITY", "PORTICO_NPM_SECRET"):
        monkeypatch.delenv(name, raising=False)
    response = api_client(viewer_user).get("/api/v1/npm/hosts")
    assert response.status_code == 409
    assert response.json()["detail"].startswith("NPM is not configured")


def test_an_unknown_container_state_filter_is_a_field_error(api_client, viewer_user):
    response = api_client(viewer_user).get("/api/v1/containers?state=bogus")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "state"

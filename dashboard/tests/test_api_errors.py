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


@pytest.mark.parametrize(
    ("method", "path", "status", "words"),
    [
        ("get", "/api/v1/no-such-thing", 404, "No such API endpoint: GET /api/v1/no-such-thing"),
        ("get", "/api/v1/routes/1/deeper", 404, "No such API endpoint"),
        ("delete", "/api/v1/health", 405, "DELETE is not allowed on /api/v1/health; it takes GET"),
        ("post", "/api/v1/revisions", 405, "POST is not allowed on /api/v1/revisions; it takes GET"),
    ],
)
def test_unknown_paths_and_methods_answer_in_the_error_shape(api_client, viewer_user, method, path, status, words):
    response = getattr(api_client(viewer_user), method)(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert words in body["detail"] and body["errors"] == []
    if status == 405:
        assert "GET" in response["Allow"]


def test_pages_keep_their_html_not_found(client, viewer_user):
    client.force_login(viewer_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")

"""Every URL needs a login or a token, except login, health and static files."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Views that must answer anonymous requests.
PUBLIC = {"login", "api:health", "favicon"}
# Answer 404 to everyone, logged in or not (ninja's bare API root).
NOT_FOUND_FOR_ALL = {"api:api-root"}
SAMPLE = {"int": "1", "str": "x", "slug": "x", "uuid": "00000000-0000-0000-0000-000000000000", "path": "x/y"}


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield (f"{namespace}{entry.name}" if entry.name else None), prefix + str(entry.pattern)


def _concrete(route: str) -> str | None:
    if route.startswith("^"):  # regex patterns: turn into a sample path
        route = route.lstrip("^").rstrip("$")
        route = re.sub(r"\(\?P<\w+>[^)]*\)", "x", route)
        if any(c in route for c in "()[]*+?\\"):
            return None
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), route)
    return "/" + route


def all_urls():
    urls = []
    for name, route in _walk(get_resolver().url_patterns):
        url = _concrete(route)
        if url is not None and name not in PUBLIC:
            urls.append(pytest.param(url, name in NOT_FOUND_FOR_ALL, id=f"{name or '?'} {url}"))
    return urls


def test_the_walk_finds_the_pages_and_the_api():
    found = {p.values[0] for p in all_urls()}
    assert "/" in found
    assert "/tokens/" in found
    assert "/api/v1/tokens" in found
    assert "/api/v1/openapi.json" in found


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "not_found_for_all"), all_urls())
def test_anonymous_requests_are_refused(client, url, not_found_for_all):
    refused = 0
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(client, method)(url)
        assert response.status_code not in range(200, 300), f"{method.upper()} {url} answered {response.status_code}"
        if url.startswith("/api/"):
            assert response.status_code in (401, 404, 405), f"{method.upper()} {url}: {response.status_code}"
            refused += response.status_code == 401 or (not_found_for_all and response.status_code == 404)
        else:
            if response.status_code == 302:
                assert "/login/" in response["Location"], f"{method.upper()} {url} redirects elsewhere"
                refused += 1
            else:
                assert response.status_code in (403, 404, 405), f"{method.upper()} {url}: {response.status_code}"
    assert refused, f"{url} never asked for a login"


@pytest.mark.django_db
def test_login_and_health_are_public(client):
    assert client.get("/login/").status_code == 200
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "docker", "nginx"}
    assert body["status"] == "ok"
    for part in ("docker", "nginx"):
        assert body[part] == "ok" or body[part].startswith("unavailable: ")


@pytest.mark.django_db
def test_static_files_are_public(client):
    response = client.get("/static/portico/portico.css")
    assert response.status_code == 200


@pytest.mark.django_db
def test_api_docs_work_offline_for_a_logged_in_user(client, viewer_user):
    client.force_login(viewer_user)
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger" in html.lower()
    assert "cdn" not in html.lower()  # served from our own static files
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/health" in schema["paths"]

"""Every list the API answers is paged (``?page=&page_size=``) and filterable; the OpenAPI document says so."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Log endpoints answer a window of lines chosen by tail/since/until/search, the way `docker logs` does;
# pages of a log that grows while it is read would skip or repeat lines.
LOG_WINDOWS = {"/api/v1/containers/{ref}/logs", "/api/v1/domain-logs/{domain}"}
PAGE_FIELDS = {"count", "page", "page_size", "pages", "items"}


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_list_operation_is_paged_and_has_filters(client, viewer_user):
    client.force_login(viewer_user)
    schema = client.get("/api/v1/openapi.json").json()
    paged = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get or "200" not in get["responses"]:
            continue
        content = get["responses"]["200"].get("content", {}).get("application/json")
        if not content:
            continue
        body = _resolve(schema, content["schema"])
        query = {p["name"] for p in get.get("parameters", []) if p["in"] == "query"}
        if body.get("type") == "array":
            assert path in LOG_WINDOWS, f"GET {path} answers a bare list: page it with PagePagination"
            assert {"tail", "since", "until"} <= query, path
        elif set(body.get("properties", {})) == PAGE_FIELDS:
            assert {"page", "page_size"} <= query, path
            assert query - {"page", "page_size"}, f"GET {path} is paged but has no filter"
            paged.append(path)
    expected = {"routes", "domains", "revisions", "containers", "engines", "npm/hosts", "tokens", "audit", "users"}
    expected.add("certificates")
    assert {p.removeprefix("/api/v1/") for p in paged} == expected


def test_revisions_page_newest_first_and_filter(api_client, viewer_user, operator_user):
    from datetime import timedelta

    from django.utils import timezone

    from publishing.models import Revision

    now = timezone.now()
    for n in range(1, 8):
        Revision.objects.create(
            number=n,
            created_at=now - timedelta(hours=8 - n),
            status="failed" if n in (3, 5) else "applied",
            author=operator_user if n % 2 else None,
            author_name=operator_user.username if n % 2 else "cli",
            publisher="npm" if n == 6 else "nginx",
            message="nginx -t: unknown directive" if n == 5 else "",
            diff='+    location "/task/" {' if n == 4 else "",
        )
    Revision.objects.filter(number=7).update(rollback_of=Revision.objects.get(number=2))
    api = api_client(viewer_user)

    def numbers(**query) -> list[int]:
        answer = api.get("/api/v1/revisions", query)
        assert answer.status_code == 200, answer.content
        return [r["number"] for r in answer.json()["items"]]

    page = api.get("/api/v1/revisions", {"page": 2, "page_size": 3}).json()
    assert (page["count"], page["pages"]) == (7, 3)
    assert [r["number"] for r in page["items"]] == [4, 3, 2]
    assert numbers(status="failed") == [5, 3]
    assert numbers(publisher="npm") == [6]
    assert numbers(author="cli") == [6, 4, 2]
    assert numbers(rollbacks="true") == [7]
    assert numbers(rollbacks="false", status="applied", author="cli") == [6, 4, 2]
    assert numbers(q="unknown directive") == [5]
    assert numbers(q="/task/") == [4]
    assert numbers(since=(now - timedelta(hours=2)).isoformat()) == [7, 6]
    assert numbers(until=(now - timedelta(hours=6, minutes=30)).isoformat()) == [1]
    bad = api.get("/api/v1/revisions", {"status": "bogus"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_engines_page_filter_and_ping_only_the_page_asked_for(api_client, viewer_user, monkeypatch):
    from containers import engines
    from containers.models import Engine

    Engine.objects.create(name="lab-ssh", url="ssh://student@lab.example")
    Engine.objects.create(name="remote-tcp", url="tcp://docker.example:2376")
    api = api_client(viewer_user)

    def names(**query) -> list[str]:
        answer = api.get("/api/v1/engines", query)
        assert answer.status_code == 200, answer.content
        return [e["name"] for e in answer.json()["items"]]

    assert names() == ["local", "lab-ssh", "remote-tcp"]
    assert names(kind="ssh") == ["lab-ssh"]
    assert names(kind="unix") == ["local"]
    assert names(q="docker.example") == ["remote-tcp"]
    assert names(q="LAB") == ["lab-ssh"]

    pinged = []

    class Answering:
        def __init__(self, engine, timeout=None):
            self.engine = engine

        def ping(self):
            pinged.append(self.engine.name)

    monkeypatch.setattr(engines, "client_for", Answering)  # the one client getter every ping goes through
    page = api.get("/api/v1/engines", {"check": "true", "page": 2, "page_size": 1}).json()
    assert page["count"] == 3 and [(e["name"], e["status"]) for e in page["items"]] == [("lab-ssh", "ok")]
    assert pinged == ["lab-ssh"]  # the other two engines were not contacted
    assert [e["status"] for e in api.get("/api/v1/engines").json()["items"]] == [None, None, None]

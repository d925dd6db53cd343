"""GET/PUT /api/v1/config: one document for the whole desired state, JSON and YAML, lossless round trips."""

from __future__ import annotations

import json

import pytest
import yaml

from core.models import AuditEntry
from routes.models import Domain, Route
from routes.state import export_state

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DOC = {
    "version": 1,
    "domains": [
        {
            "name": "gctask.test",
            "enabled": True,
            "notes": "Cloud programming lab — 실습",
            "routes": [
                {"path": "/", "targets": [{"host": "myfront", "port": 80}]},
                {"path": "/task/", "targets": [{"host": "mytaskapi", "port": 80}], "strip_prefix": True},
                {
                    "path": "/user/",
                    "targets": [{"host": "10.0.0.5", "port": 8080, "weight": 3}, {"host": "::1", "port": 8081}],
                    "balance": "ip_hash",
                    "websocket": True,
                    "read_timeout": 120,
                },
            ],
        },
        {"name": "*.apps.test", "enabled": False, "routes": []},
    ],
}


@pytest.fixture
def op(api_client, operator_user):
    return api_client(operator_user)


def put_json(client, doc, query=""):
    return client.put(f"/api/v1/config{query}", json.dumps(doc), content_type="application/json")


def put_yaml(client, text, query=""):
    return client.put(f"/api/v1/config{query}", text, content_type="application/yaml")


def test_put_then_get_gives_the_same_document_in_json_and_yaml(op):
    response = put_json(op, DOC)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] is True
    assert body["created"] == ["gctask.test", "gctask.test/", "gctask.test/task/", "gctask.test/user/", "*.apps.test"]
    exported = op.get("/api/v1/config").json()
    assert exported["domains"][1]["routes"][2]["targets"][0] == {
        "host": "10.0.0.5",
        "port": 8080,
        "weight": 3,
        "backup": False,
    }
    yaml_response = op.get("/api/v1/config", headers={"Accept": "application/yaml"})
    assert yaml_response["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(yaml_response.content) == exported
    assert yaml.safe_load(op.get("/api/v1/config?format=yaml").content) == exported
    assert "실습" in yaml_response.content.decode()  # readable, not \u-escaped


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_then_import_is_lossless(op, fmt):
    put_json(op, DOC)
    text = op.get(f"/api/v1/config?format={fmt}").content
    before = export_state()
    versions = dict(Route.objects.values_list("path", "version"))
    # Importing the export changes nothing at all ...
    again = op.put("/api/v1/config", text, content_type=f"application/{fmt}").json()
    assert again["changed"] is False
    assert versions == dict(Route.objects.values_list("path", "version"))
    # ... and into an empty database it recreates exactly the same state.
    Domain.objects.all().delete()
    assert op.put("/api/v1/config", text, content_type=f"application/{fmt}").status_code == 200
    assert export_state() == before


def test_a_yaml_document_is_accepted(op):
    text = """
domains:
  - name: gctask.test
    routes:
      - path: /
        targets: [{host: myfront, port: 80}]
"""
    response = put_yaml(op, text)
    assert response.status_code == 200, response.content
    assert Route.objects.get().targets.get().host == "myfront"
    entry = AuditEntry.objects.get(action="config.replace")
    assert (entry.source, entry.actor_name) == ("api", "oscar")
    assert entry.after["domains"][0]["name"] == "gctask.test"


def test_dry_run_reports_and_changes_nothing(op):
    put_json(op, DOC)
    before = export_state()
    smaller = {"domains": [DOC["domains"][0]]}
    response = put_json(op, smaller, "?dry_run=true")
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["deleted"] == ["*.apps.test"]
    assert export_state() == before


def test_prune_false_keeps_what_the_document_leaves_out(op):
    put_json(op, DOC)
    other = {"domains": [{"name": "other.test", "routes": [{"path": "/", "targets": [{"host": "x", "port": 1}]}]}]}
    response = put_json(op, other, "?prune=false")
    assert response.json()["deleted"] == []
    assert set(Domain.objects.values_list("name", flat=True)) == {"gctask.test", "*.apps.test", "other.test"}
    assert put_json(op, other).json()["deleted"][-1] == "gctask.test"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["domains"][0]["routes"][1].update(path="/task;/"), "domains.0.routes.1.path"),
        (lambda d: d["domains"][0]["routes"][0]["targets"][0].update(port=0), "domains.0.routes.0.targets.0.port"),
        (lambda d: d["domains"][0].update(name="bad name"), "domains.0.name"),
        (lambda d: d["domains"][0]["routes"].append(dict(d["domains"][0]["routes"][0])), "domains.0.routes"),
        (lambda d: d["domains"].append(dict(d["domains"][0])), "domains"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_an_invalid_document_names_the_field_and_changes_nothing(op, mutate, field):
    put_json(op, DOC)
    before = export_state()
    doc = json.loads(json.dumps(DOC))
    mutate(doc)
    response = put_json(op, doc)
    assert response.status_code == 422, response.content
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert export_state() == before


def test_unparseable_bodies_and_wrong_types_are_refused(op):
    assert put_yaml(op, "domains: [").status_code == 400
    assert op.put("/api/v1/config", "{", content_type="application/json").status_code == 400
    assert put_yaml(op, "- just a list").status_code == 422
    assert op.put("/api/v1/config", "x", content_type="text/plain").status_code == 415
    assert not Domain.objects.exists()


def test_viewers_read_the_config_but_cannot_replace_it(api_client, viewer_user):
    client = api_client(viewer_user)
    assert client.get("/api/v1/config").json() == {"version": 1, "domains": [], "certificates": []}
    assert put_json(client, DOC).status_code == 403
    assert not Domain.objects.exists()


@pytest.mark.nginx
def test_a_dry_run_shows_the_nginx_plan_of_the_document_and_changes_nothing(op, managed_nginx, echo_backend):
    from core.models import AuditEntry as Entry

    front = echo_backend("front")
    doc = {
        "domains": [
            {"name": "plan.test", "routes": [{"path": "/", "targets": [{"host": "127.0.0.1", "port": front.port}]}]}
        ]
    }
    response = put_json(op, doc, "?dry_run=true")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] == ["plan.test", "plan.test/"]
    assert {"file": "portico-plan.test.conf", "action": "create"} in body["plan"]["changes"]
    assert "+++ new/portico-plan.test.conf" in body["plan"]["diff"]
    assert body["plan_error"] == ""
    assert not Domain.objects.exists()
    assert not Entry.objects.exists()
    # Nothing reached nginx either: the same plan is still pending after a real save.
    assert put_json(op, doc).status_code == 200
    assert op.post("/api/v1/plan").json()["changes"] == body["plan"]["changes"]

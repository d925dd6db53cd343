"""The config document: validation, export and replace round-trip."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.models import AuditEntry
from routes.models import Domain, Route
from routes.operations import replace_state
from routes.schemas import ConfigDocument, RouteSpec
from routes.state import export_state

pytestmark = pytest.mark.postgres

GCTASK = {
    "domains": [
        {
            "name": "gctask.test",
            "routes": [
                {"path": "/", "targets": [{"host": "myfront", "port": 80}]},
                {"path": "/task/", "targets": [{"host": "mytaskapi", "port": 80}], "strip_prefix": True},
                {"path": "/user/", "targets": [{"host": "myuserapi", "port": 80}], "balance": "ip_hash"},
            ],
        }
    ]
}


@pytest.mark.django_db
def test_replace_then_export_round_trips():
    doc = ConfigDocument.model_validate(GCTASK)
    changes = replace_state(doc)
    assert changes.created == ["gctask.test", "gctask.test/", "gctask.test/task/", "gctask.test/user/"]
    exported = export_state()
    assert ConfigDocument.model_validate(exported) == doc
    assert replace_state(ConfigDocument.model_validate(exported)).empty
    assert AuditEntry.objects.filter(action="config.replace").count() == 1


@pytest.mark.django_db
def test_a_change_bumps_only_the_changed_routes_version():
    replace_state(ConfigDocument.model_validate(GCTASK))
    changed = {**GCTASK["domains"][0]}
    changed["routes"] = [dict(r) for r in changed["routes"]]
    changed["routes"][1]["targets"] = [{"host": "mytaskapi", "port": 8080}]
    changes = replace_state(ConfigDocument.model_validate({"domains": [changed]}))
    assert changes.updated == ["gctask.test/task/"]
    versions = dict(Route.objects.values_list("path", "version"))
    assert versions == {"/": 1, "/task/": 2, "/user/": 1}


@pytest.mark.django_db
def test_prune_false_keeps_what_the_document_does_not_mention():
    replace_state(ConfigDocument.model_validate(GCTASK))
    other = {"domains": [{"name": "other.test", "routes": [{"path": "/", "targets": [{"host": "x", "port": 1}]}]}]}
    replace_state(ConfigDocument.model_validate(other), prune=False)
    assert set(Domain.objects.values_list("name", flat=True)) == {"gctask.test", "other.test"}
    changes = replace_state(ConfigDocument.model_validate(other))
    assert changes.deleted == ["gctask.test/", "gctask.test/task/", "gctask.test/user/", "gctask.test"]


@pytest.mark.django_db
def test_dry_run_changes_nothing():
    changes = replace_state(ConfigDocument.model_validate(GCTASK), dry_run=True)
    assert len(changes.created) == 4
    assert not Domain.objects.exists()
    assert not AuditEntry.objects.exists()


def test_idn_domains_are_stored_as_punycode():
    doc = ConfigDocument.model_validate({"domains": [{"name": "한국.example"}]})
    assert doc.domains[0].name == "xn--3e0b707e.example"


@pytest.mark.parametrize(
    ("route", "field"),
    [
        ({"path": "/a;b", "targets": [{"host": "x", "port": 1}]}, "path"),
        ({"path": "/a b/", "targets": [{"host": "x", "port": 1}]}, "path"),
        ({"path": "/x/../y", "targets": [{"host": "x", "port": 1}]}, "path"),
        ({"path": "/", "targets": [{"host": "x;y", "port": 1}]}, "host"),
        ({"path": "/", "targets": [{"host": "x", "port": 70000}]}, "port"),
        ({"path": "/", "targets": []}, "targets"),
        ({"path": "/", "targets": [{"host": "x", "port": 1, "backup": True}]}, None),
    ],
)
def test_bad_routes_name_the_field(route, field):
    with pytest.raises(ValidationError) as info:
        RouteSpec.model_validate(route)
    if field:
        error = info.value.errors()[0]
        # A rule over several fields (targets depend on the action) names its field first in the message.
        assert field in str(error["loc"]) or error["msg"].startswith(f"Value error, {field}:"), error


def test_duplicate_paths_and_domains_are_rejected():
    dup = {"path": "/", "targets": [{"host": "x", "port": 1}]}
    with pytest.raises(ValidationError, match="appears twice"):
        ConfigDocument.model_validate({"domains": [{"name": "a.test", "routes": [dup, dup]}]})
    with pytest.raises(ValidationError, match="appears twice"):
        ConfigDocument.model_validate({"domains": [{"name": "a.test"}, {"name": "A.test"}]})


@pytest.mark.parametrize("host", ["0", "127.1", "0x7f.1", "10.1.2"])
def test_a_host_nginx_would_read_as_a_partial_ip_is_refused(host):
    with pytest.raises(ValidationError, match="looks like an IP address"):
        RouteSpec.model_validate({"path": "/", "targets": [{"host": host, "port": 80}]})

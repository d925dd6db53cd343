"""Input PostgreSQL cannot store or compare is refused, or made storable, alike on every engine.

Each case was a 500 on PostgreSQL (a NUL in text, a UTC offset beyond +-15:59) while SQLite took it; the
PostgreSQL pass of scripts/test runs this file too (pytest.mark.postgres). See core/storable.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core import audit
from core.models import AuditEntry
from core.storable import NUL_MESSAGE
from routes.models import Domain

pytestmark = pytest.mark.postgres


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/routes?q=a%00b", "q"),
        ("/api/v1/routes?host=a%00", "host"),
        ("/api/v1/domains?q=%00", "q"),
        ("/api/v1/audit?action=x%00", "action"),
        ("/api/v1/revisions?q=%00&status=applied", "q"),
        ("/api/v1/tokens?q=%00", "q"),
    ],
)
def test_a_nul_in_a_filter_is_a_field_error(api_client, admin_user, url, field):
    response = api_client(admin_user).get(url)
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [{"field": field, "message": NUL_MESSAGE}]


@pytest.mark.django_db
def test_a_nul_in_a_json_body_names_the_field_and_changes_nothing(api_client, operator_user):
    client = api_client(operator_user)
    route = {"domain": "nul.test", "path": "/", "targets": [{"host": "a\x00b", "port": 1}]}
    response = client.post("/api/v1/routes", route, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [{"field": "targets.0.host", "message": NUL_MESSAGE}]
    response = client.post("/api/v1/domains", {"name": "nul.test", "notes": "x\x00"}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "notes", "message": NUL_MESSAGE}]
    assert not Domain.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="domain.").exists()


@pytest.mark.django_db
def test_a_nul_in_a_yaml_config_document_is_a_field_error(api_client, operator_user):
    document = 'domains:\n  - name: nul.test\n    notes: "a\\0b"\n'  # YAML's escape for NUL
    response = api_client(operator_user).put("/api/v1/config", document, content_type="application/yaml")
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [{"field": "domains.0.notes", "message": NUL_MESSAGE}]
    assert not Domain.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_a_page_query_or_an_api_path_is_refused(client, admin_user, api_client):
    client.force_login(admin_user)
    response = client.get("/routes/?q=a%00")
    assert response.status_code == 400
    assert b"NUL characters are not allowed (q)" in response.content
    assert client.get("/audit/?q=%00").status_code == 400
    response = api_client(admin_user).get("/api/v1/engines/a%00b")
    assert response.status_code == 404
    assert NUL_MESSAGE in response.json()["detail"]


@pytest.mark.django_db
def test_times_with_any_utc_offset_filter_by_the_same_instant(api_client, admin_user):
    entry = audit.record("test.event", object_type="test", object_repr="the entry")
    far_west = timezone(-timedelta(hours=20, minutes=22))  # beyond PostgreSQL's +-15:59
    client = api_client(admin_user)

    def count(**params):
        response = client.get("/api/v1/audit", {"action": "test.event", **params})
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count(since=(entry.created_at - timedelta(hours=1)).astimezone(far_west).isoformat()) == 1
    assert count(since=(entry.created_at + timedelta(hours=1)).astimezone(far_west).isoformat()) == 0
    assert count(until=(entry.created_at + timedelta(minutes=1)).astimezone(far_west).isoformat()) == 1
    response = client.get("/api/v1/revisions", {"since": datetime(1236, 7, 16, 4, 57, tzinfo=far_west).isoformat()})
    assert response.status_code == 200, response.content
    # A time that leaves the calendar once converted to UTC is a field error, not a 500.
    response = client.get("/api/v1/audit", {"since": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "since"

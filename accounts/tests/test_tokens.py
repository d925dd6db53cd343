"""API tokens: bearer auth, roles, expiry, revocation, hashing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from core.models import AuditEntry

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def bearer(plain: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {plain}"})


def test_a_token_authenticates_as_its_user(viewer_user, token_for):
    response = bearer(token_for(viewer_user)).get("/api/v1/tokens")
    assert response.status_code == 200
    assert [t["user"] for t in response.json()["items"]] == ["vera"]


def test_the_plain_value_is_never_stored(viewer_user):
    token, plain = ApiToken.issue(viewer_user, "ci")
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert plain not in {str(v) for v in row.values()}
    assert row["token_hash"] == hash_token(plain)
    assert plain.startswith(row["prefix"])


def test_an_expired_token_gets_401(viewer_user):
    _, plain = ApiToken.issue(viewer_user, "old", timezone.now() - timedelta(seconds=1))
    response = bearer(plain).get("/api/v1/tokens")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Authentication required")


def test_a_revoked_token_gets_401(viewer_user):
    token, plain = ApiToken.issue(viewer_user, "gone")
    assert bearer(plain).get("/api/v1/tokens").status_code == 200
    token.revoke()
    assert bearer(plain).get("/api/v1/tokens").status_code == 401


def test_a_wrong_token_gets_401():
    assert bearer("pt_not-a-token").get("/api/v1/tokens").status_code == 401


def test_a_viewer_token_gets_403_on_a_mutation_needing_a_higher_role(viewer_user, admin_user, token_for):
    response = bearer(token_for(viewer_user)).post(
        "/api/v1/tokens", {"name": "for-alice", "user": "alice"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "administer" in response.json()["detail"]
    assert not ApiToken.objects.filter(user=admin_user).exists()


def test_an_admin_creates_a_token_for_another_user(admin_user, viewer_user, token_for):
    response = bearer(token_for(admin_user)).post(
        "/api/v1/tokens", {"name": "script", "user": "vera", "expires_in_days": 7}, content_type="application/json"
    )
    assert response.status_code == 201
    plain = response.json()["token"]
    assert bearer(plain).get("/api/v1/tokens").status_code == 200
    entry = AuditEntry.objects.get(action="token.create")
    assert (entry.actor, entry.actor_name, entry.source) == (admin_user, "alice", "api")
    # The owner is on the entry: "alice made a token" alone would hide that it acts as vera.
    assert entry.after == {"name": "script", "user": "vera"}
    token = ApiToken.objects.get(name="script")
    assert token.user == viewer_user
    bearer(token_for(admin_user, "revoker")).delete(f"/api/v1/tokens/{token.pk}")
    revoked = AuditEntry.objects.get(action="token.revoke")
    assert (revoked.actor_name, revoked.before) == ("alice", {"name": "script", "user": "vera"})


def test_every_way_of_making_a_token_records_its_owner(client, viewer_user, token_for):
    call_command("create_api_token", "vera", name="class")
    client.force_login(viewer_user)
    client.post("/tokens/", {"name": "laptop"})
    bearer(token_for(viewer_user, "api")).post("/api/v1/tokens", {"name": "script"}, content_type="application/json")
    entries = AuditEntry.objects.filter(action="token.create").order_by("id")
    assert [(e.source, e.actor_name, e.after) for e in entries] == [
        ("cli", "", {"name": "class", "user": "vera"}),
        ("ui", "vera", {"name": "laptop", "user": "vera"}),
        ("api", "vera", {"name": "script", "user": "vera"}),
    ]


def test_create_rejects_a_bad_expiry_with_the_field_named(viewer_user, token_for):
    response = bearer(token_for(viewer_user)).post(
        "/api/v1/tokens", {"name": "x", "expires_in_days": 0}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "expires_in_days"


def test_revoke_through_the_api_and_last_used_is_kept(viewer_user, token_for):
    token, plain = ApiToken.issue(viewer_user, "mine")
    caller = bearer(token_for(viewer_user, "caller"))
    assert caller.delete(f"/api/v1/tokens/{token.pk}").json()["state"] == "revoked"
    assert bearer(plain).get("/api/v1/tokens").status_code == 401
    assert ApiToken.objects.get(name="caller").last_used_at is not None


def test_a_user_cannot_revoke_someone_elses_token(viewer_user, operator_user, token_for):
    other, _ = ApiToken.issue(operator_user, "theirs")
    response = bearer(token_for(viewer_user)).delete(f"/api/v1/tokens/{other.pk}")
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.state == "active"


def test_create_api_token_command_prints_a_working_token(viewer_user, capsys):
    call_command("create_api_token", "vera", name="class")
    plain = capsys.readouterr().out.strip()
    assert bearer(plain).get("/api/v1/tokens").status_code == 200


def test_a_second_token_of_the_same_name_is_refused_alike_by_the_page_the_api_and_the_command(
    client, viewer_user, token_for
):
    # One operation refuses it (issue_token raises Conflict on the name); each transport shows that refusal.
    plain = token_for(viewer_user, "ci")
    api = bearer(plain).post("/api/v1/tokens", {"name": "ci"}, content_type="application/json")
    assert api.status_code == 409
    assert api.json()["errors"] == [{"field": "name", "message": "vera already has a token named ci."}]
    client.force_login(viewer_user)
    page = client.post("/tokens/", {"name": "ci"})
    assert "vera already has a token named ci." in page.content.decode()
    with pytest.raises(CommandError, match="vera already has a token named ci."):
        call_command("create_api_token", "vera", name="ci")
    assert ApiToken.objects.filter(user=viewer_user, name="ci").count() == 1


def test_tokens_page_shows_a_new_token_once_and_revokes(client, viewer_user):
    client.force_login(viewer_user)
    page = client.post("/tokens/", {"name": "laptop"})
    plain = ApiToken.objects.get(name="laptop")
    html = page.content.decode()
    assert 'data-testid="new-token"' in html
    assert client.get("/tokens/").content.decode().count('data-testid="new-token"') == 0
    client.post(f"/tokens/{plain.pk}/revoke/")
    plain.refresh_from_db()
    assert plain.state == "revoked"


def test_admins_page_and_filter_everyones_tokens(admin_user, viewer_user, token_for):
    for n in range(3):
        ApiToken.issue(viewer_user, f"script-{n}")
    ApiToken.issue(viewer_user, "old")[0].revoke()
    admin = bearer(token_for(admin_user, "admin-cli"))
    page = admin.get("/api/v1/tokens?page_size=2").json()
    assert (page["count"], page["pages"], len(page["items"])) == (5, 3, 2)
    assert admin.get("/api/v1/tokens?user=vera").json()["count"] == 4
    assert [t["name"] for t in admin.get("/api/v1/tokens?state=revoked").json()["items"]] == ["old"]
    assert admin.get("/api/v1/tokens?q=script&state=active").json()["count"] == 3
    # A viewer's user filter cannot reach beyond its own tokens.
    viewer = bearer(token_for(viewer_user, "mine"))
    assert viewer.get("/api/v1/tokens?user=alice").json()["count"] == 0

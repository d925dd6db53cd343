"""/api/v1/users: accounts for a class in one script, roles that take effect, and no way to lock admins out."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from core.models import AuditEntry
from core.roles import can, role_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def post(api, body):
    return api.post("/api/v1/users", body, content_type="application/json")


def patch(api, name, body, if_match=None):
    headers = {"If-Match": if_match} if if_match else {}
    return api.patch(f"/api/v1/users/{name}", body, content_type="application/json", headers=headers)


def test_an_admin_makes_a_class_of_students_who_can_then_use_their_role(api_client, admin_user, client):
    api = api_client(admin_user)
    for i in range(1, 4):
        made = post(api, {"username": f"student{i}", "password": "gctask-lab-77", "role": "viewer"})
        assert made.status_code == 201, made.content
        assert made["Location"] == f"/api/v1/users/student{i}"
        assert made.json()["role"] == "viewer" and made.json()["is_active"] is True
    listed = api.get("/api/v1/users", {"role": "viewer"}).json()
    assert [u["username"] for u in listed["items"]] == ["student1", "student2", "student3"]
    assert api.get("/api/v1/users", {"q": "student2"}).json()["count"] == 1

    assert client.login(username="student2", password="gctask-lab-77")
    assert client.get("/api/v1/routes").status_code == 200  # viewers read
    assert client.post("/api/v1/apply").status_code == 403  # and may not publish

    fresh = api.get("/api/v1/users/student2")
    promoted = patch(api, "student2", {"role": "operator"}, if_match=fresh["ETag"])
    assert promoted.status_code == 200 and promoted.json()["role"] == "operator"
    assert can(get_user_model().objects.get(username="student2"), "operate")
    entry = AuditEntry.objects.get(action="user.update")
    assert entry.before["role"] == "viewer" and entry.after["role"] == "operator"
    assert entry.after["password_changed"] is False
    assert "password" not in entry.before and "gctask-lab-77" not in str(entry.after)


def test_bad_input_names_the_field_and_changes_nothing(api_client, admin_user):
    api = api_client(admin_user)
    weak = post(api, {"username": "s1", "password": "123", "role": "viewer"})
    assert weak.status_code == 422 and {e["field"] for e in weak.json()["errors"]} == {"password"}
    bad_role = post(api, {"username": "s1", "password": "gctask-lab-77", "role": "root"})
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"
    bad_name = post(api, {"username": "s 1", "password": "gctask-lab-77", "role": "viewer"})
    assert bad_name.status_code == 422 and bad_name.json()["errors"][0]["field"] == "username"
    bad_mail = post(api, {"username": "s1", "password": "gctask-lab-77", "role": "viewer", "email": "nope"})
    assert bad_mail.status_code == 422 and bad_mail.json()["errors"][0]["field"] == "email"
    assert not get_user_model().objects.filter(username="s1").exists()
    assert post(api, {"username": "s1", "password": "gctask-lab-77", "role": "viewer"}).status_code == 201
    twice = post(api, {"username": "s1", "password": "gctask-lab-77", "role": "viewer"})
    assert twice.status_code == 409 and twice.json()["errors"][0]["field"] == "username"
    assert patch(api, "nobody", {"role": "viewer"}).status_code == 404
    assert AuditEntry.objects.filter(action="user.create").count() == 1


def test_only_admins_manage_users(api_client, operator_user, viewer_user):
    for user in (operator_user, viewer_user):
        api = api_client(user)
        assert api.get("/api/v1/users").status_code == 403
        assert post(api, {"username": "x1", "password": "gctask-lab-77", "role": "admin"}).status_code == 403
        assert patch(api, user.username, {"role": "admin"}).status_code == 403
    assert role_of(get_user_model().objects.get(username=operator_user.username)) == "operator"


def test_switched_off_accounts_cannot_log_in_and_the_last_admin_stays(api_client, admin_user, client):
    admin_user.is_superuser = admin_user.is_staff = True  # as manage.py ensure_admin makes the first admin
    admin_user.save()
    api = api_client(admin_user)
    post(api, {"username": "student1", "password": "gctask-lab-77", "role": "operator"})
    off = patch(api, "student1", {"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert not client.login(username="student1", password="gctask-lab-77")
    assert api.get("/api/v1/users", {"active": "false"}).json()["items"][0]["role"] == "operator"

    for change in ({"role": "viewer"}, {"is_active": False}):
        refused = patch(api, admin_user.username, change)
        assert refused.status_code == 409 and "last active admin" in refused.json()["detail"]
    assert role_of(get_user_model().objects.get(username=admin_user.username)) == "admin"
    # With a second admin the first may step down (a superuser loses its superpowers with the role).
    post(api, {"username": "teacher2", "password": "gctask-lab-77", "role": "admin"})
    assert patch(api, admin_user.username, {"role": "viewer"}).status_code == 200
    demoted = get_user_model().objects.get(username=admin_user.username)
    assert role_of(demoted) == "viewer" and not demoted.is_superuser


def test_a_new_password_replaces_the_old_one_and_is_recorded_as_changed(api_client, admin_user, client):
    api = api_client(admin_user)
    post(api, {"username": "student1", "password": "gctask-lab-77", "role": "viewer"})
    assert patch(api, "student1", {"password": "another-pass-93"}).status_code == 200
    assert not client.login(username="student1", password="gctask-lab-77")
    assert client.login(username="student1", password="another-pass-93")
    assert AuditEntry.objects.get(action="user.update").after["password_changed"] is True

"""The Users page: admins make accounts, change roles and switch accounts off in the browser's own page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from core.models import AuditEntry
from core.roles import role_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
HX = {"HX-Request": "true"}


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


def test_only_admins_see_and_use_the_page(client, operator_user, viewer_user, admin_user):
    for user in (operator_user, viewer_user):
        client.force_login(user)
        assert client.get(reverse("users")).status_code == 403
        assert (
            client.post(reverse("users"), {"username": "x", "password": "gctask-lab-77", "role": "admin"}).status_code
            == 403
        )
        assert client.post(reverse("user-update", args=[user.username]), {"role": "admin"}).status_code == 403
        assert 'href="/users/"' not in client.get(reverse("overview")).content.decode()
    assert not get_user_model().objects.filter(username="x").exists()
    client.force_login(admin_user)
    page = client.get(reverse("users")).content.decode()
    assert 'href="/users/"' in page and f'data-username="{operator_user.username}"' in page


def test_making_an_account_with_and_without_javascript(admin, client):
    made = admin.post(reverse("users"), {"username": "student1", "password": "gctask-lab-77", "role": "viewer"})
    assert made.status_code == 302 and made["Location"] == reverse("users")
    panel = admin.post(
        reverse("users"), {"username": "student2", "password": "gctask-lab-77", "role": "operator"}, headers=HX
    )
    html = panel.content.decode()
    assert panel.status_code == 200 and html.lstrip().startswith('<div id="users-panel">')
    assert 'data-username="student2"' in html
    assert [role_of(get_user_model().objects.get(username=n)) for n in ("student1", "student2")] == [
        "viewer",
        "operator",
    ]
    assert AuditEntry.objects.filter(action="user.create", source="ui").count() == 2
    assert client.login(username="student2", password="gctask-lab-77")


def test_bad_input_shows_the_field_error_and_makes_nothing(admin, admin_user):
    weak = admin.post(reverse("users"), {"username": "student1", "password": "123", "role": "viewer"}, headers=HX)
    assert weak.status_code == 422 and "field-error" in weak.content.decode()
    taken = admin.post(
        reverse("users"), {"username": admin_user.username, "password": "gctask-lab-77", "role": "viewer"}
    )
    assert taken.status_code == 422 and f"{admin_user.username} exists." in taken.content.decode()
    assert not get_user_model().objects.filter(username="student1").exists()


def test_a_row_changes_role_and_state_and_the_last_admin_stays(admin, admin_user, client):
    admin.post(reverse("users"), {"username": "ta", "password": "gctask-lab-77", "role": "viewer"})
    url = reverse("user-update", args=["ta"])
    row = admin.post(url, {"role": "operator"}, headers=HX)
    assert row.status_code == 200 and row.content.decode().lstrip().startswith("<tr")
    assert role_of(get_user_model().objects.get(username="ta")) == "operator"
    off = admin.post(url, {"active": "off"}, headers=HX)
    assert "switched off" in off.content.decode()
    assert not get_user_model().objects.get(username="ta").is_active
    assert [e.action for e in AuditEntry.objects.order_by("id")][-2:] == ["user.update", "user.update"]

    refused = admin.post(reverse("user-update", args=[admin_user.username]), {"active": "off"}, headers=HX)
    assert refused.status_code == 409
    assert "last active admin" in refused.content.decode() and 'data-testid="user-error"' in refused.content.decode()
    assert get_user_model().objects.get(pk=admin_user.pk).is_active
    without_js = admin.post(reverse("user-update", args=[admin_user.username]), {"role": "viewer"})
    assert without_js.status_code == 302
    assert role_of(get_user_model().objects.get(pk=admin_user.pk)) == "admin"
    assert admin.post(reverse("user-update", args=["nobody"]), {"role": "viewer"}).status_code == 404

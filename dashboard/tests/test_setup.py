"""First admin, roles, settings helpers and the doctor command."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from core.roles import role_of
from dashboard import env


@pytest.mark.django_db
def test_ensure_admin_uses_the_given_password_once(settings):
    settings.PORTICO_ADMIN_PASSWORD = "s3cret-admin-pw"
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("s3cret-admin-pw")
    assert role_of(admin) == "admin"
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "nothing to do" in out.getvalue()
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_ensure_admin_prints_a_random_password(settings):
    settings.PORTICO_ADMIN_PASSWORD = ""
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    password = out.getvalue().split("shown only this once: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_roles_grant_what_they_say(make_user):
    viewer, operator, admin = make_user("v", "viewer"), make_user("o", "operator"), make_user("a", "admin")
    assert [role_of(u) for u in (viewer, operator, admin)] == ["viewer", "operator", "admin"]
    assert viewer.has_perm("core.view_portico") and not viewer.has_perm("core.operate")
    assert operator.has_perm("core.operate") and not operator.has_perm("core.administer")
    assert admin.has_perm("core.administer")
    assert role_of(make_user("n", None)) is None


@pytest.mark.parametrize(
    ("helper", "name", "value"),
    [
        (lambda: env.envbool("X_T"), "X_T", "maybe"),
        (lambda: env.envint("X_T", 1, minimum=1, maximum=5), "X_T", "9"),
        (lambda: env.envint("X_T", 1), "X_T", "ten"),
        (lambda: env.envchoice("X_T", "a", ("a", "b")), "X_T", "c"),
        (lambda: env.envhostport("X_T", "127.0.0.1:1"), "X_T", "127.0.0.1"),
    ],
)
def test_bad_settings_fail_loudly(monkeypatch, helper, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        helper()


def test_secrets_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.envsecret("X_SECRET") == "from-file"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
        env.envsecret("X_SECRET")


@pytest.mark.django_db
def test_doctor_reports_each_check_with_a_fix(settings):
    settings.PORTICO_NGINX_BIN = "definitely-not-nginx"
    settings.PORTICO_DOCKER_URL = "unix:///nonexistent/docker.sock"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("doctor", "--skip-ports", stdout=out)
    assert exit_info.value.code == 1
    text = out.getvalue()
    assert "ok      python" in text
    assert "ok      database" in text
    assert "problem docker" in text and "fix: start dockerd" in text
    assert "problem nginx" in text and "apt-get install nginx" in text

"""Login throttling (django-axes): per username and per client address, the right password refused for a while."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]  # counts, row locks and NULL addresses on both engines

RIGHT = "right-pw-12345"
LOCKED = "Too many failed logins"


def login(username: str, password: str, address: str, **headers: str):
    """POST the login form as a browser at ``address`` would (a fresh client: no session, no cookies)."""
    return Client(REMOTE_ADDR=address, headers=headers).post("/login/", {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and response.wsgi_request.user.is_authenticated


def fail(username: str, address: str, times: int) -> None:
    for _ in range(times):
        response = login(username, "wrong-password", address)
        assert response.status_code in (200, 429) and not response.wsgi_request.user.is_authenticated


@pytest.fixture
def alice_and_bob(make_user):
    return make_user("alice", "admin", password=RIGHT), make_user("bob", "viewer", password=RIGHT)


def test_after_too_many_failures_the_right_password_is_refused_with_the_reason(alice_and_bob):
    assert settings.PORTICO_LOGIN_FAILURES_PER_USER == 5
    fail("alice", "127.0.0.2", 4)
    assert logged_in(login("alice", RIGHT, "127.0.0.2"))  # four typos are not a lockout
    fail("alice", "127.0.0.2", 1)  # the fifth failure in a row (a success does not reset the count)
    refused = login("alice", RIGHT, "127.0.0.2")
    assert refused.status_code == 429 and not refused.wsgi_request.user.is_authenticated
    html = refused.content.decode()
    assert LOCKED in html and "15 minutes" in html
    assert 'data-testid="login-lockout"' in html and 'name="username"' in html  # the login page, with the reason
    assert 'value="alice"' in html


def test_a_username_is_locked_from_every_address_and_other_users_are_not(alice_and_bob):
    fail("alice", "127.0.0.2", 5)
    assert login("alice", RIGHT, "127.0.0.3").status_code == 429  # by username: another address does not help
    assert logged_in(login("bob", RIGHT, "127.0.0.3"))  # another user at another address
    assert logged_in(login("bob", RIGHT, "127.0.0.2"))  # another user at the same address (5 < 30 there)


def test_an_address_guessing_across_usernames_is_locked_and_other_addresses_are_not(alice_and_bob):
    assert settings.PORTICO_LOGIN_FAILURES_PER_ADDRESS == 30
    for n in range(29):  # one guess per username: no username reaches its limit
        fail(f"guess{n}", "127.0.0.4", 1)
    assert logged_in(login("bob", RIGHT, "127.0.0.4"))  # 29 < 30: a class behind one address still logs in
    fail("guess29", "127.0.0.4", 1)
    refused = login("bob", RIGHT, "127.0.0.4")
    assert refused.status_code == 429 and LOCKED in refused.content.decode()
    assert logged_in(login("bob", RIGHT, "127.0.0.5"))  # by address: bob himself is not locked
    assert logged_in(login("alice", RIGHT, "127.0.0.5"))


def test_the_lockout_ends_after_the_cool_off_and_knocking_does_not_extend_it(alice_and_bob):
    from axes.models import AccessAttempt

    fail("alice", "127.0.0.2", 5)
    fail("alice", "127.0.0.2", 3)  # refused while locked out, and not counted
    assert login("alice", RIGHT, "127.0.0.2").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert logged_in(login("alice", RIGHT, "127.0.0.2"))


def test_the_lockout_message_is_translated(alice_and_bob):
    fail("alice", "127.0.0.2", 5)
    refused = login("alice", RIGHT, "127.0.0.2", **{"Accept-Language": "ko"})
    html = refused.content.decode()
    assert refused.status_code == 429 and LOCKED not in html
    assert "로그인 실패가 너무 많습니다" in html and "15분" in html


def test_api_tokens_are_not_throttled(alice_and_bob, token_for):
    alice, _ = alice_and_bob
    token = token_for(alice)
    fail("alice", "127.0.0.2", 5)
    fail("someone", "127.0.0.2", 30)
    assert login("alice", RIGHT, "127.0.0.2").status_code == 429
    api = Client(REMOTE_ADDR="127.0.0.2", headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/v1/tokens").status_code == 200


def test_typed_passwords_are_not_stored_with_the_failures(alice_and_bob):
    from axes.models import AccessAttempt

    login("alice", "my-secret-guess-1", "127.0.0.2")
    attempt = AccessAttempt.objects.get(username="alice")
    assert attempt.failures_since_start == 1
    assert "my-secret-guess-1" not in attempt.post_data


def test_the_client_address_is_the_peer_unless_behind_a_proxy(rf):
    from accounts.auth import client_address

    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.9, 127.0.0.7")
    assert client_address(request) == "127.0.0.1"  # a header anyone can send is ignored by default
    with override_settings(PORTICO_BEHIND_PROXY=True):
        assert client_address(request) == "127.0.0.7"  # the entry the proxy appended, not the client's own
        assert client_address(rf.get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"
        junk = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="not-an-address")
        assert client_address(junk) == "127.0.0.1"
    assert client_address(rf.get("/", REMOTE_ADDR="")) is None  # a unix socket: no address, never ""


@override_settings(PORTICO_BEHIND_PROXY=True)
def test_behind_a_proxy_each_forwarded_client_is_throttled_on_its_own(alice_and_bob):
    def via_proxy(username: str, password: str, client: str):
        return login(username, password, "127.0.0.1", **{"X-Forwarded-For": f"127.0.0.99, {client}"})

    for n in range(30):
        via_proxy(f"guess{n}", "wrong-password", "127.0.0.20")
    assert via_proxy("bob", RIGHT, "127.0.0.20").status_code == 429
    assert logged_in(via_proxy("bob", RIGHT, "127.0.0.21"))  # same proxy, same spoofed entry, another client


def test_the_django_admin_site_is_gone(client, admin_user):
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/login/").status_code == 404
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/auth/user/").status_code == 404


def test_a_server_run_like_scripts_serve_refuses_the_right_password_after_failures(make_portico_server):
    import httpx

    server = make_portico_server()

    def attempt(password: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            http.get("/login/")
            form = {"username": "admin", "password": password, "csrfmiddlewaretoken": http.cookies["csrftoken"]}
            return http.post("/login/", data=form, headers={"Referer": f"{server.url}/login/"})

    for _ in range(5):
        assert attempt("wrong-password").status_code in (200, 429)
    refused = attempt("server-admin-pw-123")
    assert refused.status_code == 429 and LOCKED in refused.text, server.log_tail()
    api = httpx.get(f"{server.url}/api/v1/tokens", headers={"Authorization": f"Bearer {server.token}"}, timeout=30)
    assert api.status_code == 200  # the admin's API token still works


@pytest.mark.parametrize("peer", ["", "unix:/run/portico.sock"])
def test_clients_without_an_address_are_throttled_together_not_refused_with_500(alice_and_bob, peer):
    fail("alice", peer, 5)  # gunicorn behind a unix socket: no address, or not one PostgreSQL's inet takes
    assert login("alice", RIGHT, peer).status_code == 429
    assert logged_in(login("bob", RIGHT, peer))

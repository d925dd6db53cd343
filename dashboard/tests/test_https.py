"""Security headers on every answer; Secure cookies and HSTS when served over HTTPS; the session's age."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-123"


def test_pages_carry_the_security_headers(client, viewer_user):
    client.force_login(viewer_user)
    for url in ("/", "/login/", "/api/v1/health"):
        headers = client.get(url).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], url
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["Referrer-Policy"] == "same-origin", url


def test_plain_http_by_default_a_login_lasts_12_hours(client, viewer_user):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    response = client.post("/login/", {"username": viewer_user.username, "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["max-age"] == 12 * 3600 and not cookie["secure"] and cookie["httponly"]
    assert "Strict-Transport-Security" not in client.get("/", secure=True).headers


def test_behind_an_https_proxy_cookies_are_secure_and_hsts_is_sent(make_portico_server):
    server = make_portico_server(PORTICO_BEHIND_PROXY="true", PORTICO_SESSION_AGE="3600")
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=server.url, timeout=30, headers=https) as browser:
        page = browser.get("/login/")
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "secure" in page.headers["Set-Cookie"].lower()  # the CSRF cookie
        # The cookies are Secure: an HTTP client does not send them back over http://, so the test does, as a
        # browser talking to the proxy over HTTPS would.
        csrf = browser.cookies["csrftoken"]
        form = {"username": "admin", "password": "server-admin-pw-123", "csrfmiddlewaretoken": csrf}
        headers = {"Referer": f"https://127.0.0.1:{server.port}/login/", "Cookie": f"csrftoken={csrf}"}
        login = httpx.post(f"{server.url}/login/", data=form, headers={**https, **headers}, timeout=30)
        assert login.status_code == 302, login.text[-500:]
        session = next(c for c in login.headers.get_list("Set-Cookie") if c.startswith("sessionid="))
        attributes = {part.strip().split("=")[0].lower(): part for part in session.split(";")}
        assert "secure" in attributes and "httponly" in attributes
        assert attributes["max-age"].strip() == "Max-Age=3600"
    # HSTS only on answers to HTTPS requests: a plain one (the proxy's own health check) gets none.
    assert "Strict-Transport-Security" not in httpx.get(f"{server.url}/login/", timeout=30).headers

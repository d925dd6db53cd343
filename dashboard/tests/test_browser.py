"""A person logs in through the real login page in Chromium."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_through_the_page_shows_the_navigation(page, live_server, make_user):
    make_user("dana", "operator", password="dana-pw-12345")
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("#id_username", "dana")
    page.fill("#id_password", "dana-pw-12345")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    nav = page.locator("nav.nav")
    assert nav.get_by_role("link", name="Overview").is_visible()
    assert nav.get_by_role("link", name="API tokens").is_visible()
    assert "dana" in page.get_by_test_id("user-menu").inner_text()
    assert "operator" in page.get_by_test_id("user-menu").inner_text()


def test_a_wrong_password_is_refused_on_the_page(page, live_server, make_user):
    make_user("erin", "viewer", password="right-pw-12345")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "erin")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").is_visible()
    assert "/login/" in page.url

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


def test_an_admin_makes_a_student_account_and_promotes_it_in_place(logged_in_page, live_server):
    from django.contrib.auth import get_user_model
    from playwright.sync_api import expect

    from core.roles import role_of

    def settled():
        # htmx binds the swapped-in rows while it settles them; a person is never that quick, a test is.
        page.wait_for_function("() => !document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping')")

    def saved(action) -> None:
        # The database is read only after the row's answer: the live server's in-memory SQLite refuses a write
        # while another thread reads it.
        with page.expect_response(lambda r: "/users/student7/" in r.url) as answer:
            action()
        assert answer.value.status == 200

    page = logged_in_page("admin")
    page.get_by_role("navigation").get_by_role("link", name="Users").click()
    page.evaluate("window.stillTheSamePage = true")
    form = page.get_by_test_id("account-form")
    form.locator("input[name=username]").fill("student7")
    form.locator("input[name=password]").fill("gctask-lab-77")
    form.get_by_test_id("account-create").click()
    row = page.locator('[data-testid=user-row][data-username="student7"]')
    expect(row).to_have_count(1)
    settled()
    saved(lambda: row.get_by_test_id("user-role").select_option("operator"))  # the row saves itself on change
    settled()
    saved(lambda: row.get_by_test_id("user-toggle").click())
    expect(row.get_by_test_id("user-state")).to_have_text("switched off")
    student = get_user_model().objects.get(username="student7")
    assert role_of(student) is None and not student.is_active  # switched off: no role in effect
    student.is_active = True
    assert role_of(student) == "operator"  # the role it was given
    assert page.evaluate("window.stillTheSamePage") is True  # htmx swapped rows, no reload

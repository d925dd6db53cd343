"""The routes page in Chromium: the lecture's gctask setup built by hand, in place, and without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.models import AuditEntry
from routes.models import Domain, Route

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_route(page: Page, section, path: str, host: str, port: str, strip_prefix: bool = False) -> None:
    section.get_by_test_id("add-route").click()
    form = section.get_by_test_id("route-form")
    form.get_by_label("Path").fill(path)
    if strip_prefix:
        form.get_by_label("Strip prefix").check()
    form.get_by_label("Host").fill(host)
    form.get_by_label("Port").fill(port)
    form.get_by_test_id("route-save").click()
    expect(section.locator(f'[data-testid="route-row"][data-path="{path}"]')).to_be_visible()


def test_an_operator_builds_the_gctask_routes_in_place(logged_in_page, live_server):
    page = logged_in_page("operator")
    page.goto(f"{live_server.url}/routes/")
    expect(page.get_by_test_id("no-domains")).to_be_visible()
    # a marker that a full page load would wipe: everything below happens in place
    page.evaluate("window.stillTheSamePage = true")

    page.locator("#domain-form-name").fill("gctask.test")
    page.get_by_role("button", name="Add domain").click()
    section = page.locator('[data-testid="domain"][data-domain="gctask.test"]')
    expect(section).to_be_visible()
    domain = Domain.objects.get(name="gctask.test")

    add_route(page, section, "/", "myfront", "80")

    # the second route: a bad path shows its error while typing, before anything is submitted
    section.get_by_test_id("add-route").click()
    form = section.get_by_test_id("route-form")
    form.get_by_label("Path").press_sequentially("/task;x", delay=20)
    path_error = page.locator(f"#new-route-{domain.pk}-err-path")
    expect(path_error).to_contain_text("';' is not allowed in a path")
    assert Route.objects.count() == 1
    form.get_by_label("Path").fill("/task/")
    form.get_by_label("Path").press("End")  # a keyup: the error goes away once the path is valid
    expect(path_error).to_be_empty()
    form.get_by_label("Strip prefix").check()
    form.get_by_label("Host").fill("mytaskapi")
    form.get_by_label("Port").fill("80")
    form.get_by_test_id("route-save").click()
    task_row = section.locator('[data-testid="route-row"][data-path="/task/"]')
    expect(task_row.get_by_test_id("route-explain")).to_contain_text("gctask.test/task/x → mytaskapi:80/x")

    # the third route with two targets
    section.get_by_test_id("add-route").click()
    form = section.get_by_test_id("route-form")
    form.get_by_label("Path").fill("/user/")
    form.get_by_test_id("add-target").click()
    expect(form.get_by_test_id("target-row")).to_have_count(2)
    form.locator(f"#new-route-{domain.pk}-targets-0-host").fill("myuserapi")
    form.locator(f"#new-route-{domain.pk}-targets-0-port").fill("80")
    form.locator(f"#new-route-{domain.pk}-targets-1-host").fill("myuserapi2")
    form.locator(f"#new-route-{domain.pk}-targets-1-port").fill("80")
    form.get_by_test_id("route-save").click()
    user_row = section.locator('[data-testid="route-row"][data-path="/user/"]')
    expect(user_row.get_by_test_id("route-targets")).to_contain_text("myuserapi:80")
    expect(user_row.get_by_test_id("route-targets")).to_contain_text("myuserapi2:80")
    expect(user_row.get_by_test_id("route-explain")).to_contain_text("gctask.test/user/x → myuserapi:80/user/x")

    # edit a target in place
    task = Route.objects.get(path="/task/")
    task_row.get_by_test_id("route-edit").click()
    edit = page.locator(f"form#route-{task.pk}")
    expect(edit).to_be_visible()
    edit.locator(f"#route-{task.pk}-targets-0-port").fill("8080")
    edit.get_by_test_id("route-save").click()
    expect(edit).to_have_count(0)
    expect(task_row.get_by_test_id("route-explain")).to_contain_text("gctask.test/task/x → mytaskapi:8080/x")
    assert [str(t) for t in Route.objects.get(path="/task/").targets.all()] == ["mytaskapi:8080"]

    # disable and enable with one click each
    user_row.get_by_test_id("route-toggle").click()
    expect(user_row.get_by_test_id("route-state")).to_have_text("disabled")
    assert not Route.objects.get(path="/user/").enabled
    user_row.get_by_test_id("route-toggle").click()
    expect(user_row.get_by_test_id("route-state")).to_have_text("enabled")

    # delete after confirming
    page.once("dialog", lambda dialog: dialog.accept())
    user_row.get_by_test_id("route-delete").click()
    expect(user_row).to_have_count(0)
    assert sorted(Route.objects.values_list("path", flat=True)) == ["/", "/task/"]
    # the section was replaced, not the page: the other rows and the page's state are still there
    expect(page.get_by_test_id("route-row")).to_have_count(2)

    banner = page.get_by_test_id("changes-banner")
    expect(banner).to_contain_text("3 unapplied changes")  # the domain and its two routes, never applied
    assert page.evaluate("window.stillTheSamePage") is True
    actions = sorted(AuditEntry.objects.values_list("action", flat=True))
    assert actions == sorted(
        ["domain.create"] + ["route.create"] * 3 + ["route.update", "route.disable", "route.enable", "route.delete"]
    )


def test_a_viewer_sees_the_routes_but_no_controls(logged_in_page, live_server):
    from routes.schemas import RouteSpec
    from routes.state import save_route

    domain = Domain.objects.create(name="gctask.test")
    save_route(domain, RouteSpec(path="/task/", targets=[{"host": "mytaskapi", "port": 80}], strip_prefix=True))
    page = logged_in_page("viewer")
    page.goto(f"{live_server.url}/routes/")
    expect(page.get_by_test_id("route-explain")).to_contain_text("gctask.test/task/x → mytaskapi:80/x")
    expect(page.locator("button, a.button").filter(has_text=re.compile("Edit|Delete|Disable|Add"))).to_have_count(0)


def test_every_form_works_without_javascript(browser, live_server, make_user):
    make_user("nojs", "operator", password="browser-pw-123")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "nojs")
        page.fill("#id_password", "browser-pw-123")
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/routes/")
        page.locator("#domain-form-name").fill("gctask.test")
        page.get_by_role("button", name="Add domain").click()
        section = page.locator('[data-testid="domain"][data-domain="gctask.test"]')
        expect(section).to_be_visible()
        domain = Domain.objects.get()

        section.get_by_test_id("add-route").click()  # a link to the page with the form open
        form = page.locator(f"form#new-route-{domain.pk}")
        form.get_by_label("Path").fill("/task/")
        form.get_by_label("Strip prefix").check()
        form.locator(f"#new-route-{domain.pk}-targets-0-host").fill("mytaskapi")
        form.locator(f"#new-route-{domain.pk}-targets-0-port").fill("70000")
        form.get_by_test_id("route-save").click()
        expect(page.locator(f"#new-route-{domain.pk}-err-targets-0-port")).to_contain_text("1 to 65535")
        assert not Route.objects.exists()
        form.locator(f"#new-route-{domain.pk}-targets-0-port").fill("80")
        form.get_by_test_id("add-target").click()
        expect(form.get_by_test_id("target-row")).to_have_count(2)
        form.locator(f"#new-route-{domain.pk}-targets-1-host").fill("mytaskapi2")
        form.locator(f"#new-route-{domain.pk}-targets-1-port").fill("80")
        form.get_by_test_id("route-save").click()
        row = page.locator('[data-testid="route-row"][data-path="/task/"]')
        expect(row.get_by_test_id("route-targets")).to_contain_text("mytaskapi2:80")

        row.get_by_test_id("route-toggle").click()
        expect(row.get_by_test_id("route-state")).to_have_text("disabled")
        row.get_by_test_id("route-delete").click()  # without JavaScript: a page that asks first
        expect(page.get_by_role("heading")).to_contain_text("Delete the route gctask.test/task/?")
        page.get_by_role("button", name="Delete").click()
        expect(page.locator('[data-testid="route-row"]')).to_have_count(0)
        assert not Route.objects.exists()
    finally:
        context.close()


def test_choosing_an_action_shows_its_fields_and_a_redirect_is_explained(logged_in_page, live_server):
    shop = Domain.objects.create(name="shop.example.com")
    page = logged_in_page("operator")
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server.url}/routes/")
    section = page.locator('[data-testid="domain"][data-domain="shop.example.com"]')
    section.get_by_test_id("add-route").click()
    form = section.get_by_test_id("route-form")
    expect(form.get_by_test_id("fields-proxy")).to_be_visible()
    expect(form.get_by_test_id("fields-redirect")).to_be_hidden()

    form.get_by_label("Action").select_option("redirect")
    expect(form.get_by_test_id("fields-redirect")).to_be_visible()
    expect(form.get_by_test_id("fields-proxy")).to_be_hidden()
    expect(form.locator("fieldset.targets")).to_be_hidden()
    form.get_by_label("Path").fill("/old/")
    form.get_by_label("Redirect to").press_sequentially("https://new.example.com/$x", delay=10)
    url_error = page.locator(f"#new-route-{shop.pk}-err-redirect_url")
    expect(url_error).to_contain_text("'$' is not allowed in a redirect address")
    form.get_by_label("Redirect to").fill("https://new.example.com")
    form.get_by_label("Append what follows the prefix").check()
    form.get_by_test_id("route-save").click()

    row = section.locator('[data-testid="route-row"][data-path="/old/"]')
    expect(row.get_by_test_id("route-explain")).to_contain_text(
        "shop.example.com/old/x → 301 https://new.example.com/x"
    )
    route = Route.objects.get(path="/old/")
    assert (route.action, route.redirect_url, route.preserve_path) == ("redirect", "https://new.example.com", True)

    # editing shows the saved action's fields; switching to a fixed answer swaps them
    row.get_by_test_id("route-edit").click()
    edit = page.locator(f"form#route-{route.pk}")
    expect(edit.get_by_test_id("fields-redirect")).to_be_visible()
    edit.get_by_label("Action").select_option("respond")
    expect(edit.get_by_test_id("fields-respond")).to_be_visible()
    expect(edit.get_by_test_id("fields-redirect")).to_be_hidden()
    edit.locator(f"#route-{route.pk}-respond_status").select_option("410")
    edit.get_by_label("Body").fill("Moved away.")
    edit.get_by_test_id("route-save").click()
    expect(row.get_by_test_id("route-explain")).to_contain_text("shop.example.com/old/x → 410 “Moved away.”")
    route.refresh_from_db()
    assert (route.action, route.respond_status, route.redirect_url) == ("respond", 410, "")
    # Saving aborts a validation request still in flight (hx-sync replace): htmx reports that abort, nothing else.
    assert [e for e in errors if not e.startswith(("htmx:sendAbort", "htmx:afterRequest"))] == [], errors

"""The pages work under the Content-Security-Policy: no console error, no violation, htmx and the page scripts run."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every page of the navigation and the pages behind it that need no object of their own.
PAGES = [
    "/",
    "/routes/",
    "/routes/plan/",
    "/routes/revisions/",
    "/routes/npm/",
    "/containers/",
    "/certificates/",
    "/tokens/",
    "/audit/",
    "/users/",
    "/lab/",
    "/api/v1/docs",
    "/overview/topology.svg",
]

# Runs in every document before its own scripts: collects what the policy blocked.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(logged_in_page):
    """An admin's page whose console errors, page errors and CSP violations are collected."""
    page = logged_in_page("admin")
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text} ({page.url})"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e} ({page.url})"))
    page.add_init_script(WATCH_VIOLATIONS)

    def violations() -> list[str]:
        return page.evaluate("window.__violations || []")

    page.problems = problems
    page.violations = violations
    return page


def test_the_policy_is_on_every_page(client, admin_user):
    client.force_login(admin_user)
    for url in PAGES:
        policy = client.get(url).headers.get("Content-Security-Policy", "")
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, url


def test_every_page_loads_without_a_console_error_or_a_violation(watched, live_server):
    from routes.models import Domain, Route
    from routes.operations import replace_state
    from routes.schemas import ConfigDocument

    # A domain with a route, so the routes page shows its rows and forms, and their own pages exist.
    route = {"path": "/", "targets": [{"host": "127.0.0.1", "port": 9}]}
    replace_state(ConfigDocument.model_validate({"domains": [{"name": "csp.test", "routes": [route]}]}))
    domain, first = Domain.objects.get(name="csp.test"), Route.objects.get()
    with_objects = [f"/routes/domains/{domain.pk}/", f"/routes/{first.pk}/", f"/routes/{first.pk}/edit/"]
    for url in PAGES + with_objects:
        response = watched.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        assert "Content-Security-Policy" in response.headers or "content-security-policy" in response.headers
        watched.wait_for_load_state("networkidle")
        assert watched.violations() == [], url
        if url == "/api/v1/docs":  # Swagger UI rendered the document (its scripts ran)
            assert watched.locator(".swagger-ui .info .title").inner_text().startswith("Portico API")
    assert watched.problems == [], "\n".join(watched.problems)


def test_htmx_still_swaps_and_polls_under_the_policy(watched, live_server):
    watched.goto(f"{live_server.url}/")
    # The overview refreshes itself every 5 s with htmx (a GET and an outerHTML swap).
    with watched.expect_response(
        lambda r: r.url.rstrip("/") == live_server.url and r.request.headers.get("hx-request")
    ):
        pass
    watched.wait_for_timeout(300)  # the swap settles
    assert watched.locator("#topology-svg").count() == 1
    font = watched.locator("#topology-svg .node text:not(.sub)").first.evaluate("e => getComputedStyle(e).fontSize")
    assert font == "12px"  # topology.css applies (no inline <style> in the page)
    # A form that posts with htmx: the Users page makes an account and swaps its panel in place.
    watched.goto(f"{live_server.url}/users/")
    watched.evaluate("window.stillTheSamePage = true")
    form = watched.get_by_test_id("account-form")
    form.locator("input[name=username]").fill("csp-student")
    form.locator("input[name=password]").fill("gctask-lab-77")
    form.get_by_test_id("account-create").click()
    watched.locator('[data-testid=user-row][data-username="csp-student"]').wait_for()
    assert watched.evaluate("window.stillTheSamePage") is True
    assert watched.violations() == [] and watched.problems == []


def test_the_moved_handlers_work(watched, live_server):
    from containers.models import Engine

    # The language menu submits itself on change (it was an inline onchange).
    watched.goto(f"{live_server.url}/tokens/")
    with watched.expect_navigation():
        watched.locator("select[name=language]").select_option("ko")
    assert watched.locator("html").get_attribute("lang") == "ko"
    with watched.expect_navigation():
        watched.locator("select[name=language]").select_option("en")
    # Removing an engine asks first (it was an inline onclick); cancelling keeps it.
    Engine.objects.create(name="spare", url="unix:///nonexistent/spare.sock")
    watched.goto(f"{live_server.url}/containers/")
    remove = watched.locator("form[action$='/engines/spare/delete/'] button")
    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    watched.once("dialog", lambda d: answer(d, False))
    remove.click()
    watched.wait_for_timeout(300)
    assert asked == ["Remove the engine spare?"] and Engine.objects.filter(name="spare").exists()
    watched.once("dialog", lambda d: answer(d, True))
    with watched.expect_navigation():
        remove.click()
    assert len(asked) == 2 and not Engine.objects.filter(name="spare").exists()
    assert watched.violations() == [] and watched.problems == []

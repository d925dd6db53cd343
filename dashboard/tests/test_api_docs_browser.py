"""A person reads the API reference at /api/v1/docs in Chromium: Swagger UI (served by ninja from Portico's own
static files, under the Content-Security-Policy) lists the operations, and "Authorize" with an API token makes
"Try it out" answer 200 where it answered 401 before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shots(pytestconfig) -> Path:
    folder = Path(pytestconfig.getoption("--output")) / "api-docs-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_docs_list_the_operations_and_try_one_with_a_token(
    logged_in_page, live_server, make_user, token_for, shots
):
    from routes.operations import replace_state
    from routes.schemas import ConfigDocument

    route = {"path": "/", "targets": [{"host": "127.0.0.1", "port": 9}]}
    replace_state(ConfigDocument.model_validate({"domains": [{"name": "docs-shop.test", "routes": [route]}]}))
    token = token_for(make_user("api-reader", "viewer"))
    page = logged_in_page("admin")  # the docs page itself needs a login (or a token)
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))

    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]  # the site's policy, not relaxed
    ui = page.locator("#swagger-ui")
    expect(ui.locator(".info .title")).to_contain_text("Portico API", timeout=30_000)  # a busy machine is slow
    expect(ui.locator(".errors-wrapper")).to_have_count(0)  # the document parsed ("duplicated mapping key" once)
    paths = ui.locator(".opblock-summary-path")
    expect(paths.first).to_be_visible()
    listed = set(paths.all_inner_texts())
    for wanted in ("/api/v1/routes", "/api/v1/certificates", "/api/v1/domains", "/api/v1/health"):
        assert any(text.replace("\u200b", "") == wanted for text in listed), (wanted, sorted(listed)[:20])
    page.screenshot(path=shots / "api-docs.png", full_page=True)

    # From here on the browser has no session: only the token Swagger UI sends can authenticate the calls.
    page.context.clear_cookies()
    domains = ui.locator(".opblock-get", has=page.locator(".opblock-summary-path[data-path='/api/v1/domains']"))
    domains.locator(".opblock-summary").click()
    domains.get_by_role("button", name="Try it out").click()

    def execute() -> str:
        with page.expect_response(lambda r: "/api/v1/domains" in r.url and r.request.method == "GET") as answer:
            domains.get_by_role("button", name="Execute").click()
        status = domains.locator(".live-responses-table .response .response-col_status")
        expect(status).to_have_text(re.compile(rf"^{answer.value.status}\b"))  # the code, then its description
        return status.inner_text().split()[0]

    assert execute() == "401"

    ui.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".modal-ux")
    bearer = dialog.locator(".auth-container", has_text="BearerTokenAuth")
    bearer.locator("input").fill(token)
    bearer.get_by_role("button", name="Apply credentials").click()  # labelled "Authorize"
    expect(bearer.get_by_role("button", name="Remove authorization")).to_be_visible()  # labelled "Logout"
    bearer.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)

    with page.expect_request(lambda r: "/api/v1/domains" in r.url) as sent:
        assert execute() == "200"
    assert sent.value.headers.get("authorization") == f"Bearer {token}"
    expect(domains.locator(".live-responses-table .response .response-col_description")).to_contain_text(
        "docs-shop.test"
    )
    page.screenshot(path=shots / "api-docs-authorized.png", full_page=True)
    assert [p for p in problems if "401" not in p] == [], problems  # the first try's 401 is the only error
    assert violations == []

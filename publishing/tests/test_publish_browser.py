"""A person reviews the plan, applies it, finds the revision and rolls back, in Chromium, against real nginx."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from routes.operations import replace_state
from routes.schemas import ConfigDocument
from routes.state import export_state

pytestmark = [pytest.mark.browser, pytest.mark.nginx, pytest.mark.django_db(transaction=True)]


def _state(*routes: tuple[str, int]) -> None:
    replace_state(
        ConfigDocument.model_validate(
            {
                "domains": [
                    {
                        "name": "gctask.test",
                        "routes": [{"path": p, "targets": [{"host": "127.0.0.1", "port": port}]} for p, port in routes],
                    }
                ]
            }
        )
    )


def test_plan_apply_revisions_and_rollback_in_the_browser(managed_nginx, echo_backend, logged_in_page, live_server):
    front, task = echo_backend("front"), echo_backend("task")
    page = logged_in_page("operator")
    page.on("dialog", lambda dialog: dialog.accept())

    _state(("/", front.port))
    page.goto(f"{live_server.url}/routes/plan/")
    assert "portico-gctask.test.conf" in page.get_by_test_id("plan-changes").inner_text()
    page.get_by_test_id("apply").click()
    outcome = page.get_by_test_id("apply-outcome")
    outcome.wait_for()
    assert outcome.get_attribute("data-status") == "applied"
    assert "test is successful" in page.get_by_test_id("apply-output").inner_text()
    assert managed_nginx.seen("gctask.test", "/")["backend"] == "front"

    _state(("/", front.port), ("/task/", task.port))
    page.goto(f"{live_server.url}/routes/plan/")
    assert '+    location "/task/" {' in page.get_by_test_id("diff").inner_text()
    page.get_by_test_id("apply").click()
    page.get_by_test_id("apply-outcome").wait_for()
    assert managed_nginx.seen("gctask.test", "/task/x")["backend"] == "task"

    page.get_by_role("navigation").get_by_role("link", name="Revisions").click()
    rows = page.get_by_test_id("revision-row")
    assert rows.count() == 2
    page.get_by_test_id("compare").get_by_role("button").click()
    expect(page.locator("#revision-diff")).to_contain_text('+    location "/task/" {')  # swapped in by htmx

    page.get_by_role("link", name="#1", exact=True).click()
    page.get_by_test_id("rollback").click()
    outcome = page.get_by_test_id("apply-outcome")
    outcome.wait_for()
    assert outcome.get_attribute("data-status") == "applied"
    assert "rollback to #1" in outcome.inner_text()
    assert managed_nginx.seen("gctask.test", "/task/x")["backend"] == "front"
    assert [r["path"] for r in export_state()["domains"][0]["routes"]] == ["/"]

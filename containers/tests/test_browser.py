"""A person reads container logs in Chromium: hostile log text stays text, live lines arrive, actions confirm."""

from __future__ import annotations

import pytest

from tests.support import wait_for_log

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = "echo '<script>alert(1)</script>'; echo '<img src=x onerror=alert(2)>'; echo END"


def test_a_script_in_the_log_is_shown_as_text_and_never_runs(logged_in_page, live_server, run_container):
    container = run_container(
        [
            "sh",
            "-c",
            HOSTILE
            + "; while [ ! -f /tmp/go ]; do sleep 0.1; done; "
            + HOSTILE.replace("END", "LIVE-END")
            + "; sleep 60",
        ]
    )
    wait_for_log(container, "END")
    page = logged_in_page("viewer")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{live_server.url}/containers/c/{container.name}/")
    lines = page.get_by_test_id("log-lines")
    assert "<script>alert(1)</script>" in lines.inner_text()
    assert "<img src=x onerror=alert(2)>" in lines.inner_text()
    assert lines.locator("script, img").count() == 0

    # The same text arriving live over server-sent events is inserted as text too.
    page.get_by_test_id("follow-logs").click()
    page.get_by_test_id("log-status").filter(has_text="Following").wait_for()
    container.exec_run(["touch", "/tmp/go"])
    lines.locator(".line", has_text="LIVE-END").wait_for(timeout=15000)
    assert lines.locator(".line", has_text="<script>alert(1)</script>").count() == 2
    assert lines.locator("script, img").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_an_operator_stops_a_container_after_confirming_and_the_row_updates(logged_in_page, live_server, run_container):
    container = run_container(["sleep", "600"])
    page = logged_in_page("operator")
    page.goto(f"{live_server.url}/containers/?q={container.name}")
    row = page.locator(f"#container-{container.id[:12]}")
    assert row.get_by_test_id("state").inner_text() == "running"
    confirmations: list[str] = []

    def accept(dialog):
        confirmations.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row.get_by_test_id("stop").click()
    page.locator(f"#container-{container.id[:12]} [data-testid=state]", has_text="exited").wait_for(timeout=20000)
    assert confirmations and container.name in confirmations[0]
    container.reload()
    assert container.status == "exited"
    assert page.locator(f"#container-{container.id[:12]}").get_by_test_id("start").is_visible()


def test_the_live_view_keeps_a_bounded_number_of_lines(logged_in_page, live_server, run_container):
    burst = "i=0; while [ $i -lt 1500 ]; do i=$((i+1)); echo burst-$i; done"
    container = run_container(
        ["sh", "-c", "echo ready; while [ ! -f /tmp/go ]; do sleep 0.1; done; " + burst + "; sleep 60"]
    )
    wait_for_log(container, "ready")
    page = logged_in_page("viewer")
    page.goto(f"{live_server.url}/containers/c/{container.name}/")
    page.get_by_test_id("follow-logs").click()
    page.get_by_test_id("log-status").filter(has_text="Following").wait_for()
    container.exec_run(["touch", "/tmp/go"])
    lines = page.get_by_test_id("log-lines")
    lines.locator(".line", has_text="burst-1500").wait_for(timeout=30000)
    assert lines.locator(".line").count() == 1000  # the page's cap: the oldest lines dropped off
    assert lines.locator(".line").first.inner_text().endswith("burst-501")


def test_a_refused_live_stream_shows_the_servers_reason(logged_in_page, live_server, run_container, settings):
    settings.PORTICO_MAX_LOG_STREAMS_PER_USER = 1
    container = run_container(["sh", "-c", "echo ready; sleep 60"])
    wait_for_log(container, "ready")
    page = logged_in_page("viewer")
    page.goto(f"{live_server.url}/containers/c/{container.name}/")
    page.get_by_test_id("follow-logs").click()
    page.get_by_test_id("log-status").filter(has_text="Following").wait_for()
    second = page.context.new_page()  # the same person, in a second tab
    second.goto(f"{live_server.url}/containers/c/{container.name}/")
    second.get_by_test_id("follow-logs").click()
    status = second.get_by_test_id("log-status")
    status.filter(has_text="Too many open log streams").wait_for(timeout=10000)
    assert "at most 1 open at once" in status.inner_text()
    assert second.get_by_test_id("follow-logs").is_visible()  # it may try again
    # Stopping the first stream frees the slot: the second tab follows now.
    page.get_by_test_id("stop-follow").click()
    second.wait_for_timeout(500)
    second.get_by_test_id("follow-logs").click()
    status.filter(has_text="Following").wait_for(timeout=10000)

"""A person walks through the overview and the lab guide in English and in Korean (screenshots kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import build
from lab.tests.labs import host_network_spec

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running_lab(docker_sdk, test_image, managed_nginx):  # noqa: F811
    spec = host_network_spec(test_image)
    build.up(spec, say=lambda _: None)
    yield spec
    build.down(spec, say=lambda _: None)


@pytest.fixture
def shots(pytestconfig) -> Path:
    folder = Path(pytestconfig.getoption("--output")) / "lab-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_guide_and_overview_in_english_then_korean(logged_in_page, live_server, running_lab, docker_sdk, shots):
    spec = running_lab
    page = logged_in_page("viewer")

    # Overview (English): the picture shows the lab's domain, paths and running containers.
    svg = page.locator("#topology-svg")
    assert svg.locator("[data-kind=domain]", has_text=spec.domain[:20]).count() == 1
    for service in spec.services():
        node = svg.locator(f"#node-container-{service.name}")
        assert node.get_attribute("data-state") == "running"
    assert page.get_by_test_id("no-lints").is_visible()
    page.screenshot(path=shots / "overview-en.png", full_page=True)

    # The guide (English): each lecture step with this machine's state.
    page.get_by_role("link", name="Lab").click()
    page.wait_for_url(f"{live_server.url}/lab/")
    page.goto(f"{live_server.url}/lab/?lab={spec.lab_id}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Lab guide")
    for service in spec.services():
        step = page.locator(f"[data-step=container-{service.role}]")
        assert step.get_attribute("data-ok") == "ok", step.inner_text()
        assert service.name in step.inner_text()
    assert page.locator("[data-step=routes]").get_attribute("data-ok") == "ok"
    assert page.get_by_test_id("hosts-line").inner_text().endswith(spec.domain)
    assert page.get_by_text(r"C:\Windows\System32\drivers\etc\hosts").is_visible()
    assert page.get_by_text("sudo vi /private/etc/hosts").is_visible()
    assert page.get_by_role("heading", name="Why path routing keeps one origin (no CORS)").is_visible()
    page.screenshot(path=shots / "lab-en.png", full_page=True)

    # Switch to Korean with the language selector; the page comes back translated.
    page.select_option("select[name=language]", "ko")
    page.wait_for_load_state()
    page.wait_for_selector("html[lang=ko]")
    assert page.get_by_role("heading", level=1).inner_text().startswith("실습 안내")
    assert page.get_by_role("heading", name="경로 라우팅이 하나의 출처를 유지하는 이유 (CORS 없음)").is_visible()
    assert "관리자 권한으로 실행" in page.content()
    page.screenshot(path=shots / "lab-ko.png", full_page=True)

    # Overview (Korean), then a container stops and the picture follows without a reload.
    page.get_by_role("link", name="개요").click()
    page.wait_for_selector("#topology-svg")
    assert page.get_by_role("heading", level=1).inner_text() == "개요"
    docker_sdk.containers.get(f"{spec.prefix}mytaskapi").stop(timeout=2)
    page.wait_for_selector(f"#node-container-{spec.prefix}mytaskapi[data-state=exited]", timeout=15000)
    assert page.locator("[data-code=container-stopped]").is_visible()
    page.screenshot(path=shots / "overview-ko-stopped.png", full_page=True)

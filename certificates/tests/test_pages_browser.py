"""A person gets HTTPS for a domain in Chromium: the Certificates page requests a certificate from a real pebble
(HTTP-01 answered by Portico's managed nginx), the row turns valid by itself, the Routes page attaches it, the plan
page applies it, nginx presents it, and the Certificates page shows the days left; also at 390 px wide, without
horizontal scrolling; no console error on the way (screenshots kept)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from playwright.sync_api import expect

from certificates import health, operations
from certificates.models import Certificate
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from tests.support import free_port

pytestmark = [pytest.mark.browser, pytest.mark.nginx, pytest.mark.django_db(transaction=True)]

NAME = "shop.portico.test"


@pytest.fixture
def shots(pytestconfig) -> Path:
    folder = Path(pytestconfig.getoption("--output")) / "certificate-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def presented_serial(port: int, root_pem: str) -> str:
    context = ssl.create_default_context(cadata=root_pem)
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # pebble's leaves lack extensions the strict mode asks for
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=NAME) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
        assert der
        return format(x509.load_der_x509_certificate(der).serial_number, "x")


def test_request_a_certificate_watch_it_become_valid_attach_apply_and_read_the_days_left(
    managed_nginx, acme_through, echo_backend, logged_in_page, live_server, settings, shots
):
    settings.PORTICO_NGINX_LISTEN_TLS = ("127.0.0.1", free_port())
    pebble = acme_through(managed_nginx.port)  # pebble asks Portico's nginx for the HTTP-01 answer
    backend = echo_backend("shop")
    route = {"path": "/", "targets": [{"host": "127.0.0.1", "port": backend.port}]}
    replace_state(ConfigDocument.model_validate({"domains": [{"name": NAME, "routes": [route]}]}), source="test")
    page = logged_in_page("operator")
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text} ({page.url})"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e} ({page.url})"))
    page.on("dialog", lambda dialog: dialog.accept())

    # Publish the domain over HTTP first: its server block answers the ACME challenge.
    page.goto(f"{live_server.url}/routes/plan/")
    page.get_by_test_id("apply").click()
    expect(page.get_by_test_id("apply-outcome")).to_have_attribute("data-status", "applied")

    # Request it on the Certificates page (reached from the menu).
    page.get_by_role("link", name="Certificates").click()
    page.wait_for_url(f"{live_server.url}/certificates/")
    page.evaluate("window.stillTheSamePage = true")
    form = page.get_by_test_id("certificate-request-form")
    form.get_by_label("Names").fill("*.wild.portico.test")
    form.get_by_test_id("certificate-request").click()  # http-01 cannot prove a wildcard: refused on its field
    expect(page.get_by_test_id("request-error-challenge")).to_contain_text("wildcards need dns-01")
    assert not Certificate.objects.exists()
    form = page.get_by_test_id("certificate-request-form")
    form.get_by_label("Names").fill(NAME)
    form.get_by_label("Challenge").select_option("http-01")
    form.get_by_test_id("certificate-request").click()
    row = page.locator('[data-testid="certificate-row"]', has_text=NAME)
    expect(row).to_have_attribute("data-status", "pending")

    # The worker's pass (scripts/serve runs it every few seconds); the page refreshes itself.
    [cert] = operations.process_due()
    assert cert.status == "valid", cert.message
    expect(row).to_have_attribute("data-status", "valid", timeout=15_000)
    expect(row.get_by_test_id("certificate-days")).to_have_attribute("data-level", "ok")
    assert page.evaluate("window.stillTheSamePage") is True  # refreshed in place, not reloaded

    # Attach it on the Routes page and apply.
    page.get_by_role("link", name="Routes").click()
    section = page.locator('[data-testid="domain"][data-domain="' + NAME + '"]')
    section.get_by_test_id("domain-https-edit").click()
    https_form = section.get_by_test_id("domain-https-form")
    https_form.get_by_label("Certificate").select_option(str(cert.pk))
    https_form.get_by_label("Redirect HTTP to HTTPS").check()
    https_form.get_by_test_id("domain-https-save").click()
    expect(section.get_by_test_id("domain-https")).to_contain_text("HTTP redirects to HTTPS")
    page.goto(f"{live_server.url}/routes/plan/")
    page.get_by_test_id("apply").click()
    expect(page.get_by_test_id("apply-outcome")).to_have_attribute("data-status", "applied")
    assert presented_serial(settings.PORTICO_NGINX_LISTEN_TLS[1], pebble.root_pem()) == cert.serial

    # The Certificates page shows it valid, with its days left and the domain that uses it.
    page.goto(f"{live_server.url}/certificates/")
    row = page.locator('[data-testid="certificate-row"]', has_text=NAME)
    days = health.days_left(cert)
    assert days is not None and days > 300  # pebble's certificates last years
    expect(row.get_by_test_id("certificate-days")).to_have_text(f"{days} days")
    expect(row).to_contain_text("Pebble")
    page.screenshot(path=shots / "certificates.png", full_page=True)

    # A phone: nothing wider than the screen (the table scrolls inside its own box).
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_test_id("certificate-request-form")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=shots / "certificates-390.png", full_page=True)
    assert width <= 390, width
    assert problems == [], "\n".join(problems)

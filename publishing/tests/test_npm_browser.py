"""An admin connects Portico to NPM, sees its hosts, previews the import and adopts a host, in Chromium."""

from __future__ import annotations

import pytest

from publishing.npm.publisher import NpmPublisher
from publishing.tests.npm_fake import TEST_DOMAIN_SUFFIX, NpmTarget
from routes.models import Domain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GCTASK = "gctask" + TEST_DOMAIN_SUFFIX


def test_an_admin_connects_previews_and_adopts(npm: NpmTarget, logged_in_page, live_server, monkeypatch):
    monkeypatch.setattr("publishing.operations.npm_publisher", lambda: NpmPublisher(client_factory=npm.client))
    with npm.client() as client:
        host_id = client.create_proxy_host(
            {"domain_names": [GCTASK], "forward_scheme": "http", "forward_host": "127.0.0.1", "forward_port": 8011}
        ).id
    page = logged_in_page("admin")
    page.get_by_role("link", name="NPM").click()
    page.wait_for_url(f"{live_server.url}/routes/npm/")
    page.locator("#npm-hosts").get_by_text("not connected").wait_for()  # loaded after the page, by htmx

    page.fill("#npm-url", npm.url)
    page.fill("#npm-identity", npm.identity)
    page.fill("#npm-secret", npm.secret)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("NPM settings saved.").first.wait_for()
    assert page.input_value("#npm-secret") == ""  # the password is never sent back

    page.reload()
    row = page.locator(f"#npm-host-{host_id}")
    row.wait_for()
    assert GCTASK in row.inner_text() and "NPM only" in row.inner_text()

    page.get_by_role("button", name="Preview import").click()
    preview = page.get_by_test_id("import-preview")
    preview.wait_for()
    assert GCTASK in preview.inner_text()
    assert not Domain.objects.exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id(f"adopt-{host_id}").click()
    page.get_by_text(f"NPM host #{host_id} is now managed by Portico.").wait_for()
    assert "Portico" in page.locator(f"#npm-host-{host_id}").inner_text()
    assert Domain.objects.filter(name=GCTASK).exists()

"""The routes page's HTTPS settings in Chromium: a refusal shows on its field, a save shows the domain's new state."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from certificates import operations as certificate_operations
from certificates.tests.pki import chain, make_cert, pki
from routes.models import Domain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_turns_on_https_for_a_domain_in_place_and_sees_refusals_on_their_field(logged_in_page, live_server):
    _root, intermediate, _leaf = pki("unused.test")
    leaf = make_cert("shop.test", issuer=intermediate)
    cert = certificate_operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=None, source="cli")
    domain = Domain.objects.create(name="shop.test")
    page = logged_in_page("operator")
    page.goto(f"{live_server.url}/routes/")
    page.evaluate("window.stillTheSamePage = true")
    section = page.locator('[data-testid="domain"][data-domain="shop.test"]')
    expect(section.get_by_test_id("domain-https")).to_contain_text("HTTP only")

    section.get_by_test_id("domain-https-edit").click()
    form = section.get_by_test_id("domain-https-form")
    form.get_by_label("Redirect HTTP to HTTPS").check()
    form.get_by_test_id("domain-https-save").click()
    expect(section.get_by_test_id("domain-https-error-force_https")).to_contain_text("has no certificate")
    assert Domain.objects.get().force_https is False

    form = section.get_by_test_id("domain-https-form")
    form.get_by_label("Certificate").select_option(str(cert.pk))
    form.get_by_label("HSTS max-age (seconds, 0 = off)").fill("600")
    form.get_by_test_id("domain-https-save").click()
    state = section.get_by_test_id("domain-https")
    expect(state).to_contain_text("HTTP redirects to HTTPS")
    expect(state).to_contain_text("HSTS 600 s")
    assert page.evaluate("window.stillTheSamePage") is True
    fresh = Domain.objects.get(pk=domain.pk)
    assert (fresh.certificate_id, fresh.force_https, fresh.hsts) == (cert.pk, True, 600)

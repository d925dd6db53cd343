"""A domain's HTTPS settings in the desired state: the config document, GET/PATCH/POST /domains and their checks
(the options need a certificate, which must exist and cover the name); exports carry certificate ids only."""

from __future__ import annotations

import pytest

from certificates import operations as certificate_operations
from certificates.tests.pki import chain, make_cert, pki
from routes.models import Domain

pytestmark = pytest.mark.django_db

ROOT, INTERMEDIATE, _ = pki("unused.test")


@pytest.fixture
def certificate(operator_user):
    """Upload a certificate for ``names`` (made here, signed by the test intermediate)."""

    def upload(*names: str):
        leaf = make_cert(names[0], issuer=INTERMEDIATE, sans=list(names))
        return certificate_operations.upload_certificate(
            chain(leaf, INTERMEDIATE), leaf.key_pem, actor=operator_user, source="api"
        )

    return upload


def _put(client, *domains: dict):
    return client.put("/api/v1/config", {"domains": list(domains)}, content_type="application/json")


def _errors(response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_the_config_document_round_trips_https_settings_as_a_certificate_id(api_client, operator_user, certificate):
    cert = certificate("shop.test")
    client = api_client(operator_user)
    answer = _put(
        client, {"name": "shop.test", "certificate": cert.pk, "force_https": True, "hsts": 600, "http2": True}
    )
    assert answer.status_code == 200, answer.content
    exported = client.get("/api/v1/config").json()["domains"][0]
    assert {k: exported[k] for k in ("certificate", "force_https", "hsts", "http2")} == {
        "certificate": cert.pk,
        "force_https": True,
        "hsts": 600,
        "http2": True,
    }
    yaml = client.get("/api/v1/config?format=yaml").content.decode()
    assert f"certificate: {cert.pk}" in yaml
    assert "PRIVATE" not in yaml and "BEGIN" not in yaml
    # Sending the export back changes nothing.
    again = _put(client, exported)
    assert again.status_code == 200 and again.json()["changed"] is False


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"force_https": True}, "domains.0.force_https", "no certificate"),
        ({"hsts": 300}, "domains.0.hsts", "no certificate"),
        ({"http2": True}, "domains.0.http2", "no certificate"),
        ({"certificate": 999}, "domains.0.certificate", "no certificate with id 999"),
        ({"hsts": -1}, "domains.0.hsts", ""),
        ({"hsts": 63_072_001}, "domains.0.hsts", ""),
    ],
)
def test_the_config_document_refuses_https_settings_it_cannot_serve_and_changes_nothing(
    api_client, operator_user, fields, field, reason
):
    answer = _put(api_client(operator_user), {"name": "shop.test", **fields})
    assert answer.status_code == 422, answer.content
    assert field in _errors(answer), answer.json()
    assert reason in _errors(answer)[field]
    assert not Domain.objects.exists()


@pytest.mark.parametrize(
    ("names", "domain", "covered"),
    [
        (["shop.test"], "shop.test", True),
        (["shop.test"], "www.shop.test", False),
        (["*.shop.test"], "www.shop.test", True),
        (["*.shop.test"], "a.b.shop.test", False),  # a wildcard stands for exactly one label (RFC 6125)
        (["*.shop.test"], "shop.test", False),
        (["*.shop.test"], "*.shop.test", True),
        (["a.test", "shop.test"], "shop.test", True),
    ],
)
def test_the_certificate_must_cover_the_domain_name(api_client, operator_user, certificate, names, domain, covered):
    cert = certificate(*names)
    answer = _put(api_client(operator_user), {"name": domain, "certificate": cert.pk})
    if covered:
        assert answer.status_code == 200, answer.content
        assert Domain.objects.get(name=domain).certificate_id == cert.pk
    else:
        assert answer.status_code == 422
        assert f"does not cover {domain}" in _errors(answer)["domains.0.certificate"]
        assert not Domain.objects.exists()


def test_patch_attaches_a_certificate_and_options_and_refuses_what_cannot_be_served(
    api_client, operator_user, certificate
):
    cert = certificate("shop.test")
    client = api_client(operator_user)
    assert client.post("/api/v1/domains", {"name": "shop.test"}, content_type="application/json").status_code == 201
    refused = client.patch("/api/v1/domains/shop.test", {"force_https": True}, content_type="application/json")
    assert refused.status_code == 422 and "force_https" in _errors(refused)
    changed = client.patch(
        "/api/v1/domains/shop.test",
        {"certificate": cert.pk, "force_https": True, "hsts": 300},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["certificate"], body["force_https"], body["hsts"], body["http2"]) == (cert.pk, True, 300, False)
    assert body["version"] == 2
    # Detaching the certificate while the options are on is refused: they need one.
    detach = client.patch("/api/v1/domains/shop.test", {"certificate": None}, content_type="application/json")
    assert detach.status_code == 422 and "force_https" in _errors(detach)
    assert Domain.objects.get(name="shop.test").certificate_id == cert.pk
    off = client.patch(
        "/api/v1/domains/shop.test",
        {"certificate": None, "force_https": False, "hsts": 0},
        content_type="application/json",
    )
    assert off.status_code == 200 and off.json()["certificate"] is None
    unknown = client.patch("/api/v1/domains/shop.test", {"certificate": 12345}, content_type="application/json")
    assert unknown.status_code == 422 and "no certificate with id 12345" in _errors(unknown)["certificate"]
    other = certificate("other.test")
    wrong = client.patch("/api/v1/domains/shop.test", {"certificate": other.pk}, content_type="application/json")
    assert wrong.status_code == 422 and "does not cover shop.test" in _errors(wrong)["certificate"]


def test_post_domains_takes_https_settings_with_the_same_checks(api_client, operator_user, certificate):
    cert = certificate("shop.test")
    client = api_client(operator_user)
    made = client.post(
        "/api/v1/domains", {"name": "shop.test", "certificate": cert.pk, "http2": True}, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["certificate"] == cert.pk and made.json()["http2"] is True
    refused = client.post(
        "/api/v1/domains", {"name": "other.test", "certificate": cert.pk}, content_type="application/json"
    )
    assert refused.status_code == 422 and "does not cover other.test" in _errors(refused)["certificate"]
    assert not Domain.objects.filter(name="other.test").exists()


def test_a_domain_change_is_audited_with_its_https_settings(api_client, operator_user, certificate):
    from core.models import AuditEntry

    cert = certificate("shop.test")
    client = api_client(operator_user)
    client.post("/api/v1/domains", {"name": "shop.test"}, content_type="application/json")
    client.patch("/api/v1/domains/shop.test", {"certificate": cert.pk, "hsts": 60}, content_type="application/json")
    entry = AuditEntry.objects.filter(action="domain.update").latest("id")
    assert entry.before["certificate"] is None and entry.after["certificate"] == cert.pk
    assert entry.after["hsts"] == 60


HX = {"HX-Request": "true"}


def test_the_routes_page_edits_https_settings_in_place_with_the_same_checks(
    client, operator_user, viewer_user, certificate
):
    from django.urls import reverse

    from core.models import AuditEntry

    cert = certificate("shop.test")
    other = certificate("other.test")
    domain = Domain.objects.create(name="shop.test")
    client.force_login(operator_user)
    url = reverse("routes:domain-https", args=[domain.pk])
    page = client.get(reverse("routes:index")).content.decode()
    assert 'data-testid="domain-https"' in page and "HTTP only" in page
    form = client.get(url, headers=HX).content.decode()
    assert 'data-testid="domain-https-form"' in form and f'id="domain-{domain.pk}"' in form
    assert f"#{cert.pk} shop.test" in form

    refused = client.post(url, {"certificate": "", "force_https": "on", "hsts": "0"}, headers=HX)
    assert refused.status_code == 200  # htmx 2 swaps no 4xx answer: the refusal comes as the form with its errors
    assert 'data-testid="domain-https-form"' in refused.content.decode()
    assert "has no certificate" in refused.content.decode()
    wrong = client.post(url, {"certificate": str(other.pk), "hsts": "0"})  # without JavaScript: the page, 422
    assert wrong.status_code == 422 and "does not cover shop.test" in wrong.content.decode()
    assert Domain.objects.get().certificate_id is None

    saved = client.post(
        url, {"certificate": str(cert.pk), "force_https": "on", "hsts": "600", "http2": "on"}, headers=HX
    )
    assert saved.status_code == 200
    text = saved.content.decode()
    assert 'data-testid="domain-https-form"' not in text and "HTTP redirects to HTTPS" in text and "HSTS 600 s" in text
    fresh = Domain.objects.get()
    assert (fresh.certificate_id, fresh.force_https, fresh.hsts, fresh.http2, fresh.version) == (
        cert.pk,
        True,
        600,
        True,
        domain.version + 1,
    )
    entry = AuditEntry.objects.get(action="domain.update")
    assert (entry.source, entry.after["certificate"], entry.after["hsts"]) == ("ui", cert.pk, 600)
    # Without JavaScript the form posts and redirects back.
    back = client.post(url, {"certificate": str(cert.pk), "hsts": "0"})
    assert back.status_code == 302 and Domain.objects.get().force_https is False

    client.force_login(viewer_user)
    assert client.post(url, {"certificate": "", "hsts": "0"}, headers=HX).status_code == 403
    assert 'data-testid="domain-https-edit"' not in client.get(reverse("routes:index")).content.decode()

"""HTTPS through the real NPM: Portico's certificate published as an NPM custom certificate (created, then its
files uploaded), the host's certificate_id and switches set, and NPM's own nginx serving that certificate."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest

from certificates.models import Certificate
from core.models import AuditEntry
from publishing import operations
from publishing.models import Revision
from publishing.npm.importer import import_preview
from publishing.npm.mapping import NPM_HSTS_MAX_AGE, certificate_name
from publishing.npm.publisher import NpmPublisher
from publishing.tests.test_https import ROOT, Https, leaf, save, site, upload

pytestmark = [pytest.mark.django_db]

NAME = "shop.portico-test.invalid"


@pytest.fixture
def publishing(real_npm, settings, monkeypatch):
    settings.PORTICO_PUBLISHER = "npm"
    monkeypatch.setattr("publishing.npm.publisher.NpmClient.from_settings", real_npm.client)
    yield real_npm
    with real_npm.client() as client:
        for host in client.list_proxy_hosts():
            if any(d.endswith(".portico-test.invalid") for d in host.domain_names):
                client.delete_proxy_host(host.id)
        for cert in client.list_certificates():
            if cert.nice_name.startswith("portico-"):
                client.delete_certificate(cert.id)


def applied() -> Revision:
    revision = operations.apply(source="test")
    assert revision.status == Revision.Status.APPLIED, (revision.message, revision.output)
    return revision


def serial(https: Https) -> str:
    try:
        return format(https.handshake(NAME)[0].serial_number, "x")
    except (OSError, ssl.SSLError) as exc:  # before NPM's nginx serves the host at all
        return f"error: {exc}"


def served(https: Https, wanted: str) -> str:
    """The serial NPM's nginx presents once it shows ``wanted`` (NPM reloads its nginx with a signal and answers
    before the new workers take over), or the last one seen after 10 s."""
    deadline = time.monotonic() + 10
    seen = serial(https)
    while seen != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = serial(https)
    return seen


def test_a_certificate_is_published_as_an_npm_custom_certificate_and_npm_serves_it(
    publishing, echo_backend, operator_user
):
    backend = echo_backend("shop")
    first = upload(operator_user, leaf(NAME))
    save(site(NAME, backend.port, certificate=first.pk, force_https=True, hsts=NPM_HSTS_MAX_AGE, http2=True))
    revision = applied()
    with publishing.client() as client:
        (host,) = [h for h in client.list_proxy_hosts() if NAME in h.domain_names]
        npm_certs = {c.id: c.nice_name for c in client.list_certificates()}
    assert npm_certs[int(host.certificate_id)] == certificate_name(first.pk, first.chain_pem)
    assert (host.ssl_forced, host.hsts_enabled, host.http2_support) == (True, True, True)

    https = Https(publishing.https_port, ROOT)
    assert served(https, first.serial) == first.serial  # verified against the test root: NPM serves the chain too
    answer = https.get(NAME, "/cart")
    assert answer.status_code == 200 and answer.json()["backend"] == "shop"
    assert answer.headers["Strict-Transport-Security"].startswith(f"max-age={NPM_HSTS_MAX_AGE}")
    moved = httpx.get(f"http://127.0.0.1:{publishing.http_port}/cart", headers={"Host": NAME}, trust_env=False)
    assert moved.status_code == 301 and moved.headers["Location"].startswith("https://")
    # The live side reads back as rendered: nothing left to change, and the revision names the certificate only.
    assert operations.plan().changes == []
    assert certificate_name(first.pk, first.chain_pem) in "".join(revision.files.values())

    # A new certificate: NPM gets a second custom certificate; the first stays while the previous config names it.
    second = upload(operator_user, leaf(NAME))
    save(site(NAME, backend.port, certificate=second.pk, force_https=True))
    applied()
    assert served(https, second.serial) == second.serial
    applied()  # nothing names the first one any more: it goes
    with publishing.client() as client:
        names = {c.nice_name for c in client.list_certificates() if c.nice_name.startswith("portico-")}
    assert names == {certificate_name(second.pk, second.chain_pem)}

    # Import reads the certificate and the switches back (the certificate is Portico's own).
    publisher = NpmPublisher()
    preview = import_preview(publisher.hosts(), publisher.own_certificates())
    (domain,) = [d for d in preview.document.domains if d.name == NAME]
    assert (domain.certificate, domain.force_https, domain.hsts, domain.http2) == (second.pk, True, 0, False)

    key_body = Certificate.objects.get(pk=second.pk).key_sealed  # sealed; the plain key must be nowhere either
    assert key_body
    for row in [*Revision.objects.values(), *AuditEntry.objects.values()]:
        assert "PRIVATE KEY" not in repr(row), row


def test_a_certificate_npm_s_nginx_refuses_is_rolled_back_and_leaves_npm_as_it_was(
    publishing, echo_backend, operator_user
):
    from certificates.sealing import seal

    backend = echo_backend("shop")
    save(site(NAME, backend.port))
    applied()
    before = NpmPublisher().current()
    bad = upload(operator_user, leaf(NAME))
    Certificate.objects.filter(pk=bad.pk).update(key_sealed=seal(leaf("other.test").key_pem))
    save(site(NAME, backend.port, certificate=bad.pk))
    revision = operations.apply(source="test")
    # NPM takes the pair (its upload checks each file, not that they match); its nginx refuses the host, and
    # Portico puts the previous host back.
    assert revision.status == Revision.Status.ROLLED_BACK, (revision.message, revision.output)
    assert "key values mismatch" in revision.output
    assert NpmPublisher().current() == before
    with publishing.client() as client:
        assert not [c for c in client.list_certificates() if c.nice_name.startswith("portico-")]

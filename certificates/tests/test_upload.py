"""Uploading a certificate: every refusal names its field and stores nothing; a good upload is sealed at rest."""

from __future__ import annotations

import datetime as dt

import pytest

from certificates import operations
from certificates.models import Certificate
from certificates.sealing import unseal
from certificates.tests.pki import NOW, chain, make_cert, pki
from core.errors import Conflict, Forbidden, Invalid, Stale
from core.models import AuditEntry

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def refusal(operator, certificate: str, key: str, domains: list[str] | None = None) -> dict[str, str]:
    """Upload, expect a refusal, and return {field: message}; nothing may have been stored."""
    with pytest.raises(Invalid) as caught:
        operations.upload_certificate(certificate, key, domains=domains, actor=operator, source="api")
    assert Certificate.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="certificate.").exists()
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_a_good_chain_is_stored_with_its_key_sealed(operator_user):
    root, intermediate, leaf = pki("shop.example.test", sans=["shop.example.test", "www.example.test"])
    cert = operations.upload_certificate(
        chain(leaf, intermediate), leaf.key_pem, domains=["WWW.example.test"], actor=operator_user, source="api"
    )
    cert.refresh_from_db()
    assert cert.status == "valid" and cert.source == "upload"
    assert cert.domains == ["shop.example.test", "www.example.test"]
    assert cert.serial == format(leaf.cert.serial_number, "x")
    assert cert.issuer == "CN=Test Intermediate"
    assert cert.not_after == leaf.cert.not_valid_after_utc.replace(microsecond=0)
    assert cert.chain_pem == chain(leaf, intermediate)
    body = leaf.key_pem.split("-----")[2].strip()
    assert body[:40] not in cert.key_sealed  # not stored in the clear...
    assert unseal(cert.key_sealed) == leaf.key_pem  # ...but recoverable with the key from var/
    entry = AuditEntry.objects.get(action="certificate.upload")
    assert entry.after["serial"] == cert.serial
    assert "PRIVATE" not in str(entry.after) and body[:40] not in str(entry.after)


def test_it_refuses_a_key_that_does_not_match_the_certificate(operator_user):
    _, intermediate, leaf = pki()
    other = make_cert("other.example.test")
    errors = refusal(operator_user, chain(leaf, intermediate), other.key_pem)
    assert "does not belong" in errors["private_key"]


def test_it_refuses_a_chain_in_the_wrong_order(operator_user):
    _, intermediate, leaf = pki()
    errors = refusal(operator_user, chain(intermediate, leaf), leaf.key_pem)
    assert "wrong order" in errors["certificate"] and "private_key" not in errors
    root, intermediate, leaf = pki()
    errors = refusal(operator_user, chain(leaf, root, intermediate), leaf.key_pem)
    assert "wrong order" in errors["certificate"]


def test_it_refuses_a_broken_chain(operator_user):
    _, _, leaf = pki()
    stranger = make_cert("Unrelated CA", ca=True)
    errors = refusal(operator_user, chain(leaf, stranger), leaf.key_pem)
    assert "broken" in errors["certificate"] and "certificate 2 did not issue certificate 1" in errors["certificate"]


def test_it_refuses_an_expired_certificate(operator_user):
    _, intermediate, leaf = pki(not_before=NOW - dt.timedelta(days=100), not_after=NOW - dt.timedelta(days=10))
    errors = refusal(operator_user, chain(leaf, intermediate), leaf.key_pem)
    assert "has expired" in errors["certificate"]


def test_it_refuses_an_expired_intermediate(operator_user):
    root = make_cert("Test Root", ca=True)
    old = make_cert("Old Intermediate", issuer=root, ca=True, not_after=NOW - dt.timedelta(days=1))
    leaf = make_cert("shop.example.test", issuer=old)
    errors = refusal(operator_user, chain(leaf, old), leaf.key_pem)
    assert "Certificate 2 of the chain has expired" in errors["certificate"]


def test_it_refuses_a_certificate_not_valid_yet(operator_user):
    _, intermediate, leaf = pki(not_before=NOW + dt.timedelta(days=2))
    errors = refusal(operator_user, chain(leaf, intermediate), leaf.key_pem)
    assert "not valid yet" in errors["certificate"]


def test_it_refuses_a_certificate_that_does_not_cover_the_name(operator_user):
    _, intermediate, leaf = pki("shop.example.test", sans=["shop.example.test", "*.api.example.test"])
    errors = refusal(operator_user, chain(leaf, intermediate), leaf.key_pem, domains=["a.b.api.example.test"])
    assert "does not cover a.b.api.example.test" in errors["domains"]
    errors = refusal(operator_user, chain(leaf, intermediate), leaf.key_pem, domains=["other.example.test"])
    assert "other.example.test" in errors["domains"]


def test_a_wildcard_covers_one_label(operator_user):
    _, intermediate, leaf = pki("shop.example.test", sans=["*.example.test"])
    cert = operations.upload_certificate(
        chain(leaf, intermediate), leaf.key_pem, domains=["shop.example.test"], actor=operator_user, source="api"
    )
    assert cert.domains == ["*.example.test"]


@pytest.mark.parametrize(
    ("certificate", "field", "words"),
    [
        ("", "certificate", "Paste the certificate"),
        ("hello", "certificate", "not a PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate", "cannot be read"),
        ("KEY", "certificate", "holds a private key"),
    ],
)
def test_it_refuses_garbage_pem(operator_user, certificate, field, words):
    _, intermediate, leaf = pki()
    certificate = leaf.key_pem if certificate == "KEY" else certificate
    errors = refusal(operator_user, certificate, leaf.key_pem)
    assert words in errors[field]


def test_it_refuses_a_garbage_or_protected_key(operator_user):
    _, intermediate, leaf = pki()
    assert "not a readable PEM private key" in refusal(operator_user, leaf.pem, "nope")["private_key"]
    protected = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    assert "passphrase" in refusal(operator_user, leaf.pem, protected)["private_key"]


def test_it_refuses_a_damaged_second_certificate(operator_user):
    _, intermediate, leaf = pki()
    damaged = leaf.pem + "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert "cannot be read" in refusal(operator_user, damaged, leaf.key_pem)["certificate"]


def test_a_viewer_may_not_upload(viewer_user):
    _, intermediate, leaf = pki()
    with pytest.raises(Forbidden):
        operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=viewer_user, source="ui")
    assert Certificate.objects.count() == 0


def test_delete_is_refused_while_a_domain_uses_it_and_checks_the_version(operator_user):
    from routes.models import Domain

    _, intermediate, leaf = pki()
    cert = operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=operator_user, source="api")
    Domain.objects.create(name="shop.example.test", certificate=cert)
    with pytest.raises(Conflict) as caught:
        operations.delete_certificate(cert.pk, actor=operator_user, source="api")
    assert "shop.example.test" in caught.value.message
    Domain.objects.update(certificate=None)
    with pytest.raises(Stale):
        operations.delete_certificate(cert.pk, actor=operator_user, source="api", expected_version=cert.version + 5)
    operations.delete_certificate(cert.pk, actor=operator_user, source="api", expected_version={cert.version})
    assert not Certificate.objects.exists()
    entry = AuditEntry.objects.get(action="certificate.delete")
    assert entry.before["serial"] == cert.serial and entry.object_id == str(cert.pk)


def test_an_uploaded_certificate_is_not_renewed_by_acme(operator_user):
    _, intermediate, leaf = pki()
    cert = operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=operator_user, source="api")
    with pytest.raises(Invalid):
        operations.renew_certificate(cert.pk, actor=operator_user, source="api")


def test_refusals_speak_the_page_language(operator_user):
    from django.utils import translation

    _, intermediate, leaf = pki()
    other = make_cert("other.example.test")
    with translation.override("ko"):
        errors = refusal(operator_user, chain(leaf, intermediate), other.key_pem)
    assert errors["private_key"] == "이 개인 키는 인증서(PEM 텍스트의 첫 번째 인증서)와 짝이 아닙니다."

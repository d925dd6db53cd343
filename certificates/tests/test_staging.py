"""The files a publisher stages for a certificate: safe names that change with each renewal, the key unsealed."""

from __future__ import annotations

import pytest

from certificates import operations
from certificates.staging import NotServable, tls_files
from certificates.tests.pki import chain, pki

pytestmark = pytest.mark.django_db


def test_an_uploaded_certificate_gives_its_chain_and_key(operator_user):
    _, intermediate, leaf = pki()
    cert = operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=operator_user, source="api")
    files = tls_files(cert)
    assert files.chain_name == f"cert-{cert.pk}-{cert.serial}.crt" and files.key_name.endswith(".key")
    assert files.chain_pem == chain(leaf, intermediate) and files.key_pem == leaf.key_pem
    assert files.reference() == {"certificate": files.chain_name, "key": files.key_name}
    assert "PRIVATE" not in str(files.reference())


def test_a_pending_certificate_has_nothing_to_serve(operator_user):
    cert = operations.request_certificate(["p.example.test"], challenge="http-01", actor=operator_user, source="api")
    with pytest.raises(NotServable, match="pending"):
        tls_files(cert)


def test_a_serial_outside_the_alphabet_never_becomes_a_file_name(operator_user):
    _, intermediate, leaf = pki()
    cert = operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=operator_user, source="api")
    cert.serial = "ab;include /etc/passwd"
    with pytest.raises(NotServable, match="cannot name a file"):
        tls_files(cert)

"""The certificate files nginx serves: chain and key from the certificates store, checked against the digest in
their file names, and the leaf a handshake must present after an apply."""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certificates.models import Certificate
from certificates.sealing import SealError
from certificates.staging import NotServable, tls_files
from publishing.nginx.process import NginxError
from publishing.render import referenced_certificates, tls_digest

_STEM = re.compile(r"portico-([0-9]+)-([0-9a-f]{32})")


def stored_chain(stem: str) -> tuple[Certificate, str]:
    """The certificate a file stem names, checked against the digest in the stem. Raises NginxError."""
    match = _STEM.fullmatch(stem)
    cert = Certificate.objects.filter(pk=int(match.group(1))).first() if match else None
    if match is None or cert is None or not cert.chain_pem or tls_digest(cert.chain_pem) != match.group(2):
        number = match.group(1) if match else stem
        raise NginxError(
            f"Certificate {number} was renewed, replaced or deleted while it was being published: apply again."
        )
    return cert, cert.chain_pem


def certificate_material(stem: str) -> tuple[str, str]:
    """The chain and the private key (PEM) of the files named ``stem``, from the certificates store. The key goes
    only into the file nginx reads. Raises NginxError when the certificate changed or its key cannot be opened."""
    cert, _chain = stored_chain(stem)
    try:
        files = tls_files(cert)
    except (NotServable, SealError) as exc:
        raise NginxError(str(exc)) from None
    return files.chain_pem, files.key_pem


def expected_leaves(desired: dict[str, str], previous: dict[str, str]) -> dict[str, bytes]:
    """For each changed domain file with an HTTPS server: the leaf certificate (DER) a handshake must present."""
    leaves: dict[str, bytes] = {}
    by_stem: dict[str, bytes] = {}
    for name, text in desired.items():
        if previous.get(name) == text:
            continue
        for stem in referenced_certificates({name: text}):
            if stem not in by_stem:
                _cert, chain = stored_chain(stem)
                leaf = x509.load_pem_x509_certificates(chain.encode())[0]
                by_stem[stem] = leaf.public_bytes(serialization.Encoding.DER)
            leaves[name] = by_stem[stem]
    return leaves

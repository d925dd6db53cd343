"""Reading and checking PEM certificates and keys (pure: no database, no network).

An upload is refused field by field with a reason a person can act on; nothing here stores anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from django.utils.translation import gettext as _

from core.errors import Invalid

# The largest PEM text accepted: a leaf plus a long chain is a few kilobytes; this bounds the parsing work.
MAX_PEM_CHARS = 65_536

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


@dataclass(frozen=True)
class CertInfo:
    """What Portico stores and shows about a checked chain (the key is handed back apart, never in here)."""

    chain_pem: str
    names: list[str]
    not_before: dt.datetime
    not_after: dt.datetime
    issuer: str
    serial: str


def _refuse(field: str, message: str) -> Invalid:
    return Invalid.field(field, message)


def load_chain(text: str, field: str = "certificate") -> list[x509.Certificate]:
    """The certificates of a PEM text, leaf first. Raises Invalid naming ``field`` for anything else."""
    if not text or not text.strip():
        raise _refuse(field, _("Paste the certificate in PEM form (-----BEGIN CERTIFICATE----- ...)."))
    if len(text) > MAX_PEM_CHARS:
        raise _refuse(field, _("The PEM text is longer than %(limit)d characters.") % {"limit": MAX_PEM_CHARS})
    if "PRIVATE KEY-----" in text:
        raise _refuse(field, _("This field holds a private key: put it in private_key, and only certificates here."))
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise _refuse(field, _("This is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)."))
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except (ValueError, UnicodeEncodeError):
        raise _refuse(field, _("The PEM certificate cannot be read (damaged or cut short?).")) from None
    if text.count("-----BEGIN CERTIFICATE-----") != len(certs):
        raise _refuse(field, _("One of the certificates in this PEM text cannot be read (damaged or cut short?)."))
    return certs


def load_private_key(text: str, field: str = "private_key") -> PrivateKey:
    """The private key of a PEM text (unencrypted RSA, EC or EdDSA). Raises Invalid naming ``field``."""
    if not text or not text.strip():
        raise _refuse(field, _("Paste the private key in PEM form (-----BEGIN PRIVATE KEY----- ...)."))
    if len(text) > MAX_PEM_CHARS:
        raise _refuse(field, _("The PEM text is longer than %(limit)d characters.") % {"limit": MAX_PEM_CHARS})
    if "ENCRYPTED" in text:
        raise _refuse(field, _("The key is protected by a passphrase: remove it (openssl pkey -in KEY -out PLAIN)."))
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise _refuse(field, _("This is not a readable PEM private key.")) from None
    if not isinstance(key, PrivateKey):
        raise _refuse(field, _("Use an RSA, ECDSA or Ed25519 key."))
    return key


def key_pem(key: PrivateKey) -> str:
    """The key as unencrypted PKCS#8 PEM (what is sealed and later staged for nginx)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def dns_names(cert: x509.Certificate) -> list[str]:
    """The DNS names a certificate is for (its subjectAltName), lower-cased, in their order."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in san.get_values_for_type(x509.DNSName)]


def covers(names: list[str], host: str) -> bool:
    """Whether a certificate for ``names`` is valid for ``host`` (a wildcard stands for exactly one label)."""
    host = host.lower().rstrip(".")
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _is_issuer(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_order(certs: list[x509.Certificate], field: str) -> None:
    """Each certificate must be issued by the next one (the leaf first, then its issuers up the chain)."""
    for i in range(len(certs) - 1):
        if _is_issuer(certs[i], certs[i + 1]):
            continue
        if any(_is_issuer(certs[i], other) for j, other in enumerate(certs) if j != i):
            raise _refuse(
                field,
                _(
                    "The chain is in the wrong order: put the server certificate first, then the certificate "
                    "that issued it, and so on up the chain."
                ),
            )
        raise _refuse(
            field,
            _(
                "The chain is broken: certificate %(issuer)d did not issue certificate %(child)d "
                "(a missing or wrong intermediate certificate?)."
            )
            % {"issuer": i + 2, "child": i + 1},
        )


def _check_dates(certs: list[x509.Certificate], now: dt.datetime, field: str) -> None:
    for i, cert in enumerate(certs):
        if now < cert.not_valid_before_utc:
            when = {"n": i + 1, "when": f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M}"}
            message = (
                _("The certificate is not valid yet (from %(when)s UTC).")
                if i == 0
                else _("Certificate %(n)d of the chain is not valid yet (from %(when)s UTC).")
            )
            raise _refuse(field, message % when)
        if now >= cert.not_valid_after_utc:
            when = {"n": i + 1, "when": f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M}"}
            message = (
                _("The certificate has expired (on %(when)s UTC).")
                if i == 0
                else _("Certificate %(n)d of the chain has expired (on %(when)s UTC).")
            )
            raise _refuse(field, message % when)


def describe(certs: list[x509.Certificate]) -> CertInfo:
    """The stored facts of a chain whose first certificate is the leaf."""
    leaf = certs[0]
    return CertInfo(
        chain_pem="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs),
        names=dns_names(leaf),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        issuer=leaf.issuer.rfc4514_string()[:255],
        serial=format(leaf.serial_number, "x"),
    )


def check_upload(
    certificate: str, private_key: str, names: list[str] | None = None, now: dt.datetime | None = None
) -> tuple[CertInfo, str]:
    """Check an uploaded chain and key; returns the chain's facts and the key as PKCS#8 PEM.

    Raises Invalid (field ``certificate``, ``private_key`` or ``domains``) when the PEM is garbage, the key does
    not match the leaf, the chain is broken or out of order, a certificate is expired or not yet valid, or the
    leaf does not cover every one of ``names``.
    """
    certs = load_chain(certificate)
    key = load_private_key(private_key)
    if _spki(key.public_key()) != _spki(certs[0].public_key()):
        if any(_spki(key.public_key()) == _spki(c.public_key()) for c in certs[1:]):
            raise _refuse(
                "certificate",
                _(
                    "The chain is in the wrong order: the certificate this key belongs to must come first, then "
                    "the certificate that issued it, and so on up the chain."
                ),
            )
        raise _refuse(
            "private_key",
            _("This private key does not belong to the certificate (the first certificate of the PEM text)."),
        )
    _check_order(certs, "certificate")
    _check_dates(certs, now or dt.datetime.now(dt.UTC), "certificate")
    info = describe(certs)
    if not info.names:
        raise _refuse(
            "certificate", _("The certificate names no DNS names (subjectAltName): browsers would refuse it.")
        )
    missing = [name for name in names or [] if not covers(info.names, name)]
    if missing:
        raise _refuse(
            "domains",
            _("The certificate does not cover %(missing)s (it is for %(names)s).")
            % {"missing": ", ".join(missing), "names": ", ".join(info.names)},
        )
    return info, key_pem(key)

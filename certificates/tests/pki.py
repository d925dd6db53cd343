"""Certificates made by the tests themselves (a root, intermediates, leaves) with `cryptography`; no pytest here."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


@dataclass
class Issued:
    """A certificate and its key, both as objects and PEM."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()


def make_cert(
    name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    sans: list[str] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    ips: list[str] | None = None,
) -> Issued:
    """A certificate for ``name`` signed by ``issuer`` (self-signed without one); ``sans`` default to [name]
    for leaves and none for CAs."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    names = sans if sans is not None else ([] if ca else [name])
    # What Python's strict verification (3.13+) asks of a chain: key identifiers and the CA's key usage.
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    signer_public = issuer.key.public_key() if issuer else key.public_key()
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    general: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    general += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips or []]
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def chain(*certs: Issued) -> str:
    """The PEM text of ``certs`` in the order given."""
    return "".join(c.pem for c in certs)


def pki(name: str = "shop.example.test", **leaf_options) -> tuple[Issued, Issued, Issued]:
    """A root, an intermediate it signed, and a leaf for ``name`` the intermediate signed."""
    root = make_cert("Test Root", ca=True)
    intermediate = make_cert("Test Intermediate", issuer=root, ca=True)
    leaf = make_cert(name, issuer=intermediate, **leaf_options)
    return root, intermediate, leaf

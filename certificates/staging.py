"""What a publisher stages for a certificate: the chain and the unsealed key as files with fixed, safe names.

Pure apart from unsealing: the publisher decides where the files go. The key file is written 0600 and must never
be copied into a revision, a diff or an export (only ``reference()`` may be).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from certificates.models import Certificate
from certificates.sealing import unseal

# The names become nginx text (ssl_certificate ...): digits, lower-case hex and fixed words only.
_NAME = re.compile(r"cert-[0-9]+-[0-9a-f]{1,64}\.(crt|key)")
KEY_MODE = 0o600
CHAIN_MODE = 0o644


class NotServable(ValueError):
    """The certificate has no chain or key to serve (pending, failed) or its stored values are damaged."""


@dataclass(frozen=True)
class TlsFiles:
    """The chain (``chain_name``, public) and key (``key_name``, secret) of one certificate, ready to write."""

    chain_name: str
    chain_pem: str
    key_name: str
    key_pem: str

    def reference(self) -> dict[str, str]:
        """What a revision or an export may record about these files (names only, never the key)."""
        return {"certificate": self.chain_name, "key": self.key_name}


def tls_files(cert: Certificate) -> TlsFiles:
    """The files for ``cert``; the serial is in the names, so a renewal stages new files beside the old ones
    and the swap moves the config and its files together. Raises NotServable."""
    if not cert.chain_pem or not cert.key_sealed or not cert.serial:
        raise NotServable(f"Certificate {cert.pk} has nothing to serve yet (status {cert.status}).")
    stem = f"cert-{cert.pk}-{cert.serial.lower()}"
    chain_name, key_name = f"{stem}.crt", f"{stem}.key"
    if not (_NAME.fullmatch(chain_name) and _NAME.fullmatch(key_name)):
        raise NotServable(f"Certificate {cert.pk} has a serial that cannot name a file: {cert.serial[:70]!r}.")
    return TlsFiles(chain_name=chain_name, chain_pem=cert.chain_pem, key_name=key_name, key_pem=unseal(cert.key_sealed))

"""Secrets at rest (private keys, DNS provider credentials): sealed with Fernet under a key Portico keeps apart
from the database, so a copy of the database alone reveals none of them.

The key comes from PORTICO_ENCRYPTION_KEY (or the file PORTICO_ENCRYPTION_KEY_FILE names); without it, one is
generated once into VAR_DIR/encryption_key (mode 0600). Losing that key loses every sealed secret: back it up
with the database, but not in the same place.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_lock = threading.Lock()
_fernet: dict[str, Fernet] = {}


class SealError(Exception):
    """A sealed value cannot be opened with the current key (the key changed or the value is damaged)."""


def key_path() -> Path:
    """Where the generated key lives when no key comes from the environment."""
    return Path(settings.VAR_DIR) / "encryption_key"


def _load_key() -> bytes:
    configured = settings.PORTICO_ENCRYPTION_KEY
    if configured:
        return configured.encode()
    path = key_path()
    if not path.exists():
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def _box() -> Fernet:
    cache_key = f"{settings.PORTICO_ENCRYPTION_KEY}|{key_path()}"
    with _lock:
        box = _fernet.get(cache_key)
        if box is None:
            try:
                box = Fernet(_load_key())
            except ValueError:
                raise ImproperlyConfigured(
                    "PORTICO_ENCRYPTION_KEY must be a Fernet key (32 bytes, url-safe base64: "
                    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())").'
                ) from None
            _fernet[cache_key] = box
        return box


def seal(plain: str) -> str:
    """The sealed (encrypted and authenticated) form of ``plain``; empty text stays empty."""
    if not plain:
        return ""
    return _box().encrypt(plain.encode()).decode()


def unseal(sealed: str) -> str:
    """The plain text of a sealed value. Raises SealError when the key does not open it."""
    if not sealed:
        return ""
    try:
        return _box().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SealError(
            "A stored secret cannot be decrypted: PORTICO_ENCRYPTION_KEY (or var/encryption_key) is not the key "
            "it was sealed with. Restore that key, or upload/request the certificate again."
        ) from None

"""What each role may read: credentials in URLs are shown to nobody; account details (e-mail, role), NPM's login
and engine TLS file paths to admins only. docs/security.md lists what each role reads."""

from __future__ import annotations

import re
from typing import Any

from core.roles import can

# user:password@ (or user@) right after a scheme, anywhere in a text: ssh://student@lab, tcp://u:p@host:2376.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s@]*@")
REDACTED = "***"

# Keys of audit before/after values that only admins read: another account's e-mail and role, the NPM user,
# where an engine's TLS client key lives on Portico's host.
ADMIN_ONLY_KEYS = frozenset({"email", "role", "identity", "tls_ca", "tls_cert", "tls_key"})


def without_credentials(text: str) -> str:
    """``text`` with the user info of every URL in it replaced (``ssh://***@host``): a URL, or a message
    that quotes one."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def sees_upstream_words(user: Any) -> bool:
    """Whether ``user`` may read what another system answered (NPM's error text, a Docker engine's explanation,
    a body that was not NPM's at all): admins only. Admins choose the URLs Portico talks to; shown to lower
    roles, those answers would make Portico a reader of internal URLs for them. The server log has them too."""
    return can(user, "administer")


def audit_value(value: Any, *, admin: bool) -> Any:
    """An audit before/after as ``admin`` (or anyone below) may read it: URLs never carry credentials, and
    below admin the ADMIN_ONLY_KEYS are left out, at any depth."""
    if isinstance(value, dict):
        return {
            key: without_credentials(item) if key == "url" and isinstance(item, str) else audit_value(item, admin=admin)
            for key, item in value.items()
            if admin or key not in ADMIN_ONLY_KEYS
        }
    if isinstance(value, list):
        return [audit_value(item, admin=admin) for item in value]
    return value

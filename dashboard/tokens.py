"""API tokens: issue one (for yourself, or as an admin for someone else) and revoke one, each audited with the
token's owner and the actor, for the Tokens page, /api/v1/tokens and `manage.py create_api_token` alike."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core import audit
from dashboard.models import ApiToken


class TokenError(Exception):
    """A refused token change: ``status`` 409 (the owner has a token of that name)."""

    def __init__(self, message: str, field: str = "__all__", status: int = 409):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def _owner_state(token: ApiToken) -> dict[str, str]:
    # The owner is part of the entry: an admin minting a token for a student must read as exactly that.
    return {"name": token.name, "user": token.user.get_username()}


def issue_token(owner, name: str, expires_at: datetime | None, *, actor, source: str) -> tuple[ApiToken, str]:
    """Make a token for ``owner``; returns the row and the plain value (shown once, never stored or audited).
    Raises TokenError 409 when ``owner`` has a token named ``name``."""
    try:
        with transaction.atomic():
            token, plain = ApiToken.issue(owner, name, expires_at)
            audit.record("token.create", actor=actor, source=source, obj=token, after=_owner_state(token))
    except IntegrityError:
        raise TokenError(
            _("%(user)s already has a token named %(name)s.") % {"user": owner, "name": name}, "name"
        ) from None
    return token, plain


def revoke_token(token: ApiToken, *, actor, source: str) -> ApiToken:
    """Revoke ``token`` (the caller has locked it or owns it); revoking a revoked token changes nothing."""
    with transaction.atomic():
        if not token.revoked_at:
            token.revoke()
            audit.record("token.revoke", actor=actor, source=source, obj=token, before=_owner_state(token))
    return token

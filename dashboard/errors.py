"""Domain errors that operations raise and every transport maps alike (the API's error shape, a form's errors).

They carry no HTTP: ``status`` is only the code the API answers with, so one exception handler serves all.
"""

from __future__ import annotations


class OperationError(Exception):
    """A refused operation: ``message`` for a person, ``errors`` as field/message pairs (may be empty)."""

    status = 400

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None, **extra: object):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.extra = extra


class Forbidden(OperationError):
    """The actor's role does not allow the operation."""

    status = 403


class NotFound(OperationError):
    """The object the operation names does not exist (any more)."""

    status = 404


class Conflict(OperationError):
    """The operation contradicts the current state (a name taken, an object still in use)."""

    status = 409


class Stale(OperationError):
    """The caller's expected version is not the current one: read again, then retry."""

    status = 412


class Invalid(OperationError):
    """Bad input; ``errors`` names each field and why."""

    status = 422

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        """The refusal of one field."""
        return cls(message, [{"field": field, "message": message}])


class Unavailable(OperationError):
    """An external system (ACME server, DNS provider, nginx) did not do its part; the message says what to check."""

    status = 503

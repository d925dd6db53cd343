"""Domain errors that operations raise and every transport maps alike (the API's error shape, a form's errors).

They carry no HTTP: ``status`` is only the code the API answers with, so one exception handler serves all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

INVALID_INPUT = "Invalid input."


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

    @property
    def only_repeats_fields(self) -> bool:
        """Whether ``message`` says no more than a field error does (the API then sums it up as "Invalid input.")."""
        return any(error["message"] == self.message for error in self.errors) or self.message == INVALID_INPUT


class Unavailable(OperationError):
    """An external system (ACME server, DNS provider, nginx) did not do its part; the message says what to check."""

    status = 503


# Validation errors as pydantic (and ninja) report them, cleaned once for every transport.
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}
_PARAMS = {"payload", "filters", "ninja_pagination"}


def error_message(error: Mapping[str, Any]) -> str:
    """The reason of one pydantic error, without pydantic's "Value error, " prefix."""
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def field_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[dict[str, str]]:
    """Turn pydantic/ninja error dicts into field/message pairs, field names dotted (``targets.0.port``).

    ninja puts the parameter's source and name first (``("body", "payload", "path")``); those are dropped.
    Whole-model checks raise ``ValueError("<field>: reason")``; the field named there becomes the error's field.
    """
    result = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
            if loc and loc[0] in _PARAMS:
                loc = loc[1:]
        message = error_message(err)
        head, sep, rest = message.partition(": ")
        if sep and head[:1].isalpha() and head.replace("_", "").isalnum() and head.islower():  # http2 too
            loc.append(head)
            message = rest
        field = ".".join(loc) or "__all__"
        result.append({"field": f"{prefix}{field}", "message": message})
    return result

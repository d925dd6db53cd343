"""Input that every database Portico runs on can store and compare: PostgreSQL is stricter than SQLite.

PostgreSQL refuses text with NUL characters (``\\x00``) and UTC offsets beyond +-15:59, which SQLite stores or
compares without a word. Unchecked, such input in a filter or a body was a 500 on PostgreSQL only (the API fuzz
test found both in scripts/test's PostgreSQL pass). No name, path, host, note or search in Portico needs a NUL,
so requests that carry one are refused before any view runs (``RejectNulMiddleware``); times are turned into
UTC while they are validated (``core.api.UtcDatetime``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.utils.translation import gettext as _

from core.api import API_PREFIX, error_response

NUL = "\x00"
NUL_MESSAGE = "NUL characters (\\x00) are not allowed."


def nul_fields(data: Any, prefix: str = "") -> list[str]:
    """The dotted paths (``targets.0.host``) of the keys and strings in JSON ``data`` that contain a NUL."""
    found = []
    if isinstance(data, str):
        return [prefix or "body"] if NUL in data else []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            found += [path] if NUL in str(key) else nul_fields(value, path)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += nul_fields(value, f"{prefix}.{index}" if prefix else str(index))
    return found


def _with_nul(params) -> list[str]:
    """The names of the query or form parameters whose name or values hold a NUL."""
    return [key.replace(NUL, "\\x00") for key, values in params.lists() if NUL in key or NUL in "".join(values)]


def _request_nul_fields(request: HttpRequest) -> list[str]:
    fields = _with_nul(request.GET)
    if request.content_type == "application/json" and b"\\u0000" in request.body:
        with contextlib.suppress(ValueError):  # not JSON: the endpoint answers that
            fields += nul_fields(json.loads(request.body))
    elif request.content_type == "application/x-www-form-urlencoded" and request.method == "POST":
        fields += _with_nul(request.POST)
    return fields


class RejectNulMiddleware:
    """Refuse a request whose path, query, JSON or form body holds a NUL: 422 naming the fields (API), 400 (pages)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith(API_PREFIX)
        if NUL in request.path:
            # No resource has a NUL in its name.
            return error_response(404, "Not found: " + NUL_MESSAGE) if api else HttpResponseNotFound()
        fields = _request_nul_fields(request)
        if not fields:
            return self.get_response(request)
        if api:
            return error_response(422, "Invalid input.", [{"field": f, "message": NUL_MESSAGE} for f in fields])
        return HttpResponseBadRequest(
            _("Invalid input: NUL characters are not allowed (%(fields)s).") % {"fields": ", ".join(fields)}
        )

"""Shared pieces of the API every router uses: the error shape, the role check, pagination and ETags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Schema
from ninja.pagination import PaginationBase
from pydantic import AfterValidator

from core.roles import can

# Where the API lives: its requests answer in English and in this error shape, whatever the page settings.
API_PREFIX = "/api/"


class ErrorItem(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """Every error the API returns has this shape."""

    detail: str
    errors: list[ErrorItem] = []


class ApiError(Exception):
    """Raise from an endpoint to answer ``status`` with the common error shape."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


def error_response(status: int, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> JsonResponse:
    """Build an error response in the shared shape."""
    return JsonResponse({"detail": detail, "errors": errors or [], **extra}, status=status)


def django_errors(exc: DjangoValidationError) -> list[dict[str, str]]:
    """Flatten a Django ValidationError into field/message pairs."""
    if hasattr(exc, "error_dict"):
        return [
            {"field": field, "message": message} for field, messages in exc.message_dict.items() for message in messages
        ]
    return [{"field": "__all__", "message": message} for message in exc.messages]


def require(request: HttpRequest, capability: str) -> None:
    """Raise 403 unless the caller's role grants ``capability`` (view_portico, operate, administer)."""
    if not can(request.user, capability):
        raise ApiError(403, f"Your role may not do this (needs {capability}).")


# --- pagination ------------------------------------------------------------------------

MAX_PAGE_SIZE = 500


class PagePagination(PaginationBase):
    """``?page=&page_size=`` on every list; the answer says how many items and pages there are.

    Use it as ``@paginate(PagePagination)`` under the operation decorator; the view returns a queryset or list.
    A module that uses it must not have ``from __future__ import annotations``: ninja's wrapper then cannot
    resolve the view's ``Query[...]`` annotation and the OpenAPI document fails to build.
    """

    class Input(Schema):
        page: int = Field(1, ge=1, le=1_000_000, description="1-based page number.")
        page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE, description=f"Items per page (at most {MAX_PAGE_SIZE}).")

    class Output(Schema):
        count: int = Field(description="Items matching the filters, on all pages.")
        page: int
        page_size: int
        pages: int = Field(description="Number of pages (at least 1).")
        items: list[Any]

    def paginate_queryset(self, queryset, pagination: Input, request: HttpRequest, **params: Any) -> dict[str, Any]:
        count = self._items_count(queryset)
        start = (pagination.page - 1) * pagination.page_size
        return {
            "count": count,
            "page": pagination.page,
            "page_size": pagination.page_size,
            "pages": max(1, -(-count // pagination.page_size)),
            "items": queryset[start : start + pagination.page_size],
        }


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC (a time without an offset is taken as UTC); ValueError when out of range."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


# Filters take times with any offset; PostgreSQL refuses offsets beyond +-15:59 that SQLite compares silently.
UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]


def filter_by(queryset, filters: Schema, lookups: dict[str, str]):
    """Narrow ``queryset`` by each filter that was given: ``lookups`` maps a filter's name to its ORM lookup.

    A filter counts as given unless it is None or empty text (``False`` is a value). A lookup list ending in
    ``|`` joins several text fields with OR: ``{"q": "message__icontains|diff__icontains"}``.
    """
    for name, lookup in lookups.items():
        value = getattr(filters, name)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            value = value.strip()
        if "|" in lookup:
            condition = Q()
            for each in lookup.split("|"):
                condition |= Q(**{each: value})
            queryset = queryset.filter(condition)
        else:
            queryset = queryset.filter(**{lookup: value})
    return queryset


class LazyPage:
    """A list for ``PagePagination`` whose items are made by ``make`` only for the page that is asked for.

    For lists whose items are costly to finish (an engine ping each): ``len()`` counts the raw items, and
    slicing maps ``make`` over just the slice.
    """

    def __init__(self, raw: list[Any], make):
        self.raw = raw
        self.make = make

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: slice) -> list[Any]:
        return [self.make(item) for item in self.raw[index]]


# --- optimistic concurrency (version, ETag, If-Match) ----------------------------------


# The If-Match header as the OpenAPI document declares it (PUT/PATCH/DELETE get it by default; a POST that
# changes a versioned resource adds it through openapi_extra).
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": 'The ETag from your last read (e.g. "3"). When the resource changed since, the answer is 412 '
    "and nothing is written. Leave it out (or send *) to write whatever the current version is.",
}


def etag(version: int) -> str:
    """The ETag of a resource at ``version`` (a strong validator: the version is bumped on every change)."""
    return f'"{version}"'


def set_etag(response: HttpResponse, version: int) -> None:
    """Put the resource's version in the ETag header of the answer."""
    response["ETag"] = etag(version)


def if_match_tags(request: HttpRequest) -> set[str] | None:
    """The entity tags (without quotes) the caller's ``If-Match`` lists; None when it is absent or ``*``.

    A weak tag (``W/"2"``) counts as its strong twin: a proxy that compresses answers (nginx with gzip)
    weakens the ETags it passes on, and clients send back what they got. Our tags change with every change
    of the resource, so this loses no update.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}


def if_match_versions(request: HttpRequest) -> set[int] | None:
    """The versions the caller's ``If-Match`` accepts; None when the header is absent or ``*``.

    A tag that is not one of ours (not ``"<number>"``) matches nothing, so it leads to 412 as RFC 9110 says.
    """
    tags = if_match_tags(request)
    if tags is None:
        return None
    return {int(tag) for tag in tags if tag.isascii() and tag.isdigit()}


def check_if_match(request: HttpRequest, current_version: int, what: str) -> None:
    """Raise 412 when the caller sent ``If-Match`` for another version of ``what`` than the current one."""
    versions = if_match_versions(request)
    if versions is not None and current_version not in versions:
        raise precondition_failed(what, current_version)


def check_if_match_tag(request: HttpRequest, current: str, what: str) -> None:
    """Raise 412 unless ``If-Match`` is absent, ``*`` or names ``current`` (an opaque tag, e.g. a digest)."""
    tags = if_match_tags(request)
    if tags is not None and current not in tags:
        raise ApiError(
            412,
            f"{what} was changed by someone else since you read it: read it again, then retry with If-Match set "
            "to its new ETag.",
            [{"field": "If-Match", "message": f'Stale; the current ETag is "{current}".'}],
            current_etag=f'"{current}"',
        )


def precondition_failed(what: str, current_version: int) -> ApiError:
    """The 412 answer: someone else changed the resource since the caller read it."""
    return ApiError(
        412,
        f"{what} was changed by someone else (it is at version {current_version} now): "
        "read it again, then retry with If-Match set to its new ETag.",
        [{"field": "If-Match", "message": f"Stale version; the current ETag is {etag(current_version)}."}],
        current_version=current_version,
    )

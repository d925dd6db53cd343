"""The /npm endpoints: NPM's status and hosts, import (dry run first), adopt, and the NPM settings."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.pagination import paginate
from pydantic import Field

from core import audit
from core.api import ApiError, PagePagination, if_match_versions, require, set_etag
from core.visibility import sees_upstream_words
from publishing import operations
from publishing.npm.client import NpmError, NpmNotConfigured
from publishing.npm.importer import run_import
from publishing.operations import PublishError

router = Router(tags=["npm"])


def _fail(exc: PublishError | NpmError, user) -> ApiError:
    # The publisher re-raises NpmNotConfigured as a PublishError; the original is its __context__.
    if isinstance(exc, NpmNotConfigured) or isinstance(exc.__context__, NpmNotConfigured):
        # Nothing upstream failed: Portico itself is not set up for NPM yet (fix the settings, then retry).
        return ApiError(409, exc.message)
    # NPM being down or refusing is a problem of the upstream, not of the request. Its own words: admins only.
    said = exc.output != exc.message and sees_upstream_words(user)
    return ApiError(502, exc.message, [{"field": "npm", "message": exc.output}] if said else [])


# --- status and hosts ---------------------------------------------------------------------------------


class NpmStatusOut(Schema):
    configured: bool
    url: str
    identity: str = Field(description="NPM's login e-mail; empty below the admin role.")
    sources: dict[str, str]
    reachable: bool
    version: str
    error: str
    detail: str = Field(description="What NPM (or whatever answers at the URL) said about the error; admins only.")


@router.get("/npm/status", response=NpmStatusOut, operation_id="routes_api_npm_status")
def status(request: HttpRequest) -> dict[str, Any]:
    """Where NPM is (never the secret), where each setting comes from (env, db, unset) and whether it answers.
    The login e-mail (``identity``) and NPM's own words about an error (``detail``) are empty below admin."""
    require(request, "view_portico")
    return operations.npm_for_reader(operations.npm_status(), request.user)


class LocationOut(Schema):
    path: str
    forward: str


class HostOut(Schema):
    id: int
    domain_names: list[str]
    forward: str
    enabled: bool
    managed: bool
    conflict: bool = Field(description="Unmanaged, and Portico has an enabled domain with one of its names.")
    nginx_online: bool | None
    nginx_err: str
    locations: list[LocationOut]


class HostFilters(Schema):
    managed: bool | None = Field(None, description="true: only Portico's hosts; false: only the others.")
    conflict: bool | None = Field(None, description="true: only unmanaged hosts that clash with a Portico domain.")
    enabled: bool | None = None
    q: str | None = Field(None, max_length=255, description="Text in a domain name or the forward address.")


def _host_matches(row: dict[str, Any], filters: HostFilters) -> bool:
    for name in ("managed", "conflict", "enabled"):
        wanted = getattr(filters, name)
        if wanted is not None and row[name] != wanted:
            return False
    text = (filters.q or "").strip().lower()
    return not text or text in row["forward"].lower() or any(text in n.lower() for n in row["domain_names"])


@router.get("/npm/hosts", response=list[HostOut], operation_id="routes_api_npm_hosts")
@paginate(PagePagination)
def hosts(request: HttpRequest, filters: Query[HostFilters]) -> list[dict[str, Any]]:
    """Every proxy host of NPM, in NPM's id order: managed by Portico or not, and NPM's nginx verdict."""
    require(request, "view_portico")
    try:
        rows = operations.npm_host_rows(operations.npm_publisher().hosts())
    except PublishError as exc:
        raise _fail(exc, request.user) from None
    return [row for row in sorted(rows, key=lambda row: row["id"]) if _host_matches(row, filters)]


# --- import and adopt ---------------------------------------------------------------------------------


class ImportIn(Schema):
    dry_run: bool = Field(True, description="Only show what the import would do (the default).")
    adopt: bool = Field(False, description="Also mark the imported hosts as Portico's, so apply manages them.")
    host_ids: list[int] | None = Field(None, description="Only these NPM hosts (default: all).")


class ImportedHostOut(Schema):
    id: int
    domain_names: list[str]
    managed: bool
    skipped: bool
    domains: list[str]
    notes: list[str]


class ImportOut(Schema):
    dry_run: bool
    changes: dict[str, list[str]]
    hosts: list[ImportedHostOut]
    document: dict[str, Any]
    adopted: list[int]


@router.post("/npm/import", response=ImportOut, operation_id="routes_api_npm_import_hosts")
def import_hosts(request: HttpRequest, payload: ImportIn) -> dict[str, Any]:
    """Turn NPM's proxy hosts into Portico domains and routes. Dry run by default; existing domains are kept."""
    require(request, "operate")
    try:
        result = run_import(
            dry_run=payload.dry_run,
            adopt=payload.adopt,
            host_ids=payload.host_ids,
            actor=request.user,
            source=audit.source_of(request),
            publisher=operations.npm_publisher(),
        )
    except PublishError as exc:
        raise _fail(exc, request.user) from None
    return result.as_dict()


@router.post("/npm/hosts/{host_id}/adopt", response=ImportOut, operation_id="routes_api_npm_adopt")
def adopt(request: HttpRequest, host_id: int) -> dict[str, Any]:
    """Take over an NPM host: import its routes into Portico and mark it as Portico's in NPM (one step)."""
    require(request, "operate")
    try:
        result = run_import(
            dry_run=False,
            adopt=True,
            host_ids=[host_id],
            actor=request.user,
            source=audit.source_of(request),
            publisher=operations.npm_publisher(),
        )
    except PublishError as exc:
        raise _fail(exc, request.user) from None
    if not result.adopted and not any(h.managed for h in result.preview.hosts):
        notes = "; ".join(result.preview.notes) or "nothing in it can be expressed in Portico"
        raise ApiError(422, f"NPM host #{host_id} cannot be adopted: {notes}.")
    return result.as_dict()


# --- settings -----------------------------------------------------------------------------------------


class NpmSettingsOut(Schema):
    url: str
    identity: str
    secret_set: bool
    sources: dict[str, str]
    version: int = Field(description="Bumped on every change of the stored settings (0: never stored); the ETag.")


class NpmSettingsIn(Schema):
    url: str = Field("", max_length=500, examples=["http://npm:81/api"])
    identity: str = Field("", max_length=254, examples=["admin@example.com"])
    secret: str | None = Field(
        None,
        max_length=500,
        description="Leave out (or null) to keep the stored one; it is removed when url or identity changes.",
    )


@router.get("/npm/settings", response=NpmSettingsOut, operation_id="routes_api_npm_get_settings")
def get_settings(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    """The NPM connection settings (the secret only as set / not set). Environment variables take precedence.
    The ETag carries the stored settings' version."""
    require(request, "administer")
    out = operations.npm_settings()
    set_etag(response, out["version"])
    return out


@router.put("/npm/settings", response=NpmSettingsOut, operation_id="routes_api_npm_put_settings")
def put_settings(request: HttpRequest, payload: NpmSettingsIn, response: HttpResponse) -> dict[str, Any]:
    """Store NPM's URL, user and password in the database (used where no PORTICO_NPM_* variable is set).
    A new URL or user without a new secret removes the stored secret (it never follows to another host).
    With If-Match, settings someone changed meanwhile give 412 and nothing is stored."""
    require(request, "administer")
    operations.save_npm_settings(
        payload.url,
        payload.identity,
        payload.secret,
        actor=request.user,
        source=audit.source_of(request),
        expected=if_match_versions(request),
    )
    out = operations.npm_settings()
    set_etag(response, out["version"])
    return out

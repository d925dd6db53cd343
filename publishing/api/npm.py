"""The /npm endpoints: NPM's status and hosts, import (dry run first), adopt, and the NPM settings."""

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.pagination import paginate
from pydantic import Field

from core import audit
from core.api import ApiError, PagePagination, check_if_match, require, set_etag
from core.roles import can
from core.visibility import sees_upstream_words, without_credentials
from publishing.npm.client import NpmClient, NpmConfig, NpmError, NpmNotConfigured, forget_tokens
from publishing.npm.importer import run_import
from publishing.npm.publisher import NpmPublisher
from publishing.operations import PublishError

router = Router(tags=["npm"])

_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?::\d{1,5})?(?:/[A-Za-z0-9._~\-/]*)?")


def publisher() -> NpmPublisher:
    """The NPM publisher the endpoints use (tests replace it to talk to the fake NPM)."""
    return NpmPublisher()


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


def npm_status(client_factory=NpmClient.from_settings) -> dict[str, Any]:
    """Whether NPM is configured and answers (shared by the API and the NPM page)."""
    config = NpmConfig.load()
    out = {
        "configured": config.complete,
        "url": config.url,
        "identity": config.identity,
        "sources": config.sources,
        "reachable": False,
        "version": "",
        "error": "",
        "detail": "",
    }
    if not config.complete:
        out["error"] = "NPM is not configured."
        return out
    try:
        with client_factory() as client:
            health = client.health()
            client.list_proxy_hosts()  # proves the login works too
    except NpmError as exc:
        out["error"] = exc.message
        out["detail"] = exc.output if exc.output != exc.message else ""
        return out
    version = health.get("version") or {}
    out["reachable"] = True
    numbers = (version.get(k) if isinstance(version, dict) else None for k in ("major", "minor", "revision"))
    out["version"] = ".".join(str(n) if isinstance(n, int) else "?" for n in numbers)
    return out


def for_reader(out: dict[str, Any], user) -> dict[str, Any]:
    """NPM status or settings as ``user`` may read them: the login e-mail and NPM's own words (``detail``) for
    admins only, and no URL credentials for anyone (a PORTICO_NPM_URL may carry them)."""
    shown = {**out, "url": without_credentials(out["url"])}
    for key in ("error", "detail"):
        if key in shown:
            shown[key] = without_credentials(shown[key])
    if not can(user, "administer"):
        shown["identity"] = ""
    if not sees_upstream_words(user) and "detail" in shown:
        shown["detail"] = ""
    return shown


@router.get("/npm/status", response=NpmStatusOut, operation_id="routes_api_npm_status")
def status(request: HttpRequest) -> dict[str, Any]:
    """Where NPM is (never the secret), where each setting comes from (env, db, unset) and whether it answers.
    The login e-mail (``identity``) and NPM's own words about an error (``detail``) are empty below admin."""
    require(request, "view_portico")
    return for_reader(npm_status(lambda: publisher()._client_factory()), request.user)


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


def host_rows(hosts) -> list[dict[str, Any]]:
    """NPM's hosts as rows, with whether each conflicts with a Portico domain."""
    from routes.models import Domain

    ours = set(Domain.objects.filter(enabled=True).values_list("name", flat=True))
    rows = []
    for h in hosts:
        rows.append(
            {
                "id": h.id,
                "domain_names": h.domain_names,
                "forward": f"{h.forward_scheme}://{h.forward_host}:{h.forward_port}",
                "enabled": h.enabled,
                "managed": h.managed,
                "conflict": not h.managed and bool(ours & set(h.domain_names)),
                "nginx_online": h.nginx_online,
                "nginx_err": h.nginx_err,
                "locations": [
                    {
                        "path": loc.path,
                        "forward": f"{loc.forward_scheme}://{loc.forward_host}:{loc.forward_port}{loc.forward_path}",
                    }
                    for loc in h.locations
                ],
            }
        )
    return rows


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
        rows = host_rows(publisher().hosts())
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
            publisher=publisher(),
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
            publisher=publisher(),
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


def settings_out() -> dict[str, Any]:
    from publishing.models import NpmSettings

    config = NpmConfig.load()
    return {
        "url": config.url,
        "identity": config.identity,
        "secret_set": bool(config.secret),
        "sources": config.sources,
        "version": NpmSettings.objects.filter(pk=1).values_list("version", flat=True).first() or 0,
    }


ENV_SECRET_MOVED = (
    "NPM's password is set by PORTICO_NPM_SECRET: set NPM's address beside it (PORTICO_NPM_URL), "
    "Portico does not send that password to an address changed here."
)


def save_settings(
    url: str,
    identity: str,
    secret: str | None,
    *,
    actor,
    source: str,
    check_version: Callable[[int], None] | None = None,
) -> list[dict[str, str]]:
    """Validate and store the NPM settings; returns field errors (nothing stored when there are any).

    The password belongs to one account on one NPM: when the address or the user that Portico would use changes
    and no new password comes with the change, the stored one is removed, so that it is never sent to a host it
    was not given for. A password from PORTICO_NPM_SECRET cannot be removed from here, so an address change that
    would send it elsewhere is refused (field ``url``). ``check_version`` gets the stored version (0 when nothing
    is stored) under the row's lock, before any write; it raises to refuse a stale change (the API's If-Match).
    """
    from publishing.models import NpmSettings

    url = url.strip().rstrip("/")
    identity = identity.strip().lower()
    errors = []
    if url and not _URL.fullmatch(url):
        errors.append({"field": "url", "message": "Enter NPM's API address, such as http://npm:81/api."})
    if identity:
        try:
            validate_email(identity)
        except DjangoValidationError:
            errors.append({"field": "identity", "message": "Enter the NPM user's e-mail address."})
    if errors:
        return errors
    with transaction.atomic():
        row = NpmSettings.objects.select_for_update().filter(pk=1).first()
        if check_version:
            check_version(row.version if row else 0)
        if row is None:
            row = NpmSettings(pk=1, version=0)
        before = {"url": row.url, "identity": row.identity, "secret_set": bool(row.secret)}
        # Where the password goes is decided by the values in effect: an environment variable wins over the row.
        was = (settings.PORTICO_NPM_URL or row.url, settings.PORTICO_NPM_IDENTITY or row.identity)
        will = (settings.PORTICO_NPM_URL or url, settings.PORTICO_NPM_IDENTITY or identity)
        if settings.PORTICO_NPM_SECRET and was[0] != will[0]:
            return [{"field": "url", "message": ENV_SECRET_MOVED}]
        row.url, row.identity = url, identity
        if secret is not None and secret != "":
            row.secret = secret
        elif was != will:
            row.secret = ""
        row.version += 1
        row.save()
        audit.record(
            "npm.settings",
            actor=actor,
            source=source,
            object_type="npm.settings",
            object_id=1,
            object_repr=url or "(no URL)",
            before=before,
            after={"url": row.url, "identity": row.identity, "secret_set": bool(row.secret)},
        )
    forget_tokens()
    return []


@router.get("/npm/settings", response=NpmSettingsOut, operation_id="routes_api_npm_get_settings")
def get_settings(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    """The NPM connection settings (the secret only as set / not set). Environment variables take precedence.
    The ETag carries the stored settings' version."""
    require(request, "administer")
    out = settings_out()
    set_etag(response, out["version"])
    return out


@router.put("/npm/settings", response=NpmSettingsOut, operation_id="routes_api_npm_put_settings")
def put_settings(request: HttpRequest, payload: NpmSettingsIn, response: HttpResponse) -> dict[str, Any]:
    """Store NPM's URL, user and password in the database (used where no PORTICO_NPM_* variable is set).
    A new URL or user without a new secret removes the stored secret (it never follows to another host).
    With If-Match, settings someone changed meanwhile give 412 and nothing is stored."""
    require(request, "administer")
    errors = save_settings(
        payload.url,
        payload.identity,
        payload.secret,
        actor=request.user,
        source=audit.source_of(request),
        check_version=lambda version: check_if_match(request, version, "The NPM settings"),
    )
    if errors:
        raise ApiError(422, "Invalid input.", errors)
    out = settings_out()
    set_etag(response, out["version"])
    return out

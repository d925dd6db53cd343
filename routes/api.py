"""The /domains and /routes resources: create, read, update, delete with versions, ETag/If-Match and pages.

Every write is an operation of routes/operations.py (role, lock, version, write and audit in one transaction);
these endpoints parse the request, pass If-Match on as the expected version and serialise the answer.
"""

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import BaseModel, ConfigDict, field_validator

from core import audit
from core.api import PagePagination, filter_by, if_match_versions, require, set_etag
from routes import operations
from routes.models import Domain, Route
from routes.schemas import RouteSpec, TargetSpec
from routes.validators import (
    CONNECT_TIMEOUT,
    HSTS_MAX,
    MAX_DOMAIN_LENGTH,
    MAX_NOTES_LENGTH,
    MAX_PATH_LENGTH,
    MAX_REDIRECT_URL_LENGTH,
    MAX_RESPOND_BODY_LENGTH,
    MAX_TARGETS,
    READ_TIMEOUT,
    normalize_domain,
)

router = Router()


# --- shapes ----------------------------------------------------------------------------


class TargetOut(Schema):
    host: str
    port: int
    weight: int
    backup: bool


class RouteOut(Schema):
    """A route as the API returns it; ``version`` is also sent as the ETag."""

    id: int
    domain: str
    path: str
    action: str = Field(description="proxy, redirect or respond.")
    targets: list[TargetOut]
    scheme: str
    strip_prefix: bool
    balance: str
    websocket: bool
    connect_timeout: int
    read_timeout: int
    redirect_url: str
    redirect_code: int
    preserve_path: bool
    respond_status: int
    respond_body: str
    enabled: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_domain(obj: Route) -> str:
        return obj.domain.name


def _domain_field(value: str) -> str:
    try:
        return normalize_domain(value)
    except DjangoValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from None


class RouteIn(RouteSpec):
    """A route to create or replace: domain and path, then targets (proxy, the default), redirect_url (redirect)
    or nothing more (respond). An unknown domain is created."""

    domain: str = Field(max_length=MAX_DOMAIN_LENGTH, examples=["gctask.com"])

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return _domain_field(value)

    def spec(self) -> RouteSpec:
        return RouteSpec.model_construct(**{name: getattr(self, name) for name in RouteSpec.model_fields})


class RoutePatch(BaseModel):
    """Change some fields of a route; the result is validated as a whole."""

    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(default=None, max_length=MAX_DOMAIN_LENGTH)
    path: str | None = Field(default=None, max_length=MAX_PATH_LENGTH)
    action: Literal["proxy", "redirect", "respond"] | None = Field(
        default=None, description="Another action drops the fields of the previous one (a redirect has no targets)."
    )
    targets: list[TargetSpec] | None = Field(default=None, max_length=MAX_TARGETS)
    scheme: Literal["http", "https"] | None = None
    strip_prefix: bool | None = None
    balance: Literal["round_robin", "least_conn", "ip_hash"] | None = None
    websocket: bool | None = None
    connect_timeout: int | None = Field(default=None, ge=CONNECT_TIMEOUT.low, le=CONNECT_TIMEOUT.high)
    read_timeout: int | None = Field(default=None, ge=READ_TIMEOUT.low, le=READ_TIMEOUT.high)
    redirect_url: str | None = Field(default=None, max_length=MAX_REDIRECT_URL_LENGTH)
    redirect_code: Literal[301, 302, 307, 308] | None = None
    preserve_path: bool | None = None
    respond_status: Literal[200, 204, 403, 404, 410, 451, 503] | None = None
    respond_body: str | None = Field(default=None, max_length=MAX_RESPOND_BODY_LENGTH)
    enabled: bool | None = None


class DomainOut(Schema):
    """A domain; ``version`` is also sent as the ETag."""

    id: int
    name: str = Field(description="Lowercase punycode, as nginx sees it.")
    unicode_name: str = Field(description="The name as people read it (IDN decoded).")
    enabled: bool
    notes: str
    certificate: int | None = Field(description="The id of the certificate served over HTTPS (null: HTTP only).")
    force_https: bool = Field(description="HTTP answers 301 to https, except /.well-known/acme-challenge/.")
    hsts: int = Field(description="Strict-Transport-Security max-age in seconds (0: no header).")
    http2: bool = Field(description="HTTP/2 offered on the TLS listener.")
    routes: int = Field(description="How many routes the domain has.")
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_certificate(obj: Domain) -> int | None:
        return obj.certificate_id

    @staticmethod
    def resolve_routes(obj: Domain) -> int:
        count = getattr(obj, "route_count", None)
        return obj.routes.count() if count is None else count


class DomainIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=MAX_DOMAIN_LENGTH, examples=["gctask.com"])
    enabled: bool = True
    notes: str = Field(default="", max_length=MAX_NOTES_LENGTH)
    certificate: int | None = Field(default=None, ge=1, description="A certificate that covers the name.")
    force_https: bool = False
    hsts: int = Field(default=0, ge=0, le=HSTS_MAX, description="Seconds; 0 sends no header.")
    http2: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _domain_field(value)


class DomainPatch(Schema):
    """The fields to change; ``certificate: null`` detaches the certificate (HTTPS options must be off then)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES_LENGTH)
    certificate: int | None = Field(default=None, ge=1)
    force_https: bool | None = None
    hsts: int | None = Field(default=None, ge=0, le=HSTS_MAX)
    http2: bool | None = None


class RouteFilters(Schema):
    domain: str | None = Field(None, description="Only this domain's routes (IDN or punycode).")
    path: str | None = Field(None, description="Exact path, such as /task/.")
    host: str | None = Field(None, description="Routes with a target on this host.")
    port: int | None = Field(None, ge=1, le=65535, description="Routes with a target on this port.")
    enabled: bool | None = None
    balance: Literal["round_robin", "least_conn", "ip_hash"] | None = None
    q: str | None = Field(None, max_length=255, description="Text in the domain, path or a target host.")


class DomainFilters(Schema):
    enabled: bool | None = None
    q: str | None = Field(None, max_length=255, description="Text in the name or notes.")


# --- helpers ---------------------------------------------------------------------------


def _route_answer(response: HttpResponse, route: Route) -> Route:
    set_etag(response, route.version)
    return operations.get_route(route.pk)


def _domain_answer(response: HttpResponse, domain: Domain) -> Domain:
    set_etag(response, domain.version)
    return Domain.objects.annotate(route_count=Count("routes")).get(pk=domain.pk)


# --- bulk (registered before /routes/{route_id} so that "bulk" is not taken for an id) ---


class BulkItem(BaseModel):
    """One change of a bulk request."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, description="The route's id.")
    action: Literal["enable", "disable", "delete", "retarget"]
    targets: list[TargetSpec] | None = Field(
        default=None, min_length=1, max_length=MAX_TARGETS, description="The new targets (retarget only)."
    )
    version: int | None = Field(
        default=None, ge=1, description="Like If-Match: the item fails with 412 unless the route is at this version."
    )


class BulkIn(BaseModel):
    """Many route changes, applied all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    items: list[BulkItem] = Field(min_length=1, max_length=1000)


class BulkResult(Schema):
    id: int
    action: str
    changed: bool
    route: RouteOut | None = Field(description="The route after the change (null when deleted).")


class BulkOut(Schema):
    results: list[BulkResult]


def _bulk_items(payload: BulkIn) -> list[operations.BulkChange]:
    return [operations.BulkChange(i.id, i.action, i.targets, i.version) for i in payload.items]


@router.post("/routes/bulk", response=BulkOut, tags=["routes"], operation_id="routes_api_crud_bulk_routes")
def bulk_routes(request: HttpRequest, payload: BulkIn):
    """Enable, disable, delete or retarget many routes in one transaction: one bad item and nothing changes.

    The error names the item (``items.<n>.<field>``, and ``item`` holds its index).
    """
    changed = operations.bulk_change(_bulk_items(payload), actor=request.user, source=audit.source_of(request))
    ids = [item.id for item in payload.items]
    fresh = {r.pk: r for r in operations.routes().filter(pk__in=ids)}
    return {
        "results": [
            {"id": item.id, "action": item.action, "changed": was_changed, "route": fresh.get(item.id)}
            for item, was_changed in zip(payload.items, changed, strict=True)
        ]
    }


# --- routes ----------------------------------------------------------------------------


@router.get("/routes", response=list[RouteOut], tags=["routes"], operation_id="routes_api_crud_list_routes")
@paginate(PagePagination)
def list_routes(request: HttpRequest, filters: Query[RouteFilters]):
    """All routes, ordered by domain and path; filter by domain, path, target host or port, state or text."""
    require(request, "view_portico")
    qs = operations.routes().order_by("domain__name", "path", "id")
    if filters.domain:
        try:
            qs = qs.filter(domain__name=normalize_domain(filters.domain))
        except DjangoValidationError:
            return qs.none()
    qs = filter_by(
        qs,
        filters,
        {
            "path": "path",
            "host": "targets__host__iexact",
            "port": "targets__port",
            "enabled": "enabled",
            "balance": "balance",
            "q": "domain__name__icontains|path__icontains|targets__host__icontains",
        },
    )
    return qs.distinct()


@router.post("/routes", response={201: RouteOut}, tags=["routes"], operation_id="routes_api_crud_create_route")
def create_route(request: HttpRequest, payload: RouteIn, response: HttpResponse):
    """Create a route; its domain is created too when it does not exist yet."""
    route = operations.create_route(payload.domain, payload.spec(), actor=request.user, source=audit.source_of(request))
    response["Location"] = f"{request.path.rstrip('/')}/{route.pk}"
    return Status(201, _route_answer(response, route))


@router.get("/routes/{route_id}", response=RouteOut, tags=["routes"], operation_id="routes_api_crud_get_route")
def get_route(request: HttpRequest, route_id: int, response: HttpResponse):
    """One route; the ETag header carries its version for a later If-Match."""
    require(request, "view_portico")
    route = operations.get_route(route_id)
    set_etag(response, route.version)
    return route


@router.put("/routes/{route_id}", response=RouteOut, tags=["routes"], operation_id="routes_api_crud_replace_route")
def replace_route(request: HttpRequest, route_id: int, payload: RouteIn, response: HttpResponse):
    """Replace a route (fields left out get their defaults). Send If-Match to refuse a stale write with 412."""
    route, _changed = operations.update_route(
        route_id,
        payload.spec().model_dump(mode="json"),
        domain=payload.domain,
        actor=request.user,
        source=audit.source_of(request),
        expected_version=if_match_versions(request),
    )
    return _route_answer(response, route)


@router.patch("/routes/{route_id}", response=RouteOut, tags=["routes"], operation_id="routes_api_crud_update_route")
def update_route(request: HttpRequest, route_id: int, payload: RoutePatch, response: HttpResponse):
    """Change some fields of a route. Send If-Match to refuse a stale write with 412."""
    changes = payload.model_dump(exclude_unset=True, mode="json")
    domain = changes.pop("domain", None)
    route, _changed = operations.update_route(
        route_id,
        changes,
        domain=domain,
        actor=request.user,
        source=audit.source_of(request),
        expected_version=if_match_versions(request),
    )
    return _route_answer(response, route)


@router.delete("/routes/{route_id}", response={204: None}, tags=["routes"], operation_id="routes_api_crud_delete_route")
def delete_route(request: HttpRequest, route_id: int):
    """Delete a route (it leaves nginx at the next apply). Send If-Match to refuse a stale delete with 412."""
    operations.delete_route(
        route_id, actor=request.user, source=audit.source_of(request), expected_version=if_match_versions(request)
    )
    return Status(204, None)


# --- domains ---------------------------------------------------------------------------


@router.get("/domains", response=list[DomainOut], tags=["domains"], operation_id="routes_api_crud_list_domains")
@paginate(PagePagination)
def list_domains(request: HttpRequest, filters: Query[DomainFilters]):
    """All domains by name, with how many routes each has."""
    require(request, "view_portico")
    qs = Domain.objects.annotate(route_count=Count("routes")).order_by("name")
    return filter_by(qs, filters, {"enabled": "enabled", "q": "name__icontains|notes__icontains"})


@router.post("/domains", response={201: DomainOut}, tags=["domains"], operation_id="routes_api_crud_create_domain")
def create_domain(request: HttpRequest, payload: DomainIn, response: HttpResponse):
    """Create a domain (IDN names are stored as punycode; ``*.example.com`` wildcards are allowed)."""
    domain = operations.create_domain(
        payload.name, payload.model_dump(exclude={"name"}), actor=request.user, source=audit.source_of(request)
    )
    response["Location"] = f"{request.path.rstrip('/')}/{domain.name}"
    return Status(201, _domain_answer(response, domain))


@router.get("/domains/{name}", response=DomainOut, tags=["domains"], operation_id="routes_api_crud_get_domain")
def get_domain(request: HttpRequest, name: str, response: HttpResponse):
    """One domain by name (IDN or punycode)."""
    require(request, "view_portico")
    return _domain_answer(response, operations.get_domain(name))


@router.patch("/domains/{name}", response=DomainOut, tags=["domains"], operation_id="routes_api_crud_update_domain")
def update_domain(request: HttpRequest, name: str, payload: DomainPatch, response: HttpResponse):
    """Enable or disable a domain, change its notes or its HTTPS settings (certificate, force_https, hsts, http2:
    the options need a certificate that covers the name). Send If-Match to refuse a stale write with 412."""
    # null means "leave as it is", except for the certificate, where it means "none".
    sent = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None or k == "certificate"}
    domain, _changed = operations.update_domain(
        name,
        sent,
        actor=request.user,
        source=audit.source_of(request),
        expected_version=if_match_versions(request),
    )
    return _domain_answer(response, domain)


@router.delete("/domains/{name}", response={204: None}, tags=["domains"], operation_id="routes_api_crud_delete_domain")
def delete_domain(request: HttpRequest, name: str, cascade: bool = False):
    """Delete a domain. One that still has routes is kept (409) unless ``?cascade=true`` deletes them too."""
    operations.delete_domain(
        name,
        cascade=cascade,
        actor=request.user,
        source=audit.source_of(request),
        expected_version=if_match_versions(request),
    )
    return Status(204, None)

"""The /domains and /routes resources: create, read, update, delete with versions, ETag/If-Match and pages.

Every write runs in one transaction and bumps the resource's ``version`` with ``UPDATE ... WHERE version = n``,
so of two writers that read the same version exactly one succeeds and the other gets 412.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import ValidationError as PydanticValidationError

from core import audit
from core.api import (
    ApiError,
    PagePagination,
    check_if_match,
    claim_version,
    filter_by,
    if_match_versions,
    precondition_failed,
    require,
    set_etag,
)
from core.errors import field_errors
from routes.models import Domain, Route
from routes.schemas import HSTS_MAX, RouteSpec, TargetSpec
from routes.state import (
    change_domain_settings,
    checked_settings,
    domain_settings,
    route_spec,
    save_route,
    writing_state,
)
from routes.validators import normalize_domain

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
    targets: list[TargetOut]
    scheme: str
    strip_prefix: bool
    balance: str
    websocket: bool
    connect_timeout: int
    read_timeout: int
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
    """A route to create or replace. Only domain, path and targets are required; an unknown domain is created."""

    domain: str = Field(max_length=253, examples=["gctask.com"])

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return _domain_field(value)

    def spec(self) -> RouteSpec:
        return RouteSpec.model_construct(**{name: getattr(self, name) for name in RouteSpec.model_fields})


class RoutePatch(BaseModel):
    """Change some fields of a route; the result is validated as a whole."""

    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(default=None, max_length=253)
    path: str | None = Field(default=None, max_length=255)
    targets: list[TargetSpec] | None = Field(default=None, min_length=1, max_length=64)
    scheme: Literal["http", "https"] | None = None
    strip_prefix: bool | None = None
    balance: Literal["round_robin", "least_conn", "ip_hash"] | None = None
    websocket: bool | None = None
    connect_timeout: int | None = Field(default=None, ge=1, le=3600)
    read_timeout: int | None = Field(default=None, ge=1, le=86400)
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

    name: str = Field(max_length=253, examples=["gctask.com"])
    enabled: bool = True
    notes: str = Field(default="", max_length=2000)
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
    notes: str | None = Field(default=None, max_length=2000)
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


def route_data(route: Route) -> dict[str, Any]:
    """A route as plain JSON data, for the audit trail's before/after."""
    return {"id": route.pk, "domain": route.domain.name, **route_spec(route).model_dump(mode="json")}


def domain_data(domain: Domain) -> dict[str, Any]:
    return {"name": domain.name, **domain_settings(domain)}


def _routes():
    return Route.objects.select_related("domain").prefetch_related("targets")


def _get_route(route_id: int, *, lock: bool = False) -> Route:
    qs = _routes().select_for_update(of=("self",)) if lock else _routes()
    route = qs.filter(pk=route_id).first()
    if route is None:
        raise ApiError(404, f"No route with id {route_id}.")
    return route


def _lookup_domain_name(name: str) -> str:
    try:
        return normalize_domain(name)
    except DjangoValidationError:
        raise ApiError(404, f"No domain named {name!r}.") from None


def _get_domain(name: str, *, lock: bool = False) -> Domain:
    # FOR UPDATE and an aggregate do not mix (PostgreSQL), so a locked read counts the routes on its own.
    qs = Domain.objects.select_for_update() if lock else Domain.objects.annotate(route_count=Count("routes"))
    domain = qs.filter(name=_lookup_domain_name(name)).first()
    if domain is None:
        raise ApiError(404, f"No domain named {name!r}.")
    return domain


def _domain_for_route(request: HttpRequest, name: str) -> Domain:
    """The route's domain, created (and audited) if it is new."""
    domain, created = Domain.objects.get_or_create(name=name)
    if created:
        audit.record(
            "domain.create", actor=request.user, source=audit.source_of(request), obj=domain, after=domain_data(domain)
        )
    return domain


def _ensure_free(domain: Domain, path: str, route: Route | None = None) -> None:
    clash = Route.objects.filter(domain=domain, path=path)
    if route is not None:
        clash = clash.exclude(pk=route.pk)
    if clash.exists():
        raise ApiError(
            409,
            f"{domain.name} already has a route for {path}.",
            [{"field": "path", "message": f"{domain.name}{path} exists; edit that route instead."}],
        )


def _answer(response: HttpResponse, route: Route, status: int = 200) -> Status:
    set_etag(response, route.version)
    return Status(status, _get_route(route.pk))


def change_route(
    request: HttpRequest, route: Route, domain_name: str, spec: RouteSpec, *, version: int, message: str = ""
) -> bool:
    """Make ``route`` (read in the caller's transaction) equal ``spec`` under ``domain_name``.

    ``version`` is the version the caller's change is based on: if the route is no longer at it, 412.
    Returns whether anything changed (an unchanged route keeps its version and gets no audit entry).
    """
    what = f"Route {route.pk}"
    if route.version != version:
        raise precondition_failed(what, route.version)
    before = route_data(route)
    if before == {**before, "domain": domain_name, **spec.model_dump(mode="json")}:
        return False
    domain = _domain_for_route(request, domain_name)
    _ensure_free(domain, spec.path, route)
    claim_version(Route.objects.filter(pk=route.pk), version, what)
    try:
        with transaction.atomic():
            save_route(domain, spec, route)
    except IntegrityError:
        raise ApiError(409, f"{domain.name} already has a route for {spec.path}.") from None
    audit.record(
        "route.update",
        actor=request.user,
        source=audit.source_of(request),
        obj=route,
        before=before,
        after=route_data(route),
        message=message,
    )
    return True


def _write_route(
    request: HttpRequest, route_id: int, build: Callable[[Route], RouteIn], response: HttpResponse
) -> Status:
    """Make route ``route_id`` equal ``build(current route)`` if the caller's If-Match (when sent) names its
    current version. The route is read, checked and written in one transaction."""
    with writing_state():
        route = _get_route(route_id, lock=True)
        check_if_match(request, route.version, f"Route {route_id}")
        payload = build(route)
        change_route(request, route, payload.domain, payload.spec(), version=route.version)
    return _answer(response, route)


# --- bulk (registered before /routes/{route_id} so that "bulk" is not taken for an id) ---


class BulkItem(BaseModel):
    """One change of a bulk request."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, description="The route's id.")
    action: Literal["enable", "disable", "delete", "retarget"]
    targets: list[TargetSpec] | None = Field(
        default=None, min_length=1, max_length=64, description="The new targets (retarget only)."
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


def _item_error(status: int, index: int, item: BulkItem, field: str, message: str) -> ApiError:
    return ApiError(
        status,
        f"Item {index} (route {item.id}, {item.action}): {message} Nothing was changed.",
        [{"field": f"items.{index}.{field}", "message": message}],
        item=index,
    )


def _bulk_one(request: HttpRequest, index: int, item: BulkItem, route: Route) -> bool:
    version = item.version if item.version is not None else route.version
    if item.action == "delete":
        if route.version != version:
            raise precondition_failed(f"Route {route.pk}", route.version)
        before = route_data(route)
        claim_version(Route.objects.filter(pk=route.pk), version, f"Route {route.pk}")
        audit.record(
            "route.delete",
            actor=request.user,
            source=audit.source_of(request),
            obj=route,
            before=before,
            message="bulk change",
        )
        route.delete()
        return True
    data = route_spec(route).model_dump()
    if item.action == "retarget":
        data["targets"] = [t.model_dump() for t in item.targets or ()]
    else:
        data["enabled"] = item.action == "enable"
    try:
        spec = RouteSpec.model_validate(data)
    except PydanticValidationError as exc:
        raise _item_error(422, index, item, "targets", field_errors(exc.errors())[0]["message"]) from None
    return change_route(request, route, route.domain.name, spec, version=version, message="bulk change")


@router.post("/routes/bulk", response=BulkOut, tags=["routes"])
def bulk_routes(request: HttpRequest, payload: BulkIn):
    """Enable, disable, delete or retarget many routes in one transaction: one bad item and nothing changes.

    The error names the item (``items.<n>.<field>``, and ``item`` holds its index).
    """
    require(request, "operate")
    seen: dict[int, int] = {}
    for index, item in enumerate(payload.items):
        if item.id in seen:
            raise _item_error(422, index, item, "id", f"Route {item.id} is also item {seen[item.id]}.")
        seen[item.id] = index
        if (item.action == "retarget") != (item.targets is not None):
            need = "needs targets." if item.action == "retarget" else "takes no targets (only retarget does)."
            raise _item_error(422, index, item, "targets", f"{item.action} {need}")
    results = []
    with writing_state():
        routes = {r.pk: r for r in _routes().select_for_update(of=("self",)).filter(pk__in=seen)}
        for index, item in enumerate(payload.items):
            route = routes.get(item.id)
            if route is None:
                raise _item_error(404, index, item, "id", f"No route with id {item.id}.")
            try:
                changed = _bulk_one(request, index, item, route)
            except ApiError as exc:
                if "item" in exc.extra:
                    raise
                field = "version" if exc.status == 412 else ("path" if exc.status == 409 else "id")
                raise _item_error(exc.status, index, item, field, exc.detail) from None
            results.append((item, changed))
    fresh = {r.pk: r for r in _routes().filter(pk__in=seen)}
    return {
        "results": [
            {"id": item.id, "action": item.action, "changed": changed, "route": fresh.get(item.id)}
            for item, changed in results
        ]
    }


# --- routes ----------------------------------------------------------------------------


@router.get("/routes", response=list[RouteOut], tags=["routes"])
@paginate(PagePagination)
def list_routes(request: HttpRequest, filters: Query[RouteFilters]):
    """All routes, ordered by domain and path; filter by domain, path, target host or port, state or text."""
    require(request, "view_portico")
    qs = _routes().order_by("domain__name", "path", "id")
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


@router.post("/routes", response={201: RouteOut}, tags=["routes"])
def create_route(request: HttpRequest, payload: RouteIn, response: HttpResponse):
    """Create a route; its domain is created too when it does not exist yet."""
    require(request, "operate")
    with writing_state():
        domain = _domain_for_route(request, payload.domain)
        _ensure_free(domain, payload.path)
        try:
            with transaction.atomic():
                route, _ = save_route(domain, payload.spec())
        except IntegrityError:
            raise ApiError(409, f"{domain.name} already has a route for {payload.path}.") from None
        audit.record(
            "route.create", actor=request.user, source=audit.source_of(request), obj=route, after=route_data(route)
        )
    response["Location"] = f"{request.path.rstrip('/')}/{route.pk}"
    return _answer(response, route, 201)


@router.get("/routes/{route_id}", response=RouteOut, tags=["routes"])
def get_route(request: HttpRequest, route_id: int, response: HttpResponse):
    """One route; the ETag header carries its version for a later If-Match."""
    require(request, "view_portico")
    route = _get_route(route_id)
    set_etag(response, route.version)
    return route


@router.put("/routes/{route_id}", response=RouteOut, tags=["routes"])
def replace_route(request: HttpRequest, route_id: int, payload: RouteIn, response: HttpResponse):
    """Replace a route (fields left out get their defaults). Send If-Match to refuse a stale write with 412."""
    require(request, "operate")
    return _write_route(request, route_id, lambda route: payload, response)


@router.patch("/routes/{route_id}", response=RouteOut, tags=["routes"])
def update_route(request: HttpRequest, route_id: int, payload: RoutePatch, response: HttpResponse):
    """Change some fields of a route. Send If-Match to refuse a stale write with 412."""
    require(request, "operate")
    changes = payload.model_dump(exclude_unset=True, mode="json")

    def merge(route: Route) -> RouteIn:
        merged = {**route_data(route), **changes}
        merged.pop("id")
        try:
            return RouteIn.model_validate(merged)
        except PydanticValidationError as exc:
            raise ApiError(422, "Invalid input.", field_errors(exc.errors())) from None

    return _write_route(request, route_id, merge, response)


@router.delete("/routes/{route_id}", response={204: None}, tags=["routes"])
def delete_route(request: HttpRequest, route_id: int):
    """Delete a route (it leaves nginx at the next apply). Send If-Match to refuse a stale delete with 412."""
    require(request, "operate")
    with writing_state():
        route = _get_route(route_id, lock=True)
        check_if_match(request, route.version, f"Route {route_id}")
        before = route_data(route)
        claim_version(Route.objects.filter(pk=route.pk), route.version, f"Route {route_id}")
        audit.record("route.delete", actor=request.user, source=audit.source_of(request), obj=route, before=before)
        route.delete()
    return Status(204, None)


# --- domains ---------------------------------------------------------------------------


@router.get("/domains", response=list[DomainOut], tags=["domains"])
@paginate(PagePagination)
def list_domains(request: HttpRequest, filters: Query[DomainFilters]):
    """All domains by name, with how many routes each has."""
    require(request, "view_portico")
    qs = Domain.objects.annotate(route_count=Count("routes")).order_by("name")
    return filter_by(qs, filters, {"enabled": "enabled", "q": "name__icontains|notes__icontains"})


@router.post("/domains", response={201: DomainOut}, tags=["domains"])
def create_domain(request: HttpRequest, payload: DomainIn, response: HttpResponse):
    """Create a domain (IDN names are stored as punycode; ``*.example.com`` wildcards are allowed)."""
    require(request, "operate")
    exists = ApiError(409, f"{payload.name} exists.", [{"field": "name", "message": "This domain exists."}])
    with writing_state():
        if Domain.objects.filter(name=payload.name).exists():
            raise exists
        values = checked_settings(payload.name, payload.model_dump(exclude={"name"}))
        try:
            # Two creates of one name can both pass the check above (PostgreSQL runs them side by side); the
            # unique index stops the second, and the savepoint keeps its transaction usable for the answer.
            with transaction.atomic():
                domain = Domain.objects.create(name=payload.name, **values)
        except IntegrityError:
            raise exists from None
        audit.record(
            "domain.create", actor=request.user, source=audit.source_of(request), obj=domain, after=domain_data(domain)
        )
    response["Location"] = f"{request.path.rstrip('/')}/{domain.name}"
    set_etag(response, domain.version)
    return Status(201, _get_domain(domain.name))


@router.get("/domains/{name}", response=DomainOut, tags=["domains"])
def get_domain(request: HttpRequest, name: str, response: HttpResponse):
    """One domain by name (IDN or punycode)."""
    require(request, "view_portico")
    domain = _get_domain(name)
    set_etag(response, domain.version)
    return domain


@router.patch("/domains/{name}", response=DomainOut, tags=["domains"])
def update_domain(request: HttpRequest, name: str, payload: DomainPatch, response: HttpResponse):
    """Enable or disable a domain, change its notes or its HTTPS settings (certificate, force_https, hsts, http2:
    the options need a certificate that covers the name). Send If-Match to refuse a stale write with 412."""
    require(request, "operate")
    domain = _get_domain(name)
    # If-Match names the version the caller read: a different current one is 412 here, and one that changes
    # before the write is locked is the operation's Stale (412 too).
    check_if_match(request, domain.version, f"Domain {domain.name}")
    expected = domain.version if if_match_versions(request) is not None else None
    # null means "leave as it is", except for the certificate, where it means "none".
    sent = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None or k == "certificate"}
    change_domain_settings(
        domain.pk, sent, actor=request.user, source=audit.source_of(request), expected_version=expected
    )
    domain = _get_domain(domain.name)
    set_etag(response, domain.version)
    return domain


@router.delete("/domains/{name}", response={204: None}, tags=["domains"])
def delete_domain(request: HttpRequest, name: str, cascade: bool = False):
    """Delete a domain. One that still has routes is kept (409) unless ``?cascade=true`` deletes them too."""
    require(request, "operate")
    with writing_state():
        domain = _get_domain(name, lock=True)
        check_if_match(request, domain.version, f"Domain {domain.name}")
        routes = list(_routes().filter(domain=domain).order_by("path"))
        if routes and not cascade:
            raise ApiError(
                409,
                f"{domain.name} still has {len(routes)} route(s): delete them first or pass ?cascade=true.",
            )
        claim_version(Domain.objects.filter(pk=domain.pk), domain.version, f"Domain {domain.name}")
        audit.record(
            "domain.delete",
            actor=request.user,
            source=audit.source_of(request),
            obj=domain,
            before={**domain_data(domain), "routes": [route_data(r) for r in routes]},
        )
        domain.delete()
    return Status(204, None)

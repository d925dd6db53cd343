"""Every change of the desired state: domains, routes, bulk route changes and replacing the whole state.

Each operation checks the actor's role, takes the desired-state lock, reads and locks its rows, refuses a change
based on a stale version, writes, and records one audit entry with the models' own ``snapshot()`` before and
after, all in one transaction. It raises core.errors (Forbidden, NotFound, Conflict, Stale, Invalid), never
HTTP errors. The routes page, the API and ``manage.py portico`` only parse input, call these and show the result.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core import audit
from core.errors import Conflict, Forbidden, Invalid, NotFound, OperationError, Stale, field_errors
from core.roles import can
from core.versions import Expected
from routes import state
from routes.models import Domain, Route
from routes.schemas import ACTION_FIELDS, ConfigDocument, DomainSpec, RouteSpec, TargetSpec
from routes.validators import normalize_domain

OPERATE = "operate"
BULK_MESSAGE = "bulk change"


# --- reading ------------------------------------------------------------------------------


def routes() -> QuerySet[Route]:
    """Every route with its domain and targets."""
    return Route.objects.select_related("domain").prefetch_related("targets")


def get_route(route_id: int, *, lock: bool = False) -> Route:
    """Route ``route_id`` (row-locked with ``lock``, inside the caller's transaction). Raises NotFound."""
    qs = routes().select_for_update(of=("self",)) if lock else routes()
    route = qs.filter(pk=route_id).first()
    if route is None:
        raise NotFound(_("No route with id %(id)s.") % {"id": route_id})
    return route


def get_domain(key: int | str, *, lock: bool = False) -> Domain:
    """The domain with id ``key`` or named ``key`` (IDN or punycode), row-locked with ``lock``. Raises NotFound."""
    qs = Domain.objects.select_for_update() if lock else Domain.objects.all()
    if isinstance(key, int):
        domain = qs.filter(pk=key).first()
    else:
        try:
            domain = qs.filter(name=normalize_domain(key)).first()
        except ValidationError:
            domain = None  # no domain can have a name that is not one
    if domain is None:
        raise NotFound(_("No domain named %(name)s.") % {"name": key} if isinstance(key, str) else _("No such domain."))
    return domain


# --- the shared steps ---------------------------------------------------------------------


def _require(actor: Any) -> None:
    # ``None`` is Portico itself (manage.py without --user, the system): the host's operator, who holds every role.
    if actor is not None and not can(actor, OPERATE):
        raise Forbidden(_("Your role may not do this (needs %(capability)s).") % {"capability": OPERATE})


def _valid(schema: type[pydantic.BaseModel], data: Mapping[str, Any]) -> Any:
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as exc:
        raise Invalid(_("Invalid input."), field_errors(exc.errors())) from None


def _domain_name(name: str) -> str:
    try:
        return normalize_domain(name)
    except ValidationError as exc:
        raise Invalid.field("domain", " ".join(exc.messages)) from None


def _domain_exists(name: str) -> Conflict:
    message = _("%(name)s already exists.") % {"name": name}
    return Conflict(message, [{"field": "name", "message": message}])


def _path_taken(domain: Domain, path: str) -> Conflict:
    message = _("%(domain)s already has a route for %(path)s.") % {"domain": domain.name, "path": path}
    return Conflict(message, [{"field": "path", "message": message}])


def ensure_domain_free(name: str) -> None:
    """Raise Conflict when a domain named ``name`` (normalised) exists; forms say it while a name is typed."""
    if Domain.objects.filter(name=name).exists():
        raise _domain_exists(name)


def ensure_path_free(domain: Domain, path: str, route: Route | None = None) -> None:
    """Raise Conflict when another route than ``route`` of ``domain`` has ``path``."""
    clash = Route.objects.filter(domain=domain, path=path)
    if route is not None:
        clash = clash.exclude(pk=route.pk)
    if clash.exists():
        raise _path_taken(domain, path)


def _action(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """``<kind>.enable`` / ``.disable`` when only ``enabled`` changed, else ``<kind>.update``: the same change is
    named alike whichever page, endpoint or command made it."""
    changed = {key for key in after if before.get(key) != after[key]}
    if changed == {"enabled"}:
        return f"{kind}.enable" if after["enabled"] else f"{kind}.disable"
    return f"{kind}.update"


def _route_domain(name: str, actor: Any, source: str) -> Domain:
    """The domain a route goes to, created (and audited) when it is new."""
    domain = Domain.objects.filter(name=name).first()
    if domain is not None:
        return domain
    try:
        with transaction.atomic():  # a savepoint: a concurrent create of the same name must not end our transaction
            domain = Domain.objects.create(name=name)
    except IntegrityError:
        return Domain.objects.get(name=name)
    audit.record("domain.create", actor=actor, source=source, obj=domain, after=domain.snapshot())
    return domain


def _write_route(domain: Domain, spec: RouteSpec, route: Route | None = None) -> Route:
    """Save the route's rows; a unique-index clash (a concurrent write of the same path) is a Conflict."""
    try:
        # Two writers of one path can both pass ensure_path_free (PostgreSQL runs them side by side); the unique
        # index stops the second, and the savepoint keeps its transaction usable for the answer.
        with transaction.atomic():
            route, _changed = state.save_route(domain, spec, route)
    except IntegrityError:
        raise _path_taken(domain, spec.path) from None
    return get_route(route.pk)  # fresh targets for the snapshot and the caller


# --- domains ------------------------------------------------------------------------------


def create_domain(name: str, settings: Mapping[str, Any] | None = None, *, actor: Any, source: str) -> Domain:
    """Add a domain without routes; ``settings`` are its own (state.DOMAIN_FIELDS: notes, HTTPS...).

    Raises Invalid (naming the field: the name, a certificate that does not cover it...), Conflict (it exists)
    or Forbidden.
    """
    _require(actor)
    settings = dict(settings or {})
    name = _valid(DomainSpec, {"name": name, **settings}).name
    with state.writing_state():
        ensure_domain_free(name)
        values = state.checked_settings(name, settings)
        try:
            with transaction.atomic():
                domain = Domain.objects.create(name=name, **values)
        except IntegrityError:
            raise _domain_exists(name) from None
        audit.record("domain.create", actor=actor, source=source, obj=domain, after=domain.snapshot())
    return domain


def update_domain(
    key: int | str, changes: Mapping[str, Any], *, actor: Any, source: str, expected_version: Expected = None
) -> tuple[Domain, bool]:
    """Change a domain's own settings (any of state.DOMAIN_FIELDS: enabled, notes, certificate, force_https,
    hsts, http2) with the config document's checks. Returns it and whether anything changed.

    Raises NotFound, Stale, Invalid (naming the field, e.g. force_https without a certificate) or Forbidden.
    """
    _require(actor)
    with state.writing_state():
        domain = get_domain(key, lock=True)
        domain.require_version(expected_version)
        current = state.domain_settings(domain)
        if all(current[name] == value for name, value in changes.items()):
            return domain, False
        values = state.checked_settings(domain.name, {**current, **changes})
        before = domain.snapshot()
        domain.claim_version()
        for column, value in values.items():
            setattr(domain, column, value)
        domain.save()
        after = domain.snapshot()
        audit.record(
            _action("domain", before, after), actor=actor, source=source, obj=domain, before=before, after=after
        )
    return domain, True


def delete_domain(
    key: int | str, *, cascade: bool = False, actor: Any, source: str, expected_version: Expected = None
) -> Domain:
    """Delete a domain; one that still has routes only with ``cascade`` (its routes go too).

    Returns the deleted domain (no longer in the database). Raises NotFound, Stale, Conflict or Forbidden.
    """
    _require(actor)
    with state.writing_state():
        domain = get_domain(key, lock=True)
        domain.require_version(expected_version)
        count = domain.routes.count()
        if count and not cascade:
            raise Conflict(
                _("%(name)s still has %(count)s route(s): delete them first, or delete the domain with them (cascade).")
                % {"name": domain.name, "count": count}
            )
        audit.record("domain.delete", actor=actor, source=source, obj=domain, before=domain.snapshot(with_routes=True))
        domain.delete()
    return domain


# --- routes -------------------------------------------------------------------------------


def create_route(domain: int | str, spec: RouteSpec | Mapping[str, Any], *, actor: Any, source: str) -> Route:
    """Add a route to the domain with id ``domain``, or named ``domain`` (created when it is new).

    ``spec`` is a validated RouteSpec or the data of one. Raises NotFound, Invalid, Conflict (the path is taken,
    also when a concurrent request took it a moment ago) or Forbidden.
    """
    _require(actor)
    if not isinstance(spec, RouteSpec):
        spec = _valid(RouteSpec, spec)
    name = _domain_name(domain) if isinstance(domain, str) else None
    with state.writing_state():
        parent = _route_domain(name, actor, source) if name is not None else get_domain(domain, lock=True)
        ensure_path_free(parent, spec.path)
        route = _write_route(parent, spec)
        audit.record("route.create", actor=actor, source=source, obj=route, after=route.snapshot())
    return route


def _switched(current: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` without what its action owned when ``changes`` give the route another action: a PATCH to
    ``{"action": "redirect", "redirect_url": ...}`` drops the targets, one back to proxy drops the address."""
    action = changes.get("action", current["action"])
    if action == current["action"]:
        return current
    kept = {**current, **{name: default for fields in ACTION_FIELDS.values() for name, default in fields.items()}}
    if action != "proxy":
        kept["targets"] = []
    return kept


def update_route(
    route_id: int,
    changes: Mapping[str, Any],
    *,
    domain: str | None = None,
    actor: Any,
    source: str,
    expected_version: Expected = None,
    message: str = "",
) -> tuple[Route, bool]:
    """Change a route: ``changes`` are fields of its spec (all of them to replace it), ``domain`` moves it.

    The result is validated as a whole. Returns the route and whether anything changed (an unchanged route
    keeps its version and gets no audit entry). Raises NotFound, Stale, Invalid, Conflict or Forbidden.
    """
    _require(actor)
    name = _domain_name(domain) if domain is not None else None
    with state.writing_state():
        route = get_route(route_id, lock=True)
        route.require_version(expected_version)
        current = route.spec().model_dump(mode="json")
        spec = _valid(RouteSpec, {**_switched(current, changes), **changes})
        name = name or route.domain.name
        if spec.model_dump(mode="json") == current and name == route.domain.name:
            return route, False
        before = route.snapshot()
        parent = route.domain if name == route.domain.name else _route_domain(name, actor, source)
        ensure_path_free(parent, spec.path, route)
        route = _write_route(parent, spec, route)
        after = route.snapshot()
        audit.record(
            _action("route", before, after),
            actor=actor,
            source=source,
            obj=route,
            before=before,
            after=after,
            message=message,
        )
    return route, True


def delete_route(
    route_id: int, *, actor: Any, source: str, expected_version: Expected = None, message: str = ""
) -> Route:
    """Delete a route (it leaves the proxy at the next apply); returns it. Raises NotFound, Stale or Forbidden."""
    _require(actor)
    with state.writing_state():
        route = get_route(route_id, lock=True)
        route.require_version(expected_version)
        audit.record("route.delete", actor=actor, source=source, obj=route, before=route.snapshot(), message=message)
        route.delete()
    return route


# --- bulk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkChange:
    """One item of a bulk change: enable, disable, delete or retarget route ``id`` (at ``version``, if given)."""

    id: int
    action: Literal["enable", "disable", "delete", "retarget"]
    targets: Sequence[TargetSpec] | None = None
    version: int | None = None


# The field of an item that a refusal of that kind points at.
_ITEM_FIELDS: dict[type[OperationError], str] = {Stale: "version", Conflict: "path", NotFound: "id", Invalid: "targets"}


def _item_error(kind: type[OperationError], index: int, item: BulkChange, field: str, reason: str) -> OperationError:
    return kind(
        f"Item {index} (route {item.id}, {item.action}): {reason} Nothing was changed.",
        [{"field": f"items.{index}.{field}", "message": reason}],
        item=index,
    )


def _check_items(items: Sequence[BulkChange]) -> None:
    seen: dict[int, int] = {}
    for index, item in enumerate(items):
        if item.id in seen:
            raise _item_error(Invalid, index, item, "id", f"Route {item.id} is also item {seen[item.id]}.")
        seen[item.id] = index
        if (item.action == "retarget") != (item.targets is not None):
            need = "needs targets." if item.action == "retarget" else "takes no targets (only retarget does)."
            raise _item_error(Invalid, index, item, "targets", f"{item.action} {need}")


def _bulk_one(item: BulkChange, actor: Any, source: str) -> bool:
    if item.action == "delete":
        delete_route(item.id, actor=actor, source=source, expected_version=item.version, message=BULK_MESSAGE)
        return True
    if item.action == "retarget":
        changes: dict[str, Any] = {"targets": [target.model_dump() for target in item.targets or ()]}
    else:
        changes = {"enabled": item.action == "enable"}
    _route, changed = update_route(
        item.id, changes, actor=actor, source=source, expected_version=item.version, message=BULK_MESSAGE
    )
    return changed


def bulk_change(items: Sequence[BulkChange], *, actor: Any, source: str) -> list[bool]:
    """Apply every item in one transaction, or none: the first refusal names its item (``items.<n>.<field>``,
    ``item`` = n) and undoes the items before it. Returns whether each item changed anything."""
    _require(actor)
    _check_items(items)
    changed = []
    with state.writing_state():
        # Lock every row first, in one order, so two bulk changes over the same routes cannot deadlock.
        list(Route.objects.select_for_update().filter(pk__in=[item.id for item in items]).order_by("pk").values("pk"))
        for index, item in enumerate(items):
            try:
                changed.append(_bulk_one(item, actor, source))
            except OperationError as exc:
                kind = type(exc)
                reason = exc.errors[0]["message"] if isinstance(exc, Invalid) and exc.errors else exc.message
                raise _item_error(kind, index, item, _ITEM_FIELDS.get(kind, "id"), reason) from None
    return changed


# --- the whole state ----------------------------------------------------------------------


@dataclass
class Changes:
    """What replacing the state did (or, in a dry run, would do)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    preview: Any = None

    @property
    def empty(self) -> bool:
        return not (self.created or self.updated or self.deleted)

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "updated": self.updated, "deleted": self.deleted}


def _check_state(expected: Collection[str]) -> None:
    current = state.state_etag()
    if current not in expected:
        raise Stale(
            "The desired state was changed by someone else since you read it: read it again, then retry with "
            "If-Match set to its new ETag.",
            [{"field": "If-Match", "message": f'Stale; the current ETag is "{current}".'}],
            current_etag=f'"{current}"',
        )


def replace_state(
    document: ConfigDocument,
    *,
    prune: bool = True,
    dry_run: bool = False,
    actor: Any = None,
    source: str = "system",
    action: str = "config.replace",
    expected_state: Collection[str] | None = None,
    preview: Callable[[], Any] | None = None,
) -> Changes:
    """Make the database hold ``document``: create, update and (with ``prune``) delete domains and routes.

    PUT /config, ``portico import``, a rollback's restore, NPM's import and the lab all write through here. All
    or nothing, in one transaction under the exclusive state lock. ``expected_state``: the state digests
    (``state_etag``) the caller read; another state raises Stale. With ``dry_run`` nothing is kept: ``preview``
    (e.g. a plan) runs on the replaced state before it is undone, its result in ``Changes.preview``.
    Raises Stale, Invalid (a certificate that is missing or does not cover its domain) or Forbidden.
    """
    _require(actor)
    changes = Changes()
    with state.writing_state(exclusive=True):
        if expected_state is not None:
            _check_state(expected_state)
        state.check_certificates(
            [(f"domains.{i}.", spec) for i, spec in enumerate(document.domains)], state.reference_errors(document)
        )
        before = state.export_state()
        existing = {d.name: d for d in Domain.objects.prefetch_related("routes__targets")}
        wanted = {d.name for d in document.domains}
        for spec in document.domains:
            domain = existing.get(spec.name)
            wanted_settings = {name: getattr(spec, name) for name in state.DOMAIN_FIELDS}
            values = {state.column(name): value for name, value in wanted_settings.items()}
            if domain is None:
                domain = Domain.objects.create(name=spec.name, **values)
                changes.created.append(spec.name)
            elif state.domain_settings(domain) != wanted_settings:
                for column, value in values.items():
                    setattr(domain, column, value)
                domain.claim_version()
                domain.save()
                changes.updated.append(spec.name)
            current = {r.path: r for r in domain.routes.all()}
            for route_in in spec.routes:
                route, changed = state.save_route(domain, route_in, current.get(route_in.path))
                if changed:
                    (changes.updated if route_in.path in current else changes.created).append(str(route))
            if prune:
                paths = {r.path for r in spec.routes}
                for path, route in current.items():
                    if path not in paths:
                        changes.deleted.append(str(route))
                        route.delete()
        if prune:
            for name, domain in existing.items():
                if name not in wanted:
                    changes.deleted.extend(str(r) for r in sorted(domain.routes.all(), key=lambda r: r.path))
                    changes.deleted.append(name)
                    domain.delete()
        if dry_run:
            if preview is not None:
                changes.preview = preview()
            transaction.set_rollback(True)
        elif not changes.empty:
            audit.record(
                action,
                actor=actor,
                source=source,
                object_type="config",
                object_repr=f"{len(changes.created)} created, {len(changes.updated)} updated, "
                f"{len(changes.deleted)} deleted",
                before=before,
                after=state.export_state(),
            )
    return changes

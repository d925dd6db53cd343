"""Read and replace the desired state as one document (config as code, snapshots, rollback, the lab)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from pydantic import ValidationError

from certificates.models import Certificate
from certificates.pem import covers
from core import audit
from core.errors import Forbidden, Invalid, NotFound, Stale, field_errors
from core.roles import can
from routes.models import Domain, Route, Target
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec, TargetSpec

STATE_LOCK_KEY = 0x706F727469636F  # "portico": the advisory lock of the desired state on PostgreSQL
ROUTE_FIELDS = ("scheme", "strip_prefix", "balance", "websocket", "connect_timeout", "read_timeout", "enabled")
# The domain's own settings, as the document names them (the model's ``certificate`` is ``certificate_id``).
DOMAIN_FIELDS = ("enabled", "notes", "certificate", "force_https", "hsts", "http2")


def route_spec(route: Route) -> RouteSpec:
    """The document form of a stored route (targets in their stored order)."""
    # Stored rows were validated when they were saved; validating them again costs most of an export at scale.
    targets = [
        TargetSpec.model_construct(host=t.host, port=t.port, weight=t.weight, backup=t.backup)
        for t in route.targets.all()
    ]
    return RouteSpec.model_construct(
        path=route.path, targets=targets, **{name: getattr(route, name) for name in ROUTE_FIELDS}
    )


@contextlib.contextmanager
def _one_snapshot() -> Iterator[None]:
    """Run the reads inside in one snapshot of the database, so a write committed meanwhile is seen by all or none.

    PostgreSQL outside a transaction gets a REPEATABLE READ READ ONLY one (under READ COMMITTED every statement
    sees a fresh snapshot). Inside a transaction there is nothing to add (replace_state holds the desired-state
    lock). SQLite is left as it was: a transaction there begins IMMEDIATE, i.e. takes the write lock, which a
    read should not.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def export_document() -> ConfigDocument:
    """Every domain and route, sorted by domain name and path: the same state always gives the same document."""
    with _one_snapshot():
        return _export_document()


def _export_document() -> ConfigDocument:
    # Three flat queries instead of model instances: at thousands of routes the ORM's per-object cost was most
    # of an apply's time (bench/). Stored rows were validated when saved, so the specs are constructed as is.
    # They must see one state (an apply stores what they return as the revision's snapshot): _one_snapshot.
    targets: dict[int, list[TargetSpec]] = defaultdict(list)
    for route_id, host, port, weight, backup in Target.objects.order_by("id").values_list(
        "route_id", "host", "port", "weight", "backup"
    ):
        targets[route_id].append(TargetSpec.model_construct(host=host, port=port, weight=weight, backup=backup))
    routes: dict[int, list[RouteSpec]] = defaultdict(list)
    for row in Route.objects.order_by("domain_id", "path").values("id", "domain_id", "path", *ROUTE_FIELDS):
        routes[row["domain_id"]].append(
            RouteSpec.model_construct(
                path=row["path"], targets=targets[row["id"]], **{name: row[name] for name in ROUTE_FIELDS}
            )
        )
    return ConfigDocument.model_construct(
        version=1,
        domains=[
            DomainSpec.model_construct(
                name=row["name"],
                **{name: row[_column(name)] for name in DOMAIN_FIELDS},
                routes=sorted(routes[row["id"]], key=lambda r: r.path),
            )
            for row in Domain.objects.order_by("name").values("id", "name", *(_column(name) for name in DOMAIN_FIELDS))
        ],
    )


def _column(name: str) -> str:
    return "certificate_id" if name == "certificate" else name


def domain_settings(domain: Domain) -> dict[str, Any]:
    """A stored domain's own settings (no routes) under the document's field names."""
    return {name: getattr(domain, _column(name)) for name in DOMAIN_FIELDS}


def certificate_errors(specs: list[tuple[str, DomainSpec]]) -> list[dict[str, str]]:
    """Field errors for certificates the domains name: an id that does not exist, or a certificate that does not
    cover the domain's name (a ``*.`` name covers exactly one label, RFC 6125). ``specs`` pairs each domain with
    the field prefix its errors get (``domains.3.`` in a document, "" for one domain)."""
    wanted = {spec.certificate for _prefix, spec in specs if spec.certificate is not None}
    if not wanted:
        return []
    names = dict(Certificate.objects.filter(pk__in=wanted).values_list("pk", "domains"))
    errors = []
    for prefix, spec in specs:
        if spec.certificate is None:
            continue
        field_name = f"{prefix}certificate"
        if spec.certificate not in names:
            errors.append({"field": field_name, "message": f"There is no certificate with id {spec.certificate}."})
        elif not covers(list(names[spec.certificate]), spec.name):
            shown = ", ".join(names[spec.certificate]) or "no names yet"
            errors.append(
                {
                    "field": field_name,
                    "message": f"Certificate {spec.certificate} does not cover {spec.name} (it is for {shown}).",
                }
            )
    return errors


def checked_settings(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """A domain's own settings (DOMAIN_FIELDS) checked as the config document checks them, certificates included;
    returns them as the model's columns. Raises Invalid naming each field."""
    try:
        spec = DomainSpec.model_validate({"name": name, **values})
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise Invalid("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors) from None
    check_certificates([("", spec)])
    return {_column(field_name): getattr(spec, field_name) for field_name in DOMAIN_FIELDS}


def change_domain_settings(
    domain_id: int, sent: dict[str, Any], *, actor: Any, source: str, expected_version: int | None = None
) -> tuple[Domain, bool]:
    """Change a domain's own settings (any of DOMAIN_FIELDS in ``sent``) with the document's checks, under the state
    lock, claiming its version and writing the audit entry; returns the domain and whether anything changed.

    Raises Forbidden (the actor may not operate), NotFound, Stale (``expected_version`` is not current) or
    Invalid naming the field (e.g. force_https without a certificate, a certificate that does not cover the name).
    """
    if actor is not None and not can(actor, "operate"):
        raise Forbidden("Your role may not do this (needs operate).")
    with writing_state():
        domain = Domain.objects.select_for_update().filter(pk=domain_id).first()
        if domain is None:
            raise NotFound(f"No domain with id {domain_id}.")
        if expected_version is not None and expected_version != domain.version:
            raise Stale(
                f"Domain {domain.name} was changed by someone else (version {domain.version}): read it again.",
                [{"field": "If-Match", "message": f'Stale; the current version is "{domain.version}".'}],
            )
        current = domain_settings(domain)
        if all(current[name] == value for name, value in sent.items()):
            return domain, False
        values = checked_settings(domain.name, {**current, **sent})
        before = {"name": domain.name, **current}
        for column, value in values.items():
            setattr(domain, column, value)
        domain.version += 1
        domain.save()
        audit.record(
            "domain.update",
            actor=actor,
            source=source,
            obj=domain,
            before=before,
            after={"name": domain.name, **domain_settings(domain)},
        )
    return domain, True


def check_certificates(specs: list[tuple[str, DomainSpec]]) -> None:
    """Raise Invalid with every certificate_errors() entry; return quietly when there is none."""
    errors = certificate_errors(specs)
    if errors:
        raise Invalid("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)


def export_state() -> dict[str, Any]:
    """The desired state as plain JSON data."""
    return export_document().model_dump(mode="json")


def state_etag(data: dict[str, Any] | None = None) -> str:
    """A digest of the desired state (``export_state()`` unless given): the ETag of GET /api/v1/config.

    Equal states give equal tags whatever their history, so a script can tell "nobody changed anything since
    I exported" without Portico counting versions across every table.
    """
    data = export_state() if data is None else data
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Changes:
    """What replacing the state did (or, in a dry run, would do)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.created or self.updated or self.deleted)

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "updated": self.updated, "deleted": self.deleted}


def _set_targets(route: Route, targets: list[TargetSpec]) -> None:
    route.targets.all().delete()
    Target.objects.bulk_create(
        [Target(route=route, host=t.host, port=t.port, weight=t.weight, backup=t.backup) for t in targets]
    )


def save_route(domain: Domain, spec: RouteSpec, route: Route | None = None) -> tuple[Route, bool]:
    """Create or update one route from its spec; bumps ``version`` only when something changed.

    Returns the route and whether it changed. The caller holds the transaction and writes the audit entry.
    """
    if route is None:
        route = Route(domain=domain, path=spec.path, **{n: getattr(spec, n) for n in ROUTE_FIELDS})
        route.save()
        _set_targets(route, spec.targets)
        return route, True
    before = route_spec(route)
    if before.model_dump() == spec.model_dump() and route.domain_id == domain.pk:
        return route, False
    route.domain = domain
    route.path = spec.path
    for name in ROUTE_FIELDS:
        setattr(route, name, getattr(spec, name))
    route.version += 1
    route.save()
    if [t.model_dump() for t in before.targets] != [t.model_dump() for t in spec.targets]:
        _set_targets(route, spec.targets)
    return route, True


def lock_state(*, shared: bool = False) -> None:
    """Take the desired-state lock until the current transaction ends (call it inside ``transaction.atomic``).

    Writers of single domains or routes take it ``shared``, before their first query: they still run side by
    side, kept apart by row locks and ``version`` checks. ``replace_state`` and anything else that reads the whole
    state to write it back (PUT /config's If-Match check, lab up/down) take it exclusive (the default): it waits for the writes in flight, and new ones wait for it, so it never
    decides on a state that changes under it. On PostgreSQL this is a transaction-level advisory lock: under READ
    COMMITTED two config replaces would otherwise read the same old state and interleave their writes (a mix of
    both documents, or an IntegrityError when both create one domain), and a route saved from an older read
    would overwrite a concurrent API write under the same version. SQLite needs nothing: Portico opens every
    transaction with BEGIN IMMEDIATE (settings.py), so writers already run one at a time.
    """
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("lock_state() outside a transaction would release the lock at once")
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [STATE_LOCK_KEY])


@contextlib.contextmanager
def writing_state(*, exclusive: bool = False) -> Iterator[None]:
    """A transaction that changes domains or routes, holding the desired-state lock (see ``lock_state``)."""
    with transaction.atomic():
        lock_state(shared=not exclusive)
        yield


def replace_state(
    document: ConfigDocument,
    *,
    prune: bool = True,
    dry_run: bool = False,
    actor=None,
    source: str = "system",
    action: str = "config.replace",
) -> Changes:
    """Make the database hold ``document``: create, update and (with ``prune``) delete domains and routes.

    All or nothing, in one transaction. With ``dry_run`` nothing is written and the changes are reported.
    """
    changes = Changes()
    with writing_state(exclusive=True):
        check_certificates([(f"domains.{i}.", spec) for i, spec in enumerate(document.domains)])
        before = export_state()
        existing = {d.name: d for d in Domain.objects.prefetch_related("routes__targets")}
        wanted = {d.name for d in document.domains}
        for spec in document.domains:
            domain = existing.get(spec.name)
            settings_in = {_column(name): getattr(spec, name) for name in DOMAIN_FIELDS}
            if domain is None:
                domain = Domain.objects.create(name=spec.name, **settings_in)
                changes.created.append(spec.name)
            elif domain_settings(domain) != {name: getattr(spec, name) for name in DOMAIN_FIELDS}:
                for column, value in settings_in.items():
                    setattr(domain, column, value)
                domain.version += 1
                domain.save()
                changes.updated.append(spec.name)
            routes = {r.path: r for r in domain.routes.all()}
            for route_in in spec.routes:
                route, changed = save_route(domain, route_in, routes.get(route_in.path))
                if changed:
                    (changes.updated if route_in.path in routes else changes.created).append(str(route))
            if prune:
                for path, route in routes.items():
                    if path not in {r.path for r in spec.routes}:
                        changes.deleted.append(str(route))
                        route.delete()
        if prune:
            for name, domain in existing.items():
                if name not in wanted:
                    changes.deleted.extend(str(r) for r in sorted(domain.routes.all(), key=lambda r: r.path))
                    changes.deleted.append(name)
                    domain.delete()
        if dry_run:
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
                after=export_state(),
            )
    return changes

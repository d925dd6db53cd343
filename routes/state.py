"""The desired state as one document (export, digest) and the low-level pieces its writers share: the state lock
and a route's rows. Every write itself is an operation in routes/operations.py."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from pydantic import ValidationError

from certificates.models import Certificate
from certificates.pem import covers
from core.errors import Invalid, field_errors
from routes.models import ROUTE_FIELDS, Domain, Route, Target
from routes.schemas import CertificateRef, ConfigDocument, DomainSpec, RouteSpec, TargetSpec

STATE_LOCK_KEY = 0x706F727469636F  # "portico": the advisory lock of the desired state on PostgreSQL
# The domain's own settings, as the document names them (the model's ``certificate`` is ``certificate_id``).
DOMAIN_FIELDS = ("enabled", "notes", "certificate", "force_https", "hsts", "http2")


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
    domains = [
        DomainSpec.model_construct(
            name=row["name"],
            **{name: row[column(name)] for name in DOMAIN_FIELDS},
            routes=sorted(routes[row["id"]], key=lambda r: r.path),
        )
        for row in Domain.objects.order_by("name").values("id", "name", *(column(name) for name in DOMAIN_FIELDS))
    ]
    used = {d.certificate for d in domains if d.certificate is not None}
    references = [
        CertificateRef.model_construct(id=pk, domains=list(names))
        for pk, names in Certificate.objects.filter(pk__in=used).order_by("pk").values_list("pk", "domains")
    ]
    return ConfigDocument.model_construct(version=1, domains=domains, certificates=references)


def column(name: str) -> str:
    """The model column of a domain setting (the document's ``certificate`` is ``certificate_id``)."""
    return "certificate_id" if name == "certificate" else name


def domain_settings(domain: Domain) -> dict[str, Any]:
    """A stored domain's own settings (no routes) under the document's field names."""
    return {name: getattr(domain, column(name)) for name in DOMAIN_FIELDS}


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


def reference_errors(document: ConfigDocument) -> list[dict[str, str]]:
    """Field errors for the document's certificate references: each id must be, here, the certificate with those
    names (a document from another Portico may use an id that is a different certificate here)."""
    if not document.certificates:
        return []
    names = dict(Certificate.objects.filter(pk__in=[c.id for c in document.certificates]).values_list("pk", "domains"))
    errors = []
    for i, ref in enumerate(document.certificates):
        if ref.id not in names:
            message = (
                f"There is no certificate with id {ref.id} here (it was for {', '.join(ref.domains) or 'no names'}): "
                "upload or request it, then use its id."
            )
            errors.append({"field": f"certificates.{i}.id", "message": message})
        elif sorted(names[ref.id]) != sorted(ref.domains):
            message = (
                f"Certificate {ref.id} here is for {', '.join(names[ref.id]) or 'no names yet'}, not "
                f"{', '.join(ref.domains) or 'no names'}: use the id this Portico has for that certificate."
            )
            errors.append({"field": f"certificates.{i}.domains", "message": message})
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
    return {column(field_name): getattr(spec, field_name) for field_name in DOMAIN_FIELDS}


def check_certificates(specs: list[tuple[str, DomainSpec]], more: list[dict[str, str]] | None = None) -> None:
    """Raise Invalid with every certificate_errors() entry (and ``more``); return quietly when there is none."""
    errors = [*(more or []), *certificate_errors(specs)]
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


def _set_targets(route: Route, targets: list[TargetSpec]) -> None:
    route.targets.all().delete()
    Target.objects.bulk_create(
        [Target(route=route, host=t.host, port=t.port, weight=t.weight, backup=t.backup) for t in targets]
    )


def save_route(domain: Domain, spec: RouteSpec, route: Route | None = None) -> tuple[Route, bool]:
    """Create or update one route's rows from its spec; claims the next ``version`` only when something changed.

    Returns the route and whether it changed. The caller (an operation) holds the transaction, has checked the
    version it expected, and writes the audit entry.
    """
    if route is None:
        route = Route(domain=domain, path=spec.path, **{n: getattr(spec, n) for n in ROUTE_FIELDS})
        route.save()
        _set_targets(route, spec.targets)
        return route, True
    before = route.spec()
    if before.model_dump() == spec.model_dump() and route.domain_id == domain.pk:
        return route, False
    route.domain = domain
    route.path = spec.path
    for name in ROUTE_FIELDS:
        setattr(route, name, getattr(spec, name))
    route.claim_version()
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

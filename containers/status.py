"""Container status across engines, with what the layers above say about each container.

The list comes from one engine API call per engine (``DockerClient.list_containers``); engines are asked in
parallel with a deadline, so a dead or slow engine shows its reason and never holds up the others.

containers/ sits below routes and publishing, so it does not read routes itself: the routes pointing at a
container, the lints about it (publishing's one container-vs-proxy rule) and the domains' targets come from the
``RouteBook`` the routes app registers at startup (``register``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from containers.docker.client import DockerError
from containers.docker.types import LOOPBACK, ContainerInfo
from containers.engines import EngineRef, all_engines, client_for, get_engine

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="portico-engines")

MANAGE_LABEL = "portico.manage"  # with PORTICO_CONTAINER_SCOPE=labelled: the containers actions may touch
ACTIONS = ("start", "stop", "restart")  # what containers.operations.run_action does; each row links them


@dataclass(frozen=True)
class RouteLink:
    """A route target that points at a container."""

    route_id: int
    domain: str
    path: str
    target: str
    enabled: bool
    host: str = ""

    def __str__(self) -> str:
        return f"{self.domain}{self.path}"


@dataclass
class ContainerRow:
    """A container with its routes and the warnings a person should see."""

    info: ContainerInfo
    routes: list[RouteLink] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    href: str = ""  # the container's page on its engine (link_rows fills it in)
    action_hrefs: dict[str, str] = field(default_factory=dict)  # start / stop / restart -> URL
    action_confirms: dict[str, str] = field(default_factory=dict)  # start / stop / restart -> the question

    @property
    def in_scope(self) -> bool:
        """Whether PORTICO_CONTAINER_SCOPE lets actions touch it (its routes are the targets pointing at it)."""
        return scope_allows(self.info, is_target=bool(self.routes))


_MARKER = "portico-ref-marker"


def link_rows(engine: EngineRef, rows: list[ContainerRow]) -> list[ContainerRow]:
    """Give each row the URLs of its page and actions on ``engine``.

    The patterns are reversed once per call and the name filled in per row: a ``{% url %}`` per button and row
    made a long list slow (docs/BENCHMARKS.md). Container names are
    ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, which reverse() leaves as they are, so the replacement is what it would give.
    """
    detail = reverse("containers:detail", args=[_MARKER])
    actions = {action: reverse("containers:action", args=[_MARKER, action]) for action in ACTIONS}
    query = "?" + urlencode({"engine": engine.name})
    questions = {
        "start": _("Start %(name)s?"),
        "restart": _("Restart %(name)s?"),
        "stop": _("Stop %(name)s? Routes to it will answer 502."),
    }
    for row in rows:
        name = quote(row.info.name, safe="")
        row.href = detail.replace(_MARKER, name) + query
        row.action_hrefs = {action: url.replace(_MARKER, name) + query for action, url in actions.items()}
        row.action_confirms = {action: text % {"name": row.info.name} for action, text in questions.items()}
    return rows


@dataclass
class EngineListing:
    """One engine's containers, or the reason it could not be listed and what to do about it."""

    engine: EngineRef
    rows: list[ContainerRow] = field(default_factory=list)
    error: str = ""
    hint: str = ""
    detail: str = ""  # what the engine (or whatever answered at its URL) said: admins only

    @property
    def ok(self) -> bool:
        return not self.error


def points_at(host: str, port: int, info: Any) -> bool:
    """Whether a route target (host, port) reaches this container: by its name (any case), or by a loopback
    address and a port the host forwards to it. The one matcher of the containers page, the scope and the lints."""
    host = host.strip().lower()
    if host.lstrip("/") == info.name.lower():
        return True
    return host in LOOPBACK and port in info.host_ports


def scope_allows(info: ContainerInfo, *, is_target: bool) -> bool:
    """PORTICO_CONTAINER_SCOPE's rule: all, labelled (portico.manage=true), targets, or labelled+targets."""
    parts = settings.PORTICO_CONTAINER_SCOPE.split("+")
    if "all" in parts:
        return True
    if "labelled" in parts and info.labels.get(MANAGE_LABEL) == "true":
        return True
    return "targets" in parts and is_target


class RouteBook(Protocol):
    """What the layers above tell containers/ about routes (publishing.lints.ContainerRoutes is the one there is)."""

    def annotate(
        self, infos: Sequence[ContainerInfo], listing: Sequence[ContainerInfo]
    ) -> dict[str, tuple[list[RouteLink], list[str]]]:
        """Container id -> the routes pointing at it and the lints about it; ``listing`` is the engine's list the
        containers come from (the proxy's container is looked up there)."""
        ...

    def proxy_name(self) -> str:
        """The proxy's container name, "" when the proxy does not run in a container (or is unknown)."""
        ...

    def is_target(self, info: ContainerInfo) -> bool:
        """Whether any route's target (enabled or not) points at the container."""
        ...

    def domain_targets(self, domain: str) -> list[tuple[str, int]]:
        """The (host, port) targets of ``domain``'s routes; raises LookupError when there is no such domain."""
        ...


_books: list[RouteBook] = []


def register(book: RouteBook) -> None:
    """Let ``book`` answer for the routes (the routes app does it once, at startup)."""
    _books[:] = [book]


def _book() -> RouteBook | None:
    return _books[0] if _books else None


def in_scope(info: ContainerInfo) -> bool:
    """Whether PORTICO_CONTAINER_SCOPE lets start/stop/restart touch this container (decided on the engine's
    current labels and the stored routes, whatever the page showed)."""
    book = _book()
    return scope_allows(info, is_target=book is not None and book.is_target(info))


def rows_for(infos: list[ContainerInfo], listing: Sequence[ContainerInfo] | None = None) -> list[ContainerRow]:
    """Join containers with their routes and lints."""
    book = _book()
    notes = book.annotate(infos, infos if listing is None else listing) if book is not None else {}
    return [ContainerRow(info, *notes.get(info.id, ([], []))) for info in infos]


def _list_one(engine: EngineRef, filters: dict[str, str]) -> list[ContainerInfo]:
    return client_for(engine).list_containers(**filters)


@dataclass
class _Answer:
    engine: EngineRef
    infos: list[ContainerInfo] | None = None
    error: str = ""
    detail: str = ""


def _ask(engines: list[EngineRef], filters: dict[str, str]) -> list[_Answer]:
    """Every engine's containers, asked in parallel; an engine that fails or misses the deadline says why."""
    futures = {e: _pool.submit(_list_one, e, filters) for e in engines}
    deadline = settings.PORTICO_DOCKER_TIMEOUT
    concurrent.futures.wait(futures.values(), timeout=deadline)
    answers = []
    for engine, future in futures.items():
        if not future.done():
            error = _("%(url)s did not answer within %(s)s s.") % {"url": engine.display_url, "s": deadline}
            answers.append(_Answer(engine, error=error))
            continue
        try:
            answers.append(_Answer(engine, future.result()))
        except DockerError as exc:
            answers.append(_Answer(engine, error=exc.reason, detail=exc.detail))
    return answers


def list_engines(
    engine: str = "", *, name: str = "", state: str = "", network: str = "", project: str = "", routed: bool = False
) -> list[EngineListing]:
    """Every engine (or just ``engine``) with its containers joined to routes; dead engines carry their reason."""
    engines = [get_engine(engine)] if engine else all_engines()
    filters = {"name": name, "state": state, "network": network, "project": project}
    listings = []
    for answer in _ask(engines, filters):
        if answer.infos is None:
            hint = answer.engine.fix_hint()
            listings.append(EngineListing(answer.engine, error=answer.error, hint=hint, detail=answer.detail))
            continue
        rows = rows_for(answer.infos)
        if routed:
            rows = [r for r in rows if r.routes]
        listings.append(EngineListing(answer.engine, rows=link_rows(answer.engine, rows)))
    return listings


def every_container() -> tuple[list[ContainerInfo] | None, str]:
    """The containers of every engine (the overview's picture and the lints of every plan), and why an engine did
    not answer ("" when all did); None instead of the list when no engine answered."""
    answers = _ask(all_engines(), {})
    infos = [info for answer in answers for info in answer.infos or []]
    problems = [f"{a.engine.name}: {a.error}" if len(answers) > 1 else a.error for a in answers if a.infos is None]
    answered = any(answer.infos is not None for answer in answers)
    return (infos if answered else None), "; ".join(problems)


def container_row(engine: EngineRef, info: ContainerInfo) -> ContainerRow:
    """One container's row (after an action): its routes and lints, with the proxy's container looked up."""
    book = _book()
    proxy = book.proxy_name() if book is not None else ""
    listing: list[ContainerInfo] = [info]
    if proxy:
        with contextlib.suppress(DockerError):  # the row still shows; only the network lint needs the proxy
            listing += [c for c in client_for(engine).list_containers(name=proxy) if c.id != info.id]
    return link_rows(engine, rows_for([info], listing))[0]


def inspect(engine: EngineRef, ref: str) -> ContainerRow:
    """One container inspected on ``engine`` (``row.info`` is its ContainerDetail) with its routes and warnings.

    Raises the wrapper's ContainerNotFound and DockerError."""
    return container_row(engine, client_for(engine).container(ref))


def domain_containers(domain: str) -> tuple[list[tuple[EngineRef, ContainerInfo]], list[str]]:
    """The containers the routes of ``domain`` point at, on every engine; plus the engines' errors.

    Raises LookupError when the domain does not exist.
    """
    book = _book()
    if book is None:
        raise LookupError(f"no domain named {domain!r}")
    targets = book.domain_targets(domain)
    found: list[tuple[EngineRef, ContainerInfo]] = []
    errors: list[str] = []
    for listing in list_engines():
        if not listing.ok:
            errors.append(f"{listing.engine.name}: {listing.error}")
            continue
        for row in listing.rows:
            if any(points_at(host, port, row.info) for host, port in targets):
                found.append((listing.engine, row.info))
    return found, errors

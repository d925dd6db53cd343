"""API endpoints of the containers app, mounted under /api/v1/ by dashboard.api."""

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from containers import operations
from containers.docker.types import ContainerDetail, ContainerInfo
from containers.engines import EngineRef, all_engines, check, client_for, get_engine
from containers.logs import (
    LogQuery,
    LogQueryError,
    LogRead,
    as_text,
    iter_merged,
    merged_logs,
    read_logs,
)
from containers.status import RouteLink, domain_containers, inspect, list_engines
from containers.streams import container_download, download_response, open_follow, sse_response
from core.api import ApiError, ErrorOut, LazyPage, PagePagination, if_match_versions, require, set_etag
from core.audit import source_of
from core.visibility import sees_upstream_words

router = Router(tags=["containers"])
ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 503: ErrorOut}
# The wrapper's errors and the operations' are core domain errors: dashboard.api's one handler answers them
# (unreachable 503, unknown 404, refused 409, out of scope 403, stale 412, invalid 422).


# --- schemas ---------------------------------------------------------------------------


class PortOut(Schema):
    private_port: int
    protocol: str
    host_ip: str
    host_port: int | None


class RouteLinkOut(Schema):
    route_id: int
    domain: str
    path: str
    target: str
    enabled: bool


class ContainerOut(Schema):
    engine: str
    id: str
    name: str
    image: str
    state: str
    status: str
    health: str | None
    uptime: str
    created: datetime
    ports: list[PortOut]
    networks: list[str]
    network_mode: str
    compose_project: str
    compose_service: str
    labels: dict[str, str]
    command: str
    routes: list[RouteLinkOut]
    warnings: list[str]


class MountOut(Schema):
    type: str
    source: str
    destination: str
    mode: str
    rw: bool


class HealthCheckOut(Schema):
    start: str
    end: str
    exit_code: int
    output: str


class NetworkOut(Schema):
    name: str
    ip: str
    aliases: list[str]


class ContainerDetailOut(ContainerOut):
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    error: str
    restart_count: int
    restart_policy: str
    mounts: list[MountOut]
    attachments: list[NetworkOut]
    health_log: list[HealthCheckOut]
    env_count: int
    entrypoint: list[str]
    args: list[str]
    tty: bool
    hostname: str
    working_dir: str
    user: str


class EnvOut(Schema):
    name: str
    value: str


class ContainerStateOut(Schema):
    engine: str
    id: str
    name: str
    state: str
    status: str
    health: str | None
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None


class LogLineOut(Schema):
    ts: str
    stream: str
    text: str


class MergedLogLineOut(LogLineOut):
    container: str


class EngineOut(Schema):
    name: str
    url: str
    default: bool
    builtin: bool
    tls: bool
    status: str | None = None
    detail: str = Field("", description="With check=true: what the engine answered when it failed; admins only.")
    version: int = Field(1, description="Bumped on every change of the stored engine; also the ETag.")


class EngineIn(Schema):
    name: str
    url: str
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_verify: bool = True
    default: bool = False


class EnginePatch(Schema):
    url: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool | None = None
    default: bool | None = None


class LogParams(Schema):
    """Which lines of a log to read; ``containers.logs.LogQuery`` checks and parses them."""

    tail: str = Field("200", description="The last N lines (or matches when searching), or all.")
    since: str = Field("", description="ISO time, UNIX seconds or an age such as 15m or 2h (inclusive).")
    until: str = Field("", description="Same forms as since (inclusive).")
    q: str = Field("", description="Case-insensitive text, or a regular expression with regex=true.")
    regex: bool = False
    stream: str = Field("", description="stdout or stderr (both when empty).")


class DownloadParams(LogParams):
    """A download reads every line the filters select: no limit of lines or bytes, streamed."""

    tail: str = Field("all", description="The last N lines (or matches when searching), or all (the default).")
    timestamps: bool = Field(True, description="Begin each line with its time.")


class EngineFilters(Schema):
    check: bool = Field(False, description="Ping each engine on the page and say whether it answers.")
    kind: Literal["unix", "tcp", "ssh"] | None = Field(None, description="Only engines reached this way.")
    q: str | None = Field(None, max_length=255, description="Text in the name or URL.")


class ContainerFilters(Schema):
    engine: str = ""
    # Docker refuses other values; checking here makes a typo a 422 instead of an engine error.
    state: Literal["", "created", "restarting", "running", "removing", "paused", "exited", "dead"] = ""
    q: str = ""
    network: str = ""
    project: str = ""
    routed: bool = False


# --- helpers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _log_query_errors() -> Iterator[None]:
    """A bad log query as the API's 422 (Docker and engine errors are domain errors: the API's handler)."""
    try:
        yield
    except LogQueryError as exc:
        raise ApiError(422, "Invalid log query.", [{"field": exc.field, "message": exc.message}]) from None


def _container_out(info: ContainerInfo, links: list[RouteLink], warnings: list[str]) -> dict:
    data = {
        "engine": info.engine,
        "id": info.id,
        "name": info.name,
        "image": info.image,
        "state": info.state,
        "status": info.status,
        "health": info.health,
        "uptime": info.uptime,
        "created": info.created,
        "ports": [vars(p) for p in info.ports],
        "networks": info.networks,
        "network_mode": info.network_mode,
        "compose_project": info.compose_project,
        "compose_service": info.compose_service,
        "labels": info.labels,
        "command": info.command,
        "routes": [vars(link) for link in links],
        "warnings": warnings,
    }
    if isinstance(info, ContainerDetail):
        data.update(
            started_at=info.started_at,
            finished_at=info.finished_at,
            exit_code=info.exit_code,
            error=info.error,
            restart_count=info.restart_count,
            restart_policy=info.restart_policy,
            mounts=[vars(m) for m in info.mounts],
            attachments=[vars(a) for a in info.attachments],
            health_log=[vars(h) for h in info.health_log],
            env_count=len(info.env),
            entrypoint=info.entrypoint,
            args=info.args,
            tty=info.tty,
            hostname=info.hostname,
            working_dir=info.working_dir,
            user=info.user,
        )
    return data


def _state_out(detail: ContainerDetail) -> dict:
    return {
        "engine": detail.engine,
        "id": detail.id,
        "name": detail.name,
        "state": detail.state,
        "status": detail.status,
        "health": detail.health,
        "started_at": detail.started_at,
        "finished_at": detail.finished_at,
        "exit_code": detail.exit_code,
    }


def _engine_out(engine: EngineRef, status: str | None = None) -> dict:
    return {
        "name": engine.name,
        "url": engine.display_url,
        "default": engine.default,
        "builtin": engine.builtin,
        "tls": engine.tls is not None,
        "status": status,
        "version": engine.version,
    }


def _lines_response(rows: list[dict[str, str]], read: LogRead) -> HttpResponse:
    """Log lines as JSON, without ninja checking each item against the response schema: the items are built
    right here from LogLine's str fields, exactly as LogLineOut documents them (the schemathesis test holds
    the two together), and that check per item was a large part of a long read (docs/BENCHMARKS.md).

    A read cut by the server's limits says so in ``X-Log-Truncated`` (the body stays a plain list)."""
    body = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    if read.truncated:
        response[TRUNCATED_HEADER] = read.message
    return response


TRUNCATED_HEADER = "X-Log-Truncated"


# --- containers ------------------------------------------------------------------------


@router.get("/containers", response={200: list[ContainerOut], **ERRORS})
@paginate(PagePagination)
def list_containers(request: HttpRequest, filters: Query[ContainerFilters]):
    """Containers of one engine (the default unless ``engine`` is given), running or not, with their routes,
    ordered by name.

    ``state`` is a Docker state (running, exited, created…), ``q`` a part of the name; ``network``,
    ``project`` (compose) and ``routed`` narrow further. One engine API call per request. 503 when the engine
    does not answer.
    """
    require(request, "view_portico")
    engine = get_engine(filters.engine)
    listing = list_engines(
        engine.name,
        name=filters.q,
        state=filters.state,
        network=filters.network,
        project=filters.project,
        routed=filters.routed,
    )[0]
    if not listing.ok:
        raise ApiError(503, listing.error, hint=listing.hint)
    rows = sorted(listing.rows, key=lambda row: row.info.name)
    return [_container_out(row.info, row.routes, row.warnings) for row in rows]


@router.get("/containers/{ref}", response={200: ContainerDetailOut, **ERRORS})
def get_container(request: HttpRequest, ref: str, engine: str = ""):
    """One container by id or name: ports, networks, mounts, labels, health-check log, command.

    Environment variables are left out (they hold secrets): admins read them with POST .../env.
    """
    require(request, "view_portico")
    row = inspect(get_engine(engine), ref)
    return _container_out(row.info, row.routes, row.warnings)


@router.post("/containers/{ref}/env", response={200: list[EnvOut], **ERRORS})
def reveal_env(request: HttpRequest, ref: str, engine: str = ""):
    """The container's environment variables (admins only; every read is in the audit log)."""
    detail = operations.reveal_env(get_engine(engine), ref, actor=request.user, source=source_of(request))
    return [{"name": k, "value": v} for k, v in detail.env]


@router.get("/containers/{ref}/logs", response={200: list[LogLineOut], **ERRORS})
def container_logs(request: HttpRequest, ref: str, params: Query[LogParams], engine: str = ""):
    """Log lines, oldest first, each ``{"ts", "stream", "text"}`` (ANSI codes stripped).

    ``tail``: last N lines (default 200, or ``all``); when searching it is the last N matches.
    ``since``/``until``: ISO time, UNIX seconds or an age (``15m``, ``2h``), both inclusive.
    ``q``: case-insensitive substring, or a regular expression with ``regex=true`` (bounded cost).
    ``stream``: stdout or stderr.

    At most PORTICO_LOG_MAX_LINES lines and PORTICO_LOG_MAX_BYTES bytes of log are answered (the newest); when
    older lines were left out, an ``X-Log-Truncated`` header says so. ``.../logs/download`` streams everything.
    """
    require(request, "view_portico")
    with _log_query_errors():
        query = LogQuery.parse(params.dict())
        eng = get_engine(engine)
        read = read_logs(client_for(eng), ref, query)
    return _lines_response([{"ts": line.ts, "stream": line.stream, "text": line.text} for line in read.lines], read)


@router.get("/containers/{ref}/logs/download", response={200: None, **ERRORS})
def download_container_logs(request: HttpRequest, ref: str, params: Query[DownloadParams], engine: str = ""):
    """The log as a text file (``<ts> <stream> text`` per line), streamed: every line the filters select,
    without the limits of the logs endpoint (``tail`` defaults to all). Same filters as the logs endpoint."""
    require(request, "view_portico")
    with _log_query_errors():
        query = LogQuery.parse(params.dict())
    return container_download(request, get_engine(engine), ref, query, params.timestamps)


@router.get("/containers/{ref}/logs/follow", response={200: None, **ERRORS, 429: ErrorOut})
def follow_logs(request: HttpRequest, ref: str, engine: str = "", tail: int = 0):
    """Server-sent events: ``line`` events for lines printed from now on (after the last ``tail`` lines), and one
    ``end`` event with a message when the container stops, the engine goes away or the stream idles out."""
    require(request, "view_portico")
    eng = get_engine(engine)
    body = open_follow(request, [(eng, ref)], tail=max(0, min(tail, 1000)))
    return sse_response(request, body)


def _action(request: HttpRequest, ref: str, engine: str, action: str):
    detail = operations.run_action(get_engine(engine), ref, action, actor=request.user, source=source_of(request))
    return _state_out(detail)


@router.post("/containers/{ref}/start", response={200: ContainerStateOut, **ERRORS})
def start_container(request: HttpRequest, ref: str, engine: str = ""):
    """Start the container; answers its new state (operators and admins)."""
    return _action(request, ref, engine, "start")


@router.post("/containers/{ref}/stop", response={200: ContainerStateOut, **ERRORS})
def stop_container(request: HttpRequest, ref: str, engine: str = ""):
    """Stop the container (SIGTERM, SIGKILL after 10 s); answers its new state."""
    return _action(request, ref, engine, "stop")


@router.post("/containers/{ref}/restart", response={200: ContainerStateOut, **ERRORS})
def restart_container(request: HttpRequest, ref: str, engine: str = ""):
    """Restart the container; answers its new state."""
    return _action(request, ref, engine, "restart")


# --- logs of a whole domain ------------------------------------------------------------


def _domain_sources(domain: str) -> list[tuple[EngineRef, ContainerInfo]]:
    """The containers behind ``domain``'s routes, on every engine; 404 when Portico has no such domain."""
    try:
        found, _errors = domain_containers(domain)
    except LookupError as exc:
        raise ApiError(404, str(exc)) from None
    return found


@router.get("/domain-logs/{domain}", response={200: list[MergedLogLineOut], **ERRORS})
def domain_logs(request: HttpRequest, domain: str, params: Query[LogParams]):
    """The logs of every container the domain's routes point at, interleaved by time; each line names its
    container. Same parameters as a container's logs; ``tail`` and the limits (PORTICO_LOG_MAX_LINES and
    PORTICO_LOG_MAX_BYTES, said by an ``X-Log-Truncated`` header when they cut) apply to the merged result;
    ``.../download`` streams everything."""
    require(request, "view_portico")
    with _log_query_errors():
        query = LogQuery.parse(params.dict())
        read = merged_logs([(client_for(eng), info.id) for eng, info in _domain_sources(domain)], query)
    rows = [{"ts": x.ts, "stream": x.stream, "text": x.text, "container": x.container} for x in read.lines]
    return _lines_response(rows, read)


@router.get("/domain-logs/{domain}/download", response={200: None, **ERRORS})
def download_domain_logs(request: HttpRequest, domain: str, params: Query[DownloadParams]):
    """The merged log of the domain's containers as a text file (``<ts> <stream> <container> text``), streamed:
    every line the filters select, without the limits of the logs endpoint (``tail`` defaults to all)."""
    require(request, "view_portico")
    with _log_query_errors():
        query = LogQuery.parse(params.dict())
        sources = [(client_for(eng), info.id) for eng, info in _domain_sources(domain)]
    return download_response(
        request, domain, as_text(iter_merged(sources, query), params.timestamps, with_container=True)
    )


@router.get("/domain-logs/{domain}/follow", response={200: None, **ERRORS, 429: ErrorOut})
def follow_domain_logs(request: HttpRequest, domain: str):
    """Server-sent events of every running container behind the domain, interleaved as they arrive."""
    require(request, "view_portico")
    running = [(eng, info.id) for eng, info in _domain_sources(domain) if info.running]
    if not running:
        raise ApiError(409, f"no running container is behind {domain}")
    body = open_follow(request, running)
    return sse_response(request, body)


# --- engines ---------------------------------------------------------------------------


@router.get("/engines", response={200: list[EngineOut], **ERRORS})
@paginate(PagePagination)
def list_engines_api(request: HttpRequest, filters: Query[EngineFilters]):
    """The Docker engines: ``local`` (PORTICO_DOCKER_URL) and the added ones. ``check=true`` pings each
    engine on the page; ``kind`` and ``q`` narrow the list."""
    require(request, "view_portico")
    engines = [e for e in all_engines() if _engine_matches(e, filters)]
    if not filters.check:
        return [_engine_out(engine) for engine in engines]
    admin = sees_upstream_words(request.user)
    return LazyPage(engines, lambda engine: _checked_engine_out(engine, admin))  # pings only the asked page


def _checked_engine_out(engine: EngineRef, admin: bool) -> dict:
    problem = check(engine)
    if problem is not None:
        return {**_engine_out(engine, f"unavailable: {problem.reason}"), "detail": problem.detail if admin else ""}
    return _engine_out(engine, "ok")


def _engine_matches(engine: EngineRef, filters: EngineFilters) -> bool:
    if filters.kind and engine.kind != filters.kind:
        return False
    text = (filters.q or "").strip().lower()
    # The shown URL only: matching the real one would let a viewer guess a password a letter at a time.
    return not text or text in engine.name.lower() or text in engine.display_url.lower()


@router.post("/engines", response={201: EngineOut, **ERRORS})
def create_engine(request: HttpRequest, payload: EngineIn):
    """Add an engine by URL: ``unix:///path``, ``tcp://host:2376`` (with TLS files on Portico's host) or
    ``ssh://user@host`` (admins only)."""
    engine = operations.add_engine(payload.dict(), actor=request.user, source=source_of(request))
    return Status(201, _engine_out(engine))


@router.get("/engines/{name}", response={200: EngineOut, **ERRORS})
def get_engine_api(request: HttpRequest, name: str, response: HttpResponse, check: bool = False):
    """One engine; ``check=true`` pings it. The ETag carries its version."""
    require(request, "view_portico")
    engine = get_engine(name)
    set_etag(response, engine.version)
    return _checked_engine_out(engine, sees_upstream_words(request.user)) if check else _engine_out(engine)


@router.patch("/engines/{name}", response={200: EngineOut, **ERRORS})
def update_engine(request: HttpRequest, name: str, payload: EnginePatch, response: HttpResponse):
    """Change an added engine's URL, TLS files or default flag (admins only; its name stays). With If-Match, an
    engine changed meanwhile gives 412. The ETag carries the new version."""
    engine = operations.edit_engine(
        name,
        {key: value for key, value in payload.dict(exclude_unset=True).items() if value is not None},
        actor=request.user,
        source=source_of(request),
        expected=if_match_versions(request),
    )
    set_etag(response, engine.version)
    return _engine_out(engine)


@router.delete("/engines/{name}", response={204: None, **ERRORS})
def delete_engine(request: HttpRequest, name: str):
    """Remove an added engine (the built-in ``local`` engine stays). With If-Match, an engine changed
    meanwhile gives 412."""
    operations.remove_engine(name, actor=request.user, source=source_of(request), expected=if_match_versions(request))
    return Status(204, None)

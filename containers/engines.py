"""Which Docker engines exist (the built-in local one plus the Engine rows) and one cached client per engine."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.conf import settings

from containers.docker.client import DockerClient, DockerError
from containers.docker.types import TlsFiles
from containers.models import LOCAL, Engine
from core.errors import NotFound
from core.visibility import without_credentials


class EngineNotFound(NotFound):
    """No engine with that name."""


@dataclass(frozen=True)
class EngineRef:
    """An engine as pages and the API see it; ``builtin`` is the local socket from PORTICO_DOCKER_URL."""

    name: str
    url: str
    default: bool
    builtin: bool
    tls: TlsFiles | None = None
    version: int = 1  # the stored row's (the built-in local engine never changes)

    @property
    def display_url(self) -> str:
        """The URL as every page and the API show it: without user info (``ssh://***@host``)."""
        return without_credentials(self.url)

    @property
    def kind(self) -> str:
        return self.url.split("://", 1)[0]

    def fix_hint(self) -> str:
        """What a person can try when this engine does not answer."""
        if self.kind == "unix":
            return (
                f"Start dockerd on this host (or fix the socket path {self.url.removeprefix('unix://')}), "
                "and make sure Portico's user may read it (docker group)."
            )
        if self.kind == "tcp":
            return "Check the host and port are reachable from Portico, and that the CA, certificate and key match the engine's TLS setup."
        return "Check that `ssh` as Portico's user reaches the host without a password prompt and that `docker version` works there."


def _from_row(row: Engine, default_name: str) -> EngineRef:
    tls = None
    if row.uses_tls:
        tls = TlsFiles(ca_cert=row.tls_ca, client_cert=row.tls_cert, client_key=row.tls_key, verify=row.tls_verify)
    return EngineRef(
        name=row.name, url=row.url, default=row.name == default_name, builtin=False, tls=tls, version=row.version
    )


def local_engine() -> EngineRef:
    """The built-in engine (PORTICO_DOCKER_URL), where Portico's own proxy container and the class lab run; read
    without the database, so ``default`` is not looked up (it only matters to pages listing engines)."""
    return EngineRef(name=LOCAL, url=settings.PORTICO_DOCKER_URL, default=False, builtin=True)


def all_engines() -> list[EngineRef]:
    """The local engine first, then the configured ones by name; exactly one is the default."""
    rows = list(Engine.objects.all())
    default_name = next((r.name for r in rows if r.default), LOCAL)
    local = EngineRef(name=LOCAL, url=settings.PORTICO_DOCKER_URL, default=default_name == LOCAL, builtin=True)
    return [local, *(_from_row(r, default_name) for r in rows)]


def get_engine(name: str | None = None) -> EngineRef:
    """The named engine, or the default one when ``name`` is empty. Raises EngineNotFound."""
    engines = all_engines()
    if not name:
        return next(e for e in engines if e.default)
    for engine in engines:
        if engine.name == name:
            return engine
    raise EngineNotFound(f"no engine named {name!r} (known: {', '.join(e.name for e in engines)})")


_clients: dict[tuple[str, str, TlsFiles | None, int | None], DockerClient] = {}
_clients_lock = threading.Lock()


def client_for(engine: EngineRef, timeout: int | None = None) -> DockerClient:
    """The DockerClient for ``engine`` (with ``timeout`` seconds per call instead of PORTICO_DOCKER_TIMEOUT),
    reused across requests so its connection pool stays warm: the one way Portico gets a client. Callers never
    close it (``forget_clients`` does, when engines change)."""
    key = (engine.name, engine.url, engine.tls, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = DockerClient(url=engine.url, tls=engine.tls, name=engine.name, timeout=timeout)
            _clients[key] = client
        return client


def check(engine: EngineRef, timeout: int | None = None) -> DockerError | None:
    """Ping ``engine``: None when it answers, else the error saying why not."""
    try:
        client_for(engine, timeout).ping()
    except DockerError as exc:
        return exc
    return None


def docker_health() -> str:
    """``ok`` or ``unavailable: <reason>`` for the built-in engine (asked with a short timeout)."""
    problem = check(local_engine(), timeout=3)
    return f"unavailable: {problem.reason}" if problem is not None else "ok"


def forget_clients() -> None:
    """Close every cached client (after an engine is deleted or settings change in tests)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()

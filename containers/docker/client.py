"""The only module that talks to Docker (the SDK, and the raw log endpoints): typed results and our own errors.

Every engine call of every method goes through ``DockerClient._call``, and every failure through
``DockerClient._error``: the one place a library or engine failure becomes a ``DockerError`` (a core domain error,
so pages and the API show it like any other refusal) whose ``reason`` says what a person can do.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import logging
import re
import ssl
import tarfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import docker
import docker.errors
import docker.tls
import requests
import requests.exceptions
import urllib3.exceptions
from django.conf import settings

from containers.docker.types import (
    COMPOSE_PROJECT,
    ContainerDetail,
    ContainerInfo,
    HealthCheck,
    LogLine,
    Mount,
    NetworkAttachment,
    NetworkInfo,
    PortBinding,
    TlsFiles,
)
from containers.docker.wire import (
    ChunkError,
    Dechunker,
    Demuxer,
    LineAssembler,
    docker_time,
    engine_message,
    frames,
    parse_head,
    parse_time,
)
from core.errors import Conflict, NotFound, Unavailable
from core.visibility import without_credentials

if TYPE_CHECKING:
    from requests.sessions import _Settings

logger = logging.getLogger(__name__)


class DockerError(Conflict):
    """Something went wrong talking to an engine; ``reason`` is for people (and never carries a URL's
    credentials: it is shown to every role, and engine URLs such as ``tcp://user:pass@host`` quote them).

    ``reason`` never quotes what answered either: an admin may point an engine at any URL, and what a service
    there says would reach every role through Portico. The other side's words (the engine's explanation, the
    library's message quoting a response) are ``detail``: the server log (here) and admins only.
    A core domain error: the engine refused (409) unless a subclass says otherwise.
    """

    status = 409

    def __init__(self, reason: str, detail: str = ""):
        reason = without_credentials(reason)
        super().__init__(reason)
        self.reason = reason
        self.detail = without_credentials(detail)
        if detail:
            # INFO, not WARNING: the Containers page asks a dead engine again every few seconds.
            logger.info("%s Details: %s", reason, self.detail[:2000])


class DockerUnavailable(DockerError, Unavailable):
    """The engine cannot be reached; ``reason`` says what a person can do about it."""

    status = 503


class NotOnEngine(DockerError, NotFound):
    """The engine has no such object (container, network or image)."""

    status = 404


class ContainerNotFound(NotOnEngine):
    """No container with that id or name on this engine."""


class ImageMissing(NotOnEngine):
    """The engine does not hold the image (Portico never pulls from a registry)."""


_TRANSPORT_ERRORS = (
    http.client.HTTPException,  # e.g. IncompleteRead when dockerd goes away mid-stream
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    docker.errors.DockerException,  # the SDK's own (no API version, bad TLS config...): the engine is unusable
    ConnectionError,
    OSError,  # ChunkError and TimeoutError included
)
# What reading the engine's answer on the event loop adds: a short or overlong head, or one that is not HTTP.
_ASYNC_ERRORS = (*_TRANSPORT_ERRORS, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


def _explain(url: str, exc: BaseException) -> str:
    """Why ``url`` could not be used, in words for anyone: never the library's message, which may quote what
    answered there (a web page's body behind a tcp:// URL). ``_unavailable`` keeps that message as detail."""
    text = str(exc)
    if "No such file" in text or "FileNotFoundError" in text:
        return (
            f"no Docker socket at {url}: is dockerd running? (start it, or fix the engine's URL / PORTICO_DOCKER_URL)"
        )
    if "Permission denied" in text:
        return f"permission denied on {url}: add Portico's user to the docker group"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return f"connection refused by {url}: is dockerd running and listening there?"
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return f"{url} did not answer in time: is the host up and the port open?"
    if "CERTIFICATE" in text.upper() or "SSL" in text.upper():
        return f"TLS failed for {url}: check the engine's CA, certificate and key files"
    if "Connection aborted" in text or "RemoteDisconnected" in text or "reset by peer" in text:
        return f"{url} closed the connection: is dockerd running?"
    return f"{url} did not answer as a Docker engine ({type(exc).__name__}): is the URL right?"


def _unavailable(url: str, exc: BaseException) -> DockerUnavailable:
    """The engine at ``url`` cannot be used: the reason for anyone, the library's own message as detail."""
    return DockerUnavailable(_explain(url, exc), str(exc))


class _EngineApiClient(docker.APIClient):
    """The SDK's API client, except that a TLS engine's CA is never replaced by REQUESTS_CA_BUNDLE.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own ``verify`` (psf/requests#3829),
    so on a host that sets them (many images do) every TLS engine failed with "unable to get local issuer
    certificate" although its CA was given. Proxies and the rest of the environment still apply.
    """

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:  # no per-call choice: the engine's (the CA file, or False) is the one
            merged["verify"] = self.verify
        return merged


class _EngineSdk(docker.DockerClient):
    """docker.DockerClient on ``_EngineApiClient`` (the SDK's __init__ does nothing else than make its api)."""

    def __init__(self, **kwargs: Any):
        self.api = _EngineApiClient(**kwargs)


def _health_from_status(status: str) -> str | None:
    if "(healthy)" in status:
        return "healthy"
    if "(unhealthy)" in status:
        return "unhealthy"
    if "(health: starting)" in status:
        return "starting"
    return None


def _info_from_list(raw: dict[str, Any], engine: str) -> ContainerInfo:
    names = raw.get("Names") or [""]
    ports = [
        PortBinding(
            private_port=int(p.get("PrivatePort") or 0),
            protocol=p.get("Type", "tcp"),
            host_ip=p.get("IP", "") or "",
            host_port=int(p["PublicPort"]) if p.get("PublicPort") else None,
        )
        for p in raw.get("Ports") or []
    ]
    # IPv4 and IPv6 publish the same port twice; show it once.
    unique_ports = sorted(set(ports), key=lambda p: (p.private_port, p.protocol, p.host_port or 0, p.host_ip))
    seen: set[tuple[int, str, int | None]] = set()
    deduped = []
    for p in unique_ports:
        key = (p.private_port, p.protocol, p.host_port)
        if key not in seen:
            seen.add(key)
            deduped.append(p)
    status = raw.get("Status", "")
    return ContainerInfo(
        id=raw["Id"],
        name=names[0].lstrip("/"),
        image=raw.get("Image", ""),
        state=raw.get("State", ""),
        status=status,
        created=datetime.fromtimestamp(raw.get("Created", 0), tz=UTC),
        health=_health_from_status(status),
        ports=deduped,
        networks=sorted(((raw.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
        network_mode=(raw.get("HostConfig") or {}).get("NetworkMode", ""),
        labels=raw.get("Labels") or {},
        command=raw.get("Command", ""),
        engine=engine,
    )


def _detail_from_inspect(raw: dict[str, Any], engine: str) -> ContainerDetail:
    cfg = raw.get("Config") or {}
    state = raw.get("State") or {}
    host = raw.get("HostConfig") or {}
    net = raw.get("NetworkSettings") or {}
    ports: list[PortBinding] = []
    for spec, bindings in sorted((net.get("Ports") or {}).items()):
        number, _, proto = spec.partition("/")
        if bindings:
            seen = set()
            for b in bindings:
                key = int(b.get("HostPort") or 0)
                if key in seen:
                    continue
                seen.add(key)
                ports.append(PortBinding(int(number), proto or "tcp", b.get("HostIp", ""), key or None))
        else:
            ports.append(PortBinding(int(number), proto or "tcp"))
    if not ports:  # host networking: Docker reports no port map, but the image may declare exposed ports
        for spec in sorted((cfg.get("ExposedPorts") or {}).keys()):
            number, _, proto = spec.partition("/")
            ports.append(PortBinding(int(number), proto or "tcp"))
    health = state.get("Health") or {}
    env = []
    for item in cfg.get("Env") or []:
        key, _, value = item.partition("=")
        env.append((key, value))
    status_words = state.get("Status", "")
    return ContainerDetail(
        id=raw["Id"],
        name=raw.get("Name", "").lstrip("/"),
        image=cfg.get("Image", ""),
        state=status_words,
        status=status_words,
        created=parse_time(raw.get("Created")) or datetime.fromtimestamp(0, tz=UTC),
        health=health.get("Status") or None,
        ports=ports,
        networks=sorted((net.get("Networks") or {}).keys()),
        network_mode=host.get("NetworkMode", ""),
        labels=cfg.get("Labels") or {},
        command=" ".join((raw.get("Path") or "", *(raw.get("Args") or []))).strip(),
        engine=engine,
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        exit_code=state.get("ExitCode"),
        error=state.get("Error", ""),
        restart_count=int(raw.get("RestartCount") or 0),
        restart_policy=(host.get("RestartPolicy") or {}).get("Name", "") or "no",
        mounts=[
            Mount(
                m.get("Type", ""),
                m.get("Source", "") or m.get("Name", ""),
                m.get("Destination", ""),
                m.get("Mode", ""),
                bool(m.get("RW")),
            )
            for m in raw.get("Mounts") or []
        ],
        attachments=[
            NetworkAttachment(name, (n or {}).get("IPAddress", ""), list((n or {}).get("Aliases") or []))
            for name, n in sorted((net.get("Networks") or {}).items())
        ],
        health_log=[
            HealthCheck(h.get("Start", ""), h.get("End", ""), int(h.get("ExitCode", 0)), h.get("Output", ""))
            for h in health.get("Log") or []
        ],
        env=env,
        entrypoint=list(cfg.get("Entrypoint") or []),
        args=list(cfg.get("Cmd") or []),
        tty=bool(cfg.get("Tty")),
        hostname=cfg.get("Hostname", ""),
        working_dir=cfg.get("WorkingDir", ""),
        user=cfg.get("User", ""),
    )


def _network_info(raw: dict[str, Any]) -> NetworkInfo:
    attached = raw.get("Containers") or {}
    return NetworkInfo(
        name=raw.get("Name", ""),
        id=raw.get("Id", ""),
        driver=raw.get("Driver", ""),
        labels=raw.get("Labels") or {},
        containers=tuple(sorted(c.get("Name", "") for c in attached.values())),
    )


def _tar(files: dict[str, str], mode: int = 0o644) -> bytes:
    """A tar archive holding ``files`` (name -> text) at its top level, each with permissions ``mode``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _untar(chunks: Iterable[bytes]) -> dict[str, str]:
    """Regular files at the top level of the directory archive ``get_archive`` streams."""
    files: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 2:
                handle = archive.extractfile(member)
                if handle is not None:
                    files[parts[1]] = handle.read().decode("utf-8", errors="replace")
    return files


class DockerClient:
    """One Docker engine, reached through the SDK with explicit timeouts.

    Every method raises ``DockerUnavailable`` when the engine cannot be reached, ``ContainerNotFound`` for an
    unknown id or name, and ``DockerError`` for anything else the engine refuses.
    """

    def __init__(
        self, url: str | None = None, timeout: int | None = None, tls: TlsFiles | None = None, name: str = "local"
    ):
        self.url = url or settings.PORTICO_DOCKER_URL
        self.display_url = without_credentials(self.url)  # what pages, messages and the API may show
        self.timeout = timeout or settings.PORTICO_DOCKER_TIMEOUT
        self.tls = tls
        self.name = name
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    # --- the one error translator -------------------------------------------------------

    def _error(
        self,
        what: str,
        exc: BaseException | None = None,
        *,
        status: int = 0,
        detail: str = "",
        missing: type[NotOnEngine] = ContainerNotFound,
    ) -> DockerError:
        """Our error for a failed engine call: ``exc`` (the library's failure) or the engine's ``status`` and
        ``detail`` (its words: kept for the server log and admins, never in ``reason``).

        Unreachable or not speaking Docker: DockerUnavailable; 404: ``missing`` (ContainerNotFound unless the
        call names a network or image), an absent image ImageMissing; any other refusal: DockerError."""
        if isinstance(exc, DockerError):
            return exc
        if isinstance(exc, docker.errors.ImageNotFound):
            return ImageMissing(
                f"{what}: image not found on engine {self.name} (no registry is used: load it first)",
                str(exc.explanation or exc),
            )
        if isinstance(exc, docker.errors.APIError):
            status, detail = exc.status_code or 0, str(exc.explanation or exc)
        elif exc is not None:
            return DockerUnavailable(_explain(self.url, exc), str(exc))
        if status == 404:
            kind = {ContainerNotFound: "container", ImageMissing: "image"}.get(missing, "such object")
            return missing(f"{what}: no {kind} of that name on engine {self.name}", detail)
        try:
            words = f"{status} {HTTPStatus(status).phrase}" if status else "no status"
        except ValueError:
            words = str(status)
        return DockerError(f"engine {self.name} refused {what} ({words})", detail)

    def _call[T](self, what: str, fn: Callable[[], T], *, missing: type[NotOnEngine] = ContainerNotFound) -> T:
        """Run one engine call (``what`` names it for people); every failure leaves through ``_error``."""
        try:
            return fn()
        except (DockerError, *_TRANSPORT_ERRORS) as exc:
            raise self._error(what, exc, missing=missing) from None

    # --- the SDK ---------------------------------------------------------------------

    @property
    def sdk(self) -> docker.DockerClient:
        """The SDK client, created on first use (it asks the engine for its API version). Raises DockerUnavailable."""
        with self._lock:
            if self._client is None:
                self._client = self._call("connect", self._make_sdk)
            return self._client

    def _make_sdk(self) -> docker.DockerClient:
        kwargs: dict[str, Any] = {"base_url": self.url, "timeout": self.timeout}
        if self.url.startswith("ssh://"):
            kwargs["use_ssh_client"] = True  # the system's ssh: its config, keys and agent
        if self.tls is not None:
            try:
                kwargs["tls"] = docker.tls.TLSConfig(
                    client_cert=(self.tls.client_cert, self.tls.client_key) if self.tls.client_cert else None,
                    ca_cert=self.tls.ca_cert or None,
                    verify=self.tls.verify if not self.tls.ca_cert else self.tls.ca_cert,
                )
            except docker.errors.DockerException as exc:
                raise DockerUnavailable(f"TLS files for {self.url} are not usable: {exc}") from None
        return _EngineSdk(**kwargs)

    def close(self) -> None:
        """Release the SDK's connection pool."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- the engine ------------------------------------------------------------------

    def ping(self) -> None:
        """Return if the engine answers; raise DockerUnavailable otherwise."""
        self._call("ping", lambda: self.sdk.ping())

    def version(self) -> str:
        """The engine's version string, e.g. ``20.10.24 (API 1.41)``."""
        info = self._call("version", lambda: self.sdk.api.version())
        return f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

    # --- containers ------------------------------------------------------------------

    def list_containers(
        self, *, name: str = "", state: str = "", network: str = "", project: str = "", label: str = ""
    ) -> list[ContainerInfo]:
        """Every container (running or not) matching the filters, from ONE engine API call (no inspects).

        Filters are applied by the engine: ``name`` is a substring of the name, ``state`` one of Docker's states,
        ``network`` a network name, ``project`` a compose project, ``label`` ``key`` or ``key=value``.
        """
        filters: dict[str, list[str]] = {}
        if name:
            filters["name"] = [re.escape(name)]
        if state:
            filters["status"] = [state]
        if network:
            filters["network"] = [network]
        if project:
            filters["label"] = [f"{COMPOSE_PROJECT}={project}"]
        if label:
            filters.setdefault("label", []).append(label)
        raw = self._call("list", lambda: self.sdk.api.containers(all=True, filters=filters or None))
        infos = [_info_from_list(item, self.name) for item in raw]
        return sorted(infos, key=lambda c: c.name)

    def container(self, ref: str) -> ContainerDetail:
        """Inspect one container by id, id prefix or name."""
        raw = self._call(repr(ref), lambda: self.sdk.api.inspect_container(ref))
        return _detail_from_inspect(raw, self.name)

    def start(self, ref: str) -> ContainerDetail:
        """Start a container; returns its new state (starting a running one changes nothing)."""
        self._call(repr(ref), lambda: self.sdk.api.start(ref))
        return self.container(ref)

    def stop(self, ref: str, timeout: int = 10) -> ContainerDetail:
        """Stop a container (SIGTERM, then SIGKILL after ``timeout`` seconds); returns its new state."""
        self._call(repr(ref), lambda: self.sdk.api.stop(ref, timeout=timeout))
        return self.container(ref)

    def restart(self, ref: str, timeout: int = 10) -> ContainerDetail:
        """Restart a container; returns its new state."""
        self._call(repr(ref), lambda: self.sdk.api.restart(ref, timeout=timeout))
        return self.container(ref)

    def run_labelled(
        self,
        *,
        name: str,
        image: str,
        labels: dict[str, str],
        command: list[str] | None = None,
        environment: dict[str, str] | None = None,
        network: str | None = None,
        aliases: list[str] | None = None,
        host_network: bool = False,
    ) -> str:
        """Create and start a container (with an init process, so it stops promptly); returns its id.

        ``host_network`` shares the host's network; otherwise it joins ``network`` (with DNS ``aliases``) or none.
        Ports are never published: a routed service is reached through the proxy only. Raises ImageMissing when
        the engine does not hold ``image``.
        """
        mode = "host" if host_network else (network or "none")

        def create() -> str:
            api = self.sdk.api
            networking = None
            if mode == network:
                # types-docker wants one EndpointConfig here; the SDK takes a dict of them by network name (its docstring).
                endpoints = {network: api.create_endpoint_config(aliases=aliases or None)}
                networking = api.create_networking_config(endpoints)  # type: ignore[arg-type]
            created = api.create_container(
                image,
                command=command,
                name=name,
                labels=labels,
                environment=environment,
                host_config=api.create_host_config(init=True, network_mode=mode),
                networking_config=networking,
            )
            container_id: str = created["Id"]
            api.start(container_id)
            return container_id

        return self._call(f"run {name}", create, missing=ImageMissing)

    def remove_container(self, ref: str) -> None:
        """Stop and remove a container (force); a container already gone is fine."""
        with contextlib.suppress(ContainerNotFound):
            self._call(f"remove {ref}", lambda: self.sdk.api.remove_container(ref, force=True))

    # --- files and commands inside a container (nginx running in one) ---------------------

    def exec_in(self, container: str, argv: list[str]) -> tuple[int, str]:
        """Run ``argv`` inside a running container; returns (exit code, stdout+stderr)."""
        target = self._call(repr(container), lambda: self.sdk.containers.get(container))
        what = f"exec {argv[0]} in {container}"
        result = self._call(what, lambda: target.exec_run(argv, stdout=True, stderr=True))
        # Without stream/detach the SDK waits for the end: the code is an int and the output bytes (None if silent).
        if result.exit_code is None or not isinstance(result.output, bytes | None):
            raise DockerError(f"{what}: the engine reported no exit code")
        return result.exit_code, (result.output or b"").decode("utf-8", errors="replace")

    def put_files(
        self, container: str, directory: str, files: dict[str, str], replace: bool = False, mode: int = 0o644
    ) -> None:
        """Copy ``files`` into ``directory`` of the container (created if missing; emptied first with ``replace``),
        each with permissions ``mode`` (0o600 for private keys). Raises DockerError when it cannot be written."""
        target = self._call(repr(container), lambda: self.sdk.containers.get(container))
        if replace:
            self.exec_in(container, ["rm", "-rf", directory])
        code, output = self.exec_in(container, ["mkdir", "-p", directory])
        if code != 0:
            raise DockerError(f"cannot create {directory} in {container}", output.strip())
        what = f"copy files into {container}:{directory}"
        if not self._call(what, lambda: target.put_archive(directory, _tar(files, mode))):
            raise DockerError(f"the engine refused to {what}")

    def read_files(self, container: str, directory: str) -> dict[str, str]:
        """The regular files directly inside ``directory`` of the container (name -> text); {} if it is missing."""
        target = self._call(repr(container), lambda: self.sdk.containers.get(container))
        try:
            chunks, _stat = self._call(f"{container}:{directory}", lambda: target.get_archive(directory))
        except ContainerNotFound:
            return {}
        return self._call(f"read {container}:{directory}", lambda: _untar(chunks))

    def container_state(self, container: str) -> str:
        """The container's state as Docker reports it (running, exited, ...)."""
        return self.container(container).state

    # --- networks and images (the class lab) -----------------------------------------------

    def get_network(self, name: str) -> NetworkInfo | None:
        """The network called exactly ``name`` (with its attached containers), or None."""
        try:
            raw = self._call(repr(name), lambda: self.sdk.api.inspect_network(name), missing=NotOnEngine)
        except NotOnEngine:
            return None
        return _network_info(raw) if raw.get("Name") == name else None

    def list_networks(self, label: str) -> list[NetworkInfo]:
        """Networks carrying ``label`` (``key`` or ``key=value``), sorted by name (``containers`` is empty here:
        the engine's list call leaves them out; ``get_network`` has them)."""
        raw = self._call("list networks", lambda: self.sdk.api.networks(filters={"label": [label]}))
        return sorted((_network_info(n) for n in raw), key=lambda n: n.name)

    def create_network(self, name: str, labels: dict[str, str]) -> NetworkInfo:
        """Create a bridge network with ``labels``."""
        self._call(f"create network {name}", lambda: self.sdk.api.create_network(name, labels=labels))
        info = self.get_network(name)
        if info is None:
            raise DockerError(f"network {name} vanished right after it was created")
        return info

    def remove_network(self, name: str) -> None:
        """Remove a network (every container must have left it)."""
        self._call(f"remove network {name}", lambda: self.sdk.api.remove_network(name), missing=NotOnEngine)

    def connect_network(self, network: str, container: str) -> None:
        """Attach a running or stopped container to a network."""
        self._call(
            f"connect {container} to {network}",
            lambda: self.sdk.api.connect_container_to_network(container, network),
            missing=NotOnEngine,
        )

    def disconnect_network(self, network: str, container: str) -> None:
        """Detach a container from a network."""
        self._call(
            f"disconnect {container} from {network}",
            lambda: self.sdk.api.disconnect_container_from_network(container, network, force=True),
            missing=NotOnEngine,
        )

    def image_present(self, image: str) -> bool:
        """Whether the engine holds ``image`` locally."""
        try:
            self._call(repr(image), lambda: self.sdk.api.inspect_image(image), missing=ImageMissing)
        except ImageMissing:
            return False
        return True

    # --- logs ------------------------------------------------------------------------

    def _log_response(self, ref: str, params: dict[str, int | str | None]) -> requests.Response:
        def get() -> requests.Response:
            api = self.sdk.api
            # The SDK's logs() merges stdout and stderr; the raw endpoint keeps them apart (multiplexed frames).
            # _get, _url and _raise_for_status are the SDK's own private helpers, which types-docker leaves out.
            response: requests.Response = api._get(  # type: ignore[attr-defined]
                api._url("/containers/{0}/logs", ref),  # type: ignore[attr-defined]
                params=params,
                stream=True,
                timeout=self.timeout,
            )
            api._raise_for_status(response)  # type: ignore[attr-defined]
            return response

        return self._call(repr(ref), get)

    def logs(
        self,
        ref: str,
        *,
        tail: int | None = 200,
        since: datetime | None = None,
        until: datetime | None = None,
        stdout: bool = True,
        stderr: bool = True,
        tty: bool | None = None,
        name: str = "",
    ) -> Iterator[LogLine]:
        """The container's log lines, oldest first, read as a stream (memory stays flat however many).

        ``tail`` None means all lines; ``since``/``until`` bound the time range (both inclusive).
        ``tty``/``name`` save an inspect when the caller already knows them.
        """
        if tty is None or not name:
            detail = self.container(ref)
            tty, name, ref = detail.tty, detail.name, detail.id
        params: dict[str, int | str | None] = {
            "stdout": int(stdout),
            "stderr": int(stderr),
            "timestamps": 1,
            "follow": 0,
            "tail": "all" if tail is None else str(max(0, tail)),
        }
        if since is not None:
            params["since"] = docker_time(since)
        if until is not None:
            params["until"] = docker_time(until)
        response = self._log_response(ref, params)
        return self._iter_lines(response, tty, name)

    def _iter_lines(self, response: requests.Response, tty: bool, name: str) -> Iterator[LogLine]:
        assembler = LineAssembler(name)
        try:
            for stream, payload in frames(response.raw, tty):
                yield from assembler.feed(stream, payload)
            yield from assembler.flush()
        except _TRANSPORT_ERRORS as exc:
            raise self._error("logs", exc) from None
        finally:
            response.close()

    def follow(self, ref: str, *, name: str, tty: bool, tail: int = 0) -> AsyncLogFollow:
        """A live follow of the container's new log lines on the event loop (not opened yet: see AsyncLogFollow).

        ``ref`` is the container's id and ``name``/``tty`` come from the caller's inspect."""
        return AsyncLogFollow(self, ref, name=name, tty=tty, tail=tail)

    async def _async_connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A new asyncio connection to this engine's API: the unix socket, or tcp (TLS with the engine's files).

        Raises DockerUnavailable for ssh:// (the SDK reaches those through the ssh command) and unusable TLS
        files; OSError when the engine cannot be reached (the caller translates it)."""
        if self.url.startswith("unix://"):
            return await asyncio.open_unix_connection(self.url.removeprefix("unix://"), limit=1 << 20)
        if self.url.startswith(("tcp://", "http://", "https://")):
            host, _, port = self.url.split("://", 1)[1].rstrip("/").rpartition(":")
            host = host.strip("[]")
            if self.tls is None:
                return await asyncio.open_connection(host, int(port), limit=1 << 20)
            return await asyncio.open_connection(
                host, int(port), ssl=self._ssl_context(), server_hostname=host, limit=1 << 20
            )
        raise DockerUnavailable(f"following logs live is not supported for {self.url} (only unix:// and tcp://)")

    def _ssl_context(self) -> ssl.SSLContext:
        """The engine's TLS files as a client context, verifying as the SDK does (always with a CA file)."""
        tls = self.tls or TlsFiles()
        try:
            context = ssl.create_default_context(cafile=tls.ca_cert or None)
            if tls.client_cert:
                context.load_cert_chain(tls.client_cert, tls.client_key or None)
        except (OSError, ssl.SSLError) as exc:
            raise DockerUnavailable(f"TLS files for {self.url} are not usable: {exc}") from None
        if not tls.verify and not tls.ca_cert:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class AsyncLogFollow:
    """A container's new log lines read on the event loop: no thread waits on the engine while nothing is printed.

    It sends one HTTP/1.1 request over an asyncio connection (the unix socket, or tcp with the engine's TLS files)
    and decodes the answer with the same chunk, frame and line code as ``logs()``, a whole socket read at a time:
    Docker sends one HTTP chunk per log line, and a general HTTP client handles each separately (docs/BENCHMARKS.md).
    Made by ``DockerClient.follow``: ``open()`` starts the follow, ``batches()`` yields the lines of each read
    as they arrive and ends when the container stops or the engine goes away (``end_reason`` then says which),
    ``aclose()`` stops it. Every failure is a DockerError, translated by the client's ``_error``.
    """

    def __init__(self, client: DockerClient, ref: str, *, name: str, tty: bool, tail: int = 0):
        self.client = client
        self.ref = ref
        self.name = name
        self.tty = tty
        self.tail = tail
        self.end_reason = ""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._chunked = False
        self._closed = False

    async def open(self) -> None:
        """Ask the engine to follow; raises DockerUnavailable, ContainerNotFound or DockerError."""
        query = urlencode({"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 1, "tail": max(0, self.tail)})
        path = f"/containers/{quote(self.ref, safe='')}/logs?{query}"
        what = repr(self.ref)
        try:
            async with asyncio.timeout(self.client.timeout):
                self._reader, self._writer = await self.client._async_connect()
                self._writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: portico\r\nConnection: close\r\n\r\n".encode()
                )
                await self._writer.drain()
                head = await self._reader.readuntil(b"\r\n\r\n")
                status, headers = parse_head(head)
                if status >= 400:
                    body = await self._reader.read(65536)
        except _ASYNC_ERRORS as exc:
            raise self.client._error(what, exc) from None
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if status >= 400:
            if self._chunked:
                with contextlib.suppress(ChunkError):
                    body = Dechunker().feed(body)
            # The engine's words are detail (server log, admins): what answered at an engine's URL is not for all.
            raise self.client._error(what, status=status, detail=engine_message(body.decode("utf-8", "replace")))

    async def batches(self) -> AsyncIterator[list[LogLine]]:
        """The lines of each read from the engine, as they arrive; ends when the log stream does."""
        if self._reader is None:
            raise DockerError("the follow was not opened")
        dechunker = Dechunker() if self._chunked else None
        demuxer = Demuxer(self.tty)
        assembler = LineAssembler(self.name)
        try:
            while dechunker is None or not dechunker.finished:
                data = await self._reader.read(65536)
                if not data:
                    if dechunker is not None:
                        raise ChunkError("the response ended inside a chunk")
                    break
                payload = dechunker.feed(data) if dechunker is not None else data
                lines = [line for stream, body in demuxer.feed(payload) for line in assembler.feed(stream, body)]
                if lines:
                    yield lines
            rest = list(assembler.flush())
            if rest:
                yield rest
        except OSError as exc:  # ChunkError included
            if not self._closed:
                self.end_reason = f"the log stream broke: {self.client._error('logs', exc).reason}"
            return
        if not self._closed:
            self.end_reason = await asyncio.to_thread(self._why_it_ended)

    def _why_it_ended(self) -> str:
        try:
            detail = self.client.container(self.ref)
        except DockerUnavailable as exc:
            return f"the Docker engine went away: {exc.reason}"
        except DockerError as exc:
            return f"the container is gone: {exc.reason}"
        return f"the container stopped (state: {detail.state})"

    async def aclose(self) -> None:
        """Stop reading and close the connection; safe to call twice."""
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

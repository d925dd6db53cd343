"""The only module that imports the Docker SDK: typed results and our own errors.

Everything here returns small dataclasses (``ContainerInfo``, ``ContainerDetail``, ``LogLine``) and raises
only ``DockerError`` and its subclasses, with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import http.client
import json
import logging
import re
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import docker
import docker.errors
import docker.models.containers
import docker.tls
import requests
import requests.exceptions
import urllib3.exceptions
from django.conf import settings

from core.visibility import without_credentials

if TYPE_CHECKING:
    from requests.sessions import _Settings

logger = logging.getLogger(__name__)

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
# Host-network containers publish nothing Docker can list; this label says which ports they listen on.
PORTS_LABEL = "portico.ports"
MAX_LINE = 64 * 1024  # a longer log line is cut here (and marked), so one runaway line cannot eat memory


class DockerError(Exception):
    """Something went wrong talking to an engine; ``reason`` is for people (and never carries a URL's
    credentials: it is shown to every role, and engine URLs such as ``tcp://user:pass@host`` quote them).

    ``reason`` never quotes what answered either: an admin may point an engine at any URL, and what a service
    there says would reach every role through Portico. The other side's words (the engine's explanation, the
    library's message quoting a response) are ``detail``: the server log (here) and admins only.
    """

    def __init__(self, reason: str, detail: str = ""):
        reason = without_credentials(reason)
        super().__init__(reason)
        self.reason = reason
        self.detail = without_credentials(detail)
        if detail:
            # INFO, not WARNING: the Containers page asks a dead engine again every few seconds.
            logger.info("%s Details: %s", reason, self.detail[:2000])


class DockerUnavailable(DockerError):
    """The engine cannot be reached; ``reason`` says what a person can do about it."""


class ContainerNotFound(DockerError):
    """No container with that id or name on this engine."""


_TRANSPORT_ERRORS = (
    http.client.HTTPException,  # e.g. IncompleteRead when dockerd goes away mid-stream
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    OSError,
)


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


def _refused(who: str, exc: docker.errors.APIError) -> DockerError:
    """The engine answered with an error status: the status for anyone, its explanation as detail."""
    code = exc.status_code
    try:
        status = f"{code} {HTTPStatus(code).phrase}" if code else "no status"
    except ValueError:
        status = str(code)
    return DockerError(f"{who} refused ({status})", str(exc.explanation or exc))


# --- typed results ---------------------------------------------------------------------


@dataclass(frozen=True)
class PortBinding:
    """A container port, and where the host publishes it (``host_port`` is None when only exposed)."""

    private_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None

    def __str__(self) -> str:
        if self.host_port:
            return f"{self.host_ip or '0.0.0.0'}:{self.host_port}->{self.private_port}/{self.protocol}"
        return f"{self.private_port}/{self.protocol}"


@dataclass
class ContainerInfo:
    """One container as the engine's list call describes it (no inspect needed)."""

    id: str
    name: str
    image: str
    state: str  # created | running | paused | restarting | removing | exited | dead
    status: str  # Docker's words: "Up 5 minutes (healthy)", "Exited (0) 3 seconds ago"
    created: datetime
    health: str | None = None  # healthy | unhealthy | starting | None (no health check)
    ports: list[PortBinding] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    network_mode: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    command: str = ""
    engine: str = "local"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def compose_project(self) -> str:
        return self.labels.get(COMPOSE_PROJECT, "")

    @property
    def compose_service(self) -> str:
        return self.labels.get(COMPOSE_SERVICE, "")

    @property
    def uptime(self) -> str:
        """How long it has been up, in Docker's words ("5 minutes"), or "" when not running."""
        match = re.fullmatch(r"Up (.+?)(?: \((?:healthy|unhealthy|health: starting|Paused)\))*", self.status)
        return match.group(1) if match and self.running else ""

    @property
    def published_ports(self) -> list[PortBinding]:
        """Ports reachable on the host directly (they bypass a proxy)."""
        return [p for p in self.ports if p.host_port]

    @property
    def listen_ports(self) -> list[int]:
        """Ports the container serves on: exposed ports, or the ``portico.ports`` label for host networking."""
        ports = {p.private_port for p in self.ports if p.protocol == "tcp"}
        for part in self.labels.get(PORTS_LABEL, "").replace(";", ",").split(","):
            if part.strip().isdigit():
                ports.add(int(part.strip()))
        return sorted(ports)

    @property
    def host_ports(self) -> set[int]:
        """Ports on the host that reach this container: published ports, and listen ports under host networking."""
        ports = {p.host_port for p in self.published_ports if p.host_port}
        if self.network_mode == "host":
            ports.update(self.listen_ports)
        return ports


@dataclass(frozen=True)
class Mount:
    type: str
    source: str
    destination: str
    mode: str
    rw: bool


@dataclass(frozen=True)
class HealthCheck:
    start: str
    end: str
    exit_code: int
    output: str


@dataclass(frozen=True)
class NetworkAttachment:
    name: str
    ip: str
    aliases: list[str]


@dataclass
class ContainerDetail(ContainerInfo):
    """Everything inspect tells about one container."""

    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    error: str = ""
    restart_count: int = 0
    restart_policy: str = ""
    mounts: list[Mount] = field(default_factory=list)
    attachments: list[NetworkAttachment] = field(default_factory=list)
    health_log: list[HealthCheck] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    tty: bool = False
    hostname: str = ""
    working_dir: str = ""
    user: str = ""


@dataclass(slots=True)
class LogLine:
    """One log line: when (RFC 3339, nanoseconds, UTC), which stream, and the raw text (untrusted)."""

    ts: str
    stream: str  # stdout | stderr
    text: str
    container: str = ""

    @property
    def sort_key(self) -> str:
        return self.ts


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


@dataclass(frozen=True)
class TlsFiles:
    """Client certificate files for a tcp:// engine with TLS (frozen: part of the engines' client-cache key)."""

    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = ""
    verify: bool = True


def _parse_time(value: str | None) -> datetime | None:
    if not value or value.startswith("0001-01-01"):
        return None
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", value)
    if not match:
        return None
    frac = (match.group(2) or ".0")[1:7].ljust(6, "0")
    tz = match.group(3) or "Z"
    text = f"{match.group(1)}.{frac}{'+00:00' if tz == 'Z' else tz}"
    return datetime.fromisoformat(text).astimezone(UTC)


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
        created=_parse_time(raw.get("Created")) or datetime.fromtimestamp(0, tz=UTC),
        health=health.get("Status") or None,
        ports=ports,
        networks=sorted((net.get("Networks") or {}).keys()),
        network_mode=host.get("NetworkMode", ""),
        labels=cfg.get("Labels") or {},
        command=" ".join((raw.get("Path") or "", *(raw.get("Args") or []))).strip(),
        engine=engine,
        started_at=_parse_time(state.get("StartedAt")),
        finished_at=_parse_time(state.get("FinishedAt")),
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


# --- the log stream format ---------------------------------------------------------------

_STREAMS = {0: "stdout", 1: "stdout", 2: "stderr"}
_TS = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ")


def _split_ts(payload: bytes) -> tuple[str, bytes]:
    """Docker prefixes every message with an RFC 3339 time; normalise it to 9 fraction digits."""
    # Fast path: Docker's usual fixed form, 2026-01-02T03:04:05.123456789Z (30 bytes) and a space.
    if len(payload) > 30 and payload[30] == 32 and payload[29] == 90 and payload[19] == 46:
        return payload[:30].decode("ascii", "replace"), payload[31:]
    match = _TS.match(payload)
    if not match:
        return "", payload
    frac = (match.group(2) or b"").ljust(9, b"0").decode()
    return f"{match.group(1).decode()}.{frac}Z", payload[match.end() :]


class _LineAssembler:
    """Turns frames (stream, payload) into whole lines; Docker splits lines over 16 KiB into several messages."""

    def __init__(self, container: str):
        self.container = container
        self.partial: dict[str, tuple[str, bytearray]] = {}

    def feed(self, stream: str, payload: bytes) -> Iterator[LogLine]:
        # Fast path: one whole line in one message (the usual case) and nothing pending for this stream.
        if stream not in self.partial and payload.endswith(b"\n") and payload.count(b"\n") == 1:
            ts, text = _split_ts(payload)
            yield self._line(ts, stream, text)
            return
        for piece in payload.splitlines(keepends=True):
            ts, text = _split_ts(piece)
            if stream in self.partial:
                first_ts, buf = self.partial.pop(stream)
                ts = first_ts or ts
                if len(buf) < MAX_LINE:
                    buf += text
                text = bytes(buf)
            if not text.endswith(b"\n"):
                self.partial[stream] = (ts, bytearray(text))
                continue
            yield self._line(ts, stream, text)

    def flush(self) -> Iterator[LogLine]:
        for stream, (ts, buf) in list(self.partial.items()):
            yield self._line(ts, stream, bytes(buf))
        self.partial.clear()

    def _line(self, ts: str, stream: str, text: bytes) -> LogLine:
        text = text.rstrip(b"\r\n")
        cut = len(text) > MAX_LINE
        decoded = text[:MAX_LINE].decode("utf-8", errors="replace")
        return LogLine(ts=ts, stream=stream, text=decoded + (" [line cut]" if cut else ""), container=self.container)


def _chunks(raw: Any) -> Iterator[bytes]:
    """Whatever bytes have arrived, as soon as they arrive (never waits for a full buffer)."""
    # urllib3's response wraps http.client's; reading the inner one skips a per-call layer. Docker sends one
    # HTTP chunk per log message, and http.client spends several calls on each: with the body untouched so
    # far, the chunked encoding is taken apart here instead, a whole read at a time (bench/logs.py).
    # Docker never compresses logs.
    inner = getattr(raw, "_fp", None)
    if (
        inner is not None
        and getattr(inner, "chunked", False)
        and getattr(inner, "chunk_left", 0) is None
        and hasattr(getattr(inner, "fp", None), "read1")
    ):
        yield from _dechunked(inner.fp.read1)
        inner.close()  # the body is consumed: http.client must not read the socket again
        return
    source = inner if inner is not None and hasattr(inner, "read1") else raw
    read = source.read1 if hasattr(source, "read1") else source.read
    while True:
        chunk = read(65536)
        if not chunk:
            return
        yield chunk


class _ChunkError(OSError):
    """The HTTP body broke off inside a chunk, or a chunk header was not one."""


class _Dechunker:
    """The payload of an HTTP/1.1 chunked body (RFC 9112 7.1), from whatever bytes have arrived.

    ``feed`` returns the payload of every chunk completed so far (b"" if none); ``finished`` turns true at the
    last chunk. Chunk extensions and trailers are skipped. Raises _ChunkError when a size line is malformed."""

    def __init__(self) -> None:
        self.buf = b""
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        buf = self.buf + data if self.buf else data
        pos = 0
        out: list[bytes] = []
        while not self.finished:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size_text = buf[pos:eol].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _ChunkError(f"bad chunk size line {buf[pos:eol][:40]!r}") from None
            if size == 0:
                self.finished = True  # the last chunk; trailers (none from Docker) are left unread
                break
            start = eol + 2
            if len(buf) < start + size + 2:
                break
            out.append(buf[start : start + size])
            pos = start + size + 2
        self.buf = b"" if self.finished else buf[pos:]
        return b"".join(out)


def _dechunked(read1: Callable[[int], bytes]) -> Iterator[bytes]:
    """The payload of a chunked body read with ``read1`` (what has arrived: at least one byte, or b"" at the
    end), one block per read. Raises _ChunkError (an OSError) when the body ends early or a size line is bad."""
    decoder = _Dechunker()
    while not decoder.finished:
        data = read1(65536)
        if not data:
            raise _ChunkError("the response ended inside a chunk")
        payload = decoder.feed(data)
        if payload:
            yield payload


class _Demuxer:
    """Docker's multiplexed log stream, split into (stream, payload) frames whatever chunks it is fed in.

    Each frame is an 8-byte header (stream, 0, 0, 0, big-endian size) and then the payload; a TTY container's
    stream has no frames (stdout and stderr are one raw stream)."""

    def __init__(self, tty: bool):
        self.tty = tty
        self.buf = bytearray()

    def feed(self, chunk: bytes) -> Iterator[tuple[str, bytes]]:
        if self.tty:
            if chunk:
                yield "stdout", chunk
            return
        buf = self.buf
        buf += chunk
        pos = 0
        while len(buf) - pos >= 8:
            stream_type, size = struct.unpack_from(">BxxxL", buf, pos)
            if len(buf) - pos - 8 < size:
                break
            yield _STREAMS.get(stream_type, "stdout"), bytes(buf[pos + 8 : pos + 8 + size])
            pos += 8 + size
        if pos:
            del buf[:pos]


def _frames(raw: Any, tty: bool) -> Iterator[tuple[str, bytes]]:
    """Demultiplex Docker's log stream read from a blocking response (see _Demuxer)."""
    demuxer = _Demuxer(tty)
    for chunk in _chunks(raw):
        yield from demuxer.feed(chunk)


class NanoTime(datetime):
    """A datetime that keeps the nanoseconds Docker prints (``nanos``: 0-999 beyond the microsecond)."""

    nanos: int = 0

    @classmethod
    def parse(cls, text: str) -> NanoTime:
        """RFC 3339 with up to 9 fraction digits; naive times are UTC. Raises ValueError."""
        match = re.fullmatch(r"(.+?T?[\d:]+)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?", text.strip().replace(" ", "T", 1))
        if not match:
            raise ValueError(text)
        digits = (match.group(2) or "").ljust(9, "0")
        zone = match.group(3) or "Z"
        base = datetime.fromisoformat(f"{match.group(1)}.{digits[:6]}{'+00:00' if zone == 'Z' else zone}")
        value = cls.fromtimestamp(0, UTC).replace(
            year=base.year,
            month=base.month,
            day=base.day,
            hour=base.hour,
            minute=base.minute,
            second=base.second,
            microsecond=base.microsecond,
        ) - (base.utcoffset() or timedelta(0))
        value.nanos = int(digits[6:])
        return value


def _docker_time(value: datetime | None) -> str | None:
    """Docker's ``<seconds>.<nanoseconds>`` form, exact (no float rounding)."""
    if value is None:
        return None
    whole = calendar.timegm(value.astimezone(UTC).timetuple())
    return f"{whole}.{value.microsecond:06d}{getattr(value, 'nanos', 0):03d}"


class AsyncLogFollow:
    """A container's new log lines read on the event loop: no thread waits on the engine while nothing is printed.

    It sends one HTTP/1.1 request over an asyncio connection (the unix socket, or tcp with the engine's TLS files)
    and decodes the answer with the same chunk, frame and line code as ``logs()``, a whole socket read at a time:
    Docker sends one HTTP chunk per log line, and a general HTTP client handles each separately (httpx managed
    about a fifth of the rate; bench/logs.py). The caller has inspected the container (``ref`` is its id; ``name``
    and ``tty`` come from that inspect). ``open()`` starts the follow, ``batches()`` yields the lines of each read
    as they arrive and ends when the container stops or the engine goes away (``end_reason`` then says which),
    ``aclose()`` stops it. Every failure is a DockerError.
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
        try:
            async with asyncio.timeout(self.client.timeout):
                self._reader, self._writer = await self.client.async_connect()
                self._writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: portico\r\nConnection: close\r\n\r\n".encode()
                )
                await self._writer.drain()
                head = await self._reader.readuntil(b"\r\n\r\n")
                status, headers = _parse_head(head)
                if status >= 400:
                    body = await self._reader.read(65536)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise _unavailable(self.client.url, exc) from None
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if status == 404:
            raise ContainerNotFound(f"no container {self.ref!r} on engine {self.client.name}")
        if status >= 400:
            if self._chunked:
                with contextlib.suppress(_ChunkError):
                    body = _Dechunker().feed(body)
            # The engine's words are detail (server log, admins): what answered at an engine's URL is not for all.
            message = _engine_message(body.decode("utf-8", "replace"))
            raise DockerError(f"engine {self.client.name} refused ({status})", message)

    async def batches(self) -> AsyncIterator[list[LogLine]]:
        """The lines of each read from the engine, as they arrive; ends when the log stream does."""
        if self._reader is None:
            raise DockerError("the follow was not opened")
        dechunker = _Dechunker() if self._chunked else None
        demuxer = _Demuxer(self.tty)
        assembler = _LineAssembler(self.name)
        try:
            while dechunker is None or not dechunker.finished:
                data = await self._reader.read(65536)
                if not data:
                    if dechunker is not None:
                        raise _ChunkError("the response ended inside a chunk")
                    break
                payload = dechunker.feed(data) if dechunker is not None else data
                lines = [line for stream, body in demuxer.feed(payload) for line in assembler.feed(stream, body)]
                if lines:
                    yield lines
            rest = list(assembler.flush())
            if rest:
                yield rest
        except OSError as exc:  # _ChunkError included
            if not self._closed:
                self.end_reason = f"the log stream broke: {_unavailable(self.client.url, exc).reason}"
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


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of an HTTP/1.1 response head; raises ValueError when it is not one."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _engine_message(body: str) -> str:
    """The ``message`` of an engine's JSON error body, or the body itself."""
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(body).get("message") or body)
    return body.strip()[:300]


# --- the client ------------------------------------------------------------------------


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

    @property
    def sdk(self) -> docker.DockerClient:
        """The SDK client, created on first use (it asks the engine for its API version). Raises DockerUnavailable."""
        with self._lock:
            if self._client is None:
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
                try:
                    self._client = _EngineSdk(**kwargs)
                except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
                    raise _unavailable(self.url, exc) from None
            return self._client

    def _call[**P, T](self, what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one SDK call and translate its failures into our errors."""
        try:
            return fn(*args, **kwargs)
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(f"no container {what} on engine {self.name}") from exc
        except docker.errors.APIError as exc:
            raise _refused(f"engine {self.name} ({what})", exc) from exc
        except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
            raise _unavailable(self.url, exc) from None

    def ping(self) -> None:
        """Return if the engine answers; raise DockerUnavailable otherwise."""
        self._call("ping", lambda: self.sdk.ping())

    def version(self) -> str:
        """The engine's version string, e.g. ``20.10.24 (API 1.41)``."""
        info = self._call("version", lambda: self.sdk.api.version())
        return f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

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

    def _log_response(self, ref: str, params: dict[str, int | str | None], follow: bool) -> requests.Response:
        api = self.sdk.api
        # The SDK's logs() merges stdout and stderr; the raw endpoint keeps them apart (multiplexed frames).
        # _get, _url and _raise_for_status are the SDK's own private helpers, which types-docker leaves out.
        timeout = (self.timeout, None) if follow else self.timeout
        response: requests.Response = self._call(
            repr(ref),
            lambda: api._get(  # type: ignore[attr-defined]
                api._url("/containers/{0}/logs", ref),  # type: ignore[attr-defined]
                params=params,
                stream=True,
                timeout=timeout,
            ),
        )
        self._call(repr(ref), api._raise_for_status, response)  # type: ignore[attr-defined]
        return response

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
            params["since"] = _docker_time(since)
        if until is not None:
            params["until"] = _docker_time(until)
        response = self._log_response(ref, params, follow=False)
        return self._iter_lines(response, tty, name)

    def _iter_lines(self, response: requests.Response, tty: bool, name: str) -> Iterator[LogLine]:
        assembler = _LineAssembler(name)
        try:
            for stream, payload in _frames(response.raw, tty):
                yield from assembler.feed(stream, payload)
            yield from assembler.flush()
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(self.url, exc) from None
        finally:
            response.close()

    async def async_connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
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

    def close(self) -> None:
        """Release the SDK's connection pool."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def docker_health() -> str:
    """``ok`` or ``unavailable: <reason>`` for the default engine."""
    client = DockerClient(timeout=3)
    try:
        client.ping()
    except DockerUnavailable as exc:
        return f"unavailable: {exc.reason}"
    finally:
        client.close()
    return "ok"


def default_containers(timeout: int = 5) -> tuple[list[ContainerInfo] | None, str]:
    """The default engine's containers and "", or ``(None, reason)`` when it does not answer in ``timeout`` s."""
    client = DockerClient(timeout=timeout)
    try:
        return client.list_containers(), ""
    except DockerError as exc:
        return None, exc.reason
    finally:
        client.close()


# --- files and exec (used by routes.nginx for nginx running in a container) -----------------------------


def _tar(files: dict[str, str], mode: int = 0o644) -> bytes:
    """A tar archive holding ``files`` (name -> text) at its top level, each with permissions ``mode``."""
    import io
    import tarfile
    import time

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
    import io
    import tarfile

    files: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 2:
                handle = archive.extractfile(member)
                if handle is not None:
                    files[parts[1]] = handle.read().decode("utf-8", errors="replace")
    return files


def _container(client: DockerClient, name: str) -> docker.models.containers.Container:
    try:
        return client.sdk.containers.get(name)
    except docker.errors.NotFound:
        raise DockerUnavailable(f"no container named {name!r}") from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise _unavailable(client.url, exc) from None


def exec_in(client: DockerClient, container: str, argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` inside a running container; returns (exit code, stdout+stderr). Raises DockerUnavailable."""
    target = _container(client, container)
    try:
        result = target.exec_run(argv, stdout=True, stderr=True, demux=False)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerUnavailable(f"exec {argv[0]} in {container}: {exc}") from None
    # Without stream/detach the SDK waits for the end: the code is an int and the output bytes (None if silent).
    if result.exit_code is None or not isinstance(result.output, bytes | None):
        raise DockerUnavailable(f"exec {argv[0]} in {container}: the engine reported no exit code")
    return result.exit_code, (result.output or b"").decode("utf-8", errors="replace")


def put_files(
    client: DockerClient,
    container: str,
    directory: str,
    files: dict[str, str],
    replace: bool = False,
    mode: int = 0o644,
) -> None:
    """Copy ``files`` into ``directory`` of the container (created if missing; emptied first with ``replace``),
    each with permissions ``mode`` (0o600 for private keys).

    Raises DockerUnavailable with the engine's reason when the directory cannot be written.
    """
    target = _container(client, container)
    if replace:
        exec_in(client, container, ["rm", "-rf", directory])
    code, output = exec_in(client, container, ["mkdir", "-p", directory])
    if code != 0:
        raise DockerUnavailable(f"cannot create {directory} in {container}: {output.strip()}")
    try:
        ok = target.put_archive(directory, _tar(files, mode))
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerUnavailable(f"cannot copy files into {container}:{directory}: {exc}") from None
    if not ok:
        raise DockerUnavailable(f"the engine refused to copy files into {container}:{directory}")


def read_files(client: DockerClient, container: str, directory: str) -> dict[str, str]:
    """The regular files directly inside ``directory`` of the container (name -> text); {} if it is missing."""
    target = _container(client, container)
    try:
        chunks, _stat = target.get_archive(directory)
        return _untar(chunks)
    except docker.errors.NotFound:
        return {}
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerUnavailable(f"cannot read {container}:{directory}: {exc}") from None


def container_state(client: DockerClient, container: str) -> str:
    """The container's state as Docker reports it (running, exited, ...). Raises DockerUnavailable."""
    target = _container(client, container)
    return target.status


# ======================================================================================
# The class lab (lab/build.py and lab/checks.py): networks and containers that
# `manage.py lab up` creates and labels, so `lab down` removes exactly those. Kept together
# at the end of the module; everything here raises DockerUnavailable or DockerError.
# ======================================================================================


@dataclass(frozen=True)
class NetworkInfo:
    """A Docker network: its name, driver, labels and the names of the containers attached to it."""

    name: str
    id: str
    driver: str
    labels: dict[str, str]
    containers: tuple[str, ...] = ()


def _lab_call[T](client: DockerClient, what: str, fn: Callable[[], T]) -> T:
    """Run one SDK call for the lab; translate failures into DockerUnavailable / DockerError."""
    try:
        return fn()
    except docker.errors.ImageNotFound:
        raise DockerError(
            f"{what}: image not found on engine {client.url} (no registry is used: load it first)"
        ) from None
    except docker.errors.APIError as exc:
        raise _refused(f"{what}: engine {client.name}", exc) from None
    except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
        raise _unavailable(client.url, exc) from None


def _network_info(raw: dict[str, Any]) -> NetworkInfo:
    attached = raw.get("Containers") or {}
    return NetworkInfo(
        name=raw.get("Name", ""),
        id=raw.get("Id", ""),
        driver=raw.get("Driver", ""),
        labels=raw.get("Labels") or {},
        containers=tuple(sorted(c.get("Name", "") for c in attached.values())),
    )


def get_network(client: DockerClient, name: str) -> NetworkInfo | None:
    """The network called exactly ``name`` (with its attached containers), or None."""
    try:
        raw = client.sdk.api.inspect_network(name)
    except docker.errors.NotFound:
        return None
    except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
        raise _unavailable(client.url, exc) from None
    return _network_info(raw) if raw.get("Name") == name else None


def list_networks(client: DockerClient, label: str) -> list[NetworkInfo]:
    """Networks carrying ``label`` (``key`` or ``key=value``), sorted by name (``containers`` is empty here:
    the engine's list call leaves them out; ``get_network`` has them)."""
    raw = _lab_call(client, "list networks", lambda: client.sdk.api.networks(filters={"label": [label]}))
    return sorted((_network_info(n) for n in raw), key=lambda n: n.name)


def create_network(client: DockerClient, name: str, labels: dict[str, str]) -> NetworkInfo:
    """Create a bridge network with ``labels``."""
    _lab_call(client, f"create network {name}", lambda: client.sdk.api.create_network(name, labels=labels))
    info = get_network(client, name)
    if info is None:
        raise DockerError(f"network {name} vanished right after it was created")
    return info


def remove_network(client: DockerClient, name: str) -> None:
    """Remove a network (every container must have left it)."""
    _lab_call(client, f"remove network {name}", lambda: client.sdk.api.remove_network(name))


def connect_network(client: DockerClient, network: str, container: str) -> None:
    """Attach a running or stopped container to a network."""
    _lab_call(
        client,
        f"connect {container} to {network}",
        lambda: client.sdk.api.connect_container_to_network(container, network),
    )


def disconnect_network(client: DockerClient, network: str, container: str) -> None:
    """Detach a container from a network."""
    _lab_call(
        client,
        f"disconnect {container} from {network}",
        lambda: client.sdk.api.disconnect_container_from_network(container, network, force=True),
    )


def image_present(client: DockerClient, image: str) -> bool:
    """Whether the engine holds ``image`` locally."""
    try:
        client.sdk.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        raise _refused(f"inspect image {image}: engine {client.name}", exc) from None
    except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
        raise _unavailable(client.url, exc) from None
    return True


def run_labelled(
    client: DockerClient,
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
    Ports are never published: a routed service is reached through the proxy only.
    """
    mode = "host" if host_network else (network or "none")

    def create() -> str:
        api = client.sdk.api
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

    return _lab_call(client, f"run {name}", create)


def remove_container(client: DockerClient, ref: str) -> None:
    """Stop and remove a container (force); a container already gone is fine."""
    try:
        client.sdk.api.remove_container(ref, force=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        raise _refused(f"remove {ref}: engine {client.name}", exc) from None
    except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
        raise _unavailable(client.url, exc) from None

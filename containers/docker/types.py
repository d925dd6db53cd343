"""What the Docker wrapper returns and takes: small typed objects, never the SDK's own or raw JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
# Host-network containers publish nothing Docker can list; this label says which ports they listen on.
PORTS_LABEL = "portico.ports"
# Addresses that mean "this host": a target naming one reaches a container through a port the host publishes, and
# a port published on one only is no way around the proxy.
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


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
        """Ports the host publishes (on any of its addresses)."""
        return [p for p in self.ports if p.host_port]

    @property
    def public_ports(self) -> list[PortBinding]:
        """Published ports other hosts can reach (not bound to a loopback address): they bypass a proxy."""
        return [p for p in self.published_ports if (p.host_ip or "0.0.0.0") not in LOOPBACK]

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
    """A volume or bind mount of a container."""

    type: str
    source: str
    destination: str
    mode: str
    rw: bool


@dataclass(frozen=True)
class HealthCheck:
    """One run of a container's health check."""

    start: str
    end: str
    exit_code: int
    output: str


@dataclass(frozen=True)
class NetworkAttachment:
    """A network a container is attached to, with its address and DNS aliases there."""

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


@dataclass(frozen=True)
class TlsFiles:
    """Client certificate files for a tcp:// engine with TLS (frozen: part of the engines' client-cache key)."""

    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = ""
    verify: bool = True


@dataclass(frozen=True)
class NetworkInfo:
    """A Docker network: its name, driver, labels and the names of the containers attached to it."""

    name: str
    id: str
    driver: str
    labels: dict[str, str]
    containers: tuple[str, ...] = ()

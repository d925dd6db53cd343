"""Target picker: the running containers and the host:port a route could send traffic to.

Reads containers through ``containers.docker_client.DockerClient`` only. When Docker cannot be reached the
picker carries the reason instead of choices, and the route form still takes a typed host and port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from containers.docker_client import DockerClient, DockerUnavailable

# Inspecting host-network containers costs one call each; keep the page fast on a crowded engine.
MAX_INSPECTS = 30


@dataclass(frozen=True)
class TargetChoice:
    """One pickable upstream: ``host:port`` for a container (port None when only the host is known)."""

    container: str
    image: str
    host: str
    port: int | None
    note: str = ""

    @property
    def value(self) -> str:
        """What the picker submits: ``host:port`` or ``host:``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port if self.port else ''}"

    @property
    def label(self) -> str:
        shown = self.value if self.port else f"{self.host} ({_('type the port')})"
        note = f" — {self.note}" if self.note else ""
        return f"{self.container}: {shown}{note}"


@dataclass
class TargetChoices:
    """The picker's content: choices, or the reason there are none."""

    choices: list[TargetChoice] = field(default_factory=list)
    error: str = ""

    @property
    def names(self) -> list[str]:
        """Container names, for the host field's completion list."""
        return sorted({c.container for c in self.choices})


def _exposed(ports: dict | None) -> list[int]:
    found = set()
    for key in ports or {}:
        number, _sep, proto = str(key).partition("/")
        if proto in ("", "tcp") and number.isdigit():
            found.add(int(number))
    return sorted(found)


def target_choices(client: DockerClient | None = None) -> TargetChoices:
    """Running containers with their exposed TCP ports, or the reason Docker cannot tell us.

    A container on a network is reached by its name and private port; a host-network container
    listens on the host itself, so it is offered as 127.0.0.1 with the ports its image exposes.
    """
    own = client is None
    client = client or DockerClient(timeout=3)
    try:
        client.ping()
        rows = client.sdk.api.containers(filters={"status": "running"})
        result = TargetChoices()
        inspected = 0
        for row in sorted(rows, key=lambda r: (r.get("Names") or ["?"])[0]):
            name = (row.get("Names") or ["?"])[0].lstrip("/")
            image = row.get("Image", "")
            mode = (row.get("HostConfig") or {}).get("NetworkMode", "")
            if mode == "none":
                continue  # nothing can reach it
            if mode == "host":
                ports: list[int] = []
                if inspected < MAX_INSPECTS:
                    inspected += 1
                    config = client.sdk.api.inspect_container(row["Id"]).get("Config") or {}
                    ports = _exposed(config.get("ExposedPorts"))
                note = _("host network")
                if ports:
                    result.choices.extend(TargetChoice(name, image, "127.0.0.1", p, note) for p in ports)
                else:
                    result.choices.append(TargetChoice(name, image, "127.0.0.1", None, note))
                continue
            private = sorted({p["PrivatePort"] for p in row.get("Ports") or [] if p.get("Type", "tcp") == "tcp"})
            if private:
                result.choices.extend(TargetChoice(name, image, name, p) for p in private)
            else:
                result.choices.append(TargetChoice(name, image, name, None, _("no exposed port")))
        return result
    except DockerUnavailable as exc:
        return TargetChoices(error=exc.reason)
    except OSError as exc:  # the SDK's API and connection errors are OSErrors (requests' exceptions)
        return TargetChoices(error=_("Docker did not answer: %(error)s") % {"error": exc})
    finally:
        if own:
            client.close()

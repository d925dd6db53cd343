"""Target picker: the running containers and the host:port a route could send traffic to.

The containers come from ``containers.status.list_engines`` (one list call per engine, engines asked in
parallel with a deadline). An engine that does not answer gives its reason instead of choices, and the
route form still takes a typed host and port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from containers.status import list_engines


@dataclass(frozen=True)
class TargetChoice:
    """One pickable upstream: ``host:port`` of a container (port None when only the host is known)."""

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
    """The picker's content: choices, and the reasons engines could not be listed."""

    choices: list[TargetChoice] = field(default_factory=list)
    error: str = ""

    @property
    def names(self) -> list[str]:
        """Container names, for the host field's completion list."""
        return sorted({c.container for c in self.choices if c.host == c.container})


def target_choices() -> TargetChoices:
    """Running containers with the ports they serve, or why Docker cannot tell us.

    A container on a network is reached by its name and exposed port; a host-network container listens on
    the host itself, so it is offered as 127.0.0.1 with the ports of its ``portico.ports`` label.
    Containers on network "none" cannot be reached and are left out.
    """
    listings = list_engines(state="running")
    several = len(listings) > 1
    result = TargetChoices()
    errors = []
    for listing in listings:
        if not listing.ok:
            errors.append(f"{listing.engine.name}: {listing.error}" if several else listing.error)
            continue
        for row in listing.rows:
            info = row.info
            if info.network_mode == "none":
                continue
            host_network = info.network_mode == "host"
            host = "127.0.0.1" if host_network else info.name
            notes = [listing.engine.name] if several else []
            if host_network:
                notes.append(_("host network"))
            ports = info.listen_ports
            if not ports:
                notes.append(_("no known port"))
            note = ", ".join(notes)
            if ports:
                result.choices.extend(TargetChoice(info.name, info.image, host, p, note) for p in ports)
            else:
                result.choices.append(TargetChoice(info.name, info.image, host, None, note))
    result.error = "; ".join(errors)
    return result

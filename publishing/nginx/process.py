"""Running nginx: its binary and version, one command with nginx's own words on failure (NginxError), where
it listens, which resolvers it asks, and the processes it runs."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

from publishing.render import FILE_PREFIX, HTTP_FILE

COMMAND_TIMEOUT = 60


class NginxError(Exception):
    """nginx refused or failed; ``output`` holds what nginx printed."""

    def __init__(self, message: str, output: str = "", rolled_back: bool = False):
        super().__init__(message)
        self.message = message
        self.output = output
        # True when the new files had gone live (swapped or reloaded) and the previous ones were put back.
        self.rolled_back = rolled_back


def nginx_binary() -> str:
    """Absolute path of the configured nginx binary. Raises NginxError when missing."""
    path = shutil.which(settings.PORTICO_NGINX_BIN) or shutil.which(settings.PORTICO_NGINX_BIN, path="/usr/sbin")
    if not path:
        raise NginxError(
            f"nginx binary {settings.PORTICO_NGINX_BIN!r} not found: install nginx (apt-get install nginx) "
            "or set PORTICO_NGINX_BIN"
        )
    return path


def nginx_version() -> str:
    """The version nginx reports, e.g. ``1.22.1``. Raises NginxError."""
    binary = nginx_binary()
    try:
        proc = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NginxError(f"{binary} -v failed: {exc}") from None
    match = re.search(r"nginx/(\S+)", proc.stderr + proc.stdout)
    if not match:
        raise NginxError(f"{binary} -v printed no version", proc.stderr)
    return match.group(1)


def nginx_health() -> str:
    """``ok`` or ``unavailable: <reason>`` for the configured nginx binary."""
    try:
        nginx_version()
    except NginxError as exc:
        return f"unavailable: {exc}"
    return "ok"


def run(argv: list[str], what: str) -> str:
    """Run a command; return its output or raise NginxError with that output."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    except FileNotFoundError:
        raise NginxError(f"{what}: {argv[0]} not found (is nginx installed? set PORTICO_NGINX_BIN)") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NginxError(f"{what}: {exc}") from None
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise NginxError(f"{what} failed (exit {proc.returncode}): {first_error(output)}", output)
    return output


def first_error(output: str) -> str:
    """The line of nginx's output a person needs first (its [emerg]/[error] line)."""
    for line in output.splitlines():
        if "[emerg]" in line or "[error]" in line or "[alert]" in line:
            return line.split("] ", 1)[-1].strip()
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def is_owned(name: str) -> bool:
    """True for the file names Portico writes (everything else in a shared directory is left alone)."""
    return name == HTTP_FILE or (name.startswith(FILE_PREFIX) and name.endswith(".conf"))


def listen_address() -> tuple[str, int]:
    """Where nginx listens; a wildcard address is reached through loopback."""
    host, port = settings.PORTICO_NGINX_LISTEN
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, port


def listen_directive() -> str:
    """The ``listen`` argument for rendered server blocks."""
    host, port = settings.PORTICO_NGINX_LISTEN
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def tls_listen_directive() -> str:
    """The ``listen`` argument for HTTPS server blocks; empty when there is no TLS listener."""
    if not settings.PORTICO_NGINX_LISTEN_TLS:
        return ""
    host, port = settings.PORTICO_NGINX_LISTEN_TLS
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tls_address() -> tuple[str, int] | None:
    """Where the TLS listener is reached (a wildcard address through loopback); None without one."""
    if not settings.PORTICO_NGINX_LISTEN_TLS:
        return None
    host, port = settings.PORTICO_NGINX_LISTEN_TLS
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, port


def resolvers() -> tuple[str, ...]:
    """DNS servers nginx asks for named targets: PORTICO_NGINX_RESOLVER, else Docker's DNS in container mode,
    else the nameservers of /etc/resolv.conf."""
    configured = getattr(settings, "PORTICO_NGINX_RESOLVER", "")
    if configured:
        return tuple(configured.replace(",", " ").split())
    if settings.PORTICO_NGINX_MODE == "container":
        return ("127.0.0.11",)
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                found.append(parts[1].split("%")[0])
    return tuple(found) or ("127.0.0.1",)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (nginx's workers, for its master), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found

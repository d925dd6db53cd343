"""The only module that runs nginx or touches live nginx config files."""

from __future__ import annotations

import re
import shutil
import subprocess

from django.conf import settings


class NginxError(Exception):
    """nginx refused or failed; ``output`` holds what nginx printed."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


def nginx_binary() -> str:
    """Absolute path of the configured nginx binary. Raises NginxError when missing."""
    path = shutil.which(settings.PORTICO_NGINX_BIN)
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

"""What the class lab is: the lecture's microservice scenario as data (services, names, ports, routes), the
labels ``lab up`` puts on what it makes, and the steps the command and the guide page report."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext_lazy

from routes.models import Domain
from routes.schemas import DomainSpec, RouteSpec, TargetSpec
from routes.state import domain_settings

LABEL = "portico.lab"  # value: the lab's id, so two labs (or parallel test runs) never touch each other
ROLE_LABEL = "portico.lab.role"  # front | task | user | mysql
ROUTE_LABEL = "portico.lab.route"  # the route up created for this container: "<domain><path> <host>:<port>"
SPEC_LABEL = "portico.lab.spec"  # the options up ran with (JSON), so status and the guide find the lab again
# A label proves nothing (anyone with access to the engine can set one); the ids up records (LabContainer) do.
DOMAIN_NOTE = "Created by `manage.py lab up` (lab {lab_id})."
HOSTS_FILE = Path("/etc/hosts")

# The tiny HTTP service of the default image: answers every request with its name, the path and the Host it
# received, so students see which container a URL reached. Python when the image has it (python:3.12-alpine),
# else busybox httpd with a CGI script (it runs cgi-bin/index.cgi for every path ending in "/").
SERVER_PY = """
import http.server, os
NAME = os.environ["PORTICO_LAB_NAME"]
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = f"{NAME}\\npath: {self.path}\\nhost: {self.headers.get('Host', '')}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = answer
bind = (os.environ["PORTICO_LAB_BIND"], int(os.environ["PORTICO_LAB_PORT"]))
http.server.ThreadingHTTPServer(bind, Handler).serve_forever()
"""
SERVER_SH = """
if command -v python3 >/dev/null 2>&1; then exec python3 -u -c "$PORTICO_LAB_SERVER"; fi
mkdir -p /tmp/lab/cgi-bin
cat > /tmp/lab/cgi-bin/index.cgi <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf '%s\\npath: %s\\nhost: %s\\n' "$PORTICO_LAB_NAME" "$REQUEST_URI" "$HTTP_HOST"
CGI
chmod +x /tmp/lab/cgi-bin/index.cgi
exec httpd -f -v -p "$PORTICO_LAB_BIND:$PORTICO_LAB_PORT" -h /tmp/lab
"""

PURPOSES = {
    "front": gettext_lazy("The front end: the page the browser loads from /. It calls the APIs with relative URLs."),
    "task": gettext_lazy("The task API: everything under /task/ (the to-do items)."),
    "user": gettext_lazy("The user API: everything under /user/ (accounts, login, sessions)."),
    "mysql": gettext_lazy("The database the APIs share; only the APIs talk to it, never the browser."),
}


class LabError(Exception):
    """The lab could not be built or removed; ``message`` says what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Service:
    """One container of the scenario."""

    role: str
    name: str
    image: str
    port: int
    path: str | None  # the route path, None for MySQL
    default_server: bool  # runs the tiny HTTP server (default image) rather than the image's own command

    @property
    def purpose(self) -> str:
        return str(PURPOSES[self.role])


@dataclass
class LabSpec:
    """What ``lab up`` builds; every name can be changed (tests use a prefix so parallel runs never collide)."""

    prefix: str = ""
    network: str = "php-mysql"
    domain: str = "gctask.com"
    image: str = "python:3.12-alpine"
    host_network: bool = False
    front_name: str = "myfront"
    task_name: str = "mytaskapi"
    user_name: str = "myuserapi"
    mysql_name: str = "mysql"
    front_image: str = ""
    task_image: str = ""
    user_image: str = ""
    mysql_image: str = ""
    front_port: int | None = None
    task_port: int | None = None
    user_port: int | None = None
    mysql_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    server_ip: str = ""

    SAVED = (
        "prefix",
        "network",
        "domain",
        "image",
        "host_network",
        "front_name",
        "task_name",
        "user_name",
        "mysql_name",
        "front_image",
        "task_image",
        "user_image",
        "mysql_image",
        "front_port",
        "task_port",
        "user_port",
        "server_ip",
    )

    def to_label(self) -> str:
        """The options as JSON (no password), stored on each container."""
        return json.dumps({name: getattr(self, name) for name in self.SAVED}, sort_keys=True)

    @classmethod
    def from_label(cls, text: str) -> LabSpec:
        """The spec a container's label describes; unknown keys are ignored."""
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            return cls()
        # Labels can be written by anyone with access to the engine: keep only values of the expected type.
        kept = {}
        for name in cls.SAVED:
            value = data.get(name)
            if name.endswith("_port"):
                if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
                    kept[name] = value
            elif name == "host_network":
                if isinstance(value, bool):
                    kept[name] = value
            elif isinstance(value, str) and len(value) <= 253:
                kept[name] = value
        return cls(**kept)

    @property
    def lab_id(self) -> str:
        return self.prefix.strip("-_.") or "lab"

    @property
    def network_name(self) -> str:
        return f"{self.prefix}{self.network}"

    def services(self) -> list[Service]:
        """front, task, user (and mysql when an image is given), in that order."""
        found = []
        for role, path, host_default in (("front", "/", 8081), ("task", "/task/", 8082), ("user", "/user/", 8083)):
            own = getattr(self, f"{role}_image")
            found.append(
                Service(
                    role=role,
                    name=self.prefix + getattr(self, f"{role}_name"),
                    image=own or self.image,
                    port=getattr(self, f"{role}_port") or (host_default if self.host_network else 80),
                    path=path,
                    default_server=not own,
                )
            )
        if self.mysql_image:
            found.append(Service("mysql", self.prefix + self.mysql_name, self.mysql_image, 3306, None, False))
        return found

    def target(self, service: Service) -> TargetSpec:
        """Where the proxy sends the service's path: the container name on the network, or 127.0.0.1:port."""
        host = "127.0.0.1" if self.host_network else service.name
        return TargetSpec(host=host, port=service.port)

    def domain_spec(self, existing: Domain | None = None) -> DomainSpec:
        """The lab's domain with its three routes (an existing domain keeps its own settings: notes, enabled
        flag, certificate and HTTPS options)."""
        routes = [RouteSpec(path=s.path, targets=[self.target(s)]) for s in self.services() if s.path]
        kept = domain_settings(existing) if existing else {"notes": DOMAIN_NOTE.format(lab_id=self.lab_id)}
        return DomainSpec(name=self.domain, **kept, routes=routes)


@dataclass
class Step:
    """One step of the lecture on this machine: done (True), missing (False) or not applicable (None)."""

    key: str
    title: str
    ok: bool | None
    detail: str = ""
    fix: str = ""

    @property
    def group(self) -> str:
        """The lecture step it belongs to: network, containers, routes, hosts or open."""
        if self.key.startswith("container-"):
            return "containers"
        if self.key.startswith("proxy-") and self.key != "proxy-network":
            return "open"
        return {
            "engine": "network",
            "network": "network",
            "proxy-network": "network",
            "proxy": "routes",
            "apply": "routes",
        }.get(self.key, self.key)

    @property
    def css(self) -> str:
        return {True: "ok", False: "missing", None: "na"}[self.ok]

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "–"}[self.ok]

"""The class lab: the lecture's microservice scenario built, checked and removed in one step.

``up`` creates a Docker network, the front/task/user services (and MySQL when asked), the routes
``<domain>/`` ``/task/`` ``/user/`` and applies them; ``status`` reports each step as done or missing (the
guide page shows the same steps); ``down`` removes exactly what ``up`` created, found by the ``portico.lab``
label, and the routes that still point where ``up`` pointed them. ``manage.py lab`` is the command line.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pydantic
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from containers import docker_client as dc
from core import audit
from core.errors import error_message
from dashboard.models import LabContainer
from routes.models import Domain
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec, TargetSpec
from routes.state import domain_settings, writing_state

LABEL = "portico.lab"  # value: the lab's id, so two labs (or parallel test runs) never touch each other
ROLE_LABEL = "portico.lab.role"  # front | task | user | mysql
ROUTE_LABEL = "portico.lab.route"  # the route up created for this container: "<domain><path> <host>:<port>"
SPEC_LABEL = "portico.lab.spec"  # the options up ran with (JSON), so status and the guide find the lab again
# A label proves nothing (anyone with access to the engine can set one); the ids up records (LabContainer) do.
PORTS_LABEL = dc.PORTS_LABEL  # the port a host-network container listens on (the containers list reads it)
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


# --- helpers ------------------------------------------------------------------------------------------------


def _client(timeout: int | None = None) -> dc.DockerClient:
    """The default engine; pages pass a short timeout so a stuck engine cannot hold them up for long."""
    return dc.DockerClient(timeout=timeout)


def proxy_address() -> tuple[str, int] | None:
    """Where this machine's proxy listens, when Portico runs it (managed nginx); None otherwise."""
    if settings.PORTICO_PUBLISHER == "nginx" and settings.PORTICO_NGINX_MODE == "managed":
        return settings.PORTICO_NGINX_LISTEN
    return None


def proxy_container() -> str:
    """The proxy's container name when nginx runs in a container, else ""."""
    if settings.PORTICO_PUBLISHER == "nginx" and settings.PORTICO_NGINX_MODE == "container":
        return settings.PORTICO_NGINX_CONTAINER
    return ""


def server_ip() -> str:
    """This server's address on its default route, for the students' hosts files (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface; UDP connect sends nothing
            return sock.getsockname()[0]
        except OSError:
            return "<server-ip>"


def hosts_line(spec: LabSpec) -> str:
    return f"{spec.server_ip or server_ip()} {spec.domain}"


def urls(spec: LabSpec) -> list[str]:
    """The URLs students open (with the proxy's port when it is not 80)."""
    address = proxy_address()
    port = address[1] if address else 80
    base = f"http://{spec.domain}" + ("" if port == 80 else f":{port}")
    return [base + s.path for s in spec.services() if s.path]


def hosts_file_maps(domain: str, path: Path | None = None) -> list[str]:
    """The addresses this machine's hosts file gives ``domain`` (empty when it has no entry)."""
    path = path or HOSTS_FILE
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and domain in words[1:]:
            found.append(words[0])
    return found


def probe(host: str, port: int, path: str, host_header: str, timeout: float = 2.0) -> tuple[int | None, str]:
    """GET http://host:port/path with a Host header (only 127.0.0.1 here); returns (status, first line) or (None, why)."""
    try:
        response = httpx.get(f"http://{host}:{port}{path}", headers={"Host": host_header}, timeout=timeout)
    except httpx.HTTPError as exc:
        return None, str(exc) or type(exc).__name__
    return response.status_code, (response.text.splitlines() or [""])[0]


# --- up -----------------------------------------------------------------------------------------------------


def _labels(spec: LabSpec, role: str, **extra: str) -> dict[str, str]:
    return {LABEL: spec.lab_id, ROLE_LABEL: role, SPEC_LABEL: spec.to_label(), **extra}


def created_by_lab(container_ids: list[str]) -> set[str]:
    """Which of these container ids ``lab up`` created (recorded in the database)."""
    return set(LabContainer.objects.filter(container_id__in=container_ids).values_list("container_id", flat=True))


def detect(lab_id: str | None = None) -> tuple[LabSpec, list[str]]:
    """The spec of a lab built on the default engine (``lab_id``, else the first found), and every lab id seen.

    Only containers ``lab up`` created count: a spec label on any other container could name any port, and the
    guide page would probe it on every viewer's visit. Without a lab the default spec comes back, so the guide
    shows what ``lab up`` would build.
    """
    client = _client(timeout=5)
    try:
        found = client.list_containers(label=LABEL)
    except dc.DockerError:
        found = []
    finally:
        client.close()
    ours = created_by_lab([c.id for c in found])
    found = [c for c in found if c.id in ours]
    ids = sorted({c.labels.get(LABEL, "") for c in found} - {""})
    chosen = lab_id if lab_id in ids else ("lab" if "lab" in ids else (ids[0] if ids else None))
    for container in found:
        if container.labels.get(LABEL) == chosen and SPEC_LABEL in container.labels:
            return LabSpec.from_label(container.labels[SPEC_LABEL]), ids
    return LabSpec(), ids


def _service_container(client, spec: LabSpec, service: Service, existing: dict[str, dc.ContainerInfo]) -> str:
    """Run one service unless the container up created for it already runs; returns what happened.

    A labelled container up did not record (made by hand, or before Portico recorded them) is made again.
    """
    current = existing.get(service.name)
    if current and current.state == "running" and created_by_lab([current.id]):
        return _("already running")
    if current:
        dc.remove_container(client, current.id)
        LabContainer.objects.filter(container_id=current.id).delete()
    labels = _labels(spec, service.role)
    if service.path:
        target = spec.target(service)
        labels[ROUTE_LABEL] = f"{spec.domain}{service.path} {target.host}:{target.port}"
    if spec.host_network:
        labels[PORTS_LABEL] = str(service.port)
    environment = {}
    command = None
    if service.default_server:
        command = ["sh", "-c", SERVER_SH]
        environment = {
            "PORTICO_LAB_NAME": service.name,
            "PORTICO_LAB_PORT": str(service.port),
            "PORTICO_LAB_BIND": "127.0.0.1" if spec.host_network else "0.0.0.0",
            "PORTICO_LAB_SERVER": SERVER_PY,
        }
    elif service.role == "mysql":
        environment = {"MYSQL_ROOT_PASSWORD": spec.mysql_password, "MYSQL_DATABASE": "gctask"}
    container_id = dc.run_labelled(
        client,
        name=service.name,
        image=service.image,
        labels=labels,
        command=command,
        environment=environment or None,
        network=None if spec.host_network else spec.network_name,
        aliases=[service.name.removeprefix(spec.prefix)] if not spec.host_network else None,
        host_network=spec.host_network,
    )
    LabContainer.objects.create(container_id=container_id, lab_id=spec.lab_id, name=service.name)
    return _("started")


def _check_names_free(client, spec: LabSpec, existing: dict[str, dc.ContainerInfo]) -> None:
    """Refuse to touch a container of the same name that this lab did not create."""
    names = {c.name for c in client.list_containers()}
    for service in spec.services():
        if service.name in names and service.name not in existing:
            raise LabError(
                _("A container named %(name)s exists and was not created by this lab; remove it or use --prefix.")
                % {"name": service.name}
            )


def up(spec: LabSpec, *, actor=None, say: Callable[[str], None] = print) -> list[Step]:
    """Build the scenario, idempotently; prints each step through ``say`` and returns them."""
    try:
        spec.domain_spec()  # the domain, paths and targets pass the same validators as the API
    except pydantic.ValidationError as exc:
        problems = "; ".join(error_message(error) for error in exc.errors())
        raise LabError(_("Invalid lab options: %(problems)s") % {"problems": problems}) from None
    client = _client()
    steps: list[Step] = []

    def done(key: str, title: str, detail: str = "") -> None:
        steps.append(Step(key, title, True, detail))
        say(f"✓ {title}" + (f": {detail}" if detail else ""))

    try:
        client.ping()
        done("engine", _("Docker engine answers"), client.display_url)
        images = sorted({s.image for s in spec.services()})
        missing = [image for image in images if not dc.image_present(client, image)]
        if missing:
            raise LabError(
                _("Image not on this engine: %(images)s. Pull or load it first (docker pull %(first)s).")
                % {"images": ", ".join(missing), "first": missing[0]}
            )
        existing = {c.name: c for c in client.list_containers(label=f"{LABEL}={spec.lab_id}")}
        _check_names_free(client, spec, existing)
        if spec.host_network:
            done("network", _("Host networking"), _("services listen on 127.0.0.1 ports"))
        else:
            network = dc.get_network(client, spec.network_name)
            if network is None:
                dc.create_network(client, spec.network_name, _labels(spec, "network"))
                done("network", _("Network %(name)s") % {"name": spec.network_name}, _("created"))
            else:
                done("network", _("Network %(name)s") % {"name": spec.network_name}, _("already there"))
        for service in spec.services():
            what = _service_container(client, spec, service, existing)
            where = f"127.0.0.1:{service.port}" if spec.host_network else f"{spec.network_name}, :{service.port}"
            done(f"container-{service.role}", service.name, f"{what} ({service.image}, {where})")
        proxy = proxy_container()
        if proxy and not spec.host_network:
            network = dc.get_network(client, spec.network_name)
            if network and proxy not in network.containers:
                dc.connect_network(client, spec.network_name, proxy)
            done("proxy-network", _("Proxy %(proxy)s on %(network)s") % {"proxy": proxy, "network": spec.network_name})
    except dc.DockerError as exc:
        raise LabError(exc.reason) from None
    finally:
        client.close()
    done("routes", _("Routes"), ", ".join(_save_routes(spec, actor)))
    proxy = proxy_step(start=True)
    if proxy is not None:
        steps.append(proxy)
        say(f"{proxy.mark} {proxy.title}: {proxy.detail}")
    audit.record(
        "lab.up",
        actor=actor,
        source="cli",
        object_type="lab",
        object_repr=spec.lab_id,
        after={"steps": [f"{s.mark} {s.title}: {s.detail}" for s in steps]},
    )
    steps.append(_apply(actor, say))
    return steps


# It reads the whole state and writes it back: under the exclusive lock, so no write in between is lost.
@writing_state(exclusive=True)
def _save_routes(spec: LabSpec, actor) -> list[str]:
    from routes.operations import replace_state
    from routes.state import export_document

    existing = Domain.objects.filter(name=spec.domain).first()
    document = export_document()
    wanted = spec.domain_spec(existing)
    others = [d for d in document.domains if d.name != spec.domain]
    kept: list[RouteSpec] = []
    if existing:
        lab_paths = {r.path for r in wanted.routes}
        kept = [r for d in document.domains if d.name == spec.domain for r in d.routes if r.path not in lab_paths]
    merged = wanted.model_copy(update={"routes": sorted(kept + wanted.routes, key=lambda r: r.path)})
    replace_state(ConfigDocument(domains=[*others, merged]), prune=False, actor=actor, source="cli", action="lab.up")
    return [f"{spec.domain}{r.path} → {r.targets[0].host}:{r.targets[0].port}" for r in wanted.routes]


def proxy_step(*, start: bool = False) -> Step | None:
    """Whether the configured nginx runs (Portico's own is started when ``start``); None for NPM."""
    if settings.PORTICO_PUBLISHER != "nginx":
        return None
    from routes import nginx

    title = _("The proxy runs")
    try:
        backend = nginx.backend()
        state = backend.status()
        if not state.running and start and settings.PORTICO_NGINX_MODE == "managed":
            return Step("proxy", title, True, _("started: %(detail)s") % {"detail": backend.start()})
    except nginx.NginxError as exc:
        return Step("proxy", title, False, exc.message, "python manage.py nginx start")
    fix = "" if state.running else "python manage.py nginx start"
    return Step("proxy", title, state.running, state.detail, fix)


def _publish_module():
    """routes.publish when it offers plan and apply (the core stream's module), else None."""
    try:
        from routes import publish
    except ImportError:
        return None
    return publish if hasattr(publish, "apply") and hasattr(publish, "plan") else None


def _apply(actor, say: Callable[[str], None]) -> Step:
    """Publish the routes through the configured publisher (routes.publish), when it exists."""
    publish = _publish_module()
    if publish is None:
        step = Step("apply", _("Apply"), None, _("publishing is not available in this version"))
        say(f"{step.mark} {step.title}: {step.detail}")
        return step
    revision = publish.apply(actor=actor, source="cli")
    ok = revision.status == "applied"
    detail = f"#{revision.number} {revision.status}" + ("" if ok else f": {revision.message}")
    say(f"{'✓' if ok else '✗'} {_('Apply')}: {detail}")
    return Step("apply", _("Apply"), ok, detail)


# --- status -------------------------------------------------------------------------------------------------


def status(spec: LabSpec, *, check_http: bool = True) -> list[Step]:
    """Where each step of the lecture stands on this machine (the command and the guide page show these)."""
    steps: list[Step] = []
    up_fix = "python manage.py lab up" + (" --host-network" if spec.host_network else "")
    client = _client(timeout=5)
    containers: dict[str, dc.ContainerInfo] = {}
    ours: set[str] = set()
    try:
        try:
            client.ping()
        except dc.DockerUnavailable as exc:
            steps.append(Step("engine", _("Docker engine answers"), False, exc.reason, _("Start dockerd.")))
        else:
            steps.append(Step("engine", _("Docker engine answers"), True, client.display_url))
            containers = {c.name: c for c in client.list_containers()}
            ours = created_by_lab([c.id for c in containers.values()])
            steps.extend(_network_steps(client, spec, up_fix))
    except dc.DockerError as exc:
        steps.append(Step("engine", _("Docker engine answers"), False, exc.reason, _("Start dockerd.")))
    finally:
        client.close()
    for service in spec.services():
        found = containers.get(service.name)
        steps.append(_container_step(spec, service, found, found is not None and found.id in ours, up_fix, check_http))
    steps.append(_routes_step(spec, up_fix))
    proxy = proxy_step()
    if proxy is not None:
        steps.append(proxy)
    steps.extend(_published_steps(spec, check_http))
    mapped = hosts_file_maps(spec.domain)
    steps.append(
        Step(
            "hosts",
            _("Hosts file maps %(domain)s") % {"domain": spec.domain},
            bool(mapped),
            ", ".join(mapped) if mapped else _("no entry in %(file)s on this machine") % {"file": HOSTS_FILE},
            "" if mapped else _("Add the line: %(line)s") % {"line": hosts_line(spec)},
        )
    )
    return steps


def _network_steps(client, spec: LabSpec, up_fix: str) -> list[Step]:
    if spec.host_network:
        return [Step("network", _("Host networking"), None, _("services listen on 127.0.0.1 ports"))]
    network = dc.get_network(client, spec.network_name)
    title = _("Network %(name)s") % {"name": spec.network_name}
    if network is None:
        return [Step("network", title, False, _("missing"), up_fix)]
    steps = [Step("network", title, True, ", ".join(network.containers) or _("no containers attached"))]
    proxy = proxy_container()
    if proxy:
        on = proxy in network.containers
        steps.append(
            Step(
                "proxy-network",
                _("Proxy %(proxy)s on %(network)s") % {"proxy": proxy, "network": spec.network_name},
                on,
                "" if on else _("the proxy cannot reach the services"),
                "" if on else f"docker network connect {spec.network_name} {proxy}",
            )
        )
    return steps


def _container_step(spec: LabSpec, service: Service, found, ours: bool, up_fix: str, check_http: bool) -> Step:
    """The service's container: missing, stopped, not made by lab up, or running (and answering, when probed)."""
    key, title = f"container-{service.role}", service.name
    if found is None:
        return Step(key, title, False, _("missing"), up_fix)
    if not ours:
        # Never probed: its ports come from labels anyone could have written.
        return Step(key, title, False, _("not created by lab up"), up_fix)
    if found.state != "running":
        return Step(key, title, False, found.state, f"docker start {service.name}")
    detail = f"{found.state} ({found.image})"
    if spec.host_network and service.default_server and check_http:
        status_code, first = probe("127.0.0.1", service.port, service.path or "/", spec.domain)
        if status_code != 200 or first != service.name:
            return Step(
                key,
                title,
                False,
                _("running, but 127.0.0.1:%(port)s answers: %(answer)s")
                % {"port": service.port, "answer": f"{status_code or ''} {first}".strip()},
                f"docker logs {service.name}",
            )
        detail += f", 127.0.0.1:{service.port}"
    return Step(key, title, True, detail)


def _routes_step(spec: LabSpec, up_fix: str) -> Step:
    from routes.state import export_document

    title = _("Routes of %(domain)s") % {"domain": spec.domain}
    current = {d.name: d for d in export_document().domains}.get(spec.domain)
    wrong = []
    for service in spec.services():
        if not service.path:
            continue
        route = next((r for r in current.routes if r.path == service.path), None) if current else None
        target = spec.target(service)
        if route is None or [(t.host, t.port) for t in route.targets] != [(target.host, target.port)]:
            wrong.append(f"{service.path} → {target.host}:{target.port}")
    if wrong:
        return Step(
            "routes", title, False, _("missing or different: %(routes)s") % {"routes": ", ".join(wrong)}, up_fix
        )
    return Step("routes", title, True, ", ".join(s.path for s in spec.services() if s.path))


def _published_steps(spec: LabSpec, check_http: bool) -> list[Step]:
    publish = _publish_module()
    if publish is None:
        return [Step("apply", _("Routes applied to the proxy"), None, _("publishing is not available in this version"))]
    steps = []
    try:
        plan = publish.plan()
    except publish.PublishError as exc:
        steps.append(Step("apply", _("Routes applied to the proxy"), False, exc.message))
    else:
        pending = plan.changes  # only files that differ: create, update or delete
        if plan.errors:
            detail, fix = " ".join(plan.errors), _("Fix or delete the routes named here, then apply.")
        elif pending:
            detail = _("%(count)s file(s) differ from the database") % {"count": len(pending)}
            fix = _("Apply the plan (Revisions page), or run lab up again.")
        else:
            detail = fix = ""
        steps.append(Step("apply", _("Routes applied to the proxy"), not pending and not plan.errors, detail, fix))
    address = proxy_address()
    if address and check_http:
        host, port = address
        host = "127.0.0.1" if host in ("0.0.0.0", "", "*") else host
        for service in spec.services():
            if not service.path:
                continue
            status_code, first = probe(host, port, service.path, spec.domain)
            ok = status_code == 200 and (first == service.name or not service.default_server)
            steps.append(
                Step(
                    f"proxy-{service.role}",
                    _("%(url)s reaches %(name)s") % {"url": f"{spec.domain}{service.path}", "name": service.name},
                    ok,
                    f"{status_code or ''} {first}".strip(),
                )
            )
    return steps


# --- down ---------------------------------------------------------------------------------------------------


def down(spec: LabSpec, *, actor=None, say: Callable[[str], None] = print) -> list[str]:
    """Remove what ``up`` created for this lab id (containers, network, its routes); returns what was removed."""
    removed: list[str] = []
    client = _client()
    route_labels: set[str] = set()
    try:
        labelled = client.list_containers(label=f"{LABEL}={spec.lab_id}")
        for container in labelled:
            if container.labels.get(ROUTE_LABEL):
                route_labels.add(container.labels[ROUTE_LABEL])
            dc.remove_container(client, container.id)
            LabContainer.objects.filter(container_id=container.id).delete()
            removed.append(_("container %(name)s") % {"name": container.name})
            say(f"✓ {removed[-1]}")
        for listed in dc.list_networks(client, f"{LABEL}={spec.lab_id}"):
            network = dc.get_network(client, listed.name) or listed  # the list call leaves out the containers
            proxy = proxy_container()
            if proxy and proxy in network.containers:
                dc.disconnect_network(client, network.name, proxy)
            dc.remove_network(client, network.name)
            removed.append(_("network %(name)s") % {"name": network.name})
            say(f"✓ {removed[-1]}")
    except dc.DockerError as exc:
        raise LabError(exc.reason) from None
    finally:
        client.close()
    for service in spec.services():
        if service.path:
            target = spec.target(service)
            route_labels.add(f"{spec.domain}{service.path} {target.host}:{target.port}")
    if removed:
        audit.record(
            "lab.down",
            actor=actor,
            source="cli",
            object_type="lab",
            object_repr=spec.lab_id,
            before={"removed": removed},
        )
    gone = _remove_routes(spec, route_labels, actor)
    for item in gone:
        removed.append(item)
        say(f"✓ {item}")
    if gone:
        step = _apply(actor, say)
        if step.ok is False:
            raise LabError(step.detail)
    return removed


# It reads the whole state and writes it back: under the exclusive lock, so no write in between is lost.
@writing_state(exclusive=True)
def _remove_routes(spec: LabSpec, route_labels: set[str], actor) -> list[str]:
    """Delete the routes ``up`` made that still point only where ``up`` pointed them, and its empty domain."""
    from routes.operations import replace_state
    from routes.state import export_document

    wanted = set()
    for text in route_labels:
        where, _sep, target = text.rpartition(" ")
        wanted.add((where, target))
    document = export_document()
    gone: list[str] = []
    domains = []
    for domain in document.domains:
        kept = []
        for route in domain.routes:
            targets = [f"{t.host}:{t.port}" if ":" not in t.host else f"[{t.host}]:{t.port}" for t in route.targets]
            if len(targets) == 1 and (f"{domain.name}{route.path}", targets[0]) in wanted:
                gone.append(_("route %(route)s") % {"route": f"{domain.name}{route.path}"})
            else:
                kept.append(route)
        lab_made = domain.notes == DOMAIN_NOTE.format(lab_id=spec.lab_id)
        if kept or not lab_made or len(kept) == len(domain.routes):
            domains.append(domain.model_copy(update={"routes": kept}))
        else:
            gone.append(_("domain %(name)s") % {"name": domain.name})
    if gone:
        replace_state(
            ConfigDocument.model_construct(version=1, domains=domains),
            prune=True,
            actor=actor,
            source="cli",
            action="lab.down",
        )
    return gone

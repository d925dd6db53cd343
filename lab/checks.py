"""Where each step of the class lab stands on this machine: the engine, the network, the containers ``lab up``
recorded, the routes, the proxy, the published files, the hosts file and the URLs students open (``lab status``
and the guide page show these steps)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from containers.docker.client import DockerClient, DockerError, DockerUnavailable
from containers.docker.types import ContainerInfo
from containers.engines import client_for, local_engine
from lab import probe
from lab.models import LabContainer
from lab.spec import HOSTS_FILE, LABEL, SPEC_LABEL, LabSpec, Service, Step
from publishing import operations
from publishing.nginx import backends
from publishing.nginx.process import NginxError
from routes.state import export_document


def engine(timeout: int | None = None) -> DockerClient:
    """The built-in engine's client; pages pass a short timeout so a stuck engine cannot hold them up for long."""
    return client_for(local_engine(), timeout)


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


def hosts_line(spec: LabSpec) -> str:
    return f"{spec.server_ip or probe.server_ip()} {spec.domain}"


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


def created_by_lab(container_ids: list[str]) -> set[str]:
    """Which of these container ids ``lab up`` created (recorded in the database)."""
    return set(LabContainer.objects.filter(container_id__in=container_ids).values_list("container_id", flat=True))


def detect(lab_id: str | None = None) -> tuple[LabSpec, list[str]]:
    """The spec of a lab built on the default engine (``lab_id``, else the first found), and every lab id seen.

    Only containers ``lab up`` created count: a spec label on any other container could name any port, and the
    guide page would probe it on every viewer's visit. Without a lab the default spec comes back, so the guide
    shows what ``lab up`` would build.
    """
    client = engine(timeout=5)
    try:
        found = client.list_containers(label=LABEL)
    except DockerError:
        found = []
    ours = created_by_lab([c.id for c in found])
    found = [c for c in found if c.id in ours]
    ids = sorted({c.labels.get(LABEL, "") for c in found} - {""})
    chosen = lab_id if lab_id in ids else ("lab" if "lab" in ids else (ids[0] if ids else None))
    for container in found:
        if container.labels.get(LABEL) == chosen and SPEC_LABEL in container.labels:
            return LabSpec.from_label(container.labels[SPEC_LABEL]), ids
    return LabSpec(), ids


def proxy_step(*, start: bool = False) -> Step | None:
    """Whether the configured nginx runs (Portico's own is started when ``start``); None for NPM."""
    if settings.PORTICO_PUBLISHER != "nginx":
        return None
    title = _("The proxy runs")
    try:
        backend = backends.backend()
        state = backend.status()
        if not state.running and start and settings.PORTICO_NGINX_MODE == "managed":
            return Step("proxy", title, True, _("started: %(detail)s") % {"detail": backend.start()})
    except NginxError as exc:
        return Step("proxy", title, False, exc.message, "python manage.py nginx start")
    fix = "" if state.running else "python manage.py nginx start"
    return Step("proxy", title, state.running, state.detail, fix)


def status(spec: LabSpec, *, check_http: bool = True) -> list[Step]:
    """Where each step of the lecture stands on this machine (the command and the guide page show these)."""
    steps: list[Step] = []
    up_fix = "python manage.py lab up" + (" --host-network" if spec.host_network else "")
    client = engine(timeout=5)
    containers: dict[str, ContainerInfo] = {}
    ours: set[str] = set()
    try:
        try:
            client.ping()
        except DockerUnavailable as exc:
            steps.append(Step("engine", _("Docker engine answers"), False, exc.reason, _("Start dockerd.")))
        else:
            steps.append(Step("engine", _("Docker engine answers"), True, client.display_url))
            containers = {c.name: c for c in client.list_containers()}
            ours = created_by_lab([c.id for c in containers.values()])
            steps.extend(_network_steps(client, spec, up_fix))
    except DockerError as exc:
        steps.append(Step("engine", _("Docker engine answers"), False, exc.reason, _("Start dockerd.")))
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
    network = client.get_network(spec.network_name)
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
        status_code, first = probe.probe("127.0.0.1", service.port, service.path or "/", spec.domain)
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
    steps = []
    try:
        plan = operations.plan()
    except operations.PublishError as exc:
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
            status_code, first = probe.probe(host, port, service.path, spec.domain)
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

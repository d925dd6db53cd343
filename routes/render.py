"""Pure rendering of the desired state to nginx config text (no I/O, no DNS, no clock).

Same document and options → same bytes. One file per enabled domain (its upstream blocks and its server
block) plus ``portico.conf`` with the http-level pieces every domain file uses.

Why targets are rendered two ways: nginx resolves host names in ``upstream`` blocks when it loads the
config, and one name that does not resolve (a stopped container, a typo) makes ``nginx -t`` and the reload
fail for *every* domain (the NPM #4530 failure). So only targets whose host is an IP address or
``localhost`` go into ``upstream`` blocks; a route with any named target resolves its hosts when a request
arrives (``resolver`` + variables), and an unresolvable name answers that one route with a 502 page.
Balancing for named targets uses ``split_clients`` (weighted; keyed on the client address for ip_hash).

Every value that came from a user is validated by routes.validators before it gets here, and is checked
again here against its field's alphabet (routes.alphabet: a render refuses the whole document, naming the
route and field, rather than write one unsafe value), and is written inside double quotes as well, so it can
only ever be one argument of one directive.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from django.template.loader import render_to_string

from routes.alphabet import check_document, check_domain, check_options
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec, TargetSpec

HTTP_FILE = "portico.conf"
FILE_PREFIX = "portico-"
CONFIG_PROBE = "/.well-known/portico/config"
UNAVAILABLE_PAGE = "/.well-known/portico/unavailable"
DIGEST_PLACEHOLDER = "@@PORTICO-DIGEST@@"
STATIC_HOSTS = {"localhost"}


@dataclass(frozen=True)
class RenderOptions:
    """What the renderer needs to know about where nginx runs (not about the routes)."""

    listen: str = "127.0.0.1:8080"
    resolvers: tuple[str, ...] = ("127.0.0.1",)
    resolver_valid: int = 10


@dataclass
class UpstreamServer:
    address: str
    weight: int
    backup: bool


@dataclass
class Location:
    """One route as the templates need it."""

    path: str
    key: str
    static: bool
    proxy_scheme: str
    upstream: str = ""
    servers: list[UpstreamServer] = field(default_factory=list)
    balance: str = "round_robin"
    target_var: str = ""
    single_target: str = ""
    split_key: str = ""
    split: list[tuple[str, str]] = field(default_factory=list)
    backup_var: str = ""
    backup_target: str = ""
    rewrite: str = ""
    prefix_header: str = ""
    websocket: bool = False
    connect_timeout: int = 5
    read_timeout: int = 60


def file_name(domain: str) -> str:
    """The config file of a domain: ``portico-<name>.conf`` (``*.`` written as ``_wildcard.``)."""
    return f"{FILE_PREFIX}{domain.replace('*.', '_wildcard.')}.conf"


def is_static_host(host: str) -> bool:
    """True when nginx can load the host without DNS: an IP address or localhost."""
    if host in STATIC_HOSTS:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_port(target: TargetSpec) -> str:
    """``host:port`` with IPv6 addresses in brackets."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{target.port}"


def _ident(domain: str, path: str) -> str:
    """A name made of [a-z0-9_] that is unique per (domain, path) and still readable."""
    readable = re.sub(r"[^a-z0-9]+", "_", f"{domain}{path}".lower()).strip("_")[:40]
    digest = hashlib.sha256(f"{domain}\n{path}".encode()).hexdigest()[:8]
    return f"{readable}_{digest}"


def _regex_literal(text: str) -> str:
    """Escape the few characters a validated path may hold that PCRE treats specially."""
    return re.sub(r"([.()*+])", r"\\\1", text)


def _percentages(weights: list[int]) -> list[str]:
    """split_clients shares for the weights; the last one is ``*`` so the sum is always exactly 100%."""
    total = sum(weights)
    shares = [f"{weight * 100 / total:.2f}%" for weight in weights[:-1]]
    return [*shares, "*"]


def _location(domain: DomainSpec, route: RouteSpec) -> Location:
    key = _ident(domain.name, route.path)
    loc = Location(
        path=route.path,
        key=key,
        static=all(is_static_host(t.host) for t in route.targets),
        proxy_scheme=route.scheme,
        balance=route.balance,
        websocket=route.websocket,
        connect_timeout=route.connect_timeout,
        read_timeout=route.read_timeout,
    )
    if route.strip_prefix and route.path != "/":
        stem = route.path.rstrip("/")
        loc.rewrite = f"^{_regex_literal(stem)}/?(.*)$"
        loc.prefix_header = stem
    if loc.static:
        loc.upstream = f"portico_{key}"
        loc.servers = [UpstreamServer(host_port(t), t.weight, t.backup) for t in route.targets]
        return loc
    primary = [t for t in route.targets if not t.backup]
    backups = [t for t in route.targets if t.backup]
    loc.target_var = f"$portico_{key}"
    if len(primary) == 1:
        loc.single_target = host_port(primary[0])
    else:
        loc.split_key = "${remote_addr}" if route.balance == "ip_hash" else "${request_id}"
        loc.split = list(zip(_percentages([t.weight for t in primary]), [host_port(t) for t in primary], strict=True))
    if backups:
        loc.backup_var = f"$portico_{key}_backup"
        loc.backup_target = host_port(backups[0])
    return loc


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Rendering is pure, so a domain's text can be kept: an apply that changes one route among thousands of
# domains renders one file instead of all of them (bench/ measures it). Bounded; oldest entries go first.
RENDER_CACHE_SIZE = 20_000
_rendered: dict[tuple[str, RenderOptions], str] = {}


def render_domain(domain: DomainSpec, options: RenderOptions) -> str:
    """The config file of one domain: its upstreams and its server block. Raises UnsafeValue."""
    key = (domain.model_dump_json(), options)
    text = _rendered.get(key)
    if text is None:
        check_options(options.listen, options.resolvers, options.resolver_valid)
        check_domain(domain)
        text = _render_domain(domain, options)
        if len(_rendered) >= RENDER_CACHE_SIZE:
            with contextlib.suppress(RuntimeError, StopIteration):  # another thread evicted at the same time
                _rendered.pop(next(iter(_rendered)), None)
        _rendered[key] = text
    return text


def _render_domain(domain: DomainSpec, options: RenderOptions) -> str:
    routes = [r for r in domain.routes if r.enabled]
    locations = [_location(domain, r) for r in sorted(routes, key=lambda r: r.path)]
    text: str = render_to_string(
        "routes/nginx/domain.conf",
        {
            "domain": domain,
            "locations": locations,
            "has_root": any(r.path == "/" for r in routes),
            "has_dynamic": any(not loc.static for loc in locations),
            "options": options,
            "resolvers": " ".join(f"[{r}]" if ":" in r else r for r in options.resolvers),
            "probe": CONFIG_PROBE,
            "unavailable": UNAVAILABLE_PAGE,
            "digest": DIGEST_PLACEHOLDER,
        },
    )
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    # The probe answers with a digest of the file itself, so verification can tell new config from old.
    return text.replace(DIGEST_PLACEHOLDER, _digest(text))


def config_digest(text: str) -> str:
    """The digest a rendered domain file answers on its probe URL (see render_domain)."""
    match = re.search(r'return 200 "([0-9a-f]{16})\\n"', text)
    return match.group(1) if match else ""


def render_http() -> str:
    """The http-level pieces shared by every domain file."""
    return render_to_string("routes/nginx/portico.conf", {}).strip() + "\n"


def render_config(document: ConfigDocument, options: RenderOptions | None = None) -> dict[str, str]:
    """Every file nginx needs for ``document``: file name -> text, sorted by name.

    Raises UnsafeValue (routes.alphabet) naming every stored value outside its field's alphabet; then nothing
    is rendered at all, so no partial config can be applied either.
    """
    options = options or RenderOptions()
    check_options(options.listen, options.resolvers, options.resolver_valid)
    check_document(document)
    files = {HTTP_FILE: render_http()}
    for domain in document.domains:
        if domain.enabled:
            files[file_name(domain.name)] = render_domain(domain, options)
    return dict(sorted(files.items()))


def render_warnings(document: ConfigDocument, options: RenderOptions | None = None) -> list[str]:
    """What a person should know before applying: unreachable-by-design routes, approximated balancing."""
    options = options or RenderOptions()
    warnings: list[str] = []
    for domain in document.domains:
        if not domain.enabled:
            warnings.append(f"{domain.name} is disabled: nginx will not serve it.")
            continue
        enabled = [r for r in domain.routes if r.enabled]
        if not enabled:
            warnings.append(f"{domain.name} has no enabled route: every path answers 404.")
        elif not any(r.path == "/" for r in enabled):
            warnings.append(f"{domain.name} has no “/” route: paths outside its routes answer 404.")
        for route in enabled:
            names = sorted({t.host for t in route.targets if not is_static_host(t.host)})
            if not names:
                continue
            where = f"{domain.name}{route.path}"
            warnings.append(
                f"{where}: nginx looks up {', '.join(names)} when a request arrives (resolver "
                f"{' '.join(options.resolvers)}); while a name does not resolve (stopped or missing container) "
                "this route answers 502 and every other route keeps working."
            )
            if route.balance == "least_conn" and len(route.targets) > 1:
                warnings.append(
                    f"{where}: least_conn needs IP targets; with host names requests are spread by weight instead."
                )
            if sum(1 for t in route.targets if t.backup) > 1:
                warnings.append(f"{where}: with host names only the first backup target is used.")
    return warnings

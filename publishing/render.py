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
again here against its field's alphabet (publishing.alphabet: a render refuses the whole document, naming the
route and field, rather than write one unsafe value), and is written inside double quotes as well, so it can
only ever be one argument of one directive.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID
from django.template.loader import render_to_string

from publishing.alphabet import check_certificate_files, check_document, check_domain, check_options
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec, TargetSpec

HTTP_FILE = "portico.conf"
FILE_PREFIX = "portico-"
CONFIG_PROBE = "/.well-known/portico/config"
UNAVAILABLE_PAGE = "/.well-known/portico/unavailable"
DIGEST_PLACEHOLDER = "@@PORTICO-DIGEST@@"
STATIC_HOSTS = {"localhost"}


# Mozilla's "intermediate" TLS configuration (ssl-config.mozilla.org, guideline 5.7): TLS 1.2 and 1.3, AEAD
# ciphers with forward secrecy; the DHE ones stay unused without ssl_dhparam, which nginx accepts quietly.
TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"
TLS_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True)
class RenderOptions:
    """What the renderer needs to know about where nginx runs (not about the routes).

    ``listen_tls`` empty: no TLS listener (domains are served over HTTP only); ``tls_dir`` is where the nginx
    wrapper puts certificate files; ``acme_root`` is the directory ACME HTTP-01 answers are served from (empty:
    no challenge location).
    """

    listen: str = "127.0.0.1:8080"
    resolvers: tuple[str, ...] = ("127.0.0.1",)
    resolver_valid: int = 10
    listen_tls: str = ""
    tls_dir: str = ""
    acme_root: str = ""

    def check(self) -> None:
        """Raise UnsafeValue when any option is outside its alphabet."""
        check_options(self.listen, self.resolvers, self.resolver_valid, self.listen_tls, self.tls_dir, self.acme_root)

    @property
    def https_port_suffix(self) -> str:
        """``:port`` for redirects to the TLS listener, empty for 443."""
        port = self.listen_tls.rsplit(":", 1)[-1]
        return "" if port == "443" else f":{port}"


@dataclass(frozen=True)
class TlsCert:
    """A certificate as the config names it: files ``portico-<id>-<digest>.crt``/``.key`` in the TLS directory
    (the digest is of the chain, so a renewed certificate gets new file names and the previous files stay for a
    rollback), and whether its chain lets nginx staple OCSP answers (an OCSP URL in the leaf and its issuer)."""

    id: int
    digest: str
    stapling: bool = False

    @property
    def stem(self) -> str:
        return f"portico-{self.id}-{self.digest}"


def tls_digest(chain_pem: str) -> str:
    """The content digest that names a chain's files (the key belongs to the leaf, so the chain decides it)."""
    return hashlib.sha256(chain_pem.encode()).hexdigest()[:32]


def tls_cert(certificate_id: int, chain_pem: str) -> TlsCert:
    """The files of a stored chain (leaf first). Stapling only where nginx can do it without a warning: the leaf
    names an OCSP responder and the chain holds its issuer."""
    certs = x509.load_pem_x509_certificates(chain_pem.encode())
    try:
        access = certs[0].extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        access = None
    ocsp = any(d.access_method == AuthorityInformationAccessOID.OCSP for d in access or [])
    return TlsCert(certificate_id, tls_digest(chain_pem), stapling=ocsp and len(certs) > 1)


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
    # redirect and respond routes are answered by nginx itself: ``answer`` is the return directive's code and
    # ``answer_text`` its quoted argument (both checked by publishing.alphabet before rendering).
    action: str = "proxy"
    answer: int = 0
    answer_text: str = ""
    answer_match: str = ""


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


def _answer(domain: DomainSpec, route: RouteSpec) -> Location:
    loc = Location(
        path=route.path, key=_ident(domain.name, route.path), static=False, proxy_scheme="", action=route.action
    )
    if route.action == "respond":
        loc.answer, loc.answer_text = route.respond_status, route.respond_body
        return loc
    loc.answer = route.redirect_code
    if not route.preserve_path:
        loc.answer_text = route.redirect_url
        return loc
    # The rest is taken from $request_uri as the client sent it (still %-encoded, with its query), never from the
    # decoded $uri, whose %0D%0A would become a line break in the Location header.
    loc.answer_match = f"^{_regex_literal(route.path.rstrip('/'))}/?(.*)$"
    loc.answer_text = route.redirect_url.rstrip("/") + "/"
    return loc


def _location(domain: DomainSpec, route: RouteSpec) -> Location:
    if route.action != "proxy":
        return _answer(domain, route)
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
_rendered: dict[tuple[str, RenderOptions, TlsCert | None], str] = {}


def render_domain(domain: DomainSpec, options: RenderOptions, tls: TlsCert | None = None) -> str:
    """The config file of one domain: its upstreams, its HTTP server block and, with ``tls`` (the domain's
    certificate, when it has one with a chain) and a TLS listener, its HTTPS server block. Raises UnsafeValue."""
    key = (domain.model_dump_json(), options, tls)
    text = _rendered.get(key)
    if text is None:
        options.check()
        check_domain(domain)
        if tls is not None:
            check_certificate_files(tls.id, tls.digest, tls.stapling)
        text = _render_domain(domain, options, tls)
        if len(_rendered) >= RENDER_CACHE_SIZE:
            with contextlib.suppress(RuntimeError, StopIteration):  # another thread evicted at the same time
                _rendered.pop(next(iter(_rendered)), None)
        _rendered[key] = text
    return text


def serves_tls(domain: DomainSpec, options: RenderOptions, tls: TlsCert | None) -> bool:
    """Whether ``domain`` gets an HTTPS server block: it names a certificate that has files and a TLS listener
    exists. Without one its HTTPS options are not rendered (a redirect to a listener that cannot answer would take
    the site down); render_warnings says so."""
    return bool(options.listen_tls and options.tls_dir and tls is not None and domain.certificate == tls.id)


def _render_domain(domain: DomainSpec, options: RenderOptions, tls: TlsCert | None) -> str:
    routes = [r for r in domain.routes if r.enabled]
    locations = [_location(domain, r) for r in sorted(routes, key=lambda r: r.path)]
    https = serves_tls(domain, options, tls)
    text: str = render_to_string(
        "publishing/nginx/domain.conf",
        {
            "domain": domain,
            "tls": tls if https else None,
            "redirect": https and domain.force_https,
            "tls_protocols": TLS_PROTOCOLS,
            "tls_ciphers": TLS_CIPHERS,
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


def render_http(options: RenderOptions | None = None, tls: bool = False) -> str:
    """The http-level pieces shared by every domain file; with ``tls`` (some domain is served over HTTPS) the
    TLS listener's default server, which refuses the handshake for every name no domain claims, so no domain's
    certificate is ever shown for another name."""
    options = options or RenderOptions()
    context = {"listen_tls": options.listen_tls if tls else ""}
    return re.sub(r"\n{3,}", "\n\n", render_to_string("publishing/nginx/portico.conf", context)).strip() + "\n"


def render_config(
    document: ConfigDocument, options: RenderOptions | None = None, certificates: Mapping[int, TlsCert] | None = None
) -> dict[str, str]:
    """Every file nginx needs for ``document``: file name -> text, sorted by name. ``certificates`` maps the ids
    the domains name to their files (a certificate without a chain yet is absent: its domains stay HTTP only).

    Raises UnsafeValue (publishing.alphabet) naming every stored value outside its field's alphabet; then nothing
    is rendered at all, so no partial config can be applied either.
    """
    options = options or RenderOptions()
    certificates = certificates or {}
    options.check()
    check_document(document)
    files = {}
    any_tls = False
    for domain in document.domains:
        if domain.enabled:
            tls = certificates.get(domain.certificate) if domain.certificate is not None else None
            any_tls = any_tls or serves_tls(domain, options, tls)
            files[file_name(domain.name)] = render_domain(domain, options, tls)
    files[HTTP_FILE] = render_http(options, any_tls)
    return dict(sorted(files.items()))


def referenced_certificates(files: Mapping[str, str]) -> set[str]:
    """The certificate file stems (``portico-<id>-<digest>``) the rendered ``files`` name."""
    return {
        match.group(1)
        for text in files.values()
        for match in re.finditer(r'ssl_certificate "[^"]*/(portico-[0-9]+-[0-9a-f]{32})\.crt";', text)
    }


def render_warnings(
    document: ConfigDocument, options: RenderOptions | None = None, certificates: Mapping[int, TlsCert] | None = None
) -> list[str]:
    """What a person should know before applying: unreachable-by-design routes, approximated balancing, HTTPS
    settings that cannot take effect yet."""
    options = options or RenderOptions()
    certificates = certificates or {}
    warnings: list[str] = []
    http2_somewhere = False
    for domain in document.domains:
        if not domain.enabled:
            warnings.append(f"{domain.name} is disabled: nginx will not serve it.")
            continue
        if domain.certificate is not None:
            tls = certificates.get(domain.certificate)
            if not options.listen_tls:
                warnings.append(
                    f"{domain.name} has a certificate but nginx has no TLS listener (PORTICO_NGINX_LISTEN_TLS is "
                    "empty): it is served over HTTP only, without its HTTPS settings."
                )
            elif tls is None:
                warnings.append(
                    f"{domain.name}: certificate {domain.certificate} has not been issued yet: the domain is "
                    "served over HTTP only (no redirect, no HSTS) until it is, and the next apply after that adds "
                    "HTTPS."
                )
            else:
                http2_somewhere = http2_somewhere or domain.http2
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
    if http2_somewhere:
        warnings.append(
            f"HTTP/2 is offered by every domain on the TLS listener {options.listen_tls}, not only those that ask "
            "for it: before version 1.25 nginx switches HTTP/2 on per listening address, not per domain."
        )
    return warnings

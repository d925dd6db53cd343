"""What each field of the desired state may hold when it is written into proxy config (nginx files, NPM bodies).

The validators decide what a person may save; this module is the second, independent fence at the point of
writing. It does not trust the validators, the database or a revision's snapshot: a value outside its field's
alphabet is refused here whatever let it in (a row stored before a validator was fixed, a hand-edited database,
a validator bug). Every check is a ``re.fullmatch`` over a small allow-list or a type-and-range check, so a
value that passes can only ever be one argument of one directive: no quote, semicolon, brace, ``$``, space,
``%``, backslash or control character in any of them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from routes.schemas import HSTS_MAX, ConfigDocument, DomainSpec, RouteSpec, TargetSpec
from routes.validators import (
    CONNECT_TIMEOUT,
    MAX_DOMAIN_LENGTH,
    MAX_RESPOND_BODY_LENGTH,
    READ_TIMEOUT,
    REDIRECT_CODES,
    RESPOND_STATUSES,
    WEIGHT,
)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!&()*+,=:@/]|%[0-9A-Fa-f]{2}){0,254}")
# A container or DNS name, or an IPv4 address; IPv6 addresses are checked apart (hex digits and colons only).
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
HOST_IPV6 = re.compile(r"[0-9a-f:.]{2,45}")
LISTEN = re.compile(r"(?:(?:\[[0-9a-f:.]{2,45}\]|[A-Za-z0-9.*-]{1,253})?:)?[0-9]{1,5}")
# A directory Portico itself names (its TLS store, the ACME challenge directory): absolute, no dot-dot step.
DIRECTORY = re.compile(r"(?:/[A-Za-z0-9_-][A-Za-z0-9._-]{0,254})+")
DIGEST = re.compile(r"[0-9a-f]{32}")
SCHEMES = frozenset({"http", "https"})
BALANCES = frozenset({"round_robin", "least_conn", "ip_hash"})
ACTIONS = frozenset({"proxy", "redirect", "respond"})
# An absolute http(s) address: a punycode host, an optional port, then path and query characters as in PATH.
REDIRECT_URL = re.compile(
    rf"https?://{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?"
    r"(?:/(?:[A-Za-z0-9\-._~!&()*+,=:@/]|%[0-9A-Fa-f]{2})*)?(?:\?(?:[A-Za-z0-9\-._~!&()*+,=:@/?]|%[0-9A-Fa-f]{2})*)?"
)
# A fixed answer's body inside a quoted return string: letters, marks, numbers, punctuation, symbols and the plain
# space of any script; never a quote, backslash, "$", ";" or brace (excluded from the punctuation classes below).
RESPOND_BODY = re.compile(
    r"[^\"\\$;{}\x00-\x1f\x7f-\x9f\u2028\u2029\s]*(?: [^\"\\$;{}\x00-\x1f\x7f-\x9f\u2028\u2029\s]*)*"
)


class UnsafeValue(Exception):
    """Stored values that Portico refuses to write into proxy config; ``problems`` name each route and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "Not published: these stored values cannot be written into proxy config safely; fix or delete them: "
            + " ".join(problems)
        )


def _shown(value: object) -> str:
    # ascii() shows control characters and quotes escaped, so the message itself cannot mislead.
    text = ascii(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _flag(value: object) -> bool:
    # Typed as object: the specs say bool, but values built without validation may be anything.
    return type(value) is bool


def _whole_number(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def host_ok(host: object) -> bool:
    """True for a container name, DNS name, IPv4 address or IPv6 address (no scope id, no brackets)."""
    if not isinstance(host, str):
        return False
    if ":" in host:
        if not HOST_IPV6.fullmatch(host):
            return False
        try:
            return ipaddress.IPv6Address(host).scope_id is None
        except ValueError:
            return False
    return HOST_NAME.fullmatch(host) is not None


def domain_ok(name: object) -> bool:
    """True for a lowercase punycode domain name, optionally a ``*.`` wildcard."""
    return isinstance(name, str) and len(name) <= MAX_DOMAIN_LENGTH and DOMAIN.fullmatch(name) is not None


def path_ok(path: object) -> bool:
    """True for a URL path prefix made of RFC 3986 characters (``%`` only as a %XX escape)."""
    return isinstance(path, str) and PATH.fullmatch(path) is not None


def _target_problems(where: str, index: int, target: TargetSpec) -> Iterator[str]:
    field = f"targets[{index}]"
    if not host_ok(target.host):
        yield f"{where}: {field}.host {_shown(target.host)} is not a container name, DNS name or IP address."
    if not _whole_number(target.port, 1, 65535):
        yield f"{where}: {field}.port {_shown(target.port)} is not a port from 1 to 65535."
    if not _whole_number(target.weight, WEIGHT.low, WEIGHT.high):
        yield f"{where}: {field}.weight {_shown(target.weight)} is not a whole number from {WEIGHT.low} to {WEIGHT.high}."
    if not _flag(target.backup):
        yield f"{where}: {field}.backup {_shown(target.backup)} is not true or false."


def _route_problems(domain: str, route: RouteSpec) -> Iterator[str]:
    path = route.path if path_ok(route.path) else _shown(route.path)
    where = f"{domain}{path}"
    if not path_ok(route.path):
        yield f"{where}: the path is not a URL path of letters, digits and - . _ ~ ! & ( ) * + , = : @ / %XX."
    if route.scheme not in SCHEMES:
        yield f"{where}: scheme {_shown(route.scheme)} is not http or https."
    if route.balance not in BALANCES:
        yield f"{where}: balance {_shown(route.balance)} is not one of {', '.join(sorted(BALANCES))}."
    for name, bounds in (("connect_timeout", CONNECT_TIMEOUT), ("read_timeout", READ_TIMEOUT)):
        value = getattr(route, name)
        if not _whole_number(value, bounds.low, bounds.high):
            yield f"{where}: {name} {_shown(value)} is not {bounds.low} to {bounds.high} seconds."
    for flag in ("strip_prefix", "websocket", "enabled", "preserve_path"):
        if not _flag(getattr(route, flag)):
            yield f"{where}: {flag} {_shown(getattr(route, flag))} is not true or false."
    if route.action not in ACTIONS:
        yield f"{where}: action {_shown(route.action)} is not one of {', '.join(sorted(ACTIONS))}."
        return
    if route.action != "proxy":
        yield from _answer_problems(where, route)
        return
    if not isinstance(route.targets, list) or not route.targets:
        yield f"{where}: the route has no target."
        return
    for index, target in enumerate(route.targets):
        yield from _target_problems(where, index, target)
    if all(getattr(t, "backup", None) is True for t in route.targets):
        # The schema refuses this too; unchecked, the renderer would have no target to send requests to.
        yield f"{where}: every target is a backup; at least one must not be."


def redirect_url_ok(url: object) -> bool:
    """True for an absolute http(s) address of a punycode host, made of URL path and query characters only."""
    return isinstance(url, str) and len(url) <= 2000 and REDIRECT_URL.fullmatch(url) is not None


def respond_body_ok(body: object) -> bool:
    """True for a short one-line text without quotes, backslashes, ``$``, ``;``, braces or control characters."""
    return (
        isinstance(body, str)
        and len(body) <= MAX_RESPOND_BODY_LENGTH
        and RESPOND_BODY.fullmatch(body) is not None
        and body.isprintable()
    )


def _answer_problems(where: str, route: RouteSpec) -> Iterator[str]:
    # A redirect or respond route is answered by nginx itself: its targets would be ignored, so they are refused.
    if route.targets:
        yield f"{where}: a {_shown(route.action)} route has targets."
    if route.action == "redirect":
        if not redirect_url_ok(route.redirect_url):
            yield f"{where}: redirect_url {_shown(route.redirect_url)} is not an absolute http(s) address."
        if route.redirect_code not in REDIRECT_CODES or type(route.redirect_code) is not int:
            yield f"{where}: redirect_code {_shown(route.redirect_code)} is not one of {REDIRECT_CODES}."
    else:
        if route.respond_status not in RESPOND_STATUSES or type(route.respond_status) is not int:
            yield f"{where}: respond_status {_shown(route.respond_status)} is not one of {RESPOND_STATUSES}."
        if not respond_body_ok(route.respond_body):
            yield f"{where}: respond_body {_shown(route.respond_body)} is not plain one-line text."


def domain_problems(domain: DomainSpec) -> list[str]:
    """Every value of ``domain`` outside its field's alphabet, each naming the route and the field."""
    problems: list[str] = []
    name = domain.name if domain_ok(domain.name) else _shown(domain.name)
    if not domain_ok(domain.name):
        problems.append(f"{name}: the domain name is not a lowercase punycode host name.")
    if not _flag(domain.enabled):
        problems.append(f"{name}: enabled {_shown(domain.enabled)} is not true or false.")
    if domain.certificate is not None and not _whole_number(domain.certificate, 1, 2**63 - 1):
        problems.append(f"{name}: certificate {_shown(domain.certificate)} is not a certificate id.")
    for flag in ("force_https", "http2"):
        if not _flag(getattr(domain, flag)):
            problems.append(f"{name}: {flag} {_shown(getattr(domain, flag))} is not true or false.")
    if not _whole_number(domain.hsts, 0, HSTS_MAX):
        problems.append(f"{name}: hsts {_shown(domain.hsts)} is not 0 to {HSTS_MAX} seconds.")
    for route in domain.routes:
        problems.extend(_route_problems(name, route))
    return problems


def document_problems(document: ConfigDocument) -> list[str]:
    """Every unsafe value in ``document`` (empty when all of it may be written into proxy config)."""
    return [problem for domain in document.domains for problem in domain_problems(domain)]


def check_document(document: ConfigDocument) -> None:
    """Raise UnsafeValue naming every unsafe value of ``document``; return quietly when there is none."""
    problems = document_problems(document)
    if problems:
        raise UnsafeValue(problems)


def check_domain(domain: DomainSpec) -> None:
    """Raise UnsafeValue naming every unsafe value of ``domain``."""
    problems = domain_problems(domain)
    if problems:
        raise UnsafeValue(problems)


def directory_ok(path: object) -> bool:
    """True for an absolute directory path of letters, digits and . _ - / with no ``.`` or ``..`` step."""
    return (
        isinstance(path, str)
        and len(path) <= 1024
        and DIRECTORY.fullmatch(path) is not None
        and not any(step in (".", "..") for step in path.split("/"))
    )


def check_certificate_files(certificate: object, digest: object, stapling: object) -> None:
    """Raise UnsafeValue when what names a certificate's files in the config (its id and content digest) or its
    stapling flag is malformed."""
    problems = []
    if not _whole_number(certificate, 1, 2**63 - 1):
        problems.append(f"The certificate id {_shown(certificate)} is not a whole number.")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        problems.append(f"The certificate digest {_shown(digest)} is not 32 hex digits.")
    if not _flag(stapling):
        problems.append(f"The stapling flag {_shown(stapling)} is not true or false.")
    if problems:
        raise UnsafeValue(problems)


def check_options(
    listen: object,
    resolvers: object,
    resolver_valid: object,
    listen_tls: object = "",
    tls_dir: object = "",
    acme_root: object = "",
) -> None:
    """Raise UnsafeValue when where nginx listens, whom it asks for names or the directories it reads (all from the
    settings) are malformed; the TLS listener and the directories may be empty (not used)."""
    problems = []
    if not isinstance(listen, str) or not LISTEN.fullmatch(listen):
        problems.append(f"The listen address {_shown(listen)} is not host:port (check PORTICO_NGINX_LISTEN).")
    if listen_tls != "" and (not isinstance(listen_tls, str) or not LISTEN.fullmatch(listen_tls)):
        problems.append(
            f"The TLS listen address {_shown(listen_tls)} is not host:port (check PORTICO_NGINX_LISTEN_TLS)."
        )
    if tls_dir != "" and not directory_ok(tls_dir):
        problems.append(f"The certificate directory {_shown(tls_dir)} is not an absolute path of . _ - / letters.")
    if acme_root != "" and not directory_ok(acme_root):
        problems.append(
            f"The ACME challenge directory {_shown(acme_root)} is not an absolute path of . _ - / letters "
            "(check PORTICO_ACME_CHALLENGE_DIR)."
        )
    if not isinstance(resolvers, tuple) or not all(host_ok(r) for r in resolvers):
        problems.append(f"The resolvers {_shown(resolvers)} are not host names or IP addresses.")
    if not _whole_number(resolver_valid, 1, 86400):
        problems.append(f"resolver_valid {_shown(resolver_valid)} is not 1 to 86400 seconds.")
    if problems:
        raise UnsafeValue(problems)

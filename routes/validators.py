"""Validation of everything a user types that ends up in nginx config.

The rule: what passes here can only ever be a value inside a directive, never a new directive.
So names and paths are checked against small allow-lists, not against lists of bad characters, always with
``re.fullmatch`` (``$`` would also match before a final newline), and control characters are refused first,
by name, wherever they stand.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass

import idna
from django.core.exceptions import ValidationError

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# What the C resolver (inet_aton) would read as an IPv4 address: "0", "127.1", "0x7f.1". nginx would then
# connect to that address, not to a container of that name, so such names are refused as ambiguous.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# RFC 3986 path characters, minus what nginx or a shell treats specially: no quotes, ';', '$', '{', '}',
# '#', '?', whitespace, backslash or control characters. '%' only as a %XX escape.
_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!&()*+,=:@/]|%[0-9A-Fa-f]{2})*")

# The limits and defaults of domains and routes, declared once for the models, the document schema, the forms
# and the API.
MAX_PATH_LENGTH = 255
MAX_DOMAIN_LENGTH = 253
MAX_HOST_LENGTH = 253
MAX_NOTES_LENGTH = 2000
MAX_TARGETS = 64
# HSTS max-age ceiling: two years, what browsers' preload lists ask for at most.
HSTS_MAX = 63_072_000
# What a route may do besides proxying, and the values each action accepts.
ACTIONS = ("proxy", "redirect", "respond")
REDIRECT_CODES = (301, 302, 307, 308)
RESPOND_STATUSES = (200, 204, 403, 404, 410, 451, 503)
MAX_REDIRECT_URL_LENGTH = 2000
MAX_RESPOND_BODY_LENGTH = 500
# The rest of an absolute URL after its host: path characters as in _PATH (and the %XX escapes), then an
# optional query of the same characters plus "?" and "/". Never a quote, space, "$", ";", brace, backslash or "#".
_URL_REST = re.compile(
    r"(?::[0-9]{1,5})?(?:/(?:[A-Za-z0-9\-._~!&()*+,=:@/]|%[0-9A-Fa-f]{2})*)?(?:\?(?:[A-Za-z0-9\-._~!&()*+,=:@/?]|%[0-9A-Fa-f]{2})*)?"
)
# A fixed answer's body: printable text on one line, letters of any script, but nothing nginx reads inside a
# quoted string (backslash escapes, "$" variables) and none of the characters that end a directive or block.
_BODY_FORBIDDEN = frozenset('"\\$;{}')


@dataclass(frozen=True)
class Bounds:
    """A whole number's default and its inclusive range."""

    default: int
    low: int
    high: int


CONNECT_TIMEOUT = Bounds(5, 1, 3600)
READ_TIMEOUT = Bounds(60, 1, 86400)
WEIGHT = Bounds(1, 1, 100)


def refuse_control_characters(value: str, what: str) -> None:
    """Raise ValidationError naming the first control, format or line/paragraph-separator character in ``value``."""
    for char in value:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise ValidationError(
                f"{what} cannot contain control characters (found U+{ord(char):04X}).", code="control-character"
            )


def normalize_domain(value: str) -> str:
    """Return the domain in lowercase punycode (IDN accepted, ``*.`` wildcard allowed) or raise ValidationError."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter a domain name such as gctask.com.", code="required")
    refuse_control_characters(value, "A domain name")
    name = value.strip().rstrip(".").lower()
    wildcard = name.startswith("*.")
    if wildcard:
        name = name[2:]
    if "*" in name:
        raise ValidationError(
            "A wildcard is only allowed as the whole first label, as in *.example.com.", code="wildcard"
        )
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii") if not name.isascii() else name
    except idna.IDNAError as exc:
        raise ValidationError(f"Not a valid international domain name: {exc}.", code="idn") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 - (2 if wildcard else 0):
        raise ValidationError("A domain name is at most 253 characters long.", code="length")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise ValidationError(
                f"“{label or '(empty)'}” is not a valid label: use letters, digits and hyphens (RFC 1123), "
                "1 to 63 characters, not starting or ending with a hyphen.",
                code="label",
            )
    if labels[-1].isdigit():
        raise ValidationError("The last label of a domain name cannot be all digits.", code="label")
    return ("*." if wildcard else "") + ascii_name


def validate_domain(value: str) -> None:
    """Django field validator: the stored value must already be normalized."""
    if normalize_domain(value) != value:
        raise ValidationError("Store domain names in lowercase punycode.", code="normalized")


def validate_path(value: str) -> None:
    """A URL path prefix such as ``/`` or ``/task/``: RFC 3986 characters only, no ``..`` segments."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValidationError("A path starts with “/”, for example /task/.", code="start")
    refuse_control_characters(value, "A path")
    if len(value) > MAX_PATH_LENGTH:
        raise ValidationError(f"A path is at most {MAX_PATH_LENGTH} characters long.", code="length")
    if not _PATH.fullmatch(value):
        bad = next((c for c in value if not re.fullmatch(r"[A-Za-z0-9\-._~!&()*+,=:@/%]", c)), "%")
        shown = repr(bad) if bad.isprintable() and not bad.isspace() else f"U+{ord(bad):04X}"
        raise ValidationError(
            f"{shown} is not allowed in a path: use letters, digits and - . _ ~ ! & ( ) * + , = : @ / "
            "(and %XX escapes).",
            code="character",
        )
    segments = value.split("/")
    if any(seg in (".", "..") for seg in segments):
        raise ValidationError("A path cannot contain “.” or “..” segments.", code="dot-segment")
    if "//" in value:
        raise ValidationError("A path cannot contain an empty segment (“//”).", code="empty-segment")


def normalize_target_host(value: str) -> str:
    """A container name, DNS name, IPv4 or IPv6 address (returned without brackets), or raise ValidationError."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter a host: a container name, a DNS name or an IP address.", code="required")
    refuse_control_characters(value, "A host")
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if "%" in host:
        # Python accepts an IPv6 scope id ("fe80::1%eth0") and the zone may hold any character at all:
        # quotes, ";", braces, spaces, newlines. nginx has no use for one in an upstream address.
        raise ValidationError(
            "An IPv6 zone or scope id (“%…”) is not allowed in a target host: write the address alone.",
            code="scope-id",
        )
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        raise ValidationError(
            f"“{value}” looks like an IP address but is not a complete one (nginx would read it as one): "
            "write all four parts, as in 127.0.0.1.",
            code="ambiguous-ip",
        )
    if _CONTAINER_NAME.fullmatch(host):
        return host
    try:
        return normalize_domain(host)
    except ValidationError:
        raise ValidationError(
            f"“{value}” is neither an IP address, a DNS name nor a container name (letters, digits, “_”, “.” and “-”).",
            code="host",
        ) from None


def validate_target_host(value: str) -> None:
    """Django field validator for a target host."""
    if normalize_target_host(value) != value:
        raise ValidationError("Store hosts normalized (IPv6 without brackets, DNS names in lowercase).", code="host")


def validate_port(value: int) -> None:
    """A TCP port from 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValidationError("A port is a whole number from 1 to 65535.", code="port")


def normalize_redirect_url(value: str) -> str:
    """An absolute http(s) URL with its host in punycode (``https://new.example.com/x``), or raise ValidationError."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter the address to redirect to, such as https://new.example.com/.", code="required")
    refuse_control_characters(value, "A redirect address")
    url = value.strip()
    match = re.fullmatch(r"(https?)://([^/:?#]+)(.*)", url, flags=re.IGNORECASE | re.DOTALL)
    if match is None:
        raise ValidationError(
            "A redirect address is an absolute http:// or https:// URL, such as https://new.example.com/.",
            code="scheme",
        )
    scheme, host, rest = match.group(1).lower(), match.group(2), match.group(3)
    try:
        host = normalize_domain(host) if not host.startswith("*") else ""
    except ValidationError as exc:
        raise ValidationError(f"The host of the redirect address: {' '.join(exc.messages)}", code="host") from None
    if not host:
        raise ValidationError("A redirect address cannot name a wildcard host.", code="host")
    if not _URL_REST.fullmatch(rest):
        bad = next((c for c in rest if not re.fullmatch(r"[A-Za-z0-9\-._~!&()*+,=:@/?%]", c)), "%")
        shown = repr(bad) if bad.isprintable() and not bad.isspace() else f"U+{ord(bad):04X}"
        raise ValidationError(
            f"{shown} is not allowed in a redirect address: after the host use letters, digits and "
            "- . _ ~ ! & ( ) * + , = : @ / ? (and %XX escapes); no “#” fragment.",
            code="character",
        )
    port = re.match(r":([0-9]+)", rest)
    if port and not 1 <= int(port.group(1)) <= 65535:
        raise ValidationError("The port of a redirect address is a number from 1 to 65535.", code="port")
    normalized = f"{scheme}://{host}{rest}"
    if len(normalized) > MAX_REDIRECT_URL_LENGTH:
        raise ValidationError(
            f"A redirect address is at most {MAX_REDIRECT_URL_LENGTH} characters long.", code="length"
        )
    return normalized


def validate_redirect_url(value: str) -> None:
    """Django field validator: empty (not a redirect) or a normalized redirect address."""
    if value and normalize_redirect_url(value) != value:
        raise ValidationError("Store redirect addresses normalized (scheme and host in lowercase punycode).")


def validate_respond_body(value: str) -> None:
    """A fixed answer's body: at most MAX_RESPOND_BODY_LENGTH printable characters, none nginx would interpret."""
    if not isinstance(value, str):
        raise ValidationError("A body is text.", code="type")
    refuse_control_characters(value, "A response body")
    if len(value) > MAX_RESPOND_BODY_LENGTH:
        raise ValidationError(f"A response body is at most {MAX_RESPOND_BODY_LENGTH} characters long.", code="length")
    bad = next((c for c in value if c in _BODY_FORBIDDEN or (c.isspace() and c != " ")), None)
    if bad is not None:
        shown = repr(bad) if not bad.isspace() else f"U+{ord(bad):04X}"
        raise ValidationError(
            f'{shown} is not allowed in a response body: write plain text without " \\ $ ; {{ }} (spaces only as plain spaces).',
            code="character",
        )

"""The desired state: domains, their routes and the routes' upstream targets; plus revisions of applies."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from core.versions import Versioned
from routes.schemas import RouteSpec, TargetSpec
from routes.validators import (
    CONNECT_TIMEOUT,
    HSTS_MAX,
    MAX_DOMAIN_LENGTH,
    MAX_HOST_LENGTH,
    MAX_PATH_LENGTH,
    MAX_REDIRECT_URL_LENGTH,
    MAX_RESPOND_BODY_LENGTH,
    READ_TIMEOUT,
    REDIRECT_CODES,
    RESPOND_STATUSES,
    WEIGHT,
    validate_domain,
    validate_path,
    validate_port,
    validate_redirect_url,
    validate_respond_body,
    validate_target_host,
)


class Domain(Versioned):
    """A host name that nginx serves; its routes are keyed by path prefix."""

    name = models.CharField(max_length=MAX_DOMAIN_LENGTH, unique=True, validators=[validate_domain])
    enabled = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    # HTTPS: the certificate served for this name (a certificate in use cannot be deleted), HTTP -> HTTPS
    # redirects, HSTS max-age in seconds (0: no header) and HTTP/2 on the TLS listener.
    certificate = models.ForeignKey(
        "certificates.Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="domain_set"
    )
    force_https = models.BooleanField(default=False)
    hsts = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(HSTS_MAX)], help_text="Seconds.")
    http2 = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def unicode_name(self) -> str:
        """The name as people read it (IDN decoded)."""
        import idna

        try:
            return ".".join(idna.decode(label) if label.startswith("xn--") else label for label in self.name.split("."))
        except idna.IDNAError:
            return self.name

    @property
    def has_default_route(self) -> bool:
        """Whether a ``/`` route exists; without one, paths no route matches answer 404."""
        return any(route.path == "/" for route in self.routes.all())

    def snapshot(self, *, with_routes: bool = False) -> dict[str, Any]:
        """The audit trail's before/after of the domain, the same from every page, API call and command."""
        data: dict[str, Any] = {
            "name": self.name,
            "enabled": self.enabled,
            "notes": self.notes,
            "certificate": self.certificate_id,
            "force_https": self.force_https,
            "hsts": self.hsts,
            "http2": self.http2,
        }
        if with_routes:
            data["routes"] = [route.snapshot() for route in self.routes.select_related("domain").order_by("path")]
        return data


# The route's own settings besides its path and targets, as the model and the document both name them.
ROUTE_FIELDS = (
    "action",
    "scheme",
    "strip_prefix",
    "balance",
    "websocket",
    "connect_timeout",
    "read_timeout",
    "redirect_url",
    "redirect_code",
    "preserve_path",
    "respond_status",
    "respond_body",
    "enabled",
)


class Route(Versioned):
    """Requests for ``domain`` whose path starts with ``path`` go to ``targets``, are redirected or answered."""

    class Action(models.TextChoices):
        PROXY = "proxy"
        REDIRECT = "redirect"
        RESPOND = "respond"

    class Scheme(models.TextChoices):
        HTTP = "http"
        HTTPS = "https"

    class Balance(models.TextChoices):
        ROUND_ROBIN = "round_robin", "round robin"
        LEAST_CONN = "least_conn", "least connections"
        IP_HASH = "ip_hash", "IP hash (sticky per client)"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="routes")
    path = models.CharField(max_length=MAX_PATH_LENGTH, validators=[validate_path], default="/")
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.PROXY)
    scheme = models.CharField(max_length=5, choices=Scheme.choices, default=Scheme.HTTP)
    strip_prefix = models.BooleanField(default=False, help_text="Forward /task/x as /x.")
    balance = models.CharField(max_length=12, choices=Balance.choices, default=Balance.ROUND_ROBIN)
    websocket = models.BooleanField(default=False)
    connect_timeout = models.PositiveIntegerField(
        default=CONNECT_TIMEOUT.default,
        validators=[MinValueValidator(CONNECT_TIMEOUT.low), MaxValueValidator(CONNECT_TIMEOUT.high)],
        help_text="Seconds.",
    )
    read_timeout = models.PositiveIntegerField(
        default=READ_TIMEOUT.default,
        validators=[MinValueValidator(READ_TIMEOUT.low), MaxValueValidator(READ_TIMEOUT.high)],
        help_text="Seconds.",
    )
    redirect_url = models.CharField(max_length=MAX_REDIRECT_URL_LENGTH, blank=True, validators=[validate_redirect_url])
    redirect_code = models.PositiveSmallIntegerField(default=301, choices=[(c, str(c)) for c in REDIRECT_CODES])
    preserve_path = models.BooleanField(default=False, help_text="Append the rest of the path and the query.")
    respond_status = models.PositiveSmallIntegerField(default=404, choices=[(c, str(c)) for c in RESPOND_STATUSES])
    respond_body = models.CharField(max_length=MAX_RESPOND_BODY_LENGTH, blank=True, validators=[validate_respond_body])
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain__name", "path"]
        constraints = [models.UniqueConstraint(fields=["domain", "path"], name="unique_path_per_domain")]

    def __str__(self) -> str:
        return f"{self.domain.name}{self.path}"

    def spec(self) -> RouteSpec:
        """The route in the document's shape (targets in their stored order)."""
        # Stored rows were validated when they were saved; validating them again costs most of an export at scale.
        targets = [
            TargetSpec.model_construct(host=t.host, port=t.port, weight=t.weight, backup=t.backup)
            for t in self.targets.all()
        ]
        return RouteSpec.model_construct(
            path=self.path, targets=targets, **{name: getattr(self, name) for name in ROUTE_FIELDS}
        )

    def snapshot(self) -> dict[str, Any]:
        """The audit trail's before/after of the route, the same from every page, API call and command."""
        return {"id": self.pk, "domain": self.domain.name, **self.spec().model_dump(mode="json")}

    def example(self, rest: str = "x") -> tuple[str, str]:
        """A sample request under this route and the path the target receives for it.

        ``/task/`` with strip_prefix: ``/task/x`` arrives as ``/x``; without it, as ``/task/x``.
        """
        request_path = self.path + rest if self.path.endswith("/") else f"{self.path}/{rest}"
        if not self.strip_prefix or self.path == "/":
            return request_path, request_path
        upstream = request_path[len(self.path) :]
        return request_path, upstream if upstream.startswith("/") else "/" + upstream

    def redirect_example(self, rest: str = "x") -> tuple[str, str]:
        """A sample request under this redirect route and the address it is sent to."""
        request_path = self.path + rest if self.path.endswith("/") else f"{self.path}/{rest}"
        return request_path, redirect_location(self.redirect_url, self.path, request_path, self.preserve_path)


def redirect_location(url: str, path: str, request_uri: str, preserve: bool) -> str:
    """Where a redirect route on ``path`` sends ``request_uri``: ``url`` alone, or with ``preserve`` the rest of
    the request after the prefix appended to it (what the rendered nginx config does)."""
    if not preserve:
        return url
    stem = path.rstrip("/")
    rest = request_uri[len(stem) :].lstrip("/") if request_uri.startswith(stem) else ""
    return f"{url.rstrip('/')}/{rest}"


class Target(models.Model):
    """One upstream server of a route."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="targets")
    host = models.CharField(max_length=MAX_HOST_LENGTH, validators=[validate_target_host])
    port = models.PositiveIntegerField(validators=[validate_port])
    weight = models.PositiveSmallIntegerField(
        default=WEIGHT.default, validators=[MinValueValidator(WEIGHT.low), MaxValueValidator(WEIGHT.high)]
    )
    backup = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

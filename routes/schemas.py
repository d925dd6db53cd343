"""The desired-state document: one shape for the API, config as code, revision snapshots and the lab.

Field validation runs the same validators as the models, so an error names its field and reason.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routes.validators import (
    CONNECT_TIMEOUT,
    HSTS_MAX,
    MAX_DOMAIN_LENGTH,
    MAX_HOST_LENGTH,
    MAX_NOTES_LENGTH,
    MAX_PATH_LENGTH,
    MAX_REDIRECT_URL_LENGTH,
    MAX_RESPOND_BODY_LENGTH,
    MAX_TARGETS,
    READ_TIMEOUT,
    WEIGHT,
    normalize_domain,
    normalize_redirect_url,
    normalize_target_host,
    validate_path,
    validate_respond_body,
)


def _check(validator, value):
    try:
        result = validator(value)
    except ValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from None
    return value if result is None else result


def first_repeated(values: Iterable[Hashable]) -> Any:
    """The first value that occurs a second time (None if all differ): one set lookup per value."""
    # A list.count() per value made a document of n routes cost n * n comparisons (issue 12).
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


HTTPS_OPTIONS = ("force_https", "hsts", "http2")


class TargetSpec(BaseModel):
    """An upstream server: host (container name, DNS name, IPv4, IPv6) and port."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(max_length=MAX_HOST_LENGTH, examples=["mytaskapi"])
    port: int = Field(ge=1, le=65535, examples=[80])
    weight: int = Field(default=WEIGHT.default, ge=WEIGHT.low, le=WEIGHT.high)
    backup: bool = False

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _check(normalize_target_host, value)


# Each action's own fields and their values when the route does something else.
ACTION_FIELDS: dict[str, dict[str, Any]] = {
    "redirect": {"redirect_url": "", "redirect_code": 301, "preserve_path": False},
    "respond": {"respond_status": 404, "respond_body": ""},
}


class RouteSpec(BaseModel):
    """A path prefix of a domain and what happens to its requests: proxied to targets, redirected or answered."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(max_length=MAX_PATH_LENGTH, examples=["/task/"])
    action: Literal["proxy", "redirect", "respond"] = Field(
        default="proxy", description="proxy: to the targets; redirect: to redirect_url; respond: a fixed answer."
    )
    targets: list[TargetSpec] = Field(
        default_factory=list, max_length=MAX_TARGETS, description="Required for proxy; none for the other actions."
    )
    scheme: Literal["http", "https"] = "http"
    strip_prefix: bool = False
    balance: Literal["round_robin", "least_conn", "ip_hash"] = "round_robin"
    websocket: bool = False
    connect_timeout: int = Field(default=CONNECT_TIMEOUT.default, ge=CONNECT_TIMEOUT.low, le=CONNECT_TIMEOUT.high)
    read_timeout: int = Field(default=READ_TIMEOUT.default, ge=READ_TIMEOUT.low, le=READ_TIMEOUT.high)
    redirect_url: str = Field(
        default="",
        max_length=MAX_REDIRECT_URL_LENGTH,
        description="redirect: the absolute http(s) address to send requests to (IDN hosts are stored in punycode).",
        examples=["https://new.example.com"],
    )
    redirect_code: Literal[301, 302, 307, 308] = Field(default=301, description="redirect: the status code.")
    preserve_path: bool = Field(
        default=False, description="redirect: append the rest of the path after the route's prefix and the query."
    )
    respond_status: Literal[200, 204, 403, 404, 410, 451, 503] = Field(
        default=404, description="respond: the status code answered."
    )
    respond_body: str = Field(
        default="",
        max_length=MAX_RESPOND_BODY_LENGTH,
        description='respond: an optional plain-text body (no " \\ $ ; { } or control characters).',
    )
    enabled: bool = True

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check(validate_path, value)

    @field_validator("redirect_url")
    @classmethod
    def _redirect_url(cls, value: str) -> str:
        return _check(normalize_redirect_url, value) if value else value

    @field_validator("respond_body")
    @classmethod
    def _respond_body(cls, value: str) -> str:
        return _check(validate_respond_body, value)

    @model_validator(mode="after")
    def _action_fields(self) -> RouteSpec:
        # Each error leads with its field, so it is reported on that field.
        for action, fields in ACTION_FIELDS.items():
            if action != self.action:
                for name, default in fields.items():
                    if getattr(self, name) != default:
                        raise ValueError(
                            f"{name}: only a {action} route has {name}; this route's action is {self.action}."
                        )
        if self.action != "proxy":
            if self.targets:
                raise ValueError(f"targets: a {self.action} route has no targets.")
            if self.action == "redirect" and not self.redirect_url:
                raise ValueError("redirect_url: a redirect route needs the address to redirect to.")
            if self.action == "respond" and self.respond_status == 204 and self.respond_body:
                raise ValueError("respond_body: a 204 answer has no body.")
        return self

    @model_validator(mode="after")
    def _targets(self) -> RouteSpec:
        if self.action != "proxy":
            return self
        if not self.targets:
            raise ValueError("targets: a proxy route needs at least one target.")
        twice = first_repeated((t.host, t.port) for t in self.targets)
        if twice is not None:
            raise ValueError(f"targets: {twice[0]}:{twice[1]} is listed twice.")
        if all(t.backup for t in self.targets):
            raise ValueError("targets: at least one target must not be a backup.")
        if self.balance == "ip_hash" and any(t.backup for t in self.targets):
            raise ValueError("targets: nginx does not allow backup targets with ip_hash balancing.")
        return self


class DomainSpec(BaseModel):
    """A domain with all its routes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=MAX_DOMAIN_LENGTH, examples=["gctask.com"])
    enabled: bool = True
    notes: str = Field(default="", max_length=MAX_NOTES_LENGTH)
    certificate: int | None = Field(
        default=None, ge=1, description="The id of the certificate served on the TLS listener (null: HTTP only)."
    )
    force_https: bool = Field(default=False, description="Answer HTTP with a 301 to https (except ACME challenges).")
    hsts: int = Field(
        default=0, ge=0, le=HSTS_MAX, description="Strict-Transport-Security max-age in seconds; 0 sends no header."
    )
    http2: bool = Field(default=False, description="Offer HTTP/2 (ALPN h2) on the TLS listener.")
    routes: list[RouteSpec] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check(normalize_domain, value)

    @model_validator(mode="after")
    def _unique_paths(self) -> DomainSpec:
        twice = first_repeated(r.path for r in self.routes)
        if twice is not None:
            raise ValueError(f"routes: the path {twice} appears twice in {self.name}.")
        return self

    @model_validator(mode="after")
    def _https_needs_certificate(self) -> DomainSpec:
        if self.certificate is None:
            wanted = [name for name in HTTPS_OPTIONS if getattr(self, name)]
            if wanted:
                # The first field named leads the message, so the error is reported on that field.
                raise ValueError(
                    f"{wanted[0]}: {self.name} has no certificate; attach one before turning on {', '.join(wanted)}."
                )
        return self


class CertificateRef(BaseModel):
    """A certificate the domains name, by id and names only: keys and chains never travel in the document."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, description="The certificate's id (what the domains' ``certificate`` names).")
    domains: list[Annotated[str, Field(max_length=MAX_DOMAIN_LENGTH)]] = Field(
        max_length=100, description="Its names, as this Portico has them; an import refuses a different set."
    )


class ConfigDocument(BaseModel):
    """Every domain and route: what `GET /api/v1/config` returns and `PUT` accepts."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    domains: list[DomainSpec] = Field(default_factory=list)
    certificates: list[CertificateRef] = Field(
        default_factory=list,
        description="The certificates the domains use, as references (id and names, never a key). An import checks "
        "that each id is the certificate with those names here; certificates themselves are managed under "
        "/certificates.",
    )

    @model_validator(mode="after")
    def _unique_domains(self) -> ConfigDocument:
        twice = first_repeated(d.name for d in self.domains)
        if twice is not None:
            raise ValueError(f"domains: {twice} appears twice.")
        again = first_repeated(c.id for c in self.certificates)
        if again is not None:
            raise ValueError(f"certificates: the certificate {again} is listed twice.")
        return self

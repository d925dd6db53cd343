"""/certificates: request from ACME (202, ordered by the worker), upload (201), list, read, renew, delete.
Thin over certificates.operations; private keys and DNS secrets never appear in an answer."""

from datetime import datetime
from typing import Any, Literal

from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from certificates import operations
from certificates.models import Certificate
from certificates.pem import MAX_PEM_CHARS
from core import audit
from core.api import IF_MATCH, PagePagination, filter_by, if_match_versions, require, set_etag
from core.errors import Invalid

router = Router(tags=["certificates"])


class CertificateOut(Schema):
    id: int
    domains: list[str] = Field(description="The names the certificate is for (wildcards as *.example.com).")
    source: str = Field(description="acme or upload.")
    challenge: str = Field(description="http-01 or dns-01 for ACME certificates; empty for uploads.")
    dns_provider: str = Field(description="hook or a dns-lexicon provider (dns-01 only).")
    dns_settings: dict[str, Any] = Field(description="The provider's settings without the secret ones.")
    status: str = Field(description="pending, valid, failed or expired.")
    not_before: datetime | None
    not_after: datetime | None
    issuer: str
    serial: str = Field(description="The serial number in hexadecimal.")
    message: str = Field(description="Why the last order or renewal failed; empty after a success.")
    failures: int = Field(description="Failed attempts since the last success.")
    next_attempt_at: datetime | None = Field(description="When the worker orders next (renewal or retry).")
    version: int = Field(description="Bumped on every change; also the ETag.")


class CertificateIn(Schema):
    source: Literal["acme", "upload"] = "acme"
    domains: list[str] | None = Field(
        None, max_length=operations.MAX_NAMES, description="ACME: the names to order. Upload: names it must cover."
    )
    challenge: Literal["http-01", "dns-01"] | None = Field(None, description="ACME only; http-01 when left out.")
    dns_provider: str | None = Field(None, max_length=40, description="dns-01: hook or a dns-lexicon provider.")
    dns_settings: dict[str, Any] | None = Field(
        None, description="dns-01: the provider's settings (zone, credentials, propagation_seconds)."
    )
    certificate: str | None = Field(None, max_length=MAX_PEM_CHARS, description="Upload: leaf then chain, PEM.")
    private_key: str | None = Field(None, max_length=MAX_PEM_CHARS, description="Upload: the key, PEM (unencrypted).")


class CertificateFilters(Schema):
    status: Literal["pending", "valid", "failed", "expired"] | None = None
    source: Literal["acme", "upload"] | None = None
    q: str | None = Field(None, max_length=253, description="Text in one of the names.")
    expires_before: datetime | None = Field(None, description="Only certificates whose not-after is before this.")


def _expected(request: HttpRequest) -> set[int] | None:
    return if_match_versions(request)


def _answer(response: HttpResponse, cert: Certificate) -> Certificate:
    set_etag(response, cert.version)
    return cert


@router.get("/certificates", response=list[CertificateOut])
@paginate(PagePagination)
def list_certificates(request: HttpRequest, filters: Query[CertificateFilters]):
    """Every certificate, oldest first; filter by status, source, a name or expiry."""
    require(request, "view_portico")
    qs = filter_by(
        operations.certificates(),
        filters,
        {"status": "status", "source": "source", "expires_before": "not_after__lt"},
    )
    if filters.q and filters.q.strip():
        qs = qs.annotate(names_text=Cast("domains", TextField())).filter(names_text__icontains=filters.q.strip())
    return qs.order_by("id")


@router.post("/certificates", response={201: CertificateOut, 202: CertificateOut})
def create_certificate(request: HttpRequest, payload: CertificateIn, response: HttpResponse):
    """ACME: record the request (202, status pending) for the worker to order. Upload: check and store (201).

    An upload is refused (422, naming the field) when the key does not match, the chain is broken or out of
    order, a certificate is expired or not yet valid, it does not cover ``domains``, or the PEM is garbage.
    """
    source = audit.source_of(request)
    if payload.source == "upload":
        for name in ("challenge", "dns_provider", "dns_settings"):
            if getattr(payload, name) is not None:
                raise Invalid.field(name, _("Only for certificates from ACME (source acme)."))
        cert = operations.upload_certificate(
            payload.certificate or "",
            payload.private_key or "",
            domains=payload.domains,
            actor=request.user,
            source=source,
        )
        status = 201
    else:
        for name in ("certificate", "private_key"):
            if getattr(payload, name) is not None:
                raise Invalid.field(name, _("Only for uploads (source upload)."))
        cert = operations.request_certificate(
            payload.domains or [],
            challenge=payload.challenge or "http-01",
            dns_provider=payload.dns_provider or "",
            dns_settings=payload.dns_settings,
            actor=request.user,
            source=source,
        )
        status = 202
    response["Location"] = f"{request.path.rstrip('/')}/{cert.pk}"
    return Status(status, _answer(response, cert))


@router.get("/certificates/{cert_id}", response=CertificateOut)
def get_certificate(request: HttpRequest, cert_id: int, response: HttpResponse):
    """One certificate; its ETag is what renew's and delete's If-Match compare."""
    require(request, "view_portico")
    return _answer(response, operations.get_certificate(cert_id))


@router.post("/certificates/{cert_id}/renew", response={202: CertificateOut}, openapi_extra={"parameters": [IF_MATCH]})
def renew_certificate(request: HttpRequest, cert_id: int, response: HttpResponse):
    """Order an ACME certificate again now (the worker does it; failures start over). 422 for an upload."""
    cert = operations.renew_certificate(
        cert_id, actor=request.user, source=audit.source_of(request), expected_version=_expected(request)
    )
    return Status(202, _answer(response, cert))


@router.delete("/certificates/{cert_id}", response={204: None})
def delete_certificate(request: HttpRequest, cert_id: int):
    """Delete a certificate; 409 while a domain uses it."""
    operations.delete_certificate(
        cert_id, actor=request.user, source=audit.source_of(request), expected_version=_expected(request)
    )
    return Status(204, None)

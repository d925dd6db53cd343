"""The Certificates page: every certificate with its expiry and last error; request, upload, renew and delete, each
through certificates.operations (the page parses, calls and shows; it never writes)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from certificates import health, operations
from certificates.forms import RequestForm, UploadForm
from certificates.models import Certificate
from core.errors import OperationError
from core.htmx import HtmxHttpRequest, is_fragment, page_or_fragment, show_on_form
from core.roles import can, capability_required

TEMPLATE = "certificates/index.html"
DETAIL = "certificates/detail.html"


def _row(cert: Certificate, error: str = "") -> dict[str, Any]:
    return {
        "cert": cert,
        "days_left": health.days_left(cert),
        "level": health.level(cert),
        "users": [d.name for d in cert.domain_set.order_by("name")],
        "error": error,
    }


def _context(request: HtmxHttpRequest, **extra: Any) -> dict[str, Any]:
    rows = [_row(cert) for cert in operations.certificates().prefetch_related("domain_set")]
    return {
        "rows": rows,
        "pending": any(row["cert"].status == Certificate.Status.PENDING for row in rows),
        "can_operate": can(request.user, "operate"),
        "request_form": extra.pop("request_form", None) or RequestForm(),
        "upload_form": extra.pop("upload_form", None) or UploadForm(auto_id="upload-%s"),
        "warn_days": health.WARN_DAYS,
        "error_days": health.ERROR_DAYS,
        **extra,
    }


def _on_form(form: Any, exc: OperationError) -> None:
    """The operation's refusal on the form's field: ``domains.2`` and ``dns_settings.zone`` belong to their field."""
    exc.errors = [{**e, "field": e["field"].split(".")[0]} for e in exc.errors]
    show_on_form(form, exc)


@require_GET
@capability_required("view_portico")
def index(request: HtmxHttpRequest) -> HttpResponse:
    """Every certificate; the table refreshes itself while an order is pending."""
    context = _context(request)
    if is_fragment(request) and request.GET.get("table") and not context["pending"]:
        # The last pending order finished: show the result once more and stop asking.
        response = render(request, f"{TEMPLATE}#certificates-table", context)
        response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, page_or_fragment(request, TEMPLATE, "certificates-table"), context)


def _answer_form(request: HtmxHttpRequest, form_name: str, form: Any, done: str) -> HttpResponse:
    """After a request or upload: the page again (htmx: the panel), the form with its errors when refused."""
    if not form.errors:
        messages.success(request, done)
        if not is_fragment(request):
            return redirect("certificates:index")
        form = None
    context = _context(request, **{form_name: form})
    # htmx swaps 2xx answers only, and a refusal must show: a fragment answers 200, a plain form post 422.
    status = 422 if form is not None and not is_fragment(request) else 200
    return render(request, page_or_fragment(request, TEMPLATE, "certificates-panel"), context, status=status)


@require_POST
@capability_required("operate")
def request_certificate(request: HtmxHttpRequest) -> HttpResponse:
    """Record an ACME order for the worker (certificates.operations.request_certificate)."""
    form = RequestForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            cert = operations.request_certificate(
                data["domains"],
                challenge=data["challenge"],
                dns_provider=data["dns_provider"].strip(),
                dns_settings=data["dns_settings"],
                actor=request.user,
                source="ui",
            )
        except OperationError as exc:
            _on_form(form, exc)
        else:
            done = _("Certificate for %(name)s requested; the worker orders it within seconds.") % {"name": cert}
            return _answer_form(request, "request_form", form, done)
    return _answer_form(request, "request_form", form, "")


@require_POST
@capability_required("operate")
def upload_certificate(request: HtmxHttpRequest) -> HttpResponse:
    """Check and store an uploaded chain and key (certificates.operations.upload_certificate)."""
    form = UploadForm(request.POST, auto_id="upload-%s")
    if form.is_valid():
        data = form.cleaned_data
        try:
            cert = operations.upload_certificate(
                data["certificate"], data["private_key"], domains=data["domains"] or None, actor=request.user,
                source="ui",
            )  # fmt: skip
        except OperationError as exc:
            _on_form(form, exc)
        else:
            done = _("Certificate for %(name)s uploaded.") % {"name": cert}
            return _answer_form(request, "upload_form", UploadForm(auto_id="upload-%s"), done)
    return _answer_form(request, "upload_form", form, "")


def _row_answer(request: HtmxHttpRequest, cert_id: int, error: str, done: str) -> HttpResponse:
    if not is_fragment(request):
        if error:
            messages.error(request, error)
        elif done:
            messages.success(request, done)
        return redirect("certificates:index")
    cert = Certificate.objects.filter(pk=cert_id).first()
    if cert is None:
        return HttpResponse("")  # deleted: the row goes
    context = {"row": _row(cert, error), "can_operate": can(request.user, "operate")}
    context.update(warn_days=health.WARN_DAYS, error_days=health.ERROR_DAYS)
    return render(request, f"{TEMPLATE}#certificate-row", context)


@require_POST
@capability_required("operate")
def renew(request: HtmxHttpRequest, cert_id: int) -> HttpResponse:
    """Order an ACME certificate again now."""
    try:
        cert = operations.renew_certificate(cert_id, actor=request.user, source="ui")
    except OperationError as exc:
        return _row_answer(request, cert_id, exc.message, "")
    return _row_answer(request, cert_id, "", _("Renewal of %(name)s asked; the worker orders it.") % {"name": cert})


@require_POST
@capability_required("operate")
def delete(request: HtmxHttpRequest, cert_id: int) -> HttpResponse:
    """Delete a certificate no domain uses; refused (naming the domains) while one does."""
    try:
        operations.delete_certificate(cert_id, actor=request.user, source="ui")
    except OperationError as exc:
        return _row_answer(request, cert_id, exc.message, "")
    return _row_answer(request, cert_id, "", _("Certificate deleted."))


@require_GET
@capability_required("view_portico")
def detail(request: HtmxHttpRequest, cert_id: int) -> HttpResponse:
    """One certificate: its names, dates, issuer, state, last error, the domains using it and its audit trail."""
    try:
        cert = operations.get_certificate(cert_id)
    except OperationError as exc:
        return render(request, DETAIL, {"missing": exc.message}, status=404)
    context = {
        "row": _row(cert),
        "can_operate": can(request.user, "operate"),
        "history": operations.history(cert_id)[:20],
        "warn_days": health.WARN_DAYS,
        "error_days": health.ERROR_DAYS,
    }
    return render(request, page_or_fragment(request, DETAIL, "certificate-facts"), context)

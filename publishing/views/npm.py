"""The NPM page: connection settings, NPM's hosts (adopt), and import with a preview first."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core import audit
from core.errors import OperationError
from core.htmx import page_or_fragment
from core.roles import can, capability_required
from publishing import operations
from publishing.npm.importer import run_import
from publishing.operations import PublishError

TEMPLATE = "publishing/npm.html"
SECRET_REMOVED = gettext_lazy(
    "The address or the user changed, so the stored password was removed: enter NPM's password again."
)


def _partial(request: HttpRequest, name: str) -> str:
    return page_or_fragment(request, TEMPLATE, name)


def _page_context(request: HttpRequest, **extra) -> dict:
    return {
        "config": operations.npm_for_reader(operations.npm_settings(), request.user),
        "can_operate": can(request.user, "operate"),
        "can_administer": can(request.user, "administer"),
        **extra,
    }


@capability_required("view_portico")
def npm_page(request: HttpRequest) -> HttpResponse:
    """NPM settings, status and hosts; the hosts load after the page (NPM may be slow)."""
    return render(request, TEMPLATE, _page_context(request))


@capability_required("view_portico")
def npm_hosts(request: HttpRequest) -> HttpResponse:
    """The hosts table (htmx partial): NPM's status and every proxy host, with Adopt buttons for conflicts."""
    context = _page_context(request, status=operations.npm_for_reader(operations.npm_status(), request.user))
    if context["status"]["reachable"]:
        try:
            context["hosts"] = operations.npm_host_rows(operations.npm_publisher().hosts())
        except PublishError as exc:
            context["error"] = exc.message
    return render(request, f"{TEMPLATE}#npm-hosts", context)


@require_POST
@capability_required("administer")
def npm_settings(request: HttpRequest) -> HttpResponse:
    """Store NPM's URL, user and password (an empty password field keeps the stored one, at the same address)."""
    had_secret = operations.npm_settings()["secret_set"]
    try:
        operations.save_npm_settings(
            request.POST.get("url", ""),
            request.POST.get("identity", ""),
            request.POST.get("secret") or None,
            actor=request.user,
            source="ui",
        )
    except OperationError as exc:
        errors = {e["field"]: e["message"] for e in exc.errors} or {"form": exc.message}
        context = _page_context(request, errors=errors, posted=request.POST)
        return render(request, _partial(request, "npm-settings"), context, status=422)
    messages.success(request, _("NPM settings saved."))
    secret_removed = had_secret and not operations.npm_settings()["secret_set"]
    if secret_removed:
        messages.warning(request, SECRET_REMOVED)
    if request.htmx:
        context = _page_context(request, saved=True, secret_removed=secret_removed)
        return render(request, f"{TEMPLATE}#npm-settings", context)
    return redirect("routes:npm")


@require_POST
@capability_required("operate")
def npm_import(request: HttpRequest) -> HttpResponse:
    """Preview an import (default), or run it (``confirm=1``), optionally adopting the hosts (``adopt=1``)."""
    confirm = request.POST.get("confirm") == "1"
    adopt = request.POST.get("adopt") == "1"
    context = _page_context(request)
    try:
        context["result"] = run_import(
            dry_run=not confirm, adopt=adopt, actor=request.user, source="ui", publisher=operations.npm_publisher()
        )
    except PublishError as exc:
        context["import_error"] = exc.message
    return render(request, _partial(request, "npm-import"), context)


@require_POST
@capability_required("operate")
def npm_adopt(request: HttpRequest, host_id: int) -> HttpResponse:
    """Adopt one NPM host: import its routes and mark it as Portico's; answers the refreshed hosts table."""
    try:
        result = run_import(
            dry_run=False,
            adopt=True,
            host_ids=[host_id],
            actor=request.user,
            source=audit.source_of(request),
            publisher=operations.npm_publisher(),
        )
    except PublishError as exc:
        messages.error(request, exc.message)
    else:
        if result.adopted:
            messages.success(request, _("NPM host #%(id)s is now managed by Portico.") % {"id": host_id})
        else:
            messages.warning(request, _("NPM host #%(id)s was not adopted.") % {"id": host_id})
    if request.htmx:
        return npm_hosts(request)
    return redirect("routes:npm")

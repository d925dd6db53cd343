"""The NPM page: connection settings, NPM's hosts (adopt), and import with a preview first."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core import audit
from core.htmx import page_or_fragment
from core.roles import can, capability_required
from publishing.api import npm as api_npm
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
        "config": api_npm.for_reader(api_npm.settings_out(), request.user),
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
    found = api_npm.npm_status(lambda: api_npm.publisher()._client_factory())
    context = _page_context(request, status=api_npm.for_reader(found, request.user))
    if context["status"]["reachable"]:
        try:
            context["hosts"] = api_npm.host_rows(api_npm.publisher().hosts())
        except PublishError as exc:
            context["error"] = exc.message
    return render(request, f"{TEMPLATE}#npm-hosts", context)


@require_POST
@capability_required("administer")
def npm_settings(request: HttpRequest) -> HttpResponse:
    """Store NPM's URL, user and password (an empty password field keeps the stored one, at the same address)."""
    had_secret = api_npm.settings_out()["secret_set"]
    errors = api_npm.save_settings(
        request.POST.get("url", ""),
        request.POST.get("identity", ""),
        request.POST.get("secret") or None,
        actor=request.user,
        source="ui",
    )
    if errors:
        context = _page_context(request, errors={e["field"]: e["message"] for e in errors}, posted=request.POST)
        return render(request, _partial(request, "npm-settings"), context, status=422)
    messages.success(request, _("NPM settings saved."))
    secret_removed = had_secret and not api_npm.settings_out()["secret_set"]
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
            dry_run=not confirm, adopt=adopt, actor=request.user, source="ui", publisher=api_npm.publisher()
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
            publisher=api_npm.publisher(),
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

"""Project-level pages: overview, personal API tokens and the audit log."""

from __future__ import annotations

import functools
from pathlib import Path

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from certificates import health
from core.htmx import is_fragment, page_or_fragment
from core.roles import ROLE_LABELS, ROLES, capability_required
from dashboard import lab, topology
from dashboard.accounts import AccountError, accounts, create_account, get_account, role_name, update_account
from dashboard.forms import AccountForm, TokenForm
from dashboard.models import ApiToken
from dashboard.tokens import TokenError, issue_token
from dashboard.tokens import revoke_token as revoke_token_op


def _overview_context() -> dict:
    topo = topology.current()
    certificates = health.attention()
    containers = [n for n in topo.of_kind("container") if n.state not in ("missing", "unknown")]
    return {
        "topo": topo,
        "certificates": certificates,
        "warning_count": len(topo.lints) + len(certificates),
        "counts": {
            "domains": len(topo.of_kind("domain")),
            "routes": len(topo.of_kind("route")),
            "containers": len(containers),
            "running": sum(1 for n in containers if n.state == "running"),
        },
    }


@capability_required("view_portico")
def overview(request: HttpRequest) -> HttpResponse:
    """The landing page: the live topology picture and the lints; htmx polls its live part."""
    return render(request, page_or_fragment(request, "dashboard/overview.html", "overview-live"), _overview_context())


@capability_required("view_portico")
def topology_svg(request: HttpRequest) -> HttpResponse:
    """The topology picture alone, as an SVG file that carries its own styles (the page links them instead)."""
    context = {"topo": topology.current(), "embedded_css": _topology_css()}
    return render(request, "dashboard/topology.svg", context, content_type="image/svg+xml")


@functools.cache
def _topology_css() -> str:
    return Path(finders.find("portico/topology.css")).read_text()


@capability_required("view_portico")
def lab_guide(request: HttpRequest) -> HttpResponse:
    """The lecture's steps next to the live state of this machine."""
    spec, lab_ids = lab.detect(request.GET.get("lab"))
    steps = lab.status(spec)
    step_groups: dict[str, list[lab.Step]] = {}
    for step in steps:
        step_groups.setdefault(step.group, []).append(step)
    context = {
        "spec": spec,
        "lab_ids": lab_ids,
        "steps": steps,
        "step_groups": step_groups,
        "services": spec.services(),
        "hosts_line": lab.hosts_line(spec),
        "urls": lab.urls(spec),
        "lints": topology.current().lints,
    }
    return render(request, page_or_fragment(request, "dashboard/lab.html", "lab-steps"), context)


@capability_required("view_portico")
def tokens(request: HttpRequest) -> HttpResponse:
    """List your API tokens and create a new one; the plain value is shown once."""
    form = TokenForm(request.POST or None)
    new_plain = None
    if request.method == "POST" and form.is_valid():
        expires = form.cleaned_data.get("expires_in_days")
        expires_at = timezone.now() + timezone.timedelta(days=expires) if expires else None
        try:
            _token, new_plain = issue_token(
                request.user, form.cleaned_data["name"], expires_at, actor=request.user, source="ui"
            )
        except TokenError:
            form.add_error("name", _("You already have a token with this name."))
        else:
            form = TokenForm()
    context = {
        "form": form,
        "new_plain": new_plain,
        "tokens": ApiToken.objects.filter(user=request.user),
    }
    return render(request, page_or_fragment(request, "dashboard/tokens.html", "tokens-panel"), context)


@require_POST
@capability_required("view_portico")
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of your tokens."""
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    revoke_token_op(token, actor=request.user, source="ui")
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect("tokens")


# --- users ---------------------------------------------------------------------------------------------


def _account_rows() -> list[dict]:
    return [{"user": u, "role": role_name(u)} for u in accounts()]


@capability_required("administer")
def users(request: HttpRequest) -> HttpResponse:
    """Accounts and their roles: make one (a student, a teaching assistant), change a role, switch one off."""
    form = AccountForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                made = create_account(
                    data["username"], data["password"], data["role"], data["email"], actor=request.user, source="ui"
                )
            except AccountError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, _("Account %(name)s made.") % {"name": made.get_username()})
                if not request.htmx:
                    return redirect("users")
                form = AccountForm()
        if form.errors:
            status = 422
    context = {"form": form, "rows": _account_rows(), "roles": [(r, ROLE_LABELS[r]) for r in ROLES]}
    template = page_or_fragment(request, "dashboard/users.html", "users-panel")
    return render(request, template, context, status=status)


@require_POST
@capability_required("administer")
def user_update(request: HttpRequest, username: str) -> HttpResponse:
    """One account's role or state from its row (``role``, or ``active`` = on/off)."""
    role = request.POST.get("role") or None
    active = {"on": True, "off": False}.get(request.POST.get("active", ""))
    error = ""
    try:
        update_account(username, role=role, is_active=active, actor=request.user, source="ui")
    except AccountError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        error = exc.message
    if not is_fragment(request):
        if error:
            messages.error(request, error)
        return redirect("users")
    user = get_account(username)
    context = {
        "row": {"user": user, "role": role_name(user)},
        "row_error": error,
        "roles": [(r, ROLE_LABELS[r]) for r in ROLES],
    }
    return render(request, "dashboard/users.html#user-row", context, status=409 if error else 200)

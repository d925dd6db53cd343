"""The accounts pages: your API tokens, and the Users page where admins make accounts and give roles."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts.forms import AccountForm, TokenForm
from accounts.models import ApiToken
from accounts.operations import (
    accounts,
    create_account,
    get_account,
    issue_token,
    role_name,
    update_account,
)
from accounts.operations import revoke_token as revoke_token_op
from core.errors import NotFound, OperationError
from core.htmx import is_fragment, page_or_fragment, show_on_form
from core.roles import ROLE_LABELS, ROLES, capability_required


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
        except OperationError as exc:
            show_on_form(form, exc)
        else:
            form = TokenForm()
    context = {
        "form": form,
        "new_plain": new_plain,
        "tokens": ApiToken.objects.filter(user=request.user),
    }
    return render(request, page_or_fragment(request, "accounts/tokens.html", "tokens-panel"), context)


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
            except OperationError as exc:
                show_on_form(form, exc)
            else:
                messages.success(request, _("Account %(name)s made.") % {"name": made.get_username()})
                if not request.htmx:
                    return redirect("users")
                form = AccountForm()
        if form.errors:
            status = 422
    context = {"form": form, "rows": _account_rows(), "roles": [(r, ROLE_LABELS[r]) for r in ROLES]}
    template = page_or_fragment(request, "accounts/users.html", "users-panel")
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
    except NotFound as exc:
        raise Http404(exc.message) from None
    except OperationError as exc:
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
    return render(request, "accounts/users.html#user-row", context, status=409 if error else 200)

"""The routes page: domains and their routes, edited in place with htmx and still usable without JavaScript.

htmx requests get the changed fragment (``routes/index.html#<partial>``) plus the unapplied-changes banner
out of band; plain form posts redirect back to the page (post/redirect/get). Every change is an operation of
routes/operations.py; its refusals are shown on the form they came from.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from core.errors import Forbidden, NotFound, OperationError
from core.htmx import HtmxHttpRequest, is_fragment, show_on_form
from core.roles import can, capability_required
from routes import operations
from routes.forms import (
    DomainForm,
    DomainHttpsForm,
    DomainNotesForm,
    RouteForm,
    parse_pick,
    target_rows,
    with_target_rows,
)
from routes.models import Domain, Route
from routes.picker import target_choices
from routes.validators import WEIGHT

TEMPLATE = "routes/index.html"
UI = "ui"


def _domains():
    return Domain.objects.select_related("certificate").prefetch_related("routes__targets")


def _page(request: HtmxHttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    """The whole page; ``extra`` opens forms (``editing``: RouteForm, ``new_route``: RouteForm)."""
    context = {
        "domains": _domains(),
        "domain_form": extra.pop("domain_form", None) or DomainForm(),
        "can_operate": can(request.user, "operate"),
        **extra,
    }
    if context.get("editing") or context.get("new_route"):
        context["picker"] = target_choices()
    return render(request, TEMPLATE, context, status=status)


def _fragments(request: HtmxHttpRequest, *parts: tuple[str, dict], banner: bool = True, status: int = 200):
    """Render partials of the page into one htmx response; the banner goes out of band."""
    base = {"can_operate": can(request.user, "operate")}
    html = [render_to_string(f"{TEMPLATE}#{name}", {**base, **ctx}, request=request) for name, ctx in parts]
    if banner:
        html.append(render_to_string(f"{TEMPLATE}#changes-banner", {"oob": True}, request))
    return HttpResponse("".join(html), status=status)


def _back(anchor: str = "") -> HttpResponse:
    return redirect(reverse("routes:index") + (f"#{anchor}" if anchor else ""))


@require_GET
@capability_required("view_portico")
def index(request: HtmxHttpRequest) -> HttpResponse:
    """Every domain with its routes, what each route does, and the changes not applied yet."""
    return _page(request)


# --- domains ---------------------------------------------------------------------------------------


def _operate(operation, *args, **kwargs):
    """Run an operation whose refusals here can only be a vanished object or a missing role (no form to show)."""
    try:
        return operation(*args, **kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None


def _domain_form_response(request: HtmxHttpRequest, form: DomainForm, status: int) -> HttpResponse:
    if is_fragment(request):
        return _fragments(request, ("domain-form", {"domain_form": form}), banner=False)
    return _page(request, status=status, domain_form=form)


@require_POST
@capability_required("operate")
def domain_create(request: HtmxHttpRequest) -> HttpResponse:
    """Add a domain (no routes yet)."""
    form = DomainForm(request.POST)
    if not form.is_valid():
        return _domain_form_response(request, form, 422)
    spec = form.cleaned_data["spec"]
    try:
        domain = operations.create_domain(spec.name, {"notes": spec.notes}, actor=request.user, source=UI)
    except OperationError as exc:
        show_on_form(form, exc)
        return _domain_form_response(request, form, exc.status)
    if is_fragment(request):
        response = _fragments(request, ("domain-list", {"domains": _domains(), "domain_form": DomainForm()}))
        return reswap(retarget(response, "#domain-list"), "outerHTML")
    messages.success(request, _("Domain %(name)s added.") % {"name": domain.unicode_name})
    return _back(f"domain-{domain.pk}")


@require_POST
@capability_required("operate")
def domain_validate(request: HtmxHttpRequest) -> HttpResponse:
    """Field errors of the add-domain form while it is typed (out-of-band error slots)."""
    form = DomainForm(request.POST)
    form.is_valid()
    errors = {name: list(form.errors.get(name, [])) for name in form.fields}
    errors["__all__"] = list(form.non_field_errors())
    return _errors_response(request, form.dom_id, errors, request.POST)


@require_GET
@capability_required("view_portico")
def domain_detail(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """One domain's section (htmx), e.g. to close an unsaved new-route form."""
    domain = get_object_or_404(_domains(), pk=domain_id)
    if not is_fragment(request):
        return _back(f"domain-{domain.pk}")
    return _fragments(request, ("domain-section", {"domain": domain}), banner=False)


@require_POST
@capability_required("operate")
def domain_toggle(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """Switch a whole domain on or off in one click."""
    domain = get_object_or_404(Domain, pk=domain_id)
    _operate(operations.update_domain, domain_id, {"enabled": not domain.enabled}, actor=request.user, source=UI)
    if is_fragment(request):
        return _fragments(request, ("domain-section", {"domain": get_object_or_404(_domains(), pk=domain_id)}))
    return _back(f"domain-{domain_id}")


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def domain_notes(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """GET: the domain with its notes in a form; POST: save them (audited; the domain's version moves on)."""
    domain = get_object_or_404(_domains(), pk=domain_id)
    form = DomainNotesForm(request.POST or None, domain=domain, initial={"notes": domain.notes})
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                operations.update_domain(
                    domain_id, {"notes": form.cleaned_data["notes"].strip()}, actor=request.user, source=UI
                )
            except OperationError as exc:
                show_on_form(form, exc)
                status = exc.status
            else:
                if is_fragment(request):
                    section = ("domain-section", {"domain": get_object_or_404(_domains(), pk=domain_id)})
                    return _fragments(request, section)
                return _back(f"domain-{domain_id}")
    if is_fragment(request):
        return _fragments(
            request, ("domain-section", {"domain": domain, "notes_form": form}), banner=False, status=status
        )
    return _page(request, status=status, notes_form=form)


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def domain_https(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """GET: the domain with its HTTPS settings in a form; POST: save them (operations.update_domain)."""
    domain = get_object_or_404(_domains(), pk=domain_id)
    form = DomainHttpsForm(request.POST or None, domain=domain)
    if request.method == "POST" and form.is_valid():
        try:
            operations.update_domain(domain.pk, form.settings(), actor=request.user, source=UI)
        except OperationError as exc:
            show_on_form(form, exc)
        else:
            if is_fragment(request):
                fresh = get_object_or_404(_domains(), pk=domain_id)
                return _fragments(request, ("domain-section", {"domain": fresh}))
            return _back(f"domain-{domain_id}")
    if is_fragment(request):
        # 200 even for a refusal, as the route form does: htmx 2 swaps no 4xx answer, and the errors must show.
        return _fragments(request, ("domain-section", {"domain": domain, "https_form": form}), banner=False)
    return _page(request, status=422 if request.method == "POST" else 200, https_form=form)


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def domain_delete(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """GET: ask (for browsers without JavaScript); POST: delete the domain and all its routes."""
    domain = get_object_or_404(_domains(), pk=domain_id)
    if request.method == "GET":
        return render(request, "routes/confirm_delete.html", {"domain": domain, "action": request.path})
    _operate(operations.delete_domain, domain_id, cascade=True, actor=request.user, source=UI)
    if is_fragment(request):
        return _fragments(request)
    messages.success(request, _("Domain %(name)s deleted.") % {"name": domain.unicode_name})
    return _back()


# --- routes ----------------------------------------------------------------------------------------


def _form_edit(request: HtmxHttpRequest, form: RouteForm) -> HttpResponse | None:
    """Add a target row, remove one, or add the picked container; None when the post is a save."""
    action = request.POST.get("action", "")
    rows = target_rows(request.POST)
    if action == "add-target":
        rows.append({"host": "", "port": "", "weight": str(WEIGHT.default), "backup": ""})
    elif action.startswith("remove-target-") and action.removeprefix("remove-target-").isdigit():
        index = int(action.removeprefix("remove-target-"))
        rows = [row for i, row in enumerate(rows) if i != index]
    elif action == "pick":
        picked = parse_pick(request.POST.get("pick", ""))
        if picked is None:
            return _show_form(request, form, status=422)
        blank = next((i for i, row in enumerate(rows) if not row["host"] and not row["port"]), None)
        if blank is None:
            rows.append(picked)
        else:
            rows[blank] = picked
    else:
        return None
    data = with_target_rows(request.POST, rows)
    edited = RouteForm(data=data, domain=form.domain, route=form.route)
    edited.quiet = True  # rows changed, nothing submitted: show no errors yet
    return _show_form(request, edited)


def _show_form(request: HtmxHttpRequest, form: RouteForm, status: int = 200) -> HttpResponse:
    if is_fragment(request):
        ctx = {"form": form, "domain": form.domain, "picker": target_choices()}
        return _fragments(request, ("route-form", ctx), banner=False)
    key = "editing" if form.route is not None else "new_route"
    return _page(request, status=status, **{key: form})


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def route_create(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """GET: an empty route form in the domain; POST: save it (or add/remove a target row)."""
    domain = get_object_or_404(Domain, pk=domain_id)
    if request.method == "GET":
        return _show_form(request, RouteForm(domain=domain))
    form = RouteForm(data=request.POST, domain=domain)
    edited = _form_edit(request, form)
    if edited is not None:
        return edited
    if not form.is_valid():
        return _show_form(request, form, status=422)
    try:
        route = operations.create_route(domain.pk, form.spec, actor=request.user, source=UI)
    except OperationError as exc:
        # e.g. the path was taken by someone else since the form checked it: a form error, not a 500
        show_on_form(form, exc)
        return _show_form(request, form, status=exc.status)
    if is_fragment(request):
        response = _fragments(request, ("domain-section", {"domain": get_object_or_404(_domains(), pk=domain.pk)}))
        return reswap(retarget(response, f"#domain-{domain.pk}"), "outerHTML")
    messages.success(request, _("Route %(route)s added.") % {"route": route})
    return _back(f"route-{route.pk}")


@require_GET
@capability_required("view_portico")
def route_detail(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """One route's row (htmx), e.g. to cancel an edit."""
    route = get_object_or_404(Route.objects.select_related("domain").prefetch_related("targets"), pk=route_id)
    if not is_fragment(request):
        return _back(f"route-{route.pk}")
    return _fragments(request, ("route-row", {"route": route, "domain": route.domain}), banner=False)


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def route_edit(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """GET: the route's edit form in place of its row; POST: save and return the row."""
    route = get_object_or_404(Route.objects.select_related("domain").prefetch_related("targets"), pk=route_id)
    if request.method == "GET":
        return _show_form(request, RouteForm(domain=route.domain, route=route))
    form = RouteForm(data=request.POST, domain=route.domain, route=route)
    edited = _form_edit(request, form)
    if edited is not None:
        return edited
    if not form.is_valid():
        return _show_form(request, form, status=422)
    try:
        route, changed = operations.update_route(
            route.pk,
            form.spec.model_dump(mode="json"),
            actor=request.user,
            source=UI,
            expected_version=form.cleaned_data.get("version"),
        )
    except OperationError as exc:
        show_on_form(form, exc)
        return _show_form(request, form, status=exc.status)
    if is_fragment(request):
        return _fragments(request, ("route-row", {"route": route, "domain": route.domain}))
    if changed:
        messages.success(request, _("Route %(route)s saved.") % {"route": route})
    return _back(f"route-{route.pk}")


def _validate(request: HtmxHttpRequest, form: RouteForm) -> HttpResponse:
    form.is_valid()
    return _errors_response(request, form.dom_id, form.field_errors(typing=True), request.POST)


@require_POST
@capability_required("operate")
def route_create_validate(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """Field errors of a new route's form while it is typed."""
    domain = get_object_or_404(Domain, pk=domain_id)
    return _validate(request, RouteForm(data=request.POST, domain=domain))


@require_POST
@capability_required("operate")
def route_validate(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """Field errors of a route's edit form while it is typed."""
    route = get_object_or_404(Route.objects.select_related("domain"), pk=route_id)
    return _validate(request, RouteForm(data=request.POST, domain=route.domain, route=route))


def _errors_response(request: HtmxHttpRequest, key: str, errors: dict[str, list[str]], data) -> HttpResponse:
    """One out-of-band error slot per field; a field still empty shows nothing until the form is saved."""
    slots = []
    for name, messages_ in errors.items():
        if name != "__all__" and not str(data.get(name, "")).strip():
            messages_ = []
        slots.append({"id": f"{key}-err-{name}", "messages": [str(m) for m in messages_]})
    return render(request, f"{TEMPLATE}#field-errors", {"slots": slots})


@require_POST
@capability_required("operate")
def route_toggle(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """Switch a route on or off in one click."""
    route = get_object_or_404(Route, pk=route_id)
    route, _changed = _operate(
        operations.update_route, route_id, {"enabled": not route.enabled}, actor=request.user, source=UI
    )
    if is_fragment(request):
        return _fragments(request, ("route-row", {"route": route, "domain": route.domain}))
    return _back(f"route-{route.pk}")


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def route_delete(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """GET: ask (for browsers without JavaScript); POST: delete the route."""
    route = get_object_or_404(Route.objects.select_related("domain").prefetch_related("targets"), pk=route_id)
    if request.method == "GET":
        return render(request, "routes/confirm_delete.html", {"route": route, "action": request.path})
    _operate(operations.delete_route, route_id, actor=request.user, source=UI)
    name, domain_id = str(route), route.domain_id
    if is_fragment(request):
        # The whole domain section, not just an empty row: "No routes yet." and the missing-"/" hint depend
        # on the routes that are left.
        response = _fragments(request, ("domain-section", {"domain": get_object_or_404(_domains(), pk=domain_id)}))
        return reswap(retarget(response, f"#domain-{domain_id}"), "outerHTML")
    messages.success(request, _("Route %(route)s deleted.") % {"route": name})
    return _back()

"""The routes page: domains and their routes, edited in place with htmx and still usable without JavaScript.

htmx requests get the changed fragment (``routes/index.html#<partial>``) plus the unapplied-changes banner
out of band; plain form posts redirect back to the page (post/redirect/get).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from core import audit
from core.errors import OperationError
from core.htmx import HtmxHttpRequest, is_fragment, show_on_form
from core.roles import can, capability_required
from routes.forms import (
    STALE,
    DomainForm,
    DomainHttpsForm,
    DomainNotesForm,
    RouteForm,
    parse_pick,
    target_rows,
    with_target_rows,
)
from routes.models import Domain, Route
from routes.pending import unapplied_changes
from routes.picker import target_choices
from routes.state import change_domain_settings, route_spec, save_route, writing_state

TEMPLATE = "routes/index.html"


def _domains():
    return Domain.objects.select_related("certificate").prefetch_related("routes__targets")


def _page(request: HtmxHttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    """The whole page; ``extra`` opens forms (``editing``: RouteForm, ``new_route``: RouteForm)."""
    context = {
        "domains": _domains(),
        "domain_form": extra.pop("domain_form", None) or DomainForm(),
        "can_operate": can(request.user, "operate"),
        "changes": unapplied_changes(),
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
        html.append(
            render_to_string(f"{TEMPLATE}#changes-banner", {"changes": unapplied_changes(), "oob": True}, request)
        )
    return HttpResponse("".join(html), status=status)


def _back(anchor: str = "") -> HttpResponse:
    return redirect(reverse("routes:index") + (f"#{anchor}" if anchor else ""))


def _route_state(route: Route) -> dict[str, Any]:
    return {"domain": route.domain.name, **route_spec(route).model_dump(mode="json")}


@require_GET
@capability_required("view_portico")
def index(request: HtmxHttpRequest) -> HttpResponse:
    """Every domain with its routes, what each route does, and the changes not applied yet."""
    return _page(request)


# --- domains ---------------------------------------------------------------------------------------


@require_POST
@capability_required("operate")
def domain_create(request: HtmxHttpRequest) -> HttpResponse:
    """Add a domain (no routes yet)."""
    form = DomainForm(request.POST)
    if not form.is_valid():
        if is_fragment(request):
            return _fragments(request, ("domain-form", {"domain_form": form}), banner=False)
        return _page(request, status=422, domain_form=form)
    spec = form.cleaned_data["spec"]
    with writing_state():
        domain = Domain.objects.create(name=spec.name, notes=spec.notes)
        audit.record(
            "domain.create",
            actor=request.user,
            source="ui",
            obj=domain,
            after={"name": domain.name, "enabled": True, "notes": domain.notes},
        )
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
    with writing_state():
        domain = get_object_or_404(Domain.objects.select_for_update(), pk=domain_id)
        before = domain.enabled
        if domain.set_enabled(not before):
            audit.record(
                "domain.enable" if domain.enabled else "domain.disable",
                actor=request.user,
                source="ui",
                obj=domain,
                before={"enabled": before},
                after={"enabled": domain.enabled},
            )
    if is_fragment(request):
        return _fragments(request, ("domain-section", {"domain": get_object_or_404(_domains(), pk=domain_id)}))
    return _back(f"domain-{domain_id}")


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def domain_notes(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """GET: the domain with its notes in a form; POST: save them (audited; the domain's version moves on)."""
    domain = get_object_or_404(_domains(), pk=domain_id)
    form = DomainNotesForm(request.POST or None, domain=domain, initial={"notes": domain.notes})
    if request.method == "POST" and form.is_valid():
        notes = form.cleaned_data["notes"].strip()
        with writing_state():
            locked = Domain.objects.select_for_update().get(pk=domain.pk)
            if locked.notes != notes:
                Domain.objects.filter(pk=domain.pk).update(notes=notes, version=F("version") + 1)
                audit.record(
                    "domain.update",
                    actor=request.user,
                    source="ui",
                    obj=locked,
                    before={"notes": locked.notes},
                    after={"notes": notes},
                )
        if is_fragment(request):
            return _fragments(request, ("domain-section", {"domain": get_object_or_404(_domains(), pk=domain_id)}))
        return _back(f"domain-{domain_id}")
    status = 422 if request.method == "POST" else 200
    if is_fragment(request):
        return _fragments(
            request, ("domain-section", {"domain": domain, "notes_form": form}), banner=False, status=status
        )
    return _page(request, status=status, notes_form=form)


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def domain_https(request: HtmxHttpRequest, domain_id: int) -> HttpResponse:
    """GET: the domain with its HTTPS settings in a form; POST: save them (state.change_domain_settings)."""
    domain = get_object_or_404(_domains(), pk=domain_id)
    form = DomainHttpsForm(request.POST or None, domain=domain)
    if request.method == "POST" and form.is_valid():
        try:
            change_domain_settings(domain.pk, form.settings(), actor=request.user, source="ui")
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
    with writing_state():
        before = {
            "name": domain.name,
            "enabled": domain.enabled,
            "notes": domain.notes,
            "routes": [_route_state(r) for r in domain.routes.all()],
        }
        name = domain.unicode_name
        audit.record("domain.delete", actor=request.user, source="ui", obj=domain, before=before)
        domain.delete()
    if is_fragment(request):
        return _fragments(request)
    messages.success(request, _("Domain %(name)s deleted.") % {"name": name})
    return _back()


# --- routes ----------------------------------------------------------------------------------------


def _form_edit(request: HtmxHttpRequest, form: RouteForm) -> HttpResponse | None:
    """Add a target row, remove one, or add the picked container; None when the post is a save."""
    action = request.POST.get("action", "")
    rows = target_rows(request.POST)
    if action == "add-target":
        rows.append({"host": "", "port": "", "weight": "1", "backup": ""})
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
    with writing_state():
        route, _changed = save_route(domain, form.spec)
        audit.record("route.create", actor=request.user, source="ui", obj=route, after=_route_state(route))
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
    with writing_state():
        # the form checked the version; check again under the row lock so two saves cannot both win
        expected = form.cleaned_data.get("version")
        current = Route.objects.select_for_update().filter(pk=route.pk).values_list("version", flat=True).first()
        stale = current is None or (expected is not None and current != expected)
        if not stale:
            before = _route_state(route)
            route, changed = save_route(route.domain, form.spec, route)
            if changed:
                route = Route.objects.select_related("domain").prefetch_related("targets").get(pk=route.pk)
                audit.record(
                    "route.update", actor=request.user, source="ui", obj=route, before=before, after=_route_state(route)
                )
    if stale:
        form.add_error(None, STALE)
        return _show_form(request, form, status=409)
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
    with writing_state():
        route = get_object_or_404(Route.objects.select_for_update().select_related("domain"), pk=route_id)
        before = _route_state(route)
        spec = route_spec(route).model_copy(update={"enabled": not route.enabled})
        route, _changed = save_route(route.domain, spec, route)
        audit.record(
            "route.enable" if route.enabled else "route.disable",
            actor=request.user,
            source="ui",
            obj=route,
            before=before,
            after=_route_state(route),
        )
    if is_fragment(request):
        route = Route.objects.select_related("domain").prefetch_related("targets").get(pk=route.pk)
        return _fragments(request, ("route-row", {"route": route, "domain": route.domain}))
    return _back(f"route-{route.pk}")


@require_http_methods(["GET", "POST"])
@capability_required("operate")
def route_delete(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """GET: ask (for browsers without JavaScript); POST: delete the route."""
    route = get_object_or_404(Route.objects.select_related("domain").prefetch_related("targets"), pk=route_id)
    if request.method == "GET":
        return render(request, "routes/confirm_delete.html", {"route": route, "action": request.path})
    with writing_state():
        name = str(route)
        audit.record("route.delete", actor=request.user, source="ui", obj=route, before=_route_state(route))
        domain_id = route.domain_id
        route.delete()
    if is_fragment(request):
        # The whole domain section, not just an empty row: "No routes yet." and the missing-"/" hint depend
        # on the routes that are left.
        response = _fragments(request, ("domain-section", {"domain": get_object_or_404(_domains(), pk=domain_id)}))
        return reswap(retarget(response, f"#domain-{domain_id}"), "outerHTML")
    messages.success(request, _("Route %(route)s deleted.") % {"route": name})
    return _back()

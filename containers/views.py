"""Container pages: the list across engines, a container's detail and logs, actions, the merged logs of a domain.

htmx requests get fragments of the same templates (``page.html#partial``); without JavaScript, posts redirect.
Docker failures become messages on the page (never a 500).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from containers import operations
from containers.docker.client import ContainerNotFound, DockerError
from containers.engines import EngineNotFound, EngineRef, all_engines, client_for, get_engine
from containers.forms import EngineForm, FilterForm
from containers.logs import LogQuery, LogQueryError, LogRead, as_text, iter_merged, merged_logs, read_logs
from containers.status import container_row, domain_containers, inspect, list_engines
from containers.streams import container_download, download_response, open_follow, sse_response
from core.audit import source_of
from core.errors import OperationError
from core.htmx import HtmxHttpRequest, is_fragment, page_or_fragment, show_on_form
from core.roles import can, capability_required

INDEX = "containers/index.html"
DETAIL = "containers/detail.html"
DOMAIN_LOGS = "containers/domain_logs.html"
MAX_PAGE_LINES = 1000  # lines the live view keeps; older ones drop off the top


def _engine(request: HttpRequest) -> EngineRef:
    try:
        return get_engine(request.GET.get("engine") or request.POST.get("engine") or "")
    except EngineNotFound as exc:
        raise Http404(str(exc)) from None


def _detail_url(engine: EngineRef, ref: str) -> str:
    return f"{reverse('containers:detail', args=[ref])}?{urlencode({'engine': engine.name})}"


@require_GET
@capability_required("view_portico")
def index(request: HtmxHttpRequest) -> HttpResponse:
    """Every engine's containers with their routes and warnings; the table polls itself every few seconds."""
    form = FilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    engine_name = filters.get("engine", "")
    try:
        listings = list_engines(
            engine_name,
            name=filters.get("q", ""),
            state=filters.get("state", ""),
            network=filters.get("network", ""),
            project=filters.get("project", ""),
            routed=filters.get("routed", False),
        )
    except EngineNotFound as exc:
        messages.error(request, str(exc))
        listings = list_engines()
    context = {
        "form": form,
        "listings": listings,
        "engines": all_engines(),
        "engine_form": EngineForm(),
        "can_operate": can(request.user, "operate"),
        "can_administer": can(request.user, "administer"),
        "query": request.GET.urlencode(),
    }
    template = page_or_fragment(request, INDEX, "containers-table")
    return render(request, template, context)


@require_GET
@capability_required("view_portico")
def detail(request: HtmxHttpRequest, ref: str) -> HttpResponse:
    """One container: state, routes and warnings, ports, networks, mounts, labels, health log, command, logs."""
    engine = _engine(request)
    context = {
        "engine": engine,
        "ref": ref,
        "can_operate": can(request.user, "operate"),
        "can_administer": can(request.user, "administer"),
        "max_lines": MAX_PAGE_LINES,
    }
    try:
        row = inspect(engine, ref)
    except ContainerNotFound as exc:
        return render(request, DETAIL, {**context, "error": exc.reason}, status=404)
    except DockerError as exc:
        return render(request, DETAIL, {**context, "error": exc.reason, "hint": engine.fix_hint()}, status=503)
    c = row.info
    read, log_error = LogRead([]), ""
    try:
        read = read_logs(client_for(engine), c.id, LogQuery())
    except DockerError as exc:
        log_error = exc.reason
    context.update(
        c=c,
        row=row,
        lines=read.lines,
        log_read=read,
        log_error=log_error,
        timestamps=True,
        download_all_url=_download_all_url(request, reverse("containers:logs-download", args=[c.name]), engine),
    )
    return render(request, DETAIL, context)


def _download_all_url(request: HttpRequest, base: str, engine: EngineRef | None = None, **extra: str) -> str:
    """The download of everything the current filters select (``tail=all``): the one read without limits."""
    params = {k: v for k, v in request.GET.items() if k in ("since", "until", "q", "regex", "stream", "timestamps")}
    if engine is not None:
        params["engine"] = engine.name
    return f"{base}?{urlencode({**params, **extra, 'tail': 'all'})}"


def _render_lines(
    request,
    template: str,
    read: LogRead,
    query: LogQuery,
    *,
    error: str = "",
    field: str = "",
    status: int = 200,
    merged=False,
    download_all_url: str = "",
):
    context = {
        "lines": read.lines,
        "log_read": read,
        "timestamps": request.GET.get("timestamps", "on") in ("on", "1", "true"),
        "merged": merged,
        "log_error": error,
        "log_field": field,
        "query": query,
        "download_all_url": download_all_url,
    }
    return render(request, f"{template}#log-lines", context, status=status)


@require_GET
@capability_required("view_portico")
def logs(request: HtmxHttpRequest, ref: str) -> HttpResponse:
    """The log-lines fragment for the form's query (tail, since/until, search, stream)."""
    engine = _engine(request)
    try:
        query = LogQuery.parse(request.GET)
        read = read_logs(client_for(engine), ref, query)
    except LogQueryError as exc:
        return _render_lines(
            request, DETAIL, LogRead([]), LogQuery(), error=f"{exc.field}: {exc.message}", field=exc.field, status=422
        )
    except ContainerNotFound as exc:
        return _render_lines(request, DETAIL, LogRead([]), LogQuery(), error=exc.reason, status=404)
    except DockerError as exc:
        return _render_lines(request, DETAIL, LogRead([]), LogQuery(), error=exc.reason, status=503)
    download_all = _download_all_url(request, reverse("containers:logs-download", args=[ref]), engine)
    return _render_lines(request, DETAIL, read, query, download_all_url=download_all)


@require_GET
@capability_required("view_portico")
def logs_download(request: HttpRequest, ref: str) -> HttpResponse:
    """The same lines as the page shows, as a text file (streamed; ``tail=all`` for everything)."""
    engine = _engine(request)
    timestamps = request.GET.get("timestamps", "on") in ("on", "1", "true")
    try:
        return container_download(request, engine, ref, LogQuery.parse(request.GET), timestamps)
    except LogQueryError as exc:
        return HttpResponse(f"{exc.field}: {exc.message}\n", status=422, content_type="text/plain; charset=utf-8")
    except ContainerNotFound as exc:
        return HttpResponse(exc.reason + "\n", status=404, content_type="text/plain; charset=utf-8")
    except DockerError as exc:
        return HttpResponse(exc.reason + "\n", status=503, content_type="text/plain; charset=utf-8")


def _sse_error(message: str, status: int) -> HttpResponse:
    # Plain text: the page reads the stream with fetch and shows this text when the answer is not 200.
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@require_GET
@capability_required("view_portico")
def logs_follow(request: HttpRequest, ref: str) -> HttpResponse:
    """Server-sent events of new lines (see containers.logs.SseLogStream)."""
    engine = _engine(request)
    try:
        return sse_response(request, open_follow(request, [(engine, ref)]))
    except OperationError as exc:  # no free slot (429), unknown container (404), engine down (503)...
        return _sse_error(exc.message, exc.status)


@require_POST
@capability_required("operate")
def action(request: HtmxHttpRequest, ref: str, name: str) -> HttpResponse:
    """Start, stop or restart; htmx gets the updated row (or the detail summary), others are redirected."""
    if name not in operations.ACTIONS:
        raise Http404("unknown action")
    engine = _engine(request)
    where = request.POST.get("from", "list")
    try:
        after = operations.run_action(engine, ref, name, actor=request.user, source=source_of(request))
    except OperationError as exc:  # out of scope, or what the engine said
        error = exc.message
        if is_fragment(request):
            response = render(request, f"{INDEX}#action-error", {"error": error}, status=200)
            response["HX-Retarget"] = "#messages-slot"
            response["HX-Reswap"] = "innerHTML"
            return response
        messages.error(request, error)
        return redirect(reverse("containers:index"))
    if is_fragment(request):
        row = container_row(engine, after)
        context = {"row": row, "engine": engine, "can_operate": True, "c": after}
        if where == "detail":
            return render(
                request, f"{DETAIL}#container-summary", {**context, "can_administer": can(request.user, "administer")}
            )
        return render(request, f"{INDEX}#container-row", context)
    messages.success(
        request,
        _("%(name)s: %(action)s done, now %(state)s.") % {"name": after.name, "action": name, "state": after.state},
    )
    return redirect(_detail_url(engine, after.name) if where == "detail" else reverse("containers:index"))


@require_POST
@capability_required("administer")
def reveal_env(request: HtmxHttpRequest, ref: str) -> HttpResponse:
    """Show the environment variables to an admin who asked, and record that they did."""
    engine = _engine(request)
    try:
        c = operations.reveal_env(engine, ref, actor=request.user, source=source_of(request))
    except OperationError as exc:
        return render(request, f"{DETAIL}#env", {"env_error": exc.message}, status=exc.status)
    return render(request, f"{DETAIL}#env", {"c": c, "env": c.env, "can_administer": True, "engine": engine})


@require_POST
@capability_required("administer")
def engine_create(request: HtmxHttpRequest) -> HttpResponse:
    """Add an engine; field errors come back in the form."""
    form = EngineForm(request.POST)
    if form.is_valid():
        try:
            engine = operations.add_engine(form.cleaned_data, actor=request.user, source=source_of(request))
        except OperationError as exc:
            show_on_form(form, exc)
        else:
            messages.success(request, _("Engine %(name)s added.") % {"name": engine.name})
            return redirect(reverse("containers:index"))
    context = {
        "form": FilterForm(),
        "listings": list_engines(),
        "engines": all_engines(),
        "engine_form": form,
        "can_operate": can(request.user, "operate"),
        "can_administer": True,
    }
    return render(request, INDEX, context, status=422)


def _version(request: HttpRequest) -> int | None:
    """The version of the row the page showed (its hidden field): a change based on an older one is refused."""
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


@require_POST
@capability_required("administer")
def engine_default(request: HttpRequest, name: str) -> HttpResponse:
    """Make an added engine the one pages and the API use when none is named."""
    try:
        operations.edit_engine(
            name, {"default": True}, actor=request.user, source=source_of(request), expected=_version(request)
        )
    except OperationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(name)s is the default engine now.") % {"name": name})
    return redirect(reverse("containers:index"))


@require_POST
@capability_required("administer")
def engine_delete(request: HttpRequest, name: str) -> HttpResponse:
    """Remove an added engine (``local`` is built in)."""
    try:
        operations.remove_engine(name, actor=request.user, source=source_of(request), expected=_version(request))
    except OperationError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("containers:index"))
    messages.success(request, _("Engine %(name)s removed.") % {"name": name})
    return redirect(reverse("containers:index"))


def _domain_sources(domain: str):
    try:
        return domain_containers(domain)
    except LookupError as exc:
        raise Http404(str(exc)) from None


@require_GET
@capability_required("view_portico")
def domain_logs(request: HtmxHttpRequest, domain: str) -> HttpResponse:
    """Logs of every container behind a domain, interleaved by time; the page, the fragment, or a download."""
    found, errors = _domain_sources(domain)
    sources = [(client_for(eng), info.id) for eng, info in found]
    timestamps = request.GET.get("timestamps", "on") in ("on", "1", "true")
    read = LogRead([])
    try:
        query = LogQuery.parse(request.GET)
        if request.GET.get("download"):
            return download_response(request, domain, as_text(iter_merged(sources, query), timestamps, True))
        read = merged_logs(sources, query)
        error, field, status = "", "", 200
    except LogQueryError as exc:
        query, error, field, status = LogQuery(), f"{exc.field}: {exc.message}", exc.field, 422
    except DockerError as exc:
        query, error, field, status = LogQuery(), exc.reason, "", 503
    download_all = _download_all_url(request, reverse("containers:domain-logs", args=[domain]), download="1")
    if is_fragment(request):
        return _render_lines(
            request,
            DOMAIN_LOGS,
            read,
            query,
            error=error,
            field=field,
            status=status,
            merged=True,
            download_all_url=download_all,
        )
    context = {
        "domain": domain,
        "found": found,
        "engine_errors": errors,
        "lines": read.lines,
        "log_read": read,
        "timestamps": timestamps,
        "merged": True,
        "log_error": error,
        "log_field": field,
        "max_lines": MAX_PAGE_LINES,
        "download_all_url": download_all,
    }
    return render(request, DOMAIN_LOGS, context, status=status)


@require_GET
@capability_required("view_portico")
def domain_logs_follow(request: HttpRequest, domain: str) -> HttpResponse:
    """Server-sent events from every running container behind the domain."""
    found, _errors = _domain_sources(domain)
    running = [(eng, info.id) for eng, info in found if info.running]
    if not running:
        return _sse_error(_("No running container is behind %(domain)s.") % {"domain": domain}, 409)
    try:
        return sse_response(request, open_follow(request, running))
    except OperationError as exc:  # no free slot (429), engine down (503), a container gone meanwhile...
        return _sse_error(exc.message, exc.status)

"""Pages for publishing: the plan (diff, warnings, Apply), the revisions list, one revision, diffs, rollback.

htmx requests get the outcome fragment; plain form posts redirect (post/redirect/get).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.audit import source_of
from core.htmx import is_fragment
from core.roles import can, capability_required
from core.visibility import sees_upstream_words
from publishing import operations
from publishing.models import Revision


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) for each line of a unified diff, for colouring."""
    lines = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = ""
        lines.append((kind, line))
    return lines


@require_GET
@capability_required("view_portico")
def plan_page(request: HttpRequest) -> HttpResponse:
    """What an apply would change: file changes, warnings and the coloured diff, with the Apply button."""
    context = {"can_operate": can(request.user, "operate"), "publisher": operations.get_publisher().name}
    try:
        plan = operations.plan()
    except operations.PublishError as exc:
        context["error"] = exc.message
        # NPM's own words (or whatever answers at its URL) are for admins; nginx's output is Portico's own.
        if context["publisher"] != "npm" or sees_upstream_words(request.user):
            context["error_output"] = exc.output
    else:
        context.update(plan=plan, lines=diff_lines(plan.diff))
    context["last"] = operations.last_applied()
    return render(request, "publishing/plan.html", context)


def _outcome(request: HttpRequest, revision: Revision | None, busy: str = "") -> HttpResponse:
    if is_fragment(request):
        output = revision.output_for(request.user) if revision else ""
        return render(
            request, "publishing/plan.html#apply-outcome", {"revision": revision, "busy": busy, "output": output}
        )
    if busy:
        messages.error(request, busy)
        return redirect("routes:plan")
    if revision.status == Revision.Status.APPLIED:
        messages.success(request, _("Revision #%(n)s applied.") % {"n": revision.number})
    else:
        messages.error(
            request,
            _("Revision #%(n)s %(status)s: %(message)s")
            % {"n": revision.number, "status": revision.get_status_display(), "message": revision.message},
        )
    return redirect("routes:revision", revision_id=revision.pk)


@require_POST
@capability_required("operate")
def apply_view(request: HttpRequest) -> HttpResponse:
    """Apply the routes now; shows the outcome with nginx's output."""
    try:
        revision = operations.apply(actor=request.user, source=source_of(request))
    except operations.ApplyBusy as exc:
        return _outcome(request, None, busy=str(exc))
    return _outcome(request, revision)


@require_GET
@capability_required("view_portico")
def revisions_page(request: HttpRequest) -> HttpResponse:
    """Every revision, newest first, with a form to diff any two."""
    page = Paginator(Revision.objects.order_by("-number").select_related("rollback_of"), 25).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "publishing/revisions.html",
        {
            "page": page,
            "revisions": page.object_list,
            "choices": Revision.objects.order_by("-number").values_list("pk", "number")[:500],
        },
    )


@require_GET
@capability_required("view_portico")
def revision_page(request: HttpRequest, revision_id: int) -> HttpResponse:
    """One revision: status, author, nginx's output, its diff, its files, and Rollback."""
    revision = get_object_or_404(Revision.objects.select_related("rollback_of"), pk=revision_id)
    return render(
        request,
        "publishing/revision.html",
        {
            "revision": revision,
            "output": revision.output_for(request.user),
            "lines": diff_lines(revision.diff),
            "files": sorted(revision.files.items()),
            "can_operate": can(request.user, "operate"),
            "domains": len(revision.snapshot.get("domains", [])) if revision.snapshot else 0,
        },
    )


@require_GET
@capability_required("view_portico")
def revision_diff_page(request: HttpRequest) -> HttpResponse:
    """The diff between two revisions' files (?a=<id>&b=<id>)."""
    try:
        a = get_object_or_404(Revision, pk=int(request.GET.get("a", "")))
        b = get_object_or_404(Revision, pk=int(request.GET.get("b", "")))
    except ValueError:
        messages.error(request, _("Pick two revisions to compare."))
        return redirect("routes:revisions")
    diff = operations.revision_diff(a, b)
    context = {"a": a, "b": b, "lines": diff_lines(diff)}
    template = "publishing/revisions.html#revision-diff" if is_fragment(request) else "publishing/revision_diff.html"
    return render(request, template, context)


@require_POST
@capability_required("operate")
def rollback_view(request: HttpRequest, revision_id: int) -> HttpResponse:
    """Publish that revision again and restore its routes (through the same safe pipeline)."""
    target = get_object_or_404(Revision, pk=revision_id)
    if not target.snapshot:
        messages.error(request, _("Revision #%(n)s has no snapshot to roll back to.") % {"n": target.number})
        return redirect("routes:revision", revision_id=target.pk)
    try:
        revision = operations.rollback(target, actor=request.user, source=source_of(request))
    except operations.ApplyBusy as exc:
        return _outcome(request, None, busy=str(exc))
    if is_fragment(request):
        return render(request, "publishing/plan.html#apply-outcome", {"revision": revision, "rollback": target})
    return _outcome(request, revision)

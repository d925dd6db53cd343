"""The lab guide page: the lecture's steps next to the live state of this machine."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.htmx import page_or_fragment
from core.roles import capability_required
from lab import checks
from lab.spec import Step
from publishing.lints import lint_live


@capability_required("view_portico")
def lab_guide(request: HttpRequest) -> HttpResponse:
    """The lecture's steps next to the live state of this machine."""
    spec, lab_ids = checks.detect(request.GET.get("lab"))
    steps = checks.status(spec)
    step_groups: dict[str, list[Step]] = {}
    for step in steps:
        step_groups.setdefault(step.group, []).append(step)
    context = {
        "spec": spec,
        "lab_ids": lab_ids,
        "steps": steps,
        "step_groups": step_groups,
        "services": spec.services(),
        "hosts_line": checks.hosts_line(spec),
        "urls": checks.urls(spec),
        "lints": lint_live()[0],
    }
    return render(request, page_or_fragment(request, "lab/lab.html", "lab-steps"), context)

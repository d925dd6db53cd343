"""Project-level pages: the overview and its topology picture, and the lab guide."""

from __future__ import annotations

import functools
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from certificates import health
from core.htmx import page_or_fragment
from core.roles import capability_required
from dashboard import lab, topology


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

"""Project-level pages: the overview and its topology picture."""

from __future__ import annotations

import functools
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from certificates import health
from core.htmx import page_or_fragment
from core.roles import capability_required
from dashboard import topology


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

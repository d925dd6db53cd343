"""The audit log page: every change from the UI, the API and the CLI."""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.api.audit import AuditFilters, filter_entries
from core.forms import AuditFilterForm
from core.htmx import page_or_fragment
from core.models import AuditEntry
from core.roles import can, capability_required
from core.visibility import audit_value

AUDIT_PAGE_SIZE = 50


@capability_required("view_portico")
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every change from the UI, the API and the CLI, newest first, filtered and paged (never capped)."""
    object_types = sorted(set(AuditEntry.objects.exclude(object_type="").values_list("object_type", flat=True)))
    form = AuditFilterForm(request.GET or None, object_types=object_types)
    if form.is_bound and not form.is_valid():
        entries = AuditEntry.objects.none()
    else:
        data = form.cleaned_data if form.is_bound else {}
        entries = filter_entries(AuditFilters(**{k: v for k, v in data.items() if v not in ("", None)}))
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    admin = can(request.user, "administer")
    for entry in page.object_list:
        before, after = audit_value(entry.before, admin=admin), audit_value(entry.after, admin=admin)
        entry.before_json = json.dumps(before, indent=2, ensure_ascii=False) if before is not None else ""
        entry.after_json = json.dumps(after, indent=2, ensure_ascii=False) if after is not None else ""
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    template = page_or_fragment(request, "core/audit.html", "audit-results")
    return render(request, template, context)

"""GET /audit: every change from the UI, the API and the CLI, kept (never capped), paged and filtered."""

from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from core.api import PagePagination, UtcDatetime, filter_by, require
from core.models import AuditEntry
from core.roles import can
from core.visibility import audit_value

router = Router(tags=["audit"])


class AuditOut(Schema):
    id: int
    created_at: datetime
    actor: str = Field(description="User name, or empty for Portico itself.")
    source: str = Field(description="ui, api, cli or system.")
    action: str = Field(examples=["route.update"])
    object_type: str = Field(examples=["routes.route"])
    object_id: str
    object_repr: str
    before: Any = Field(None, description="The state before; below admin without e-mails, roles and NPM login.")
    after: Any = Field(None, description="The state after; below admin without e-mails, roles and NPM login.")
    message: str

    @staticmethod
    def resolve_actor(obj: AuditEntry) -> str:
        return obj.actor_name

    # Below admin, another account's e-mail and role, the NPM login and TLS paths are left out (docs/security.md).
    @staticmethod
    def resolve_before(obj: AuditEntry, context: dict[str, Any]) -> Any:
        return audit_value(obj.before, admin=can(context["request"].user, "administer"))

    @staticmethod
    def resolve_after(obj: AuditEntry, context: dict[str, Any]) -> Any:
        return audit_value(obj.after, admin=can(context["request"].user, "administer"))


class AuditFilters(Schema):
    actor: str | None = Field(None, max_length=150, description="User name (exact).")
    action: str | None = Field(None, max_length=64, description="Exact action, or a prefix ending in '*' (route.*).")
    object_type: str | None = Field(None, max_length=64, description="routes.route, routes.domain, config, ...")
    object_id: str | None = Field(None, max_length=64)
    source: Literal["ui", "api", "cli", "system"] | None = None
    since: UtcDatetime | None = Field(None, description="Entries at or after this time (ISO 8601).")
    until: UtcDatetime | None = Field(None, description="Entries before this time (ISO 8601).")
    q: str | None = Field(None, max_length=255, description="Text in the object or the message.")


def filter_entries(filters: AuditFilters) -> QuerySet[AuditEntry]:
    """The audit entries that match ``filters``, newest first (also used by the Audit page)."""
    qs = filter_by(
        AuditEntry.objects.order_by("-created_at", "-id"),
        filters,
        {
            "actor": "actor_name",
            "object_type": "object_type",
            "object_id": "object_id",
            "source": "source",
            "since": "created_at__gte",
            "until": "created_at__lt",
            "q": "object_repr__icontains|message__icontains",
        },
    )
    if filters.action:
        action = filters.action.strip()
        qs = qs.filter(action__startswith=action[:-1]) if action.endswith("*") else qs.filter(action=action)
    return qs


# The operation ids are kept from before the router moved here: clients generated from the document use them.
@router.get("/audit", response=list[AuditOut], operation_id="dashboard_audit_api_list_audit")
@paginate(PagePagination)
def list_audit(request: HttpRequest, filters: Query[AuditFilters]):
    """Who changed what and when, with the state before and after; newest first."""
    require(request, "view_portico")
    return filter_entries(filters)

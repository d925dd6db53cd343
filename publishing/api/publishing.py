"""API endpoints of the routes app, mounted under /api/v1/ by dashboard.api."""

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from ninja.pagination import paginate
from pydantic import Field

from core.api import ApiError, ErrorOut, PagePagination, UtcDatetime, filter_by, require
from core.audit import source_of
from publishing import operations
from publishing.models import Revision

router = Router(tags=["routes"])


class FileChangeOut(Schema):
    file: str
    action: str = Field(description="create, update or delete")


class PlanOut(Schema):
    changes: list[FileChangeOut]
    warnings: list[str]
    diff: str = Field(description="Unified diff of the live files against the rendered ones.")
    drift: list[str] = Field(description="Live files edited outside Portico since the last apply.")
    errors: list[str] = Field(
        default_factory=list,
        description="Stored values that cannot be written into proxy config safely (each names its route and "
        "field). While there are any, nothing is rendered and an apply fails.",
    )


class RevisionSummaryOut(Schema):
    id: int
    number: int
    created_at: datetime
    author_name: str
    publisher: str
    status: str = Field(description="pending, applied, failed or rolled_back")
    message: str
    rollback_of: int | None = Field(None, description="Id of the revision this one rolled back to.")

    @staticmethod
    def resolve_rollback_of(obj) -> int | None:
        return obj.rollback_of_id


class RevisionOut(RevisionSummaryOut):
    diff: str
    output: str = Field(description="What nginx (or NPM) printed; NPM's words are for admins only (empty below).")
    files: dict[str, str]
    snapshot: dict

    @staticmethod
    def resolve_output(obj, context) -> str:
        request = (context or {}).get("request")
        return obj.output_for(request.user if request else None)


class RevisionEnvelope(Schema):
    revision: RevisionOut


class RevisionErrorOut(ErrorOut):
    revision: RevisionOut | None = None


class DiffOut(Schema):
    a: int
    b: int
    diff: str


class RevisionFilters(Schema):
    status: Literal["pending", "applied", "failed", "rolled_back"] | None = None
    publisher: Literal["nginx", "npm"] | None = None
    author: str | None = Field(None, max_length=150, description="Only revisions by this user name.")
    since: UtcDatetime | None = Field(None, description="Made at or after this time (ISO 8601).")
    until: UtcDatetime | None = Field(None, description="Made before this time (ISO 8601).")
    rollbacks: bool | None = Field(None, description="true: only rollbacks; false: only ordinary applies.")
    q: str | None = Field(None, max_length=255, description="Text in the message or the diff.")


def _revision_json(revision) -> dict:
    return RevisionOut.from_orm(revision).model_dump(mode="json")


def _outcome(revision) -> dict:
    if revision.status != Revision.Status.APPLIED:
        raise ApiError(422, revision.message or f"The apply {revision.status}.", revision=_revision_json(revision))
    return {"revision": revision}


@router.post(
    "/plan", response={200: PlanOut, 503: ErrorOut}, tags=["publishing"], operation_id="routes_api_plan_endpoint"
)
def plan_endpoint(request: HttpRequest):
    """What an apply would change now: file changes, warnings and a unified diff (live → rendered)."""
    require(request, "view_portico")
    try:
        result = operations.plan()
    except operations.PublishError as exc:
        raise ApiError(503, f"Cannot read the live config: {exc.message}") from None
    return {
        "changes": result.changes,
        "warnings": result.warnings,
        "diff": result.diff,
        "drift": result.drift,
        "errors": result.errors,
    }


@router.post(
    "/apply",
    response={200: RevisionEnvelope, 409: ErrorOut, 422: RevisionErrorOut},
    tags=["publishing"],
    operation_id="routes_api_apply_endpoint",
)
def apply_endpoint(request: HttpRequest):
    """Publish the routes: stage, `nginx -t`, swap, reload, verify. 422 with the revision when it failed
    (`failed`: the live proxy never changed; `rolled_back`: the previous config was put back); 409 when
    another apply holds the lock."""
    require(request, "operate")
    try:
        revision = operations.apply(actor=request.user, source=source_of(request))
    except operations.ApplyBusy as exc:
        raise ApiError(409, str(exc)) from None
    return _outcome(revision)


@router.get(
    "/revisions", response=list[RevisionSummaryOut], tags=["publishing"], operation_id="routes_api_list_revisions"
)
@paginate(PagePagination)
def list_revisions(request: HttpRequest, filters: Query[RevisionFilters]):
    """Revisions, newest first; filter by status, publisher, author, time, rollbacks or text."""
    require(request, "view_portico")
    revisions = filter_by(
        Revision.objects.order_by("-number"),
        filters,
        {
            "status": "status",
            "publisher": "publisher",
            "author": "author_name",
            "since": "created_at__gte",
            "until": "created_at__lt",
            "q": "message__icontains|diff__icontains",
        },
    )
    if filters.rollbacks is not None:
        revisions = revisions.filter(rollback_of__isnull=not filters.rollbacks)
    return revisions


@router.get(
    "/revisions/{revision_id}", response=RevisionOut, tags=["publishing"], operation_id="routes_api_get_revision"
)
def get_revision(request: HttpRequest, revision_id: int):
    """One revision with its diff, nginx's output, the rendered files and the desired-state snapshot."""
    require(request, "view_portico")
    return get_object_or_404(Revision, pk=revision_id)


@router.get(
    "/revisions/{a_id}/diff/{b_id}", response=DiffOut, tags=["publishing"], operation_id="routes_api_diff_revisions"
)
def diff_revisions(request: HttpRequest, a_id: int, b_id: int):
    """Unified diff of revision `a`'s files against revision `b`'s."""
    require(request, "view_portico")
    a = get_object_or_404(Revision, pk=a_id)
    b = get_object_or_404(Revision, pk=b_id)
    return {"a": a.pk, "b": b.pk, "diff": operations.revision_diff(a, b)}


@router.post(
    "/revisions/{revision_id}/rollback",
    response={200: RevisionEnvelope, 409: ErrorOut, 422: RevisionErrorOut},
    tags=["publishing"],
    operation_id="routes_api_rollback_revision",
)
def rollback_revision(request: HttpRequest, revision_id: int):
    """Publish that revision's snapshot through the same safe pipeline, then restore its routes in the
    database. The answer is the new revision (`rollback_of` names the old one)."""
    require(request, "operate")
    target = get_object_or_404(Revision, pk=revision_id)
    if not target.snapshot:
        raise ApiError(422, f"Revision #{target.number} has no snapshot to roll back to.")
    try:
        revision = operations.rollback(target, actor=request.user, source=source_of(request))
    except operations.ApplyBusy as exc:
        raise ApiError(409, str(exc)) from None
    return _outcome(revision)

"""GET/PUT /config: the whole desired state as one document (config as code), JSON or YAML."""

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from core import audit
from core.api import ApiError, if_match_tags, require
from publishing import operations as publishing
from publishing.api.publishing import PlanOut
from routes import config_io, operations
from routes.schemas import ConfigDocument
from routes.state import export_state, state_etag

router = Router(tags=["config"])

_DOC_REF = {"$ref": "#/components/schemas/ConfigDocument"}
_YAML_CONTENT = {t: {"schema": _DOC_REF} for t in ("application/yaml", "text/yaml")}


class ConfigChangesOut(Schema):
    """What replacing the desired state did, or (dry run) would do."""

    dry_run: bool
    prune: bool
    changed: bool = Field(description="Whether anything was (or would be) created, updated or deleted.")
    created: list[str]
    updated: list[str]
    deleted: list[str]
    plan: PlanOut | None = Field(
        None, description="Dry run: what an apply would change in nginx (or NPM) if the document were saved."
    )
    plan_error: str = Field("", description="Dry run: why no plan could be made (the live side is unreadable).")


def _wants_yaml(request: HttpRequest, fmt: str | None) -> bool:
    if fmt:
        return fmt == "yaml"
    accept = request.headers.get("Accept", "")
    return any(t in accept for t in config_io.YAML_TYPES) and "application/json" not in accept


@router.get(
    "/config",
    response=ConfigDocument,
    openapi_extra={"responses": {200: {"description": "OK", "content": _YAML_CONTENT}}},
    operation_id="routes_api_config_get_config",
)
def get_config(request: HttpRequest, response: HttpResponse, format: Literal["json", "yaml"] | None = None):
    """Every domain and route as one document. YAML with ``Accept: application/yaml`` or ``?format=yaml``.

    The ETag header is a digest of the state (the same for JSON and YAML): send it back as If-Match with
    PUT /config to refuse the replacement (412) when someone changed anything since.
    """
    require(request, "view_portico")
    data = export_state()
    tag = etag_of_state(data)
    if _wants_yaml(request, format):
        answer = HttpResponse(config_io.dump(data, "yaml"), content_type="application/yaml; charset=utf-8")
        answer["ETag"] = tag
        answer["Vary"] = "Accept"
        return answer
    response["ETag"] = tag
    response["Vary"] = "Accept"
    return data


def etag_of_state(data: dict | None = None) -> str:
    return f'"{state_etag(data)}"'


@router.put(
    "/config",
    response=ConfigChangesOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _DOC_REF}, **_YAML_CONTENT},
        }
    },
    operation_id="routes_api_config_put_config",
)
def put_config(request: HttpRequest, response: HttpResponse, dry_run: bool = False, prune: bool = True):
    """Make the desired state equal the document (JSON, or YAML by Content-Type), in one transaction.

    ``?prune=false`` keeps domains and routes the document does not mention; ``?dry_run=true`` changes nothing
    and reports what would change, in the routes and (``plan``) in nginx. Publishing stays a separate step
    (plan, apply). With ``If-Match`` (the ETag of GET /config) a state someone changed since gives 412 and
    nothing is written; the answer's ETag is the state's after the change. YAML anchors and aliases, and more
    than 5,000 domains, 20,000 routes or 50,000 targets, are refused (422) before anything is validated.
    """
    content_type = request.content_type or "application/json"
    fmt = "yaml" if content_type in config_io.YAML_TYPES else "json"
    if fmt == "json" and content_type != "application/json":
        raise ApiError(415, f"Send the document as application/json or application/yaml, not {content_type}.")
    try:
        document = config_io.load(request.body, fmt)
    except config_io.DocumentError as exc:
        raise ApiError(exc.status, exc.detail, exc.errors) from None
    changes = operations.replace_state(
        document,
        prune=prune,
        dry_run=dry_run,
        actor=request.user,
        source=audit.source_of(request),
        expected_state=if_match_tags(request),
        # Plan against the document as if it were saved, before it is undone.
        preview=_plan if dry_run else None,
    )
    if not dry_run:
        response["ETag"] = etag_of_state()
    result = changes.preview or {}
    return {"dry_run": dry_run, "prune": prune, **result, "changed": not changes.empty, **changes.as_dict()}


def _plan() -> dict:
    try:
        plan = publishing.plan()
    except publishing.PublishError as exc:
        return {"plan": None, "plan_error": exc.message}
    return {
        "plan": {
            "changes": plan.changes,
            "warnings": plan.warnings,
            "diff": plan.diff,
            "drift": plan.drift,
            "errors": plan.errors,
        },
        "plan_error": "",
    }

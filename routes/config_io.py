"""Reading and writing the config document as JSON or YAML (shared by the /config API and the portico command)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError

from routes.schemas import ConfigDocument

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class DocumentError(Exception):
    """The text is not a valid config document. ``status`` 400 = not parseable, 422 = parsed but invalid."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]]):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


def dump(data: dict[str, Any], fmt: str) -> str:
    """The document as text: YAML (block style, keys in document order) or JSON (indented)."""
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(text: str | bytes, fmt: str) -> ConfigDocument:
    """Parse and validate a document; raises DocumentError naming the field (``domains.0.routes.1.path``)."""
    from dashboard.api_common import pydantic_errors
    from dashboard.storable import NUL_MESSAGE, nul_fields

    try:
        data = yaml.safe_load(text) if fmt == "yaml" else json.loads(text or b"null")
    except (yaml.YAMLError, ValueError) as exc:
        kind = "YAML" if fmt == "yaml" else "JSON"
        raise DocumentError(
            400, f"The document is not valid {kind}: {exc}", [{"field": "__all__", "message": str(exc)}]
        ) from None
    if not isinstance(data, dict):
        raise DocumentError(
            422,
            "The document must be a mapping with a 'domains' list.",
            [{"field": "__all__", "message": "Not a mapping."}],
        )
    with_nul = nul_fields(data)  # YAML's "\0" or JSON's "\u0000": PostgreSQL cannot store them
    if with_nul:
        errors = [{"field": field, "message": NUL_MESSAGE} for field in with_nul]
        raise DocumentError(422, f"Invalid document: {with_nul[0]}: {NUL_MESSAGE}", errors)
    try:
        return ConfigDocument.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_errors(exc.errors())
        raise DocumentError(
            422, "Invalid document: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors
        ) from None

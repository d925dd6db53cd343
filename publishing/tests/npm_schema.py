"""NPM's published JSON schema (npm_api/backend/schema, MIT): request-body validation with every $ref resolved."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

API_DIR = Path(__file__).parent / "npm_api"
SCHEMA_DIR = API_DIR / "backend" / "schema"
TRANSCRIPT_DIR = API_DIR / "transcript"


def _retrieve(uri: str) -> Resource:
    path = Path(uri.removeprefix("file://"))
    return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012)


@functools.cache
def _registry() -> Registry:
    return Registry(retrieve=_retrieve)


@functools.cache
def _operations() -> list[tuple[re.Pattern, str, Path]]:
    """(path regex, method, operation file) from swagger.json's path table."""
    swagger = json.loads((SCHEMA_DIR / "swagger.json").read_text())
    table = []
    for template, methods in swagger["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{\w+\}", r"[^/]+", template) + "$")
        for method, ref in methods.items():
            table.append((pattern, method.upper(), (SCHEMA_DIR / ref["$ref"]).resolve()))
    return table


def operation_file(method: str, path: str) -> Path | None:
    """The schema file describing ``method path`` (path relative to the API root, e.g. /nginx/proxy-hosts/3)."""
    path = path.split("?")[0].rstrip("/") or "/"
    for pattern, op_method, file in _operations():
        if op_method == method.upper() and pattern.match(path):
            return file
    return None


@functools.cache
def _validator(file: Path) -> Draft202012Validator | None:
    operation = json.loads(file.read_text())
    body = operation.get("requestBody")
    if not body:
        return None
    schema = body["content"]["application/json"]["schema"]
    # Resolve relative $refs against the operation file's own location, as NPM's loader does.
    resource = Resource.from_contents({**schema, "$id": file.as_uri()}, default_specification=DRAFT202012)
    registry = _registry().with_resource(file.as_uri(), resource)
    return Draft202012Validator(resource.contents, registry=registry)


def request_errors(method: str, path: str, body: Any) -> list[ValidationError]:
    """Schema violations of a request body; an unknown operation or a body where none is allowed is one too."""
    file = operation_file(method, path)
    if file is None:
        return [ValidationError(f"{method} {path} is not an operation of NPM's API")]
    validator = _validator(file)
    if validator is None:
        if body is not None:
            return [ValidationError(f"{method} {path} takes no request body")]
        return []
    if body is None:
        return [ValidationError(f"{method} {path} needs a request body")]
    return sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))


def ajv_message(errors: list[ValidationError]) -> str:
    """The errors worded as NPM's ajv validator words them (``data/locations/0 must ...``), joined by ", "."""
    parts = []
    for error in errors:
        where = "/".join(["data", *(str(p) for p in error.absolute_path)])
        kind = error.validator
        if kind == "required":
            missing = re.search(r"'([^']+)' is a required property", error.message)
            parts.append(f"{where} must have required property '{missing.group(1) if missing else '?'}'")
        elif kind == "additionalProperties":
            parts.append(f"{where} must NOT have additional properties")
        elif kind == "type":
            parts.append(f"{where} must be {error.validator_value}")
        elif kind == "enum":
            parts.append(f"{where} must be equal to one of the allowed values")
        elif kind == "minProperties":
            parts.append(f"{where} must NOT have fewer than {error.validator_value} properties")
        elif kind == "minLength":
            parts.append(f"{where} must NOT have fewer than {error.validator_value} characters")
        else:
            parts.append(f"{where} {error.message}")
    return ", ".join(parts)


def transcript(name: str) -> dict[str, Any]:
    """One recorded exchange with a real NPM 2.15.1 (npm_api/transcript/<name>*.json)."""
    (file,) = TRANSCRIPT_DIR.glob(f"{name}*.json")
    return json.loads(file.read_text())

"""Reading and writing the config document as JSON or YAML (shared by the /config API and the portico command)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError

from core.errors import field_errors
from routes.schemas import ConfigDocument

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")

# Limits counted on the parsed data before any field is validated, so a huge document costs its parse and a count,
# not a validation of every entry. Far above a real deployment (bench/ applies 3,000 domains with 9,000 routes);
# they bound documents that enter from outside, not what the database may hold.
MAX_DOMAINS = 5000
MAX_ROUTES = 20000
MAX_TARGETS = 50000
# The document is eight levels deep (domains.0.routes.0.targets.0.host); YAML's composer recurses per level.
MAX_DEPTH = 16


class DocumentError(Exception):
    """The text is not a valid config document. ``status`` 400 = not parseable, 422 = parsed but invalid."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]]):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


class _Refused(Exception):
    """The YAML text uses something the config document never needs (raised while composing, before construction)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class StrictYamlLoader(yaml.SafeLoader):
    """A SafeLoader that refuses anchors, aliases and deep nesting at the event that introduces them.

    Aliases let a few kilobytes name the same node millions of times (the "billion laughs"): composing is cheap,
    but everything that walks the data afterwards walks every expansion. Refusing the first anchor or alias
    before its node is composed means no such graph is ever built, whatever the text holds.
    """

    def __init__(self, stream: str | bytes):
        super().__init__(stream)
        self._path: list[str] = []

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        """Compose one node, or raise _Refused naming the field (``domains.1.routes``) and the line."""
        if isinstance(index, int):
            label = str(index)
        elif isinstance(index, yaml.ScalarNode):
            label = str(index.value)
        else:
            label = ""  # the root, or a mapping key: the error names the mapping
        field = ".".join(p for p in [*self._path, label] if p) or "__all__"
        event = self.peek_event()
        where = f"line {event.start_mark.line + 1}, column {event.start_mark.column + 1}"
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(field, f"YAML aliases (*{event.anchor}) are not accepted ({where}): write the value out.")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(field, f"YAML anchors (&{event.anchor}) are not accepted ({where}): write the value out.")
        if len(self._path) >= MAX_DEPTH:
            raise _Refused(field, f"Nested deeper than {MAX_DEPTH} levels ({where}); a config document never is.")
        self._path.append(label)
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]  # PyYAML has no types
        finally:
            self._path.pop()


def _too_many(data: dict[str, Any]) -> dict[str, str] | None:
    """The first count over its limit as a field error, counting list lengths only (nothing is validated)."""
    domains = data.get("domains")
    if not isinstance(domains, list):
        return None  # validation says what is wrong with it
    if len(domains) > MAX_DOMAINS:
        return {"field": "domains", "message": f"At most {MAX_DOMAINS} domains in one document ({len(domains)})."}
    routes_seen = targets_seen = 0
    for i, domain in enumerate(domains):
        routes = domain.get("routes") if isinstance(domain, dict) else None
        if not isinstance(routes, list):
            continue
        routes_seen += len(routes)
        if routes_seen > MAX_ROUTES:
            return {"field": f"domains.{i}.routes", "message": f"At most {MAX_ROUTES} routes in one document."}
        for j, route in enumerate(routes):
            targets = route.get("targets") if isinstance(route, dict) else None
            if isinstance(targets, list):
                targets_seen += len(targets)
                if targets_seen > MAX_TARGETS:
                    field = f"domains.{i}.routes.{j}.targets"
                    return {"field": field, "message": f"At most {MAX_TARGETS} targets in one document."}
    return None


def dump(data: dict[str, Any], fmt: str) -> str:
    """The document as text: YAML (block style, keys in document order) or JSON (indented)."""
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(text: str | bytes, fmt: str) -> ConfigDocument:
    """Parse and validate a document; raises DocumentError naming the field (``domains.0.routes.1.path``)."""
    from core.storable import NUL_MESSAGE, nul_fields

    try:
        data = yaml.load(text, Loader=StrictYamlLoader) if fmt == "yaml" else json.loads(text or b"null")
    except _Refused as exc:
        raise DocumentError(
            422, f"Invalid document: {exc.field}: {exc.message}", [{"field": exc.field, "message": exc.message}]
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
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
    over = _too_many(data)
    if over:
        raise DocumentError(422, f"Invalid document: {over['field']}: {over['message']}", [over])
    with_nul = nul_fields(data)  # YAML's "\0" or JSON's "\u0000": PostgreSQL cannot store them
    if with_nul:
        errors = [{"field": field, "message": NUL_MESSAGE} for field in with_nul]
        raise DocumentError(422, f"Invalid document: {with_nul[0]}: {NUL_MESSAGE}", errors)
    try:
        return ConfigDocument.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise DocumentError(
            422, "Invalid document: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors
        ) from None

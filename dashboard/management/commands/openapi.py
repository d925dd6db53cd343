"""Print or write the API's OpenAPI document, canonical (sorted keys, two-space indent) as the tests store it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from ninja.responses import NinjaJSONEncoder

from dashboard.api import api

# The copy the tests compare the served document with (dashboard/tests/test_openapi.py).
STORED = Path(__file__).resolve().parents[2] / "tests" / "openapi.json"


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Swagger UI refuses a document with a key twice ("duplicated mapping key"); json.loads would keep the last.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice in one object (next to {sorted(seen)})")
        seen[key] = value
    return seen


def strict_loads(text: str) -> Any:
    """Parse JSON text, raising ValueError when an object holds the same key twice."""
    return json.loads(text, object_pairs_hook=_refuse_duplicates)


def canonical(document: Any) -> str:
    """The stored form of a document: sorted keys, two-space indent, UTF-8 as is, one final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def served_text() -> str:
    """The document exactly as /api/v1/openapi.json serialises it (same generator, same encoder)."""
    return json.dumps(api.get_openapi_schema(), cls=NinjaJSONEncoder)


class Command(BaseCommand):
    help = (
        "Print the OpenAPI document of /api/v1/ in canonical form. After an intended API change, "
        "store it with --write (the tests compare the served document with dashboard/tests/openapi.json)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--write", action="store_true", help=f"Write it to {STORED.name} beside the tests.")

    def handle(self, *args, write: bool, **options):
        try:
            text = canonical(strict_loads(served_text()))
        except ValueError as exc:
            raise CommandError(f"the generated OpenAPI document is not valid JSON for every reader: {exc}") from None
        if write:
            STORED.write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {STORED}")
        else:
            self.stdout.write(text, ending="")

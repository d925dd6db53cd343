"""The NPM import: NPM's proxy hosts become Portico's domains and routes, optionally adopted."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from core import audit
from publishing.base import Actor, PublishError
from publishing.npm.client import ProxyHost
from publishing.npm.mapping import ImportedHost, import_host
from publishing.npm.publisher import NpmPublisher
from routes.operations import replace_state
from routes.schemas import ConfigDocument, DomainSpec


@dataclass
class ImportPreview:
    """What an import would do: the document to merge and a line per host."""

    hosts: list[ImportedHost]
    document: ConfigDocument

    @property
    def notes(self) -> list[str]:
        return [f"#{h.host_id} {', '.join(h.domain_names)}: {n}" for h in self.hosts for n in h.notes]


def import_preview(hosts: list[ProxyHost], certificates: dict[int, int] | None = None) -> ImportPreview:
    """Map every NPM host to Portico domains (the first host wins a domain name NPM would not allow twice);
    ``certificates``: NPM certificate id -> Portico's, see import_host."""
    imported = [import_host(h, certificates) for h in sorted(hosts, key=lambda h: h.id)]
    domains: dict[str, DomainSpec] = {}
    for item in imported:
        for spec in item.domains:
            domains.setdefault(spec.name, spec)
    document = ConfigDocument(domains=[domains[n] for n in sorted(domains)])
    return ImportPreview(imported, document)


@dataclass
class ImportResult:
    """An import (or its dry run): the preview, what the database gets, and the hosts adopted."""

    preview: ImportPreview
    changes: Any
    dry_run: bool
    adopted: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "changes": self.changes.as_dict(),
            "hosts": [
                {
                    "id": h.host_id,
                    "domain_names": h.domain_names,
                    "managed": h.managed,
                    "skipped": h.skipped,
                    "domains": [d.name for d in h.domains],
                    "notes": h.notes,
                }
                for h in self.preview.hosts
            ],
            "document": self.preview.document.model_dump(mode="json"),
            "adopted": self.adopted,
        }


def run_import(
    *,
    dry_run: bool = True,
    adopt: bool = False,
    host_ids: list[int] | None = None,
    actor: Actor = None,
    source: str = "system",
    publisher: NpmPublisher | None = None,
) -> ImportResult:
    """Read NPM's proxy hosts (all, or ``host_ids``) into Portico's domains and routes; existing ones are kept.

    With ``dry_run`` nothing is written. With ``adopt`` the imported hosts are also marked as Portico's in NPM,
    so the next apply manages them instead of reporting a conflict. The database change and the adoption go
    together: if NPM refuses an adoption, the import is rolled back. Raises PublishError.
    """
    publisher = publisher or NpmPublisher()
    hosts = publisher.hosts()
    if host_ids is not None:
        missing = sorted(set(host_ids) - {h.id for h in hosts})
        if missing:
            raise PublishError(f"NPM has no proxy host #{missing[0]}.")
        hosts = [h for h in hosts if h.id in set(host_ids)]
    with_certificates = any(str(h.certificate_id) not in ("0", "") for h in hosts)
    preview = import_preview(hosts, publisher.own_certificates() if with_certificates else {})
    with transaction.atomic():
        changes = replace_state(
            preview.document, prune=False, dry_run=dry_run, actor=actor, source=source, action="npm.import"
        )
        result = ImportResult(preview, changes, dry_run)
        if not dry_run and adopt:
            for item in preview.hosts:
                if item.skipped or item.managed:
                    continue
                try:
                    publisher.adopt(item.host_id)
                except PublishError:
                    # The import is rolled back, so the hosts adopted so far must not stay Portico's either
                    # (the next apply would delete them as managed hosts without a domain).
                    for host_id in result.adopted:
                        with contextlib.suppress(PublishError):
                            publisher.release(host_id)
                    raise
                result.adopted.append(item.host_id)
                audit.record(
                    "npm.adopt",
                    actor=actor,
                    source=source,
                    object_type="npm.proxy_host",
                    object_id=item.host_id,
                    object_repr=", ".join(item.domain_names),
                    after={"domains": [d.name for d in item.domains], "notes": item.notes},
                )
    return result

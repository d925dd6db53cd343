"""manage.py npm_import: preview (default) or run an import of NPM's proxy hosts into Portico."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from publishing.npm.importer import run_import
from publishing.operations import PublishError


class Command(BaseCommand):
    help = "Show what importing NPM's proxy hosts would do; --apply imports them, --adopt also takes them over."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--apply", action="store_true", help="Write the domains and routes (default: dry run).")
        parser.add_argument("--adopt", action="store_true", help="Mark the imported hosts as Portico's in NPM.")
        parser.add_argument("--host", type=int, action="append", dest="hosts", help="Only this NPM host id.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, apply: bool, adopt: bool, hosts: list[int] | None, json: bool, **options) -> None:
        if adopt and not apply:
            raise CommandError("--adopt only makes sense with --apply.")
        try:
            result = run_import(dry_run=not apply, adopt=adopt, host_ids=hosts, source="cli")
        except PublishError as exc:
            raise CommandError(exc.message) from None
        if json:
            self.stdout.write(_dumps(result.as_dict()))
            return
        for host in result.preview.hosts:
            names = ", ".join(host.domain_names)
            if host.skipped:
                self.stdout.write(f"#{host.host_id} {names}: skipped")
            else:
                for domain in host.domains:
                    paths = " ".join(r.path for r in domain.routes)
                    self.stdout.write(f"#{host.host_id} {domain.name}: {paths}")
            for note in host.notes:
                self.stdout.write(f"    note: {note}")
        changes = result.changes
        verb = "Imported" if apply else "Would import"
        self.stdout.write(
            f"{verb}: {len(changes.created)} created, {len(changes.updated)} updated"
            + (f"; adopted hosts {', '.join(f'#{i}' for i in result.adopted)}" if result.adopted else "")
            + ("" if apply else " (dry run: add --apply to write)")
        )


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)

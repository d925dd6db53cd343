"""``manage.py portico``: config as code from the shell (export, import, plan, apply, rollback).

Exit codes: 0 done, 1 the operation failed (invalid document, failed apply), 2 wrong usage (bad arguments,
unreadable file, unknown revision).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.errors import OperationError
from publishing import operations as publishing
from publishing.models import Revision
from routes import config_io, operations
from routes.state import export_state

OK, FAILED, USAGE = 0, 1, 2


def _fail(message: str) -> CommandError:
    return CommandError(message, returncode=FAILED)


def _usage(message: str) -> CommandError:
    return CommandError(message, returncode=USAGE)


class Command(BaseCommand):
    help = "Export, import, plan, apply and roll back Portico's routes (exit 0 ok, 1 failed, 2 usage)."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Record changes in the audit log as this user (default: no user).")
        sub = parser.add_subparsers(dest="action", required=True, metavar="{export,import,plan,apply,rollback}")

        export = sub.add_parser("export", help="Print every domain and route as one document.")
        export.add_argument("--format", choices=("yaml", "json"), default="yaml")
        export.add_argument("--output", "-o", help="Write to this file instead of standard output.")

        load = sub.add_parser("import", help="Make the routes equal a document (YAML or JSON; '-' reads stdin).")
        load.add_argument("file")
        load.add_argument("--dry-run", action="store_true", help="Only show what would change.")
        load.add_argument(
            "--prune", action="store_true", help="Also delete domains and routes that the document does not list."
        )
        load.add_argument("--format", choices=("yaml", "json"), help="Default: from the file name (.json), else YAML.")

        show = sub.add_parser("plan", help="Show what an apply would change (file list, warnings, diff).")
        show.add_argument("--no-diff", action="store_true", help="Only list the files and warnings.")

        sub.add_parser("apply", help="Publish the routes (nginx -t, swap, reload, verify); exit 1 unless applied.")

        back = sub.add_parser("rollback", help="Publish an earlier revision again and restore its routes.")
        back.add_argument("revision", type=int, help="The revision's number (as in `#12`).")

    def handle(self, *args, action: str, **options):
        actor = self._actor(options.get("user"))
        if action == "export":
            return self._export(options["format"], options.get("output"))
        if action == "import":
            return self._import(options["file"], options["format"], options["dry_run"], options["prune"], actor)
        if action == "plan":
            return self._plan(not options["no_diff"])
        if action == "apply":
            return self._publish(actor, None)
        if action == "rollback":
            return self._publish(actor, options["revision"])
        raise _usage(f"unknown action {action!r}")  # argparse refuses it first; kept for call_command

    def _plan(self, with_diff: bool) -> None:
        try:
            result = publishing.plan()
        except publishing.PublishError as exc:
            raise _fail(f"cannot plan: {exc.message}\n{exc.output}".strip()) from None
        if result.errors:
            raise _fail("cannot apply these stored values safely; fix or delete them:\n" + "\n".join(result.errors))
        for warning in result.warnings:
            self.stdout.write(f"warning: {warning}")
        if not result.changes:
            self.stdout.write("No changes: the live config equals the routes.")
            return
        for change in result.changes:
            self.stdout.write(f"{change['action']:8} {change['file']}")
        if with_diff:
            self.stdout.write("")
            self.stdout.write(result.diff, ending="")

    def _publish(self, actor, number: int | None) -> None:
        try:
            if number is None:
                revision = publishing.apply(actor=actor, source="cli")
            else:
                target = Revision.objects.filter(number=number).first()
                if target is None:
                    raise _usage(f"no revision #{number} (the Revisions page and GET /api/v1/revisions list them)")
                if not target.snapshot:
                    raise _fail(f"revision #{number} has no snapshot to roll back to")
                revision = publishing.rollback(target, actor=actor, source="cli")
        except publishing.ApplyBusy as exc:
            raise _fail(str(exc)) from None
        what = f"rollback to #{number}" if number is not None else "apply"
        if revision.status != Revision.Status.APPLIED:
            details = "\n".join(filter(None, [revision.message, revision.output.strip()]))
            raise _fail(f"revision #{revision.number} {revision.status} ({what}): {details}")
        self.stdout.write(f"Revision #{revision.number} applied ({what}).")
        if revision.output.strip():
            self.stdout.write(revision.output.strip())

    def _actor(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise _usage(f"no user named {username!r}")
        return user

    def _export(self, fmt: str, output: str | None) -> None:
        text = config_io.dump(export_state(), fmt)
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise _fail(f"cannot write {output}: {exc.strerror}") from None
            self.stderr.write(f"Wrote {output}.")
        else:
            self.stdout.write(text, ending="")

    def _import(self, file: str, fmt: str | None, dry_run: bool, prune: bool, actor) -> None:
        if file == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise _usage(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
        fmt = fmt or ("json" if file.endswith(".json") else "yaml")
        try:
            document = config_io.load(text, fmt)
        except config_io.DocumentError as exc:
            lines = [f"{file}: {exc.detail.split(':')[0]}"] + [f"  {e['field']}: {e['message']}" for e in exc.errors]
            raise _fail("\n".join(lines)) from None
        try:
            changes = operations.replace_state(
                document, prune=prune, dry_run=dry_run, actor=actor, source="cli", action="config.import"
            )
        except OperationError as exc:
            raise _fail(exc.message) from None
        for kind in ("created", "updated", "deleted"):
            for name in getattr(changes, kind):
                self.stdout.write(f"{kind:8} {name}")
        if changes.empty:
            self.stdout.write("No changes.")
        elif dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        else:
            self.stdout.write("Saved. `manage.py portico plan` shows what nginx would get; `apply` publishes it.")

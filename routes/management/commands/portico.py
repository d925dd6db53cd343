"""``manage.py portico``: config as code from the shell (export, import), with exit codes scripts can trust.

Exit codes: 0 done, 1 the operation failed (invalid document, failed apply), 2 wrong usage (bad arguments,
unreadable file, unknown revision).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from routes import config_io
from routes.state import export_state, replace_state

OK, FAILED, USAGE = 0, 1, 2


def _fail(message: str) -> CommandError:
    return CommandError(message, returncode=FAILED)


def _usage(message: str) -> CommandError:
    return CommandError(message, returncode=USAGE)


class Command(BaseCommand):
    help = "Export, import, plan, apply and roll back Portico's routes (exit 0 ok, 1 failed, 2 usage)."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Record changes in the audit log as this user (default: no user).")
        sub = parser.add_subparsers(dest="action", required=True, metavar="{export,import}")

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

    def handle(self, *args, action: str, **options):
        actor = self._actor(options.get("user"))
        if action == "export":
            return self._export(options["format"], options.get("output"))
        if action == "import":
            return self._import(options["file"], options["format"], options["dry_run"], options["prune"], actor)
        raise _usage(f"unknown action {action!r}")  # argparse refuses it first; kept for call_command

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
        changes = replace_state(
            document, prune=prune, dry_run=dry_run, actor=actor, source="cli", action="config.import"
        )
        for kind in ("created", "updated", "deleted"):
            for name in getattr(changes, kind):
                self.stdout.write(f"{kind:8} {name}")
        if changes.empty:
            self.stdout.write("No changes.")
        elif dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        else:
            self.stdout.write("Saved. Run `manage.py portico plan` to see the nginx changes, then `apply`.")

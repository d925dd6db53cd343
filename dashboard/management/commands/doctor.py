"""Check what Portico needs on this machine and print the exact fix for each problem."""

from __future__ import annotations

import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.utils import Error as DatabaseError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 12)
    return Check("python", ok, version, "" if ok else "install Python 3.12 or newer and rerun ./scripts/serve")


def _database() -> Check:
    vendor = connection.vendor
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        from django.db.migrations.executor import MigrationExecutor

        pending = MigrationExecutor(connection).migration_plan(MigrationExecutor(connection).loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return Check("database", False, f"{vendor}: {exc}", "check DATABASE_URL, or unset it to use SQLite in var/")
    if pending:
        return Check("database", False, f"{vendor}: {len(pending)} migrations not applied", "python manage.py migrate")
    return Check("database", True, vendor)


def _file_modes() -> Check:
    from core.filemodes import loose_paths

    var_dir = Path(settings.VAR_DIR)
    loose = loose_paths(var_dir, public=(Path(settings.PORTICO_ACME_CHALLENGE_DIR),))  # answers nginx serves
    if not loose:
        return Check("files", True, f"{var_dir} is private to this user")
    shown = ", ".join(f"{path} ({mode:04o})" for path, mode in loose[:3])
    more = f" and {len(loose) - 3} more" if len(loose) > 3 else ""
    return Check(
        "files",
        False,
        f"other users may read or write {shown}{more}",
        f"chmod -R go-rwx {shlex.quote(str(var_dir))}  (new files are private: manage.py, gunicorn and scripts/serve "
        "set umask 077)",
    )


def _docker() -> Check:
    from containers.engines import check, local_engine

    problem = check(local_engine(), timeout=5)
    if problem is not None:
        return Check("docker", False, problem.reason, "start dockerd (e.g. `dockerd &`), or set PORTICO_DOCKER_URL")
    return Check("docker", True, settings.PORTICO_DOCKER_URL)


def _nginx() -> Check:
    from publishing.nginx.process import NginxError, nginx_binary, nginx_version

    try:
        return Check("nginx", True, f"{nginx_binary()} {nginx_version()}")
    except NginxError as exc:
        return Check("nginx", False, str(exc), "apt-get install nginx, or set PORTICO_NGINX_BIN")


def _npm() -> Check:
    from publishing.operations import npm_status

    try:
        status = npm_status()
    except DatabaseError as exc:
        return Check("npm", False, f"cannot read the NPM settings: {exc}", "python manage.py migrate")
    if status["reachable"]:
        return Check("npm", True, f"{status['url']} (NPM {status['version']}, user {status['identity']})")
    return Check(
        "npm",
        False,
        status["error"],
        "set PORTICO_NPM_URL, PORTICO_NPM_IDENTITY and PORTICO_NPM_SECRET (or use the NPM page), see docs/npm.md",
    )


def _port(name: str, host: str, port: int) -> Check:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return Check(
                name,
                False,
                f"{host}:{port} is taken ({exc.strerror})",
                f"stop what listens there (ss -ltnp 'sport = :{port}'), or choose another port",
            )
    return Check(name, True, f"{host}:{port} is free")


class Command(BaseCommand):
    help = "Check Python, the database, the modes of var/, Docker, nginx and the ports Portico needs."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="The port Portico's web server will use.")
        parser.add_argument("--skip-ports", action="store_true", help="Do not check ports (Portico is running).")

    def handle(self, *args, port: int, skip_ports: bool, **options):
        checks = [_python(), _database(), _file_modes(), _docker(), _nginx()]
        if settings.PORTICO_PUBLISHER == "npm":
            checks.append(_npm())
        if not skip_ports:
            checks.append(_port("web port", "127.0.0.1", port))
            if settings.PORTICO_PUBLISHER == "nginx" and settings.PORTICO_NGINX_MODE == "managed":
                checks.append(_port("proxy port", *settings.PORTICO_NGINX_LISTEN))
        for check in checks:
            mark = self.style.SUCCESS("ok     ") if check.ok else self.style.ERROR("problem")
            self.stdout.write(f"{mark} {check.name:<11} {check.detail}")
            if check.fix:
                self.stdout.write(f"        fix: {check.fix}")
        if not all(c.ok for c in checks):
            sys.exit(1)

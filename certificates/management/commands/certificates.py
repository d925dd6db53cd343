"""``manage.py certificates``: the certificate worker (``run``: order pending certificates, renew due ones, retry
failures) and a listing for the shell (``list``)."""

from __future__ import annotations

import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from certificates import operations


class Command(BaseCommand):
    help = "Run the certificate worker (orders, renewals, retries), or list certificates."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{run,list}")
        run = sub.add_parser("run", help="Order pending and renew due certificates, every --interval seconds.")
        run.add_argument("--once", action="store_true", help="One pass, then exit (for cron or a test).")
        # A pass is one indexed query when nothing is due, so a short interval costs nothing and a new request
        # is ordered within seconds of being made.
        run.add_argument("--interval", type=int, default=10, help="Seconds between passes (default 10).")
        sub.add_parser("list", help="One line per certificate: id, status, not-after, names, last error.")

    def handle(self, *args, action: str, **options):
        if action == "list":
            for cert in operations.certificates():
                after = cert.not_after.strftime("%Y-%m-%d") if cert.not_after else "-"
                line = f"{cert.pk}\t{cert.status}\t{after}\t{','.join(cert.domains)}"
                self.stdout.write(line + (f"\t{cert.message}" if cert.message else ""))
            return
        stop = threading.Event()
        # scripts/serve stops the worker with SIGTERM: the current order finishes, then it leaves.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C reaches the whole process group
        owner = operations.worker_name()
        while not stop.is_set():
            started = time.monotonic()
            try:
                for cert in operations.process_due(owner=owner):
                    state = f"{cert.status} (serial {cert.serial})" if cert.status == "valid" else cert.status
                    self.stdout.write(f"certificate {cert.pk} {','.join(cert.domains)}: {state} {cert.message}".strip())
            except Exception as exc:  # the database went away, for instance: try again next pass
                self.stderr.write(f"certificate worker pass failed: {exc}")
            if options["once"]:
                return
            # Between passes, as between requests: drop a connection that broke or outlived CONN_MAX_AGE.
            close_old_connections()
            stop.wait(max(1.0, options["interval"] - (time.monotonic() - started)))

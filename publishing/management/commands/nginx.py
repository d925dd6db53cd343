"""manage.py nginx start|stop|status: Portico's own nginx (managed mode), or the configured proxy's status."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from publishing import operations
from publishing.nginx import backends
from publishing.nginx.process import NginxError


class Command(BaseCommand):
    help = "Start, stop or show Portico's nginx (PORTICO_NGINX_MODE=managed); status works in every mode."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args, action: str, **options):
        try:
            backend = backends.backend()
            if action != "status":
                # An apply killed between swap and reload is undone before nginx serves anything.
                note = operations.recover(operations.NginxPublisher(backend))
                if note:
                    self.stdout.write(note)
            if action in ("start", "stop") and settings.PORTICO_NGINX_MODE != "managed":
                raise CommandError(
                    f"PORTICO_NGINX_MODE is {settings.PORTICO_NGINX_MODE}: Portico only starts and stops "
                    "its own nginx (managed mode)."
                )
            if action == "start":
                self.stdout.write(f"nginx {backend.start()}")
            elif action == "stop":
                self.stdout.write(f"nginx {backend.stop()}")
            else:
                status = backend.status()
                self.stdout.write(f"nginx {status.detail}")
                if not status.running:
                    raise CommandError("nginx is not running")
        except (NginxError, operations.PublishError) as exc:
            raise CommandError(f"{exc.message}\n{exc.output}".strip()) from None
        except operations.ApplyBusy as exc:
            raise CommandError(str(exc)) from None

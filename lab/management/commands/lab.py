"""`manage.py lab up|status|down`: the class's microservice scenario in one step (see lab/build.py and lab/checks.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lab import build, checks
from lab.spec import LabError, LabSpec, Step


class Command(BaseCommand):
    help = (
        "Build (up), check (status) or remove (down) the class lab: network, front/task/user containers, "
        "optional MySQL, the routes <domain>/ /task/ /user/ and an apply."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["up", "status", "down"])
        defaults = LabSpec(mysql_password="")
        parser.add_argument(
            "--prefix", default="", help="Prefix for every container and network name; also the lab's id."
        )
        parser.add_argument("--network", default=defaults.network, help="Docker network (default %(default)s).")
        parser.add_argument("--domain", default=defaults.domain, help="Domain of the routes (default %(default)s).")
        parser.add_argument(
            "--image",
            default=defaults.image,
            help="Image of the default services (default %(default)s; needs python3 or busybox httpd).",
        )
        parser.add_argument(
            "--host-network",
            action="store_true",
            help="Run the services with host networking on 127.0.0.1 ports; routes then target 127.0.0.1:<port>.",
        )
        for role, name, port in (("front", "myfront", 8081), ("task", "mytaskapi", 8082), ("user", "myuserapi", 8083)):
            parser.add_argument(f"--{role}-name", default=name, help=f"Container name (default {name}).")
            parser.add_argument(
                f"--{role}-image", default="", help="The class's own image instead of the default service."
            )
            parser.add_argument(
                f"--{role}-port",
                type=int,
                default=None,
                help=f"Port it listens on (default 80; {port} with --host-network).",
            )
        parser.add_argument("--mysql-image", default="", help="Also run MySQL from this image (e.g. mysql:8).")
        parser.add_argument("--mysql-name", default="mysql")
        parser.add_argument(
            "--mysql-password", default="", help="MySQL root password (default: a random one, printed)."
        )
        parser.add_argument(
            "--server-ip", default="", help="Address students put in their hosts file (default: guessed)."
        )

    def handle(self, *args, action: str, **options) -> None:
        spec = LabSpec(
            prefix=options["prefix"],
            network=options["network"],
            domain=options["domain"],
            image=options["image"],
            host_network=options["host_network"],
            server_ip=options["server_ip"],
            mysql_image=options["mysql_image"],
            mysql_name=options["mysql_name"],
            **{f"{r}_{k}": options[f"{r}_{k}"] for r in ("front", "task", "user") for k in ("name", "image", "port")},
        )
        if options["mysql_password"]:
            spec.mysql_password = options["mysql_password"]
        say = self.stdout.write
        try:
            if action == "up":
                steps = build.up(spec, say=say)
                self._after_up(spec, steps)
            elif action == "down":
                removed = build.down(spec, say=say)
                say(
                    f"Removed {len(removed)} item(s) of lab {spec.lab_id!r}."
                    if removed
                    else f"Nothing of lab {spec.lab_id!r} to remove."
                )
            else:
                steps = checks.status(spec)
                for step in steps:
                    line = f"{step.mark} {step.title}" + (f": {step.detail}" if step.detail else "")
                    say(line + (f"\n    fix: {step.fix}" if step.fix else ""))
                # The hosts file belongs to each student's computer: shown, but not a failure of the server.
                if any(step.ok is False and step.key != "hosts" for step in steps):
                    raise CommandError("some steps are not done (✗ above)")
        except LabError as exc:
            raise CommandError(exc.message) from None

    def _after_up(self, spec: LabSpec, steps: list[Step]) -> None:
        say = self.stdout.write
        say("")
        say("Add this line to the hosts file of each computer that opens the lab:")
        say(f"    {checks.hosts_line(spec)}")
        say(f"(on this machine itself: 127.0.0.1 {spec.domain})")
        say("Then open:")
        for url in checks.urls(spec):
            say(f"    {url}")
        if spec.mysql_image:
            say(f"MySQL root password: {spec.mysql_password}")
        if any(step.ok is False for step in steps):
            raise CommandError("the lab is built, but not every step succeeded (✗ above)")

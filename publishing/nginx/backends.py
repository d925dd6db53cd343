"""Where nginx runs (managed, system, container) and the one way files go live there (``push``).

Three places nginx can run (settings.PORTICO_NGINX_MODE), one algorithm for all of them (``push``):

1. stage the new files and test them (managed: ``nginx -t`` on a config that includes the staged copy);
2. write a journal holding the previous files, then swap the new files in (managed: one atomic symlink rename);
3. test again where only the live location can be tested (system, container), reload, and verify with real
   HTTP requests that nginx now serves the new files (each domain file answers a digest of itself);
4. on any failure put the previous files back, reload, and raise NginxError with nginx's own words.

A process killed between 2 and 4 leaves the journal behind; ``recover()`` (run by ``manage.py nginx start``
and before every apply) puts the previous files back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from core.filemodes import open_passage
from publishing.nginx.process import (
    NginxError,
    children,
    first_error,
    is_owned,
    listen_directive,
    nginx_binary,
    run,
)
from publishing.nginx.tls import certificate_material, expected_leaves
from publishing.nginx.verify import verify
from publishing.render import referenced_certificates

if TYPE_CHECKING:
    from containers.docker.client import DockerClient


@dataclass
class Status:
    """Whether the proxy runs, as ``manage.py nginx status`` and the pages show it."""

    running: bool
    detail: str


class _LocalTlsStore:
    """Certificate files in a directory of this machine (managed and system modes)."""

    tls_dir: str

    def tls_present(self) -> set[str]:
        try:
            names = {p.name for p in Path(self.tls_dir).iterdir()}
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise NginxError(f"cannot read the certificate directory {self.tls_dir}: {exc}") from None
        return {name[:-4] for name in names if name.endswith(".crt") and f"{name[:-4]}.key" in names}

    def tls_write(self, material: dict[str, tuple[str, str]]) -> None:
        directory = Path(self.tls_dir)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for stem, (chain, key) in material.items():
                # The key first and the chain last: a stem counts as present once its .crt exists.
                _write_private(directory / f"{stem}.key", key, 0o600)
                _write_private(directory / f"{stem}.crt", chain, 0o644)
        except OSError as exc:
            raise NginxError(f"cannot write certificate files into {self.tls_dir}: {exc}") from None

    def tls_remove(self, stems: set[str]) -> None:
        try:
            for stem in stems:
                for suffix in (".crt", ".key"):
                    (Path(self.tls_dir) / f"{stem}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            raise NginxError(f"cannot remove certificate files from {self.tls_dir}: {exc}") from None


def _write_private(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` through a temporary file created with ``mode`` (a key is never readable by
    others, not even for a moment) and renamed into place."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)  # the umask may have taken bits away from a .crt
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Backend:
    """Where the live files are and how nginx is tested and reloaded; ``push`` is the same for all."""

    mode = ""
    journal_path: Path
    # Where certificate files live, as nginx sees the path: content-addressed (publishing.render.TlsCert), so a file
    # is written once and never changed, and the files of the previous config stay until an apply succeeds.
    tls_dir: str = ""

    def tls_present(self) -> set[str]:
        """The certificate file stems whose .crt and .key are both in the TLS directory. Raises NginxError."""
        raise NotImplementedError

    def tls_write(self, material: dict[str, tuple[str, str]]) -> None:
        """Write each stem's chain (.crt, 0644) and key (.key, 0600) into the TLS directory. Raises NginxError."""
        raise NotImplementedError

    def tls_remove(self, stems: set[str]) -> None:
        """Delete the files of ``stems`` from the TLS directory (missing ones are fine). Raises NginxError."""
        raise NotImplementedError

    def materialise(self, files: dict[str, str]) -> set[str]:
        """Make the certificate files ``files`` name exist before nginx tests them; returns the stems written now.

        Only missing files are written (from the certificates store): those of the live config are there already,
        so restoring the previous config never depends on certificates that changed since. Raises NginxError.
        """
        needed = referenced_certificates(files)
        if not needed:
            return set()
        missing = needed - self.tls_present()
        if missing:
            self.tls_write({stem: certificate_material(stem) for stem in sorted(missing)})
        return missing

    def collect(self, keep: dict[str, str], also: set[str] | None = None) -> None:
        """Delete certificate files that neither ``keep``'s files nor ``also`` name (never raises: an unused
        file left behind costs nothing, and the next apply collects it)."""
        if not self.tls_dir:
            return
        with contextlib.suppress(NginxError):
            unused = self.tls_present() - referenced_certificates(keep) - (also or set())
            if unused:
                self.tls_remove(unused)

    def read_live(self) -> dict[str, str]:
        """The files nginx serves now (only Portico's own names). Raises NginxError."""
        raise NotImplementedError

    def stage(self, files: dict[str, str], live: dict[str, str] | None = None) -> str:
        """Write ``files`` somewhere nginx does not read yet and test them if this mode can. ``live`` is what
        is live now, when the caller knows it (a mode may reuse unchanged files). Raises NginxError."""
        raise NotImplementedError

    def swap(self, files: dict[str, str]) -> None:
        """Make ``files`` the live set (the staged copy where there is one). Raises NginxError."""
        raise NotImplementedError

    def test_live(self) -> str:
        """Test the live config (modes that cannot test a staged copy). Returns nginx's output."""
        return ""

    def old_workers_done(self) -> bool | None:
        """After reload(): whether every worker of the old config has stopped accepting; None: cannot tell."""
        return None

    def reload(self) -> str:
        """Tell nginx to load the live files. Raises NginxError."""
        raise NotImplementedError

    def status(self) -> Status:
        raise NotImplementedError

    def recent_log(self) -> str:
        """What nginx logged since the last reload (a failed reload is only reported there)."""
        return ""

    # The journal: written before the swap, removed when the apply is done or undone.
    def _write_journal(self, previous: dict[str, str]) -> None:
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.journal_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"mode": self.mode, "started": time.time(), "previous": previous}))
        os.replace(tmp, self.journal_path)

    def _clear_journal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()

    def recover(self) -> str:
        """Undo an apply that was interrupted between swap and reload; returns what was done ("" if nothing)."""
        try:
            journal = json.loads(self.journal_path.read_text())
        except FileNotFoundError:
            return ""
        except (OSError, ValueError) as exc:
            raise NginxError(f"cannot read the apply journal {self.journal_path}: {exc}") from None
        previous = journal.get("previous", {})
        self.stage(previous)
        self.swap(previous)
        note = f"an interrupted apply was undone: the {len(previous)} previous file(s) are live again"
        if self.status().running:
            try:
                self.reload()
            except NginxError as exc:
                note += f"; reload failed: {exc.message}"
        self._clear_journal()
        return note

    def push(self, desired: dict[str, str], previous: dict[str, str], pause: Callable[[], None] | None = None) -> str:
        """Make nginx serve ``desired``; on any failure serve ``previous`` again and raise NginxError. ``pause`` runs
        between the swap and the reload."""
        self.recover()
        started = time.monotonic()
        leaves = expected_leaves(desired, previous)
        try:
            outputs = [self.stage(desired, live=previous)]
        except NginxError:
            self.collect(previous)  # a certificate file nginx refused leaves nothing behind
            raise
        staged = time.monotonic() - started
        self._write_journal(previous)
        try:
            self.swap(desired)
        except NginxError:
            self._restore(previous)
            raise
        if pause:
            pause()  # the fault tests kill the process here, between swap and reload (see recover())
        reloading = False
        try:
            started = time.monotonic()
            outputs.append(self.test_live())
            tested = staged + time.monotonic() - started
            reloading = True
            outputs.append(self.reload())
            outputs.append(
                verify(desired, previous, grace=2 * tested, old_workers_done=self.old_workers_done, leaves=leaves)
            )
        except NginxError as exc:
            log = self.recent_log() if reloading else ""
            restore_note = self._restore(previous)
            message = exc.message
            if log:
                message += f" nginx logged: {first_error(log)}."
            raise NginxError(
                f"{message} The previous config was put back{restore_note}.",
                "\n".join(filter(None, [exc.output, log])),
                rolled_back=reloading,
            ) from None
        self._clear_journal()
        # The previous config's files stay: the next apply may have to put it back (see materialise()).
        self.collect(desired, also=referenced_certificates(previous))
        return "\n".join(o for o in outputs if o)

    def _restore(self, previous: dict[str, str]) -> str:
        note = ""
        try:
            self.stage(previous)
            self.swap(previous)
            if self.status().running:
                self.reload()
        except NginxError as exc:
            note = f", but restoring it failed: {exc.message}"
        else:
            self.collect(previous)
        self._clear_journal()
        return note


# The process and http settings of Portico's own nginx, open at the end of the http block (a format string
# with {prefix}). bench/apply.py's bare-nginx baseline uses the same, so both parse sites alike.
MANAGED_WORKERS = 1  # worker_processes of Portico's own nginx (below); verify() counts them after a reload
HTTP_SETTINGS = (
    f"worker_processes {MANAGED_WORKERS};\n"
    + """pid {prefix}/logs/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    default_type application/octet-stream;
    server_names_hash_bucket_size 512;
    server_names_hash_max_size 65536;
    variables_hash_bucket_size 128;
    variables_hash_max_size 65536;
"""
)

MAIN_CONF = (
    "# Written by Portico (publishing/nginx/): Portico's own nginx instance. Site files live in conf/live/.\n"
    + HTTP_SETTINGS
    + """    server {{
        listen {listen} default_server;
        server_name _;
        location = /.well-known/portico/health {{ default_type text/plain; return 200 "portico nginx\\n"; }}
        location / {{ default_type text/plain; return 404 "No Portico domain matches this Host header.\\n"; }}
    }}
    include {sites}/*.conf;
}}
"""
)


class ManagedNginx(_LocalTlsStore, Backend):
    """Portico's own nginx under PORTICO_NGINX_DIR: conf/live is a symlink swapped atomically to a new set."""

    mode = "managed"

    def __init__(self, prefix: Path | None = None):
        self.prefix = Path(prefix or settings.PORTICO_NGINX_DIR).resolve()
        self.conf = self.prefix / "conf" / "nginx.conf"
        self.live = self.prefix / "conf" / "live"
        self.sets = self.prefix / "conf" / "sets"
        self.staging = self.prefix / "staging"
        self.pidfile = self.prefix / "logs" / "nginx.pid"
        self.journal_path = self.prefix / "apply-journal.json"
        self.tls_dir = str(self.prefix / "tls")
        self._staged: Path | None = None  # the set stage() tested, which swap() puts live

    def _main_conf(self, sites: Path) -> str:
        return MAIN_CONF.format(prefix=self.prefix, listen=listen_directive(), sites=sites)

    def _nginx(self, conf: Path, *args: str, what: str) -> str:
        return run([nginx_binary(), "-p", str(self.prefix), "-c", str(conf), *args], what)

    def prepare(self) -> None:
        """Create the prefix, the main config and an empty live set if they are missing."""
        try:
            for sub in ("conf", "logs", "temp", "conf/sets"):
                (self.prefix / sub).mkdir(parents=True, exist_ok=True)
            # Run as root, nginx's workers are `nobody`: they must get through the private var/ to temp/.
            open_passage(Path(settings.VAR_DIR), self.prefix / "temp")
            if not self.live.exists():
                empty = self.sets / "initial"
                empty.mkdir(exist_ok=True)
                self._point_live(empty)
            self._write_atomic(self.conf, self._main_conf(self.live))
        except OSError as exc:
            raise NginxError(f"cannot prepare {self.prefix}: {exc}") from None

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(text)
        os.replace(tmp, path)

    def _point_live(self, target: Path) -> None:
        link = self.live.with_name(f".live.{uuid.uuid4().hex[:8]}")
        os.symlink(target.relative_to(self.live.parent), link)
        os.replace(link, self.live)  # rename(2) over the old symlink: atomic

    def read_live(self) -> dict[str, str]:
        self.prepare()
        for _attempt in range(5):
            current = self.live.resolve()  # one set, read whole: not half of one and half of the next
            try:
                return {p.name: p.read_text() for p in sorted(current.glob("*.conf"))}
            except FileNotFoundError:
                # An apply swapped in a new set and removed this one while it was being read (a plan does not
                # take the apply lock; the API fuzz test found this): read the set that is live now.
                continue
            except OSError as exc:
                raise NginxError(f"cannot read the live files in {self.live}: {exc}") from None
        raise NginxError(f"cannot read the live files in {self.live}: they kept changing while being read")

    def stage(self, files: dict[str, str], live: dict[str, str] | None = None) -> str:
        self.prepare()
        self.materialise(files)
        live = live or {}
        current = self.live.resolve()
        token = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]
        staged = self.staging / token
        try:
            staged.mkdir(parents=True)
            for name, text in files.items():
                # Sets are never edited in place, so an unchanged file is hard-linked from the live set:
                # one change among thousands of domains writes one file (bench/ measures it).
                if live.get(name) == text:
                    try:
                        os.link(current / name, staged / name)
                        continue
                    except OSError:
                        pass
                (staged / name).write_text(text)
            test_conf = staged.with_suffix(".nginx.conf")
            test_conf.write_text(self._main_conf(staged))
        except OSError as exc:
            shutil.rmtree(staged, ignore_errors=True)
            raise NginxError(f"cannot write the staging directory {self.staging}: {exc}") from None
        try:
            output = self._nginx(test_conf, "-t", what="nginx -t on the staged config")
        except NginxError as exc:
            shutil.rmtree(staged, ignore_errors=True)
            test_conf.unlink(missing_ok=True)
            # nginx names the staged path; name the file as people know it instead.
            raise NginxError(exc.message.replace(f"{staged}/", ""), exc.output) from None
        test_conf.unlink(missing_ok=True)
        self._staged = staged
        return output

    def swap(self, files: dict[str, str]) -> None:
        staged = self._staged
        if staged is None:
            raise NginxError("nothing is staged")
        target = self.sets / staged.name
        try:
            os.rename(staged, target)
            previous = self.live.resolve()
            self._point_live(target)
        except OSError as exc:
            raise NginxError(f"cannot swap the live files: {exc}") from None
        self._staged = None
        # Keep the set just replaced (recovery may need it); drop older ones.
        for old in self.sets.iterdir():
            if old not in (target, previous):
                shutil.rmtree(old, ignore_errors=True)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def status(self) -> Status:
        pid = self._pid()
        host, port = settings.PORTICO_NGINX_LISTEN
        if pid:
            return Status(True, f"running (pid {pid}) on {host}:{port}, prefix {self.prefix}")
        return Status(False, f"not running (prefix {self.prefix}); start it with: manage.py nginx start")

    def reload(self) -> str:
        pid = self._pid()
        if not pid:
            raise NginxError("Portico's nginx is not running: start it with `manage.py nginx start`.")
        try:
            self._log_offset = (self.prefix / "logs" / "error.log").stat().st_size
        except OSError:
            self._log_offset = 0
        # SIGHUP is what `nginx -s reload` sends, but that command parses the whole config first just to find
        # the pid file: at a thousand domains a second full parse per apply (bench/). Whether the master
        # took the new config is what verify() proves, and a refused one shows in its error log.
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            raise NginxError(
                "Portico's nginx stopped before it could reload: start it with `manage.py nginx start`."
            ) from None
        except PermissionError as exc:
            raise NginxError(f"cannot signal Portico's nginx (pid {pid}) to reload: {exc}") from None
        return f"reload: SIGHUP sent to nginx's master (pid {pid})"

    def old_workers_done(self) -> bool | None:
        # A worker told to stop retitles itself "worker process is shutting down" and closes its listening
        # sockets in the same step (ngx_worker_process_cycle), so that title is the sign it accepts no more.
        # Once the new config answers, its MANAGED_WORKERS workers exist and stay; any other worker still
        # accepting belongs to an older generation (one reload may still be finishing the one before it,
        # e.g. the restore after a failed apply), so the old ones are done when no more than those accept.
        pid = self._pid()
        if not pid:
            return None
        accepting = 0
        for child in children(pid):
            try:
                title = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue  # gone
            if b"worker process" in title and b"shutting down" not in title:
                accepting += 1
        return accepting <= MANAGED_WORKERS

    def recent_log(self) -> str:
        try:
            with open(self.prefix / "logs" / "error.log", "rb") as log:
                log.seek(getattr(self, "_log_offset", 0))
                text = log.read(65536).decode("utf-8", errors="replace")
        except OSError:
            return ""
        # Reload chatter is [notice]; keep what went wrong.
        return "\n".join(line for line in text.splitlines() if "[notice]" not in line)

    def start(self) -> str:
        """Start Portico's nginx (recovering an interrupted apply first). Raises NginxError."""
        self.prepare()
        self.recover()
        if self._pid():
            return self.status().detail
        self._nginx(self.conf, "-t", what="nginx -t")
        output = self._nginx(self.conf, what="nginx start")
        deadline = time.monotonic() + 10
        while not self._pid() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._pid():
            raise NginxError("nginx did not start", output + self._log_tail())
        return self.status().detail

    def stop(self) -> str:
        """Stop Portico's nginx gracefully; returns when its master process is gone."""
        pid = self._pid()
        if not pid:
            return "not running"
        self._nginx(self.conf, "-s", "quit", what="nginx stop")
        deadline = time.monotonic() + 10
        while self._pid() and time.monotonic() < deadline:
            time.sleep(0.05)
        return "stopped" if not self._pid() else "still stopping"

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.prefix / "logs" / "error.log").read_text().splitlines()[-lines:])
        return ""


class SystemNginx(_LocalTlsStore, Backend):
    """A system nginx: files in PORTICO_NGINX_CONF_DIR, tested and reloaded with the configured commands.

    The system's nginx.conf must include ``<dir>/*.conf`` inside ``http {}``. A staged copy cannot be tested
    with a system ``nginx -t``, so the files are swapped in, tested, and swapped back if the test fails;
    nginx reads nothing until the reload, so the running proxy never sees a rejected config.
    """

    mode = "system"

    def __init__(self, conf_dir: str | None = None, test_cmd: str | None = None, reload_cmd: str | None = None):
        raw = conf_dir or settings.PORTICO_NGINX_CONF_DIR
        if not raw:
            raise NginxError("PORTICO_NGINX_MODE=system needs PORTICO_NGINX_CONF_DIR (the directory nginx includes)")
        self.dir = Path(raw)
        self.test_cmd = shlex.split(test_cmd or settings.PORTICO_NGINX_TEST_CMD)
        self.reload_cmd = shlex.split(reload_cmd or settings.PORTICO_NGINX_RELOAD_CMD)
        self.staging = self.dir.parent / f".{self.dir.name}.portico-staging"
        self.journal_path = Path(settings.VAR_DIR) / "nginx-system-journal.json"
        # Inside the included directory, but nginx's include of *.conf does not reach into it.
        self.tls_dir = str(self.dir / "portico-tls")

    def read_live(self) -> dict[str, str]:
        try:
            if not self.dir.exists():
                return {}
            return {p.name: p.read_text() for p in sorted(self.dir.iterdir()) if is_owned(p.name) and p.is_file()}
        except OSError as exc:
            raise NginxError(f"cannot read {self.dir}: {exc}") from None

    def stage(self, files: dict[str, str], live: dict[str, str] | None = None) -> str:
        self.materialise(files)
        try:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging.mkdir(parents=True)
            for name, text in files.items():
                (self.staging / name).write_text(text)
        except OSError as exc:
            raise NginxError(f"cannot write the staging directory {self.staging}: {exc}") from None
        return ""

    def swap(self, files: dict[str, str]) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            for name in files:
                os.replace(self.staging / name, self.dir / name)
            for path in self.dir.iterdir():
                if is_owned(path.name) and path.name not in files:
                    path.unlink()
        except OSError as exc:
            raise NginxError(f"cannot swap the files in {self.dir}: {exc}") from None

    def test_live(self) -> str:
        return run(self.test_cmd, "nginx -t")

    def reload(self) -> str:
        return run(self.reload_cmd, "nginx reload")

    def status(self) -> Status:
        try:
            run(self.test_cmd, "nginx -t")
        except NginxError as exc:
            return Status(False, exc.message)
        return Status(True, f"system nginx, files in {self.dir}")


class ContainerNginx(Backend):
    """nginx inside a container: files copied in through the Docker API, ``nginx -t``/reload through exec."""

    mode = "container"

    def __init__(self, container: str | None = None, conf_dir: str | None = None):
        self.container = container or settings.PORTICO_NGINX_CONTAINER
        if not self.container:
            raise NginxError("PORTICO_NGINX_MODE=container needs PORTICO_NGINX_CONTAINER (the proxy container's name)")
        self.dir = (conf_dir or settings.PORTICO_NGINX_CONTAINER_DIR).rstrip("/")
        self.journal_path = (
            Path(settings.VAR_DIR) / f"nginx-container-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.container)}.json"
        )
        self.tls_dir = f"{self.dir}/portico-tls"

    def _docker[T](self, action: Callable[[DockerClient], T]) -> T:
        """Run ``action(client)`` on the built-in engine; the SDK is imported only when nginx runs in a container."""
        from containers.docker.client import DockerError
        from containers.engines import client_for, local_engine

        try:
            return action(client_for(local_engine()))
        except DockerError as exc:
            raise NginxError(f"container {self.container}: {exc.reason}") from None

    def _exec(self, argv: list[str], what: str) -> str:
        code: int
        output: str
        code, output = self._docker(lambda c: c.exec_in(self.container, argv))
        output = output.strip()
        if code != 0:
            raise NginxError(
                f"{what} in container {self.container} failed (exit {code}): {first_error(output)}", output
            )
        return output

    def read_live(self) -> dict[str, str]:
        files = self._docker(lambda c: c.read_files(self.container, self.dir))
        return {name: text for name, text in sorted(files.items()) if is_owned(name)}

    def tls_present(self) -> set[str]:
        code, output = self._docker(lambda c: c.exec_in(self.container, ["ls", "-1", self.tls_dir]))
        names = set(output.split()) if code == 0 else set()
        return {name[:-4] for name in names if name.endswith(".crt") and f"{name[:-4]}.key" in names}

    def tls_write(self, material: dict[str, tuple[str, str]]) -> None:
        keys = {f"{stem}.key": key for stem, (_chain, key) in material.items()}
        chains = {f"{stem}.crt": chain for stem, (chain, _key) in material.items()}
        self._docker(lambda c: c.put_files(self.container, self.tls_dir, keys, mode=0o600))
        self._docker(lambda c: c.put_files(self.container, self.tls_dir, chains))

    def tls_remove(self, stems: set[str]) -> None:
        paths = [f"{self.tls_dir}/{stem}{suffix}" for stem in sorted(stems) for suffix in (".crt", ".key")]
        self._exec(["rm", "-f", *paths], "removing old certificate files")

    def stage(self, files: dict[str, str], live: dict[str, str] | None = None) -> str:
        self.materialise(files)
        # The staging copy goes in beside the live directory, where nginx's include does not reach.
        self._docker(lambda c: c.put_files(self.container, f"{self.dir}.portico-staging", files, replace=True))
        return ""

    def swap(self, files: dict[str, str]) -> None:
        live = self.read_live()
        stale = [f"{self.dir}/{name}" for name in live if name not in files]
        if stale:
            self._exec(["rm", "-f", *stale], "removing old files")
        self._docker(lambda c: c.put_files(self.container, self.dir, files))

    def test_live(self) -> str:
        return self._exec(["nginx", "-t"], "nginx -t")

    def reload(self) -> str:
        return self._exec(["nginx", "-s", "reload"], "nginx reload")

    def status(self) -> Status:
        try:
            state = self._docker(lambda c: c.container_state(self.container))
        except NginxError as exc:
            return Status(False, exc.message)
        return Status(state == "running", f"container {self.container}: {state}")


def backend() -> Backend:
    """The backend for settings.PORTICO_NGINX_MODE. Raises NginxError when its settings are incomplete."""
    mode = settings.PORTICO_NGINX_MODE
    if mode == "system":
        return SystemNginx()
    if mode == "container":
        return ContainerNginx()
    return ManagedNginx()

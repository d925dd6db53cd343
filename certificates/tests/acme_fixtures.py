"""A real ACME server for the tests (registered in the root conftest's pytest_plugins): Debian's pebble and
pebble-challtestsrv on free 127.0.0.1 ports, with an nginx of the session's own that serves HTTP-01 answers through
the same location block Portico's renderer uses. A missing part skips loudly on a laptop and fails with CI=true.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from certificates.tests.pki import make_cert
from tests.support import free_port, wait_for_port

IN_CI = os.environ.get("CI", "").lower() == "true"
HOOK_SCRIPT = Path(__file__).with_name("challtestsrv_hook.py")


def _unavailable(reason: str) -> None:
    message = f"the ACME test server is not available: {reason}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: {message}")


@dataclass
class AcmeServer:
    """Where the test ACME server listens and what a client needs to trust it."""

    directory: str
    ca_bundle: Path
    challtestsrv: str  # its management API (set-txt, clear-txt)
    management: str  # pebble's management API (roots)
    challenge_dir: Path
    http_port: int
    dns_port: int = 0  # challtestsrv's DNS server, for a further pebble (through_nginx)
    tls_folder: Path | None = None  # pebble's own HTTPS certificate and key (cert.pem, key.pem)

    def root_pem(self) -> str:
        """Pebble's issuing root (made anew at each start of pebble)."""
        return requests.get(f"{self.management}/roots/0", verify=str(self.ca_bundle), timeout=10).text

    def hook_command(self) -> str:
        """PORTICO_DNS_HOOK for a hook that sets and clears TXT records in challtestsrv."""
        return f"{sys.executable} {HOOK_SCRIPT} {self.challtestsrv}"


class _Processes:
    def __init__(self, folder: Path):
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.running.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in reversed(self.running):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _write_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf for localhost/127.0.0.1 that pebble serves its HTTPS with."""
    ca = make_cert("Portico test ACME CA", ca=True)
    leaf = make_cert("localhost", issuer=ca, sans=["localhost"], ips=["127.0.0.1"])
    (folder / "ca.pem").write_text(ca.pem)
    (folder / "cert.pem").write_text(leaf.pem)
    key = folder / "key.pem"
    key.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key.chmod(0o600)
    return folder / "ca.pem", folder / "cert.pem", key


def _nginx_conf(prefix: Path, port: int, location: str) -> Path:
    for sub in ("conf", "logs", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "conf" / "nginx.conf"
    # As root, nginx's workers would run as nobody and could not read answers under the test's 0700 temp
    # folders; they run as the user that writes them, as with Portico's managed nginx run by Portico's user.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(
        f"""
{user}
worker_processes 1;
pid {prefix}/logs/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log {prefix}/logs/access.log;
  client_body_temp_path {prefix}/temp/body;
  proxy_temp_path {prefix}/temp/proxy;
  fastcgi_temp_path {prefix}/temp/fastcgi;
  uwsgi_temp_path {prefix}/temp/uwsgi;
  scgi_temp_path {prefix}/temp/scgi;
  server {{
    listen 127.0.0.1:{port} default_server;
    server_name _;
{location}
    location / {{ return 404; }}
  }}
}}
"""
    )
    return conf


def _start_pebble(
    processes: _Processes, folder: Path, cert: Path, key: Path, dns_port: int, http_port: int
) -> tuple[int, int]:
    """Start pebble asking the DNS server on ``dns_port`` and validating HTTP-01 on ``http_port``; returns its
    ACME and management ports once both listen."""
    pebble = shutil.which("pebble")
    if not pebble:
        _unavailable("pebble is not installed (apt-get install pebble; scripts/test installs it)")
    assert pebble
    acme_port, pmgmt_port = free_port(), free_port()
    name = f"pebble-{acme_port}"
    config = folder / f"{name}.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{acme_port}",
                    "managementListenAddress": f"127.0.0.1:{pmgmt_port}",
                    "certificate": str(cert),
                    "privateKey": str(key),
                    "httpPort": http_port,
                    "tlsPort": free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    # No sleeps before validation, no random nonce rejections and no authorization reuse: every test
    # really validates, and runs as fast as the protocol allows.
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    processes.start(name, [pebble, "-config", str(config), "-dnsserver", f"127.0.0.1:{dns_port}"], env)
    for port in (acme_port, pmgmt_port):
        try:
            wait_for_port(port, timeout=20)
        except TimeoutError:
            _unavailable(f"pebble did not listen on 127.0.0.1:{port}: {processes.log(name)}")
    return acme_port, pmgmt_port


@pytest.fixture(scope="session")
def acme_server(tmp_path_factory) -> Iterator[AcmeServer]:
    """pebble + challtestsrv + an nginx for HTTP-01, all on 127.0.0.1, for the whole session."""
    from certificates.acme_client import render_challenge_location

    pebble, challtestsrv = shutil.which("pebble"), shutil.which("pebble-challtestsrv")
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not pebble or not challtestsrv:
        _unavailable("pebble is not installed (apt-get install pebble; scripts/test installs it)")
    if not nginx:
        _unavailable("nginx is not installed (apt-get install nginx)")
    assert pebble and challtestsrv and nginx
    folder = tmp_path_factory.mktemp("acme")
    challenge_dir = folder / "acme-challenges"
    challenge_dir.mkdir()
    ca, cert, key = _write_tls(folder)
    dns_port, mgmt_port, http_port = free_port(), free_port(), free_port()
    processes = _Processes(folder)
    nginx_prefix = folder / "nginx"
    conf = _nginx_conf(nginx_prefix, http_port, render_challenge_location(challenge_dir))
    nginx_argv = [nginx, "-p", str(nginx_prefix), "-c", str(conf)]
    try:
        started = subprocess.run(nginx_argv, capture_output=True, text=True, timeout=30)
        if started.returncode != 0:
            _unavailable(f"nginx did not start: {started.stderr.strip()}")
        processes.start(
            "challtestsrv",
            [challtestsrv, "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "", "-tlsalpn01", "",
             "-management", f"127.0.0.1:{mgmt_port}", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
        )  # fmt: skip
        acme_port, pmgmt_port = _start_pebble(processes, folder, cert, key, dns_port, http_port)
        try:
            wait_for_port(mgmt_port, timeout=20)
        except TimeoutError:
            _unavailable(f"challtestsrv did not listen on 127.0.0.1:{mgmt_port}: {processes.log('challtestsrv')}")
        yield AcmeServer(
            directory=f"https://127.0.0.1:{acme_port}/dir",
            ca_bundle=ca,
            challtestsrv=f"http://127.0.0.1:{mgmt_port}",
            management=f"https://127.0.0.1:{pmgmt_port}",
            challenge_dir=challenge_dir,
            http_port=http_port,
            dns_port=dns_port,
            tls_folder=folder,
        )
    finally:
        processes.stop()
        with contextlib.suppress(Exception):
            subprocess.run([*nginx_argv, "-s", "quit"], capture_output=True, timeout=30)
            deadline = time.monotonic() + 5
            while (nginx_prefix / "logs" / "nginx.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.05)


@pytest.fixture
def acme_settings(acme_server, settings) -> AcmeServer:
    """Point Portico's ACME settings at the test server (its CA trusted, its challenge directory, the hook)."""
    settings.PORTICO_ACME_DIRECTORY = acme_server.directory
    settings.PORTICO_ACME_CA_BUNDLE = str(acme_server.ca_bundle)
    settings.PORTICO_ACME_CHALLENGE_DIR = acme_server.challenge_dir
    settings.PORTICO_ACME_EMAIL = "admin@portico.test"
    settings.PORTICO_ACME_TIMEOUT = 60
    settings.PORTICO_DNS_HOOK = acme_server.hook_command()
    return acme_server


@pytest.fixture
def acme_through(acme_server, settings, tmp_path) -> Iterator[Callable[[int], AcmeServer]]:
    """Start a pebble that validates HTTP-01 on a port the test names (Portico's managed nginx, so its challenge
    location is what answers) and point Portico's ACME settings at it, with a challenge directory nginx's workers
    can read (pytest's tmp_path is 0700). Same DNS server and CA as the session's pebble; stopped after the test."""
    assert acme_server.tls_folder is not None
    processes = _Processes(tmp_path)
    challenges = Path(tempfile.mkdtemp(prefix="portico-acme-"))
    challenges.chmod(0o755)

    def start(http_port: int) -> AcmeServer:
        folder = acme_server.tls_folder
        assert folder is not None
        acme_port, pmgmt_port = _start_pebble(
            processes, tmp_path, folder / "cert.pem", folder / "key.pem", acme_server.dns_port, http_port
        )
        server = AcmeServer(
            directory=f"https://127.0.0.1:{acme_port}/dir",
            ca_bundle=acme_server.ca_bundle,
            challtestsrv=acme_server.challtestsrv,
            management=f"https://127.0.0.1:{pmgmt_port}",
            challenge_dir=challenges,
            http_port=http_port,
            dns_port=acme_server.dns_port,
            tls_folder=folder,
        )
        settings.PORTICO_ACME_DIRECTORY = server.directory
        settings.PORTICO_ACME_CA_BUNDLE = str(server.ca_bundle)
        settings.PORTICO_ACME_CHALLENGE_DIR = challenges
        settings.PORTICO_ACME_EMAIL = "admin@portico.test"
        settings.PORTICO_ACME_TIMEOUT = 60
        return server

    try:
        yield start
    finally:
        processes.stop()
        shutil.rmtree(challenges, ignore_errors=True)


# --- a real DNS host's API for the dns-lexicon provider ---------------------------------------

PDNS_BACKENDS = "/usr/lib/*/pdns/libgsqlite3backend.so"
PDNS_SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
PDNS_ZONE = "pdns.portico.test"


@dataclass
class PowerDns:
    """A PowerDNS authoritative server (SQLite backend, HTTP API) and a pebble that asks it for names."""

    api: str
    api_key: str
    acme: AcmeServer

    def lexicon_settings(self) -> dict[str, str]:
        """dns_settings for dns-lexicon's powerdns provider against this server."""
        return {"zone": PDNS_ZONE, "pdns_server": self.api, "auth_token": self.api_key}

    def txt_records(self, name: str) -> list[str]:
        """The TXT values the zone holds for ``name`` right now, read through the API."""
        zone = requests.get(
            f"{self.api}/api/v1/servers/localhost/zones/{PDNS_ZONE}.", headers={"X-API-Key": self.api_key}, timeout=10
        ).json()
        return [
            record["content"].strip('"')
            for rrset in zone["rrsets"]
            if rrset["type"] == "TXT" and rrset["name"] == name
            for record in rrset["records"]
        ]


@pytest.fixture(scope="session")
def powerdns(acme_server, tmp_path_factory) -> Iterator[PowerDns]:
    """Debian's pdns_server on free 127.0.0.1 ports serving ``pdns.portico.test`` (every name 127.0.0.1), its
    HTTP API on, and a second pebble whose DNS server it is (the first one asks challtestsrv)."""
    import secrets
    import sqlite3

    binary = shutil.which("pdns_server") or (
        "/usr/sbin/pdns_server" if os.path.exists("/usr/sbin/pdns_server") else None
    )
    if not binary or not glob.glob(PDNS_BACKENDS):
        _unavailable("PowerDNS is not installed (apt-get install pdns-server pdns-backend-sqlite3)")
    assert binary
    folder = tmp_path_factory.mktemp("pdns")
    database = folder / "pdns.sqlite3"
    with sqlite3.connect(database) as db:
        db.executescript(PDNS_SCHEMA.read_text())
    dns_port, api_port, key = free_port(), free_port(), secrets.token_hex(16)
    (folder / "pdns.conf").write_text(
        "\n".join(
            [
                "launch=gsqlite3",
                f"gsqlite3-database={database}",
                "local-address=127.0.0.1",
                f"local-port={dns_port}",
                "api=yes",
                f"api-key={key}",
                "webserver=yes",
                "webserver-address=127.0.0.1",
                f"webserver-port={api_port}",
                "webserver-allow-from=127.0.0.0/8",
                f"socket-dir={folder}",
                "guardian=no",
                "daemon=no",
                "disable-syslog=yes",
                "loglevel=4",
                # Answers must not come from a cache that predates a TXT record just set.
                "cache-ttl=0",
                "negquery-cache-ttl=0",
                "query-cache-ttl=0",
                "zone-cache-refresh-interval=0",
                "",
            ]
        )
    )
    processes = _Processes(folder)
    try:
        processes.start("pdns", [binary, f"--config-dir={folder}"])
        try:
            wait_for_port(api_port, timeout=20)
            wait_for_port(dns_port, timeout=20)
        except TimeoutError:
            _unavailable(f"pdns_server did not listen: {processes.log('pdns')}")
        api = f"http://127.0.0.1:{api_port}"
        headers = {"X-API-Key": key}
        made = requests.post(
            f"{api}/api/v1/servers/localhost/zones",
            headers=headers,
            timeout=10,
            json={
                "name": f"{PDNS_ZONE}.",
                "kind": "Native",
                "nameservers": [],
                "rrsets": [
                    {
                        "name": f"{name}{PDNS_ZONE}.",
                        "type": "A",
                        "ttl": 1,
                        "changetype": "REPLACE",
                        "records": [{"content": "127.0.0.1", "disabled": False}],
                    }
                    for name in ("", "*.")
                ],  # fmt: skip
            },
        )
        if made.status_code != 201:
            _unavailable(f"PowerDNS refused the test zone ({made.status_code}): {made.text[:500]}")
        _, cert, tls_key = _write_tls(folder)
        acme_port, pmgmt_port = _start_pebble(processes, folder, cert, tls_key, dns_port, acme_server.http_port)
        # This pebble's certificate comes from a CA of its own: trust both CAs in one bundle.
        bundle = folder / "ca-bundle.pem"
        bundle.write_text(acme_server.ca_bundle.read_text() + (folder / "ca.pem").read_text())
        yield PowerDns(
            api=api,
            api_key=key,
            acme=AcmeServer(
                directory=f"https://127.0.0.1:{acme_port}/dir",
                ca_bundle=bundle,
                challtestsrv="",
                management=f"https://127.0.0.1:{pmgmt_port}",
                challenge_dir=acme_server.challenge_dir,
                http_port=acme_server.http_port,
            ),
        )
    finally:
        processes.stop()

"""A second dockerd of a test's own (own socket, data root, exec root and pidfile), never the shared engine.

Used by the fault test that stops an engine mid-stream and by the TLS engine fixture; ``tls_certificates``
makes the throwaway CA, server and client certificates a ``--tlsverify`` engine needs (openssl, all local).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SecondDockerd:
    """A dockerd on its own unix socket (and any extra listeners); start() waits until it answers."""

    def __init__(self, root: Path, extra_args: tuple[str, ...] = ()):
        self.root = root
        self.socket = root / "d.sock"
        self.url = f"unix://{self.socket}"
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import docker

        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 (kept open for the daemon's life)
        self.proc = subprocess.Popen(
            [
                shutil.which("dockerd") or "dockerd",
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "-H",
                self.url,
                *self.extra_args,
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "dockerd.pid"),
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client = docker.DockerClient(base_url=self.url, timeout=5)
                client.ping()
                client.close()
                return
            except Exception:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        tail = (self.root / "dockerd.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the second dockerd did not start:\n{tail}")

    def load_image(self, source: Any, image: str) -> None:
        """Copy ``image`` from the ``source`` SDK client into this engine (no registry to pull from)."""
        import docker

        client = docker.DockerClient(base_url=self.url, timeout=60)
        try:
            client.images.load(b"".join(source.images.get(image).save(named=True)))
        finally:
            client.close()

    def remove_containers(self) -> None:
        """Remove every container of this engine (before stop(): its exec root keeps mounts while they exist)."""
        import docker

        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            client = docker.DockerClient(base_url=self.url, timeout=30)
            for container in client.containers.list(all=True):
                container.remove(force=True)
            client.close()
        except Exception:
            pass

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def remove(self) -> None:
        """Stop the daemon and delete its folder, unmounting what its exec root left (the netns mount)."""
        self.stop()
        root = str(self.root.resolve())
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(root + "/")]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class TlsCertificates:
    """PEM files: one CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def tls_certificates(folder: Path) -> TlsCertificates:
    """Make a throwaway CA and sign a server (IP:127.0.0.1, serverAuth) and a client (clientAuth) certificate."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], cwd=folder, check=True, capture_output=True, timeout=60)

    # Python 3.13 verifies strictly (VERIFY_X509_STRICT): the CA needs keyUsage, the leaves an authority key id.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Portico test CA",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "ca-key.pem", "-out", "ca.pem")  # fmt: skip
    leaf = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    leaf += "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    for name, extensions in (
        ("server", leaf + "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", leaf + "extendedKeyUsage=clientAuth\n"),
    ):
        (folder / f"{name}.ext").write_text(extensions)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=portico-test-{name}",
                "-keyout", f"{name}-key.pem", "-out", f"{name}.csr")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}-cert.pem")  # fmt: skip
    return TlsCertificates(
        ca=folder / "ca.pem",
        server_cert=folder / "server-cert.pem",
        server_key=folder / "server-key.pem",
        client_cert=folder / "client-cert.pem",
        client_key=folder / "client-key.pem",
    )

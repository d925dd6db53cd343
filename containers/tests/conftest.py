"""Fixtures of the containers tests: containers created (not started) on the real engine, and a fresh client cache."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from containers.tests.dockerd import SecondDockerd, TlsCertificates, tls_certificates
from tests.support import free_port, need


@pytest.fixture(autouse=True)
def _fresh_engine_clients():
    """Cached clients must not leak between tests that add or delete engines."""
    from containers.engines import forget_clients

    forget_clients()
    yield
    forget_clients()


@pytest.fixture
def create_container(docker_sdk, test_image, request) -> Iterator[Callable]:
    """Create (without starting) test containers on network none; removed after the test."""
    made = []
    prefix = "portico-c-" + request.node.name[:24].replace("[", "-").replace("]", "").lower()

    def create(command: str | list[str], name: str | None = None, **kwargs):
        container = docker_sdk.containers.create(
            test_image,
            command,
            name=name or f"{prefix}-{len(made)}-{os.getpid()}",
            network_mode=kwargs.pop("network_mode", "none"),
            init=True,
            labels={"portico.test": "1", **kwargs.pop("labels", {})},
            **kwargs,
        )
        made.append(container)
        return container

    yield create
    for container in made:
        with contextlib.suppress(Exception):
            container.remove(force=True)


@dataclass(frozen=True)
class TlsEngine:
    """A dockerd that answers only TLS clients with a certificate of its CA, on ``url`` (tcp://127.0.0.1:PORT)."""

    url: str
    certificates: TlsCertificates
    daemon: SecondDockerd


@pytest.fixture(scope="session")
def tls_dockerd(docker_sdk, test_image) -> Iterator[TlsEngine]:
    """A second dockerd listening on 127.0.0.1 with --tlsverify, certificates made here with openssl.

    Session-wide: it takes a few seconds to start. It has the test image; tests create their own containers
    on it (its unix socket, ``daemon.url``, is for setup) and it is stopped and removed at the end.
    """
    if not shutil.which("dockerd") or not shutil.which("openssl") or os.geteuid() != 0:
        need("a TLS dockerd", "dockerd or openssl is missing, or the tests do not run as root")
    root = Path(tempfile.mkdtemp(prefix="pdt-", dir="/tmp"))  # short: a unix socket path is limited to 108 bytes
    certificates = tls_certificates(root / "tls")
    port = free_port()
    daemon = SecondDockerd(
        root,
        extra_args=(
            "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(certificates.ca),
            "--tlscert", str(certificates.server_cert), "--tlskey", str(certificates.server_key),
        ),
    )  # fmt: skip
    try:
        daemon.start()
        daemon.load_image(docker_sdk, test_image)
        yield TlsEngine(url=f"tcp://127.0.0.1:{port}", certificates=certificates, daemon=daemon)
    finally:
        daemon.remove_containers()
        daemon.remove()

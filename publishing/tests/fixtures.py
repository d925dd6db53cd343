"""Fixtures for the publishing tests (registered in the root conftest's pytest_plugins): Portico's managed nginx on a
free port, nginx in a container, echo backends, a request loop, ``manage.py portico`` as the shell runs it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import ssl
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout

import httpx
import pytest
from django.core.management import ManagementUtility

from publishing.tests.support import EchoBackend, Proxy, RequestLoop
from tests.support import free_port, need, nginx_bin


@pytest.fixture
def echo_backend() -> Iterator[Callable[[str], EchoBackend]]:
    """Start named echo backends; they stop after the test."""
    started: list[EchoBackend] = []

    def start(name: str) -> EchoBackend:
        backend = EchoBackend(name)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()


@pytest.fixture
def managed_nginx(settings, tmp_path) -> Iterator[Proxy]:
    """Portico's own nginx (managed mode) under tmp_path on a free 127.0.0.1 port, started; stopped after."""
    binary = nginx_bin()
    if not binary:
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    from publishing.nginx.backends import ManagedNginx

    port = free_port()
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    settings.PORTICO_NGINX_BIN = binary
    settings.PORTICO_NGINX_MODE = "managed"
    settings.PORTICO_NGINX_DIR = tmp_path / "nginx"
    settings.PORTICO_NGINX_LISTEN = ("127.0.0.1", port)
    # Names resolve through a resolver on loopback (nothing answers there): tests never send DNS elsewhere.
    settings.PORTICO_NGINX_RESOLVER = "127.0.0.1"
    settings.PORTICO_PUBLISHER = "nginx"
    settings.PORTICO_VERIFY_TIMEOUT = 5
    nginx = ManagedNginx()
    nginx.start()
    proxy = Proxy(port)
    proxy.nginx = nginx
    yield proxy
    proxy.client.close()
    settings.PORTICO_NGINX_BIN = binary  # a test may have pointed it elsewhere
    nginx.stop()


@pytest.fixture
def request_loop() -> Callable[..., RequestLoop]:
    def make(
        proxy: Proxy,
        host: str,
        path: str,
        ok: Callable[[httpx.Response], bool],
        tls: tuple[int, ssl.SSLContext] | None = None,
    ) -> RequestLoop:
        return RequestLoop(proxy, host, path, ok, tls)

    return make


# --- nginx in a container (PORTICO_NGINX_MODE=container) ------------------------------------------------

NGINX_IMAGE = "portico-test/nginx:1"
CONTAINER_NGINX_CONF = """user root;
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    server_names_hash_bucket_size 256;
    include /etc/nginx/conf.d/*.conf;
}
"""


def _nginx_image_tar() -> bytes:
    """A root filesystem with this machine's real nginx (binary + the libraries ldd lists) and busybox."""
    binary = nginx_bin()
    busybox = shutil.which("busybox") or "/bin/busybox"
    libs = re.findall(r"(/\S+\.so[.\d]*)", subprocess.run(["ldd", binary], capture_output=True, text=True).stdout)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add_dir(path: str) -> None:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        def add_text(path: str, text: str) -> None:
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        for d in ("/bin", "/usr", "/usr/sbin", "/etc", "/etc/nginx", "/etc/nginx/conf.d", "/run", "/tmp", "/var",
                  "/var/log", "/var/log/nginx", "/var/lib", "/var/lib/nginx", "/lib", "/lib64", "/lib/x86_64-linux-gnu"):  # fmt: skip
            add_dir(d)
        tar.add(os.path.realpath(busybox), arcname="bin/busybox")
        for applet in ("sh", "rm", "mkdir", "cat", "ls", "sleep"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        tar.add(os.path.realpath(binary), arcname="usr/sbin/nginx")
        for lib in libs:
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
        add_text("/etc/nginx/nginx.conf", CONTAINER_NGINX_CONF)
        add_text("/etc/passwd", "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
        add_text("/etc/group", "root:x:0:\nnogroup:x:65534:\n")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def nginx_image(docker_sdk) -> str:
    """A local image holding the machine's real nginx (no registry is reachable); built once."""
    import docker.errors

    if not nginx_bin():
        need("nginx", "the nginx binary is not installed (apt-get install nginx)")
    try:
        docker_sdk.images.get(NGINX_IMAGE)
    except docker.errors.ImageNotFound:
        repository, tag = NGINX_IMAGE.split(":")
        docker_sdk.api.import_image_from_data(
            _nginx_image_tar(), repository=repository, tag=tag, changes=["ENV PATH=/usr/sbin:/bin"]
        )
    return NGINX_IMAGE


@pytest.fixture
def container_nginx(settings, tmp_path, docker_sdk, nginx_image, request) -> Iterator[Proxy]:
    """nginx running in a container (host network, a free 127.0.0.1 port); Portico set to container mode."""
    port = free_port()
    name = f"portico-t-nginx-{os.getpid()}-{request.node.name[:20].lower()}"
    container = docker_sdk.containers.run(
        nginx_image,
        ["nginx", "-g", "daemon off;"],
        name=name,
        network_mode="host",
        detach=True,
        labels={"portico.test": "1"},
    )
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    settings.PORTICO_NGINX_MODE = "container"
    settings.PORTICO_NGINX_CONTAINER = name
    settings.PORTICO_NGINX_CONTAINER_DIR = "/etc/nginx/conf.d"
    settings.PORTICO_NGINX_LISTEN = ("127.0.0.1", port)
    settings.PORTICO_NGINX_RESOLVER = "127.0.0.1"
    settings.PORTICO_PUBLISHER = "nginx"
    proxy = Proxy(port)
    proxy.container = container
    yield proxy
    proxy.client.close()
    with contextlib.suppress(Exception):
        container.remove(force=True)


@pytest.fixture
def portico(monkeypatch):
    """Run ``manage.py portico ARGS`` as the shell would (argv parsing, sys.exit); returns (code, out, err)."""
    from django.db import connections

    # run_from_argv closes the connections afterwards, which would end the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = 0
        with redirect_stdout(out), redirect_stderr(err):
            try:
                ManagementUtility(["manage.py", "portico", *argv]).execute()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue(), err.getvalue()

    return run

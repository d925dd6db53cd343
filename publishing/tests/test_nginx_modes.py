"""The two other places nginx runs: a system nginx (configured directory + commands) and nginx in a container
(files copied through the Docker API, nginx -t and reload through exec). Both against real nginx."""

from __future__ import annotations

import pytest

from publishing import operations
from publishing.tests.support import Proxy
from publishing.tests.test_publish import BrokenRender
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from routes.state import export_state
from tests.support import free_port

pytestmark = [pytest.mark.nginx, pytest.mark.django_db]


def _lecture(front, task) -> None:
    replace_state(
        ConfigDocument.model_validate(
            {
                "domains": [
                    {
                        "name": "gctask.test",
                        "routes": [
                            {"path": "/", "targets": [{"host": "127.0.0.1", "port": front.port}]},
                            {
                                "path": "/task/",
                                "strip_prefix": True,
                                "targets": [{"host": "127.0.0.1", "port": task.port}],
                            },
                        ],
                    }
                ]
            }
        )
    )


@pytest.fixture
def system_nginx(nginx_instance, settings, tmp_path):
    """A running nginx that is not Portico's: its nginx.conf includes a directory Portico is told to write."""
    sites = tmp_path / "system-sites"
    sites.mkdir()
    (sites / "someone-else.conf").write_text("# a file Portico must leave alone\n")
    nginx_instance.write(
        "server { listen 127.0.0.1:{port} default_server; return 404; }\n"
        f"server_names_hash_bucket_size 256; include {sites}/*.conf;"
    )
    nginx_instance.start()
    base = f"{nginx_instance.binary} -p {nginx_instance.prefix} -c {nginx_instance.conf}"
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    settings.PORTICO_NGINX_MODE = "system"
    settings.PORTICO_NGINX_CONF_DIR = str(sites)
    settings.PORTICO_NGINX_TEST_CMD = f"{base} -t"
    settings.PORTICO_NGINX_RELOAD_CMD = f"{base} -s reload"
    settings.PORTICO_NGINX_LISTEN = ("127.0.0.1", nginx_instance.port)
    settings.PORTICO_NGINX_RESOLVER = "127.0.0.1"
    settings.PORTICO_PUBLISHER = "nginx"
    proxy = Proxy(nginx_instance.port)
    proxy.sites = sites
    yield proxy
    proxy.client.close()


def test_system_mode_applies_into_the_configured_directory(system_nginx, echo_backend, request_loop):
    front, task = echo_backend("front"), echo_backend("task")
    _lecture(front, task)
    revision = operations.apply()
    assert revision.status == "applied", (revision.message, revision.output)
    assert system_nginx.seen("gctask.test", "/task/a")["path"] == "/a"
    assert (system_nginx.sites / "someone-else.conf").read_text() == "# a file Portico must leave alone\n"
    assert sorted(p.name for p in system_nginx.sites.iterdir()) == [
        "portico-gctask.test.conf",
        "portico.conf",
        "someone-else.conf",
    ]

    # A config the system nginx rejects is swapped back before any reload: serving never notices.
    before_files = {p.name: p.read_text() for p in system_nginx.sites.iterdir()}
    state = export_state()
    loop = request_loop(system_nginx, "gctask.test", "/", lambda r: r.status_code == 200 and '"front"' in r.text)
    with loop:
        failed = operations.apply(publisher=BrokenRender())
    assert failed.status == "failed"
    assert 'unknown directive "no_such_directive"' in failed.message
    assert loop.failures == [] and loop.total > 5
    assert {p.name: p.read_text() for p in system_nginx.sites.iterdir()} == before_files
    assert export_state() == state


@pytest.mark.docker
def test_container_mode_copies_files_in_and_reloads_with_exec(container_nginx, echo_backend, request_loop):
    front, task = echo_backend("front"), echo_backend("task")
    _lecture(front, task)
    revision = operations.apply()
    assert revision.status == "applied", (revision.message, revision.output)
    assert "test is successful" in revision.output
    assert container_nginx.seen("gctask.test", "/task/a")["path"] == "/a"
    assert container_nginx.seen("gctask.test", "/")["backend"] == "front"
    live = operations.NginxPublisher().current()
    assert sorted(live) == ["portico-gctask.test.conf", "portico.conf"]
    assert operations.plan().changes == []

    state = export_state()
    loop = request_loop(container_nginx, "gctask.test", "/", lambda r: r.status_code == 200 and '"front"' in r.text)
    with loop:
        failed = operations.apply(publisher=BrokenRender())
    assert failed.status == "failed"
    assert 'unknown directive "no_such_directive"' in failed.message
    assert loop.failures == [] and loop.total > 5
    assert operations.NginxPublisher().current() == live
    assert export_state() == state

    # Removing the domain deletes its file in the container and nginx stops serving it.
    other = {"name": "other.test", "routes": [{"path": "/v1/", "targets": [{"host": "127.0.0.1", "port": task.port}]}]}
    replace_state(ConfigDocument.model_validate({"domains": [other]}))
    assert operations.apply().status == "applied"
    assert container_nginx.get("gctask.test", "/").status_code == 404
    assert sorted(operations.NginxPublisher().current()) == ["portico-other.test.conf", "portico.conf"]


def _https_site(settings, operator_user, backend_port: int):
    """A domain with an uploaded certificate and force_https, and a free TLS port for the mode under test."""
    from publishing.tests.test_https import ROOT, Https, leaf, upload

    settings.PORTICO_NGINX_LISTEN_TLS = ("127.0.0.1", free_port())
    cert = upload(operator_user, leaf("shop.test"))
    replace_state(
        ConfigDocument.model_validate(
            {
                "domains": [
                    {
                        "name": "shop.test",
                        "certificate": cert.pk,
                        "force_https": True,
                        "routes": [{"path": "/", "targets": [{"host": "127.0.0.1", "port": backend_port}]}],
                    }
                ]
            }
        )
    )
    return cert, Https(settings.PORTICO_NGINX_LISTEN_TLS[1], ROOT)


def test_system_mode_serves_https_with_the_certificate_files_beside_the_config(
    system_nginx, echo_backend, settings, operator_user
):
    backend = echo_backend("shop")
    cert, https = _https_site(settings, operator_user, backend.port)
    revision = operations.apply()
    assert revision.status == "applied", (revision.message, revision.output)
    assert "TLS handshake" in revision.output
    assert format(https.handshake("shop.test")[0].serial_number, "x") == cert.serial
    assert https.get("shop.test", "/").json()["backend"] == "shop"
    assert system_nginx.get("shop.test", "/").status_code == 301
    key = next((system_nginx.sites / "portico-tls").glob("*.key"))
    assert key.stat().st_mode & 0o777 == 0o600
    # The rendered file names the certificate's files; only *.conf are included, so nginx reads them as files.
    assert (
        f"{system_nginx.sites}/portico-tls/{key.stem}.key"
        in (system_nginx.sites / "portico-shop.test.conf").read_text()
    )
    failed = operations.apply(publisher=BrokenRender())
    assert failed.status == "failed"
    assert format(https.handshake("shop.test")[0].serial_number, "x") == cert.serial


@pytest.mark.docker
def test_container_mode_copies_certificate_files_in_with_the_key_0600(
    container_nginx, echo_backend, settings, operator_user
):
    backend = echo_backend("shop")
    cert, https = _https_site(settings, operator_user, backend.port)
    revision = operations.apply()
    assert revision.status == "applied", (revision.message, revision.output)
    assert format(https.handshake("shop.test")[0].serial_number, "x") == cert.serial
    assert https.get("shop.test", "/").json()["backend"] == "shop"
    code, output = container_nginx.container.exec_run(["sh", "-c", "stat -c '%a %n' /etc/nginx/conf.d/portico-tls/*"])
    assert code == 0, output
    modes = dict(reversed(line.split(" ", 1)) for line in output.decode().splitlines())
    assert sorted(modes.values()) == ["600", "644"], modes
    assert sorted(operations.NginxPublisher().current()) == ["portico-shop.test.conf", "portico.conf"]
    # Without the certificate the files go at the next apply, and unknown names still get no handshake.
    replace_state(
        ConfigDocument.model_validate(
            {
                "domains": [
                    {
                        "name": "shop.test",
                        "routes": [{"path": "/", "targets": [{"host": "127.0.0.1", "port": backend.port}]}],
                    }
                ]
            }
        )
    )
    assert operations.apply().status == "applied"
    assert operations.apply().status == "applied"
    code, output = container_nginx.container.exec_run(["ls", "/etc/nginx/conf.d/portico-tls"])
    assert output.decode().split() == []

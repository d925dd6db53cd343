"""The two other places nginx runs: a system nginx (configured directory + commands) and nginx in a container
(files copied through the Docker API, nginx -t and reload through exec). Both against real nginx."""

from __future__ import annotations

import pytest

from routes import publish
from routes.schemas import ConfigDocument
from routes.state import export_state, replace_state
from routes.tests.test_publish import BrokenRender

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
    from routes.tests.conftest import Proxy

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
    revision = publish.apply()
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
        failed = publish.apply(publisher=BrokenRender())
    assert failed.status == "failed"
    assert 'unknown directive "no_such_directive"' in failed.message
    assert loop.failures == [] and loop.total > 5
    assert {p.name: p.read_text() for p in system_nginx.sites.iterdir()} == before_files
    assert export_state() == state


@pytest.mark.docker
def test_container_mode_copies_files_in_and_reloads_with_exec(container_nginx, echo_backend, request_loop):
    front, task = echo_backend("front"), echo_backend("task")
    _lecture(front, task)
    revision = publish.apply()
    assert revision.status == "applied", (revision.message, revision.output)
    assert "test is successful" in revision.output
    assert container_nginx.seen("gctask.test", "/task/a")["path"] == "/a"
    assert container_nginx.seen("gctask.test", "/")["backend"] == "front"
    live = publish.NginxPublisher().current()
    assert sorted(live) == ["portico-gctask.test.conf", "portico.conf"]
    assert publish.plan().changes == []

    state = export_state()
    loop = request_loop(container_nginx, "gctask.test", "/", lambda r: r.status_code == 200 and '"front"' in r.text)
    with loop:
        failed = publish.apply(publisher=BrokenRender())
    assert failed.status == "failed"
    assert 'unknown directive "no_such_directive"' in failed.message
    assert loop.failures == [] and loop.total > 5
    assert publish.NginxPublisher().current() == live
    assert export_state() == state

    # Removing the domain deletes its file in the container and nginx stops serving it.
    other = {"name": "other.test", "routes": [{"path": "/v1/", "targets": [{"host": "127.0.0.1", "port": task.port}]}]}
    replace_state(ConfigDocument.model_validate({"domains": [other]}))
    assert publish.apply().status == "applied"
    assert container_nginx.get("gctask.test", "/").status_code == 404
    assert sorted(publish.NginxPublisher().current()) == ["portico-other.test.conf", "portico.conf"]

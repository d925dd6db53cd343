"""An engine reached over tcp:// with TLS client certificates, against a real dockerd with --tlsverify (issue 12, item 7).

Adding such an engine used to make the Containers page, ``GET /api/v1/engines?check=true`` and the route forms
answer 500: its TLS files were an unhashable dataclass inside the hashable key of the client cache.
"""

from __future__ import annotations

import os

import docker
import pytest

from containers.engines import all_engines, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def tls_container(tls_dockerd, request):
    """A running container on the TLS engine (host network: no traffic, but the route picker offers it)."""
    sdk = docker.DockerClient(base_url=tls_dockerd.daemon.url, timeout=60)
    name = f"portico-tls-{request.node.name[:20].lower()}-{os.getpid()}"
    container = sdk.containers.run(
        "portico-test/busybox:1", ["sleep", "600"], name=name, network_mode="host", init=True, detach=True
    )
    yield name
    container.remove(force=True)
    sdk.close()


@pytest.fixture
def tls_engine(tls_dockerd, api_client, admin_user) -> str:
    """The TLS engine added to Portico through the API, as an admin would; returns its name."""
    files = tls_dockerd.certificates
    answer = api_client(admin_user).post(
        "/api/v1/engines",
        {
            "name": "tls",
            "url": tls_dockerd.url,
            "tls_ca": str(files.ca),
            "tls_cert": str(files.client_cert),
            "tls_key": str(files.client_key),
            "tls_verify": True,
        },
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["tls"] is True
    return "tls"


def test_an_engine_with_tls_files_can_key_the_client_cache(tls_engine):
    engine = next(e for e in all_engines() if e.name == tls_engine)
    assert client_for(engine) is client_for(next(e for e in all_engines() if e.name == tls_engine))


def test_the_api_checks_and_lists_the_tls_engine(tls_engine, tls_container, api_client, viewer_user):
    api = api_client(viewer_user)
    engines = api.get("/api/v1/engines", {"check": "true"})
    assert engines.status_code == 200, engines.content
    status = {e["name"]: e["status"] for e in engines.json()["items"]}
    assert status[tls_engine] == "ok"
    listed = api.get("/api/v1/containers", {"engine": tls_engine, "page_size": 500})
    assert listed.status_code == 200, listed.content
    assert tls_container in [c["name"] for c in listed.json()["items"]]


def test_the_containers_page_lists_the_tls_engine(tls_engine, tls_container, client, viewer_user):
    client.force_login(viewer_user)
    page = client.get("/containers/")
    assert page.status_code == 200
    assert tls_container in page.content.decode()
    only = client.get("/containers/", {"engine": tls_engine})
    assert only.status_code == 200 and tls_container in only.content.decode()


def test_the_route_forms_offer_the_tls_engine_containers(tls_engine, tls_container, client, operator_user):
    from routes.models import Domain, Route, Target

    route = Route.objects.create(domain=Domain.objects.create(name="tls.test"), path="/")
    Target.objects.create(route=route, host="127.0.0.1", port=8080)
    client.force_login(operator_user)
    form = client.get(f"/routes/{route.pk}/edit/")
    assert form.status_code == 200
    assert tls_container in form.content.decode()


def test_the_engine_really_requires_a_client_certificate(tls_dockerd, api_client, admin_user):
    # Without the client certificate the same engine refuses Portico: the fixture's --tlsverify is real.
    files = tls_dockerd.certificates
    api = api_client(admin_user)
    answer = api.post(
        "/api/v1/engines",
        {"name": "nocert", "url": tls_dockerd.url, "tls_ca": str(files.ca), "tls_verify": True},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    engines = api.get("/api/v1/engines", {"check": "true", "q": "nocert"}).json()["items"]
    assert engines[0]["status"].startswith("unavailable")


def test_a_ca_bundle_in_the_environment_does_not_replace_the_engines_ca(
    tls_engine, api_client, viewer_user, monkeypatch
):
    # requests lets REQUESTS_CA_BUNDLE override a session's CA; many hosts set it (this one's CI image does).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    engines = api_client(viewer_user).get("/api/v1/engines", {"check": "true", "q": tls_engine}).json()["items"]
    assert engines[0]["status"] == "ok"

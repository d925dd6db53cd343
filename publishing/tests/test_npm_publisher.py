"""NpmPublisher: the mapping onto NPM's proxy hosts, push with read-back and undo, ownership, adopt, import."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publishing.npm.client import NpmNotConfigured
from publishing.npm.importer import import_preview
from publishing.npm.mapping import artifact_name
from publishing.npm.publisher import NpmPublisher
from publishing.operations import PublishError
from publishing.tests.npm_fake import TEST_DOMAIN_SUFFIX, NpmTarget
from publishing.tests.npm_schema import request_errors
from routes.schemas import ConfigDocument, RouteSpec

GCTASK = "gctask" + TEST_DOMAIN_SUFFIX


def gctask_document(**root_changes) -> ConfigDocument:
    """The lecture: / -> front, /task/ and /user/ -> the two APIs (prefix stripped)."""
    root = {"path": "/", "targets": [{"host": "127.0.0.1", "port": 8011}], **root_changes}
    return ConfigDocument.model_validate(
        {
            "domains": [
                {
                    "name": GCTASK,
                    "routes": [
                        root,
                        {"path": "/task/", "targets": [{"host": "127.0.0.1", "port": 8012}], "strip_prefix": True},
                        {"path": "/user/", "targets": [{"host": "127.0.0.1", "port": 8013}], "strip_prefix": True},
                    ],
                }
            ]
        }
    )


def offline() -> NpmPublisher:
    """A publisher for the pure parts (render, problems); any NPM call fails as "not configured"."""

    def no_npm():
        raise NpmNotConfigured("no NPM in this test")

    return NpmPublisher(client_factory=no_npm)


def publisher_for(npm: NpmTarget) -> NpmPublisher:
    return NpmPublisher(client_factory=npm.client)


def publish(pub: NpmPublisher, document: ConfigDocument) -> str:
    assert pub.errors(document) == []
    return pub.push(pub.render(document), pub.current())


def managed_hosts(npm: NpmTarget):
    with npm.client() as client:
        return [h for h in client.list_proxy_hosts() if h.managed]


# --- mapping (pure) --------------------------------------------------------------------------------------


def test_gctask_renders_as_one_host_with_two_custom_locations():
    files = offline().render(gctask_document())
    assert list(files) == [artifact_name(GCTASK)]
    body = json.loads(files[artifact_name(GCTASK)])
    assert (body["forward_scheme"], body["forward_host"], body["forward_port"]) == ("http", "127.0.0.1", 8011)
    assert body["locations"] == [
        # forward_path "/" makes NPM render proxy_pass http://127.0.0.1:8012/; so /task/x arrives as /x.
        {
            "path": "/task/",
            "forward_scheme": "http",
            "forward_host": "127.0.0.1",
            "forward_port": 8012,
            "forward_path": "/",
        },
        {
            "path": "/user/",
            "forward_scheme": "http",
            "forward_host": "127.0.0.1",
            "forward_port": 8013,
            "forward_path": "/",
        },
    ]
    assert body["meta"] == {"portico_managed": True}
    # No certificate: NPM's own cleanup does not run (NOTES 4.3), so these must be false in what we send.
    assert not any(body[k] for k in ("ssl_forced", "http2_support", "hsts_enabled", "hsts_subdomains"))
    assert request_errors("POST", "/nginx/proxy-hosts", body) == []
    assert request_errors("PUT", "/nginx/proxy-hosts/1", body) == []


def test_render_is_canonical_and_stable():
    pub = offline()
    assert pub.render(gctask_document()) == pub.render(gctask_document())
    text = pub.render(gctask_document())[artifact_name(GCTASK)]
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_a_route_without_strip_prefix_keeps_its_path_upstream():
    doc = gctask_document()
    doc.domains[0].routes[1].strip_prefix = False
    body = json.loads(offline().render(doc)[artifact_name(GCTASK)])
    assert "forward_path" not in body["locations"][0]


def test_websocket_sets_the_host_switch_and_warns_when_routes_differ():
    doc = gctask_document(websocket=True)
    pub = offline()
    body = json.loads(pub.render(doc)[artifact_name(GCTASK)])
    assert body["allow_websocket_upgrade"] is True
    assert any("websocket" in w for w in pub.warnings(doc))
    assert pub.errors(doc) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"targets": [{"host": "127.0.0.1", "port": 8011}, {"host": "127.0.0.1", "port": 8021}]}, "2 targets"),
        (
            {"targets": [{"host": "127.0.0.1", "port": 8011}, {"host": "front2", "port": 80, "backup": True}]},
            "no backups",
        ),
        ({"path": "/front/"}, "no “/” route"),
    ],
    ids=["load-balancing", "backup", "no-root"],
)
def test_what_npm_cannot_express_blocks_the_apply(change, expected):
    doc = gctask_document(**change)
    pub = offline()
    errors = pub.errors(doc)
    assert len(errors) == 1 and expected in errors[0]
    assert pub.warnings(doc)[0].startswith("Blocked: ")


@pytest.mark.parametrize(
    ("index", "route"),
    [
        (0, {"path": "/", "action": "redirect", "redirect_url": "https://new.example.com", "preserve_path": True}),
        (1, {"path": "/task/", "action": "respond", "respond_status": 410, "respond_body": "gone"}),
    ],
    ids=["redirect-root", "respond-path"],
)
def test_a_redirect_or_respond_route_is_refused_never_published_as_a_proxy(index, route):
    doc = gctask_document()
    doc.domains[0].routes[index] = RouteSpec.model_validate(route)
    pub = offline()

    errors = pub.errors(doc)

    assert len(errors) == 1 and f"{route['action']} route" in errors[0] and "publish with nginx" in errors[0]
    assert pub.warnings(doc)[0].startswith("Blocked: ")
    bodies = [json.loads(body) for body in pub.render(doc).values()]
    forwarded = [body["forward_host"] for body in bodies] + [
        loc["path"] for body in bodies for loc in body["locations"]
    ]
    assert route["path"] not in forwarded and (index != 0 or bodies == [])


def test_strip_prefix_needs_a_trailing_slash_in_npm():
    doc = gctask_document()
    doc.domains[0].routes[1].path = "/task"
    assert "use /task/ instead" in offline().errors(doc)[0]


def test_timeouts_npm_cannot_set_are_a_warning_not_an_error():
    doc = gctask_document(read_timeout=300)
    pub = offline()
    assert pub.errors(doc) == []
    assert any("read 300 s" in w for w in pub.warnings(doc))


def test_disabled_routes_are_left_out_and_a_disabled_domain_is_a_disabled_host():
    doc = gctask_document()
    doc.domains[0].routes[2].enabled = False
    body = json.loads(offline().render(doc)[artifact_name(GCTASK)])
    assert [loc["path"] for loc in body["locations"]] == ["/task/"]
    assert body["enabled"] is True
    doc.domains[0].enabled = False
    body = json.loads(offline().render(doc)[artifact_name(GCTASK)])
    assert body["enabled"] is False and body["domain_names"] == [GCTASK]


def test_disabling_a_domain_disables_its_host_and_enabling_brings_it_back(npm: NpmTarget):
    pub = publisher_for(npm)
    publish(pub, gctask_document())
    (host,) = managed_hosts(npm)
    off = gctask_document()
    off.domains[0].enabled = False
    assert f"updated {GCTASK} (host #{host.id}): disabled" in publish(pub, off)
    (disabled,) = managed_hosts(npm)
    assert disabled.id == host.id and disabled.enabled is False  # kept, not deleted
    assert pub.current() == pub.render(off)
    assert "nginx online" in publish(pub, gctask_document())
    (enabled,) = managed_hosts(npm)
    assert enabled.enabled is True and enabled.nginx_online is True
    if npm.fake:
        actions = [r["path"].rsplit("/", 1)[1] for r in npm.fake.requests if r["method"] == "POST"]
        assert [a for a in actions if a in ("enable", "disable")] == ["disable", "enable"]


# --- push against NPM ---------------------------------------------------------------------------------------


def test_gctask_publishes_updates_and_deletes(npm: NpmTarget):
    pub = publisher_for(npm)
    doc = gctask_document()
    output = publish(pub, doc)
    assert f"created {GCTASK}" in output
    (host,) = managed_hosts(npm)
    assert host.domain_names == [GCTASK]
    assert [(loc.path, loc.forward_port, loc.forward_path) for loc in host.locations] == [
        ("/task/", 8012, "/"),
        ("/user/", 8013, "/"),
    ]
    assert host.nginx_online is True
    assert pub.current() == pub.render(doc)  # in sync: the plan's diff is empty
    assert "nothing to change" in publish(pub, doc)

    changed = gctask_document()
    changed.domains[0].routes[1].targets[0].port = 8022
    assert f"updated {GCTASK} (host #{host.id})" in publish(pub, changed)
    (after,) = managed_hosts(npm)
    assert after.id == host.id and after.locations[0].forward_port == 8022

    assert f"deleted {GCTASK}" in publish(pub, ConfigDocument())
    assert managed_hosts(npm) == []
    assert pub.current() == {}


def test_a_host_rejected_by_nginx_is_restored_and_reported(npm: NpmTarget):
    fake = npm.need_fake()
    pub = publisher_for(npm)
    publish(pub, gctask_document())
    before = pub.current()
    broken = gctask_document()
    broken.domains[0].routes[1].targets[0].host = "missing-container-2"  # nginx -t: host not found in upstream
    with pytest.raises(PublishError) as failed:
        pub.push(pub.render(broken), before)
    assert "rejected" in failed.value.message
    assert 'host not found in upstream "missing-container-2"' in failed.value.output
    assert pub.current() == before
    (host,) = managed_hosts(npm)
    assert host.nginx_online is True  # the previous body was put back and NPM rendered it again
    # the update, the read-back that saw nginx_online false, the undo's read, the restoring update
    calls = [r["method"] for r in fake.requests if r["path"].startswith("/nginx/proxy-hosts/")]
    assert calls[-4:] == ["PUT", "GET", "GET", "PUT"]


def test_a_rejected_new_host_is_removed_again(npm: NpmTarget):
    npm.need_fake()
    pub = publisher_for(npm)
    broken = gctask_document()
    broken.domains[0].routes[2].targets[0].host = "missing-container"
    with pytest.raises(PublishError) as failed:
        publish(pub, broken)
    assert "host not found" in failed.value.output
    assert managed_hosts(npm) == []


def test_a_failure_midway_undoes_the_earlier_steps(npm: NpmTarget):
    fake = npm.need_fake()
    pub = publisher_for(npm)
    doc = gctask_document()
    publish(pub, doc)
    before = pub.current()
    two = gctask_document()
    two.domains[0].routes[0].targets[0].port = 9011
    other = gctask_document().domains[0].model_copy(update={"name": "other" + TEST_DOMAIN_SUFFIX})
    two.domains.append(other)
    fake.fail_next(400, "Internal Error", method="POST", path="/nginx/proxy-hosts")  # the create of "other"
    with pytest.raises(PublishError) as failed:
        pub.push(pub.render(two), before)
    assert "refused to create" in failed.value.message
    assert pub.current() == before  # the update of gctask was undone


def test_npm_answering_500_leaves_npm_unchanged(npm: NpmTarget):
    fake = npm.need_fake()
    pub = publisher_for(npm)
    publish(pub, gctask_document())
    before = pub.current()
    changed = gctask_document(targets=[{"host": "127.0.0.1", "port": 9999}])
    for _ in range(2):  # the first 500 is taken for an auth problem and retried after a new login
        fake.fail_next(500, "Internal Error", method="PUT")
    with pytest.raises(PublishError) as failed:
        pub.push(pub.render(changed), before)
    assert "(500)" in failed.value.message and "Internal Error" in failed.value.output
    assert pub.current() == before


def test_a_timeout_is_reported_and_nothing_is_changed(npm: NpmTarget):
    fake = npm.need_fake()
    pub = NpmPublisher(client_factory=lambda: npm.client(timeout=0.3))
    fake.delay = 1.0
    with pytest.raises(PublishError) as failed:
        pub.push(pub.render(gctask_document()), {})
    assert "did not answer" in failed.value.message
    fake.delay = 0
    assert managed_hosts(npm) == []


# --- ownership, adopt ----------------------------------------------------------------------------------------


def unmanaged_gctask(npm: NpmTarget) -> int:
    with npm.client() as client:
        return client.create_proxy_host(
            {"domain_names": [GCTASK], "forward_scheme": "http", "forward_host": "127.0.0.1", "forward_port": 7000}
        ).id


def test_an_unmanaged_host_is_a_conflict_and_never_overwritten(npm: NpmTarget):
    host_id = unmanaged_gctask(npm)
    pub = publisher_for(npm)
    doc = gctask_document()
    assert [h.id for h in pub.conflicts(doc)] == [host_id]
    assert pub.current() == {}  # not Portico's: not part of what Portico manages
    with pytest.raises(PublishError) as failed:
        pub.push(pub.render(doc), {})
    assert f"proxy host #{host_id}" in failed.value.message and "Adopt" in failed.value.message
    with npm.client() as client:
        untouched = client.get_proxy_host(host_id)
    assert (untouched.forward_port, untouched.locations, untouched.managed) == (7000, [], False)


def test_adopting_a_host_lets_portico_publish_over_it(npm: NpmTarget):
    host_id = unmanaged_gctask(npm)
    pub = publisher_for(npm)
    adopted = pub.adopt(host_id)
    assert adopted.managed and adopted.id == host_id
    doc = gctask_document()
    assert pub.conflicts(doc) == []
    assert f"updated {GCTASK} (host #{host_id})" in publish(pub, doc)
    (host,) = managed_hosts(npm)
    assert host.id == host_id and host.forward_port == 8011 and len(host.locations) == 2


# --- import ---------------------------------------------------------------------------------------------------


def test_import_round_trips_what_portico_published(npm: NpmTarget):
    pub = publisher_for(npm)
    doc = gctask_document(websocket=True)
    for route in doc.domains[0].routes:
        route.websocket = True
    publish(pub, doc)
    preview = import_preview(pub.hosts())
    (imported,) = preview.document.domains
    assert imported.name == GCTASK
    assert [r.model_dump() for r in imported.routes] == [r.model_dump() for r in doc.domains[0].routes]
    assert preview.notes == []


def test_import_reads_the_recorded_lecture_host_and_says_what_it_drops():
    from publishing.npm.client import ProxyHost
    from publishing.tests.npm_schema import transcript

    host = ProxyHost.from_api(transcript("56-")["response"]["body"])  # the real NPM's gctask host
    preview = import_preview([host])
    (domain,) = preview.document.domains
    assert domain.name == "gctask.test"
    assert [(r.path, r.targets[0].port, r.strip_prefix) for r in domain.routes] == [
        ("/", 8011, False),
        ("/task/", 8012, False),
        ("/user/", 8013, False),
    ]
    notes = " ".join(preview.notes)
    assert "location /api/ rewrites to /task/" in notes  # forward_host "127.0.0.1/task/": not expressible
    assert "advanced config of location /task/" in notes
    assert "block exploits" in notes


def test_import_maps_a_multi_domain_host_to_several_domains():
    from publishing.npm.client import ProxyHost

    host = ProxyHost.from_api(
        {
            "id": 9,
            "domain_names": ["b.example.com", "a.example.com"],
            "forward_scheme": "http",
            "forward_host": "front",
            "forward_port": 80,
            "locations": None,
            "enabled": False,
            "meta": {},
        }
    )
    preview = import_preview([host])
    assert [d.name for d in preview.document.domains] == ["a.example.com", "b.example.com"]
    assert all(not d.enabled for d in preview.document.domains)
    assert "separate Portico domains" in " ".join(preview.notes)


# --- through a real nginx ---------------------------------------------------------------------------------


class Echo:
    """An upstream on 127.0.0.1 that answers with its name and the path it received."""

    def __init__(self, name: str):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = json.dumps({"backend": name, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.nginx
def test_the_published_host_routes_gctask_through_real_nginx(npm: NpmTarget, nginx_instance):
    """NPM's template (as the fake renders it) on a real nginx: /task/x reaches the task API as /x."""
    import httpx

    fake = npm.need_fake()
    front, task, user = Echo("front"), Echo("task"), Echo("user")
    try:
        doc = gctask_document(targets=[{"host": "127.0.0.1", "port": front.port}])
        doc.domains[0].routes[1].targets[0].port = task.port
        doc.domains[0].routes[2].targets[0].port = user.port
        doc.domains[0].routes[2].strip_prefix = False  # /user/ keeps its prefix upstream
        publish(publisher_for(npm), doc)
        (host,) = managed_hosts(npm)
        nginx_instance.write(fake.render_conf(host.id, "127.0.0.1:{port}"))
        checked = nginx_instance.run("-t")
        assert checked.returncode == 0, checked.stderr
        nginx_instance.start()
        with httpx.Client(base_url=f"http://127.0.0.1:{nginx_instance.port}", headers={"Host": GCTASK}) as http:
            assert http.get("/task/items/7?x=1").json() == {"backend": "task", "path": "/items/7?x=1"}
            assert http.get("/user/me").json() == {"backend": "user", "path": "/user/me"}
            assert http.get("/about").json() == {"backend": "front", "path": "/about"}
    finally:
        for echo in (front, task, user):
            echo.stop()


# --- properties ---------------------------------------------------------------------------------------------

_label = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_host = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True),
)
_route = st.fixed_dictionaries(
    {
        "targets": st.lists(
            st.fixed_dictionaries({"host": _host, "port": st.integers(1, 65535)}), min_size=1, max_size=1
        ),
        "scheme": st.sampled_from(["http", "https"]),
        "strip_prefix": st.booleans(),
    }
)


@st.composite
def _domains(draw):
    names = draw(st.lists(_label, min_size=1, max_size=3, unique=True))
    domains = []
    for name in names:
        paths = draw(st.lists(_label, max_size=4, unique=True))
        websocket = draw(st.booleans())
        routes = [{"path": "/", **draw(_route), "websocket": websocket, "strip_prefix": False}]
        routes += [{"path": f"/{p}/", **draw(_route), "websocket": websocket} for p in paths]
        domains.append({"name": f"{name}.example.com", "routes": routes})
    return ConfigDocument.model_validate({"domains": domains})


@settings(max_examples=60, deadline=None)
@given(_domains())
def test_every_expressible_document_renders_valid_npm_bodies_that_import_back_unchanged(document):
    from publishing.npm.client import ProxyHost

    pub = offline()
    assert pub.errors(document) == []
    files = pub.render(document)
    assert len(files) == len(document.domains)
    hosts = []
    for host_id, (name, text) in enumerate(sorted(files.items()), start=1):
        body = json.loads(text)
        assert request_errors("POST", "/nginx/proxy-hosts", body) == [], name
        hosts.append(ProxyHost.from_api({"id": host_id, **body}))
    imported = import_preview(hosts)
    assert imported.notes == []
    original = {d.name: [r.model_dump() for r in sorted(d.routes, key=lambda r: r.path)] for d in document.domains}
    back = {d.name: [r.model_dump() for r in d.routes] for d in imported.document.domains}
    assert back == original

"""The containers pages: list across engines, detail, logs, actions with roles, env reveal, domain logs."""

from __future__ import annotations

import re

import pytest

from tests.support import wait_for_log, wait_until

pytestmark = pytest.mark.django_db


def _route(domain: str, path: str, host: str, port: int):
    from routes.models import Domain, Route, Target

    d, _ = Domain.objects.get_or_create(name=domain)
    route = Route.objects.create(domain=d, path=path)
    Target.objects.create(route=route, host=host, port=port)
    return route


def test_the_list_shows_containers_with_routes_and_warnings(client, viewer_user, run_container, create_container):
    client.force_login(viewer_user)
    routed = create_container(["sleep", "60"])  # created, never started: its route will 502
    plain = run_container(["sleep", "60"])
    _route("gctask.com", "/task/", routed.name, 8080)
    page = client.get("/containers/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-name="{routed.name}"' in html and f'data-name="{plain.name}"' in html
    assert "gctask.com/task/" in html
    assert f"points at {routed.name}, which is created" in html  # the lint every plan shows too
    only_routed = client.get("/containers/", {"routed": "on"}).content.decode()
    assert routed.name in only_routed and plain.name not in only_routed


def _shown_state(html: str, row_id: str | None = None) -> str:
    """The state badge of one list row (by its id), or of the detail page's summary."""
    if row_id is not None:
        match = re.search(rf'<tr id="{row_id}".*?</tr>', html, re.S)
        assert match, f"no row {row_id} on the page"
        html = match.group(0)
    else:
        match = re.search(r'<section class="card" id="container-summary".*?</section>', html, re.S)
        assert match, "no container summary on the page"
        html = match.group(0)
    return re.search(r'data-testid="state">([^<]*)<', html).group(1)


def test_status_transitions_show_in_the_list_and_on_the_detail_page(client, viewer_user, create_container):
    client.force_login(viewer_user)
    # Runs until the test creates /tmp/go, so "running" is certain however slow the machine is.
    container = create_container(["sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.1; done; echo done"])
    row = f"container-{container.id[:12]}"

    def states() -> tuple[str, str]:
        listed = client.get("/containers/", {"q": container.name}).content.decode()
        detail = client.get(f"/containers/c/{container.name}/").content.decode()
        return _shown_state(listed, row), _shown_state(detail)

    assert states() == ("created", "created")
    container.start()
    assert states() == ("running", "running")
    container.exec_run(["touch", "/tmp/go"])
    wait_until(lambda: states() == ("exited", "exited"), what="the pages to show exited")


def test_the_table_fragment_is_served_to_htmx_polling(client, viewer_user, run_container):
    client.force_login(viewer_user)
    container = run_container(["sleep", "60"])
    fragment = client.get("/containers/", {"q": container.name}, headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="containers-table"')
    assert 'hx-trigger="every 5s"' in html
    assert container.name in html
    assert "<html" not in html


def test_a_dead_engine_shows_its_reason_and_a_fix_hint_and_the_local_one_still_lists(
    client, viewer_user, run_container, tmp_path
):
    from containers.models import Engine

    client.force_login(viewer_user)
    container = run_container(["sleep", "60"])
    Engine.objects.create(name="dead", url=f"unix://{tmp_path}/gone.sock")
    page = client.get("/containers/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="engine-error"' in html
    assert "no Docker socket at unix://" in html
    assert "How to fix it:" in html and "Start dockerd" in html
    assert container.name in html  # the local engine is unaffected


def test_detail_shows_facts_and_hides_the_environment(client, viewer_user, admin_user, run_container):
    from core.models import AuditEntry

    container = run_container(
        ["sh", "-c", "echo hello-detail; sleep 60"], environment={"API_KEY": "k-123-secret"}, labels={"team": "web"}
    )
    wait_for_log(container, "hello-detail")
    client.force_login(viewer_user)
    html = client.get(f"/containers/c/{container.name}/").content.decode()
    assert container.name in html and "team" in html and "hello-detail" in html
    assert "k-123-secret" not in html and "API_KEY" not in html
    assert 'data-testid="reveal-env"' not in html  # viewers cannot ask
    assert client.post(f"/containers/c/{container.name}/env/").status_code == 403

    client.force_login(admin_user)
    html = client.get(f"/containers/c/{container.name}/").content.decode()
    assert 'data-testid="reveal-env"' in html and "k-123-secret" not in html
    revealed = client.post(f"/containers/c/{container.name}/env/", headers={"HX-Request": "true"}).content.decode()
    assert "API_KEY" in revealed and "k-123-secret" in revealed
    assert AuditEntry.objects.filter(action="container.env.reveal", actor=admin_user, source="ui").count() == 1


def test_unknown_container_page_is_404_with_a_message(client, viewer_user, docker_sdk):
    client.force_login(viewer_user)
    response = client.get("/containers/c/portico-nope-nope/")
    assert response.status_code == 404
    assert "no container" in response.content.decode()


def test_logs_fragment_escapes_text_and_reports_bad_input(client, viewer_user, run_container):
    client.force_login(viewer_user)
    container = run_container(["sh", "-c", "echo '<script>alert(1)</script>'; echo END; sleep 60"])
    wait_for_log(container, "END")
    html = client.get(
        f"/containers/c/{container.name}/logs/", {"tail": "10"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    bad = client.get(f"/containers/c/{container.name}/logs/", {"tail": "lots"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "tail:" in bad.content.decode()


def test_download_gives_the_lines_as_text(client, viewer_user, run_container):
    client.force_login(viewer_user)
    container = run_container(["sh", "-c", "echo one; echo two; echo END; sleep 60"])
    wait_for_log(container, "END")
    response = client.get(f"/containers/c/{container.name}/logs/download/", {"tail": "2", "timestamps": "off"})
    assert response["Content-Disposition"] == f'attachment; filename="{container.name}.log"'
    assert b"".join(response.streaming_content).decode() == "stdout two\nstdout END\n"


def test_operators_act_from_the_row_and_it_updates_in_place(client, operator_user, run_container):
    from core.models import AuditEntry

    client.force_login(operator_user)
    container = run_container(["sleep", "600"])
    response = client.post(f"/containers/c/{container.name}/stop/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="container-{container.id[:12]}"')
    assert 'data-testid="state">exited<' in html
    assert 'data-testid="start"' in html
    container.reload()
    assert container.status == "exited"
    entry = AuditEntry.objects.get(action="container.stop")
    assert entry.actor == operator_user and entry.source == "ui"
    # Without htmx the post redirects back (post/redirect/get).
    response = client.post(f"/containers/c/{container.name}/start/")
    assert response.status_code == 302
    container.reload()
    assert container.status == "running"


def test_viewers_get_403_on_actions(client, viewer_user, run_container):
    client.force_login(viewer_user)
    container = run_container(["sleep", "600"])
    assert 'data-testid="stop"' not in client.get("/containers/").content.decode()
    assert client.post(f"/containers/c/{container.name}/stop/").status_code == 403
    container.reload()
    assert container.status == "running"


def test_domain_logs_interleave_every_container_behind_the_domain(client, viewer_user, run_container):
    client.force_login(viewer_user)
    gate = "while [ ! -f /tmp/{0} ]; do sleep 0.05; done; "
    front = run_container(["sh", "-c", "echo front-1; " + gate.format("a") + "echo front-2; sleep 60"])
    task = run_container(["sh", "-c", gate.format("a") + "echo task-1; " + gate.format("b") + "echo task-2; sleep 60"])
    other = run_container(["sh", "-c", "echo other-1; sleep 60"])
    # Print in a known order: front-1, task-1, front-2, task-2.
    wait_for_log(front, "front-1")
    task.exec_run(["touch", "/tmp/a"])
    wait_for_log(task, "task-1")
    front.exec_run(["touch", "/tmp/a"])
    wait_for_log(front, "front-2")
    task.exec_run(["touch", "/tmp/b"])
    wait_for_log(task, "task-2")
    _route("gctask.com", "/", front.name, 80)
    _route("gctask.com", "/task/", task.name, 8080)
    _route("other.test", "/", other.name, 80)
    html = client.get("/containers/domains/gctask.com/logs/").content.decode()
    order = [html.index(text) for text in ("front-1", "task-1", "front-2", "task-2")]
    assert order == sorted(order)
    assert "other-1" not in html
    assert client.get("/containers/domains/unknown.test/logs/").status_code == 404
    download = client.get("/containers/domains/gctask.com/logs/", {"download": "1", "timestamps": "off"})
    text = b"".join(download.streaming_content).decode()
    assert text.splitlines() == [
        f"stdout {front.name} front-1",
        f"stdout {task.name} task-1",
        f"stdout {front.name} front-2",
        f"stdout {task.name} task-2",
    ]

    # The same merged log through the API, with the same parameters as a container's logs.
    api = client.get("/api/v1/domain-logs/gctask.com", {"tail": "3"}).json()
    assert [(x["container"], x["text"]) for x in api] == [
        (task.name, "task-1"),
        (front.name, "front-2"),
        (task.name, "task-2"),
    ]
    found = client.get("/api/v1/domain-logs/gctask.com", {"q": "^front-", "regex": "true"}).json()
    assert [x["text"] for x in found] == ["front-1", "front-2"]
    bad = client.get("/api/v1/domain-logs/gctask.com", {"since": "yesterday-ish"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "since"
    assert client.get("/api/v1/domain-logs/unknown.test").status_code == 404


def test_admins_add_and_remove_engines_with_field_errors(client, admin_user, operator_user):
    from containers.models import Engine

    client.force_login(operator_user)
    assert client.post("/containers/engines/add/", {"name": "x", "url": "ssh://a@b"}).status_code == 403
    client.force_login(admin_user)
    bad = client.post("/containers/engines/add/", {"name": "x", "url": "ftp://nope"})
    assert bad.status_code == 422
    assert "unix:///var/run/docker.sock, tcp://host:2376" in bad.content.decode()
    assert not Engine.objects.exists()
    assert (
        client.post("/containers/engines/add/", {"name": "lab", "url": "ssh://student@lab.example"}).status_code == 302
    )
    assert Engine.objects.filter(name="lab").exists()
    assert client.post("/containers/engines/lab/delete/").status_code == 302
    assert not Engine.objects.exists()


def test_an_action_from_the_detail_page_returns_the_updated_summary(client, admin_user, run_container):
    client.force_login(admin_user)
    container = run_container(["sleep", "600"])
    html = client.get(f"/containers/c/{container.name}/").content.decode()
    assert 'hx-target="#container-summary"' in html
    response = client.post(f"/containers/c/{container.name}/stop/", {"from": "detail"}, headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="container-summary"')
    assert 'data-testid="state">exited<' in fragment
    assert 'hx-target="#container-summary"' in fragment  # the next action swaps the summary again
    assert "exit code" in fragment


def test_admins_make_an_engine_the_default_on_the_page_and_a_stale_page_changes_nothing(client, admin_user):
    from containers.engines import get_engine
    from containers.models import Engine
    from core.models import AuditEntry

    client.force_login(admin_user)
    client.post("/containers/engines/add/", {"name": "lab", "url": "ssh://student@lab.example"})
    page = client.get("/containers/").content.decode()
    assert 'data-testid="make-default-lab"' in page
    assert client.post("/containers/engines/lab/default/", {"version": "1"}, follow=True).status_code == 200
    assert get_engine().name == "lab" and Engine.objects.get(name="lab").version == 2
    stale = client.post("/containers/engines/lab/delete/", {"version": "1"}, follow=True).content.decode()
    assert "changed by someone else" in stale and Engine.objects.filter(name="lab").exists()
    assert [e.action for e in AuditEntry.objects.filter(object_type="containers.engine").order_by("id")] == [
        "engine.create",
        "engine.update",
    ]

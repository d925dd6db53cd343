"""``manage.py portico``: outputs and the exit codes scripts rely on (0 ok, 1 failed, 2 usage)."""

from __future__ import annotations

import json

import pytest
import yaml

from core.models import AuditEntry
from routes.models import Domain, Route
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from routes.state import export_state

pytestmark = pytest.mark.django_db

LAB = {
    "domains": [
        {
            "name": "gctask.test",
            "notes": "lab",
            "routes": [
                {"path": "/", "targets": [{"host": "myfront", "port": 80}]},
                {"path": "/task/", "targets": [{"host": "mytaskapi", "port": 80}], "strip_prefix": True},
                {"path": "/user/", "targets": [{"host": "myuserapi", "port": 80}], "balance": "ip_hash"},
            ],
        }
    ]
}


def test_export_prints_yaml_by_default_and_json_on_request(portico):
    replace_state(ConfigDocument.model_validate(LAB))
    code, out, err = portico("export")
    assert (code, err) == (0, "")
    assert yaml.safe_load(out) == export_state()
    assert out.startswith("version: 1\ndomains:\n")
    code, out, _ = portico("export", "--format", "json")
    assert code == 0
    assert json.loads(out) == export_state()


def test_export_then_import_into_an_empty_database_is_lossless(portico, tmp_path):
    replace_state(ConfigDocument.model_validate(LAB))
    before = export_state()
    for fmt in ("yaml", "json"):
        target = tmp_path / f"routes.{fmt}"
        assert portico("export", "--format", fmt, "--output", str(target))[0] == 0
        Domain.objects.all().delete()
        code, out, err = portico("import", str(target))
        assert code == 0, err
        assert "created  gctask.test/task/" in out
        assert export_state() == before
        # Importing the same file again changes nothing.
        assert portico("import", str(target))[1] == "No changes.\n"


def test_import_reads_stdin_records_the_user_and_keeps_unlisted_routes_without_prune(portico, admin_user):
    replace_state(ConfigDocument.model_validate({"domains": [{"name": "keep.test"}]}))
    code, out, err = portico("--user", "alice", "import", "-", stdin=yaml.safe_dump(LAB))
    assert code == 0, err
    assert set(Domain.objects.values_list("name", flat=True)) == {"keep.test", "gctask.test"}
    entry = AuditEntry.objects.get(action="config.import")
    assert (entry.source, entry.actor_name) == ("cli", "alice")
    code, out, _ = portico("import", "-", "--prune", stdin=yaml.safe_dump(LAB))
    assert code == 0
    assert "deleted  keep.test" in out
    assert set(Domain.objects.values_list("name", flat=True)) == {"gctask.test"}


def test_dry_run_shows_the_changes_and_changes_nothing(portico):
    code, out, _ = portico(
        "import",
        "-",
        "--dry-run",
        stdin=json.dumps(LAB),
    )
    assert code == 0
    assert "created  gctask.test/user/" in out
    assert "Dry run: nothing was changed." in out
    assert not Domain.objects.exists()


def test_an_invalid_document_exits_1_naming_the_field(portico, tmp_path):
    bad = json.loads(json.dumps(LAB))
    bad["domains"][0]["routes"][2]["path"] = "/user/;"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, out, err = portico("import", str(path))
    assert code == 1
    assert "domains.0.routes.2.path" in err
    assert out == ""
    assert not Route.objects.exists()
    assert portico("import", "-", stdin="domains: [")[0] == 1


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("frobnicate",),
        ("export", "--format", "xml"),
        ("import",),
        ("import", "/nonexistent/routes.yaml"),
        ("--user", "nobody", "export"),
    ],
)
def test_wrong_usage_exits_2(portico, argv):
    code, out, err = portico(*argv)
    assert code == 2, (out, err)
    assert err.strip()
    assert out == ""


def _lab(front: int, task: int) -> str:
    doc = {
        "domains": [
            {
                "name": "gctask.test",
                "routes": [
                    {"path": "/", "targets": [{"host": "127.0.0.1", "port": front}]},
                    {"path": "/task/", "targets": [{"host": "127.0.0.1", "port": task}], "strip_prefix": True},
                ],
            }
        ]
    }
    return yaml.safe_dump(doc)


@pytest.mark.nginx
def test_plan_apply_and_rollback_from_the_shell(portico, managed_nginx, echo_backend, admin_user):
    front, task = echo_backend("front"), echo_backend("task")
    assert portico("--user", "alice", "import", "-", stdin=_lab(front.port, task.port))[0] == 0

    code, out, err = portico("plan")
    assert code == 0, err
    assert "create   portico-gctask.test.conf\n" in out
    assert "+++ new/portico-gctask.test.conf" in out  # the unified diff follows the file list
    assert portico("plan", "--no-diff")[1].count("\n") < out.count("\n")

    code, out, err = portico("--user", "alice", "apply")
    assert code == 0, err
    assert out.startswith("Revision #1 applied (apply).")
    seen = managed_nginx.seen("gctask.test", "/task/x")
    assert (seen["backend"], seen["path"]) == ("task", "/x")
    assert portico("plan")[1] == "No changes: the live config equals the routes.\n"

    # Send /task/ to the front backend, apply, then roll back to revision 1: traffic and routes return.
    assert portico("import", "-", stdin=_lab(front.port, front.port))[0] == 0
    assert portico("apply")[1].startswith("Revision #2 applied")
    assert managed_nginx.seen("gctask.test", "/task/x")["backend"] == "front"
    code, out, err = portico("--user", "alice", "rollback", "1")
    assert code == 0, err
    assert out.startswith("Revision #3 applied (rollback to #1).")
    assert managed_nginx.seen("gctask.test", "/task/x")["backend"] == "task"
    assert Route.objects.get(path="/task/").targets.get().port == task.port
    sources = set(AuditEntry.objects.filter(action__startswith="publish.").values_list("source", "actor_name"))
    assert sources == {("cli", "alice"), ("cli", "")}


@pytest.mark.nginx
def test_a_failed_apply_exits_1_with_the_reason_and_the_old_config_keeps_serving(
    portico, managed_nginx, echo_backend, settings
):
    front = echo_backend("front")
    assert portico("import", "-", stdin=_lab(front.port, front.port))[0] == 0
    assert portico("apply")[0] == 0
    other = echo_backend("other")
    assert portico("import", "-", stdin=_lab(front.port, other.port))[0] == 0
    settings.PORTICO_NGINX_BIN = "/nonexistent/nginx"
    code, out, err = portico("apply")
    assert code == 1
    assert "revision #2 failed (apply): nginx binary '/nonexistent/nginx' not found" in err
    assert out == ""
    assert managed_nginx.seen("gctask.test", "/task/")["backend"] == "front"


@pytest.mark.parametrize("argv", [("rollback", "99"), ("rollback", "one"), ("rollback",), ("apply", "extra")])
def test_rollback_and_apply_usage_errors_exit_2(portico, argv):
    code, out, err = portico(*argv)
    assert code == 2, (out, err)
    assert out == ""

"""A database made before the dashboard app was split into core, accounts and lab, and before publishing left the
routes app, migrates with everything in it: the same rows, tokens that still authenticate, users whose role still
grants its capabilities, revisions and the NPM settings."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts.auth import authenticate_token
from accounts.models import ApiToken
from core.models import AuditEntry, Capability
from core.roles import can, role_of
from lab.models import LabContainer
from publishing.models import NpmSettings, Revision
from publishing.operations import last_applied
from routes.models import Domain, Route

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Every app at the migration it had before the split; the apps made by the split did not exist yet.
BEFORE_THE_SPLIT = [
    ("core", None),
    ("accounts", None),
    ("lab", None),
    ("publishing", None),
    ("dashboard", "0003_labcontainer"),
    ("routes", "0004_domain_https"),
    ("containers", "0002_engine_version"),
    ("certificates", "0001_initial"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
]
PLAIN_TOKEN = "pt_made-before-the-split-0123456789abcdef"
PASSWORD = "pw-before-the-split-123"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([(app, name) for app, name in targets if name]).apps


def _fill(apps) -> dict[str, int]:
    """What a Portico of that time held, written through the models of that time (the content type, permissions
    and groups were there already: that Portico's post_migrate made them)."""
    user_model = apps.get_model("auth", "User")
    ctype, _ = apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="dashboard", model="capability"
    )
    permission = apps.get_model("auth", "Permission")
    perms = {
        codename: permission.objects.get_or_create(content_type=ctype, codename=codename)[0]
        for codename in ("view_portico", "operate", "administer")
    }
    operators, _ = apps.get_model("auth", "Group").objects.get_or_create(name="operator")
    operators.permissions.set([perms["view_portico"], perms["operate"]])
    alice = user_model.objects.create(username="alice", email="alice@example.test", password=make_password(PASSWORD))
    alice.groups.add(operators)

    token = apps.get_model("dashboard", "ApiToken").objects.create(
        user=alice,
        name="ci",
        prefix=PLAIN_TOKEN[:10],
        token_hash=hashlib.sha256(PLAIN_TOKEN.encode()).hexdigest(),
        version=1,
    )
    audit = apps.get_model("dashboard", "AuditEntry")
    entry = audit.objects.create(
        actor=alice,
        actor_name="alice",
        source="api",
        action="token.create",
        object_type="dashboard.apitoken",
        object_id=str(token.pk),
        object_repr="ci",
        after={"name": "ci", "user": "alice"},
    )
    domain = apps.get_model("routes", "Domain").objects.create(name="a.test", version=3)
    route = apps.get_model("routes", "Route").objects.create(domain=domain, path="/task/", version=2)
    apps.get_model("routes", "Target").objects.create(route=route, host="mytask", port=8080)
    revision = apps.get_model("routes", "Revision").objects.create(
        number=1, author=alice, author_name="alice", status="applied", files={"portico.conf": "# text"}
    )
    rollback = apps.get_model("routes", "Revision").objects.create(
        number=2, author_name="alice", status="applied", rollback_of=revision, snapshot={"domains": []}
    )
    npm = apps.get_model("routes", "NpmSettings").objects.create(
        url="http://127.0.0.1:81/api", identity="npm@example.test", secret="npm-secret", version=4
    )
    content_types = apps.get_model("contenttypes", "ContentType").objects
    revision_type, _ = content_types.get_or_create(app_label="routes", model="revision")
    npm_type, _ = content_types.get_or_create(app_label="routes", model="npmsettings")
    lab = apps.get_model("dashboard", "LabContainer").objects.create(
        container_id="c0ffee" * 10, lab_id="lab-before", name="front"
    )
    return {
        "ctype": ctype.pk,
        "user": alice.pk,
        "token": token.pk,
        "entry": entry.pk,
        "domain": domain.pk,
        "route": route.pk,
        "revision": revision.pk,
        "rollback": rollback.pk,
        "npm": npm.pk,
        "revision_type": revision_type.pk,
        "npm_type": npm_type.pk,
        "lab": lab.pk,
    }


def test_a_database_from_before_the_split_keeps_its_data_tokens_and_roles():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    ids = _fill(_migrate(BEFORE_THE_SPLIT))
    _migrate(latest)
    ContentType.objects.clear_cache()

    # The role's permissions are the same rows, now on the capability's new app.
    ctype = ContentType.objects.get_for_model(Capability, for_concrete_model=False)
    assert ctype.pk == ids["ctype"]
    assert not ContentType.objects.filter(app_label="dashboard").exists()
    alice = get_user_model().objects.get(pk=ids["user"])
    assert role_of(alice) == "operator"
    assert can(alice, "operate") and can(alice, "view_portico") and not can(alice, "administer")
    assert alice.check_password(PASSWORD)

    token = authenticate_token(PLAIN_TOKEN)
    assert token is not None and token.pk == ids["token"] and token.user == alice
    assert ApiToken.objects.get(pk=ids["token"]).name == "ci"

    entry = AuditEntry.objects.get(pk=ids["entry"])
    assert (entry.actor, entry.action, entry.after) == (alice, "token.create", {"name": "ci", "user": "alice"})
    assert entry.object_type == "accounts.apitoken"  # the model's label now, as new entries have it

    domain = Domain.objects.get(pk=ids["domain"])
    assert (domain.name, domain.version) == ("a.test", 3)
    route = Route.objects.get(pk=ids["route"])
    assert (route.domain, route.path, [(t.host, t.port) for t in route.targets.all()]) == (
        domain,
        "/task/",
        [("mytask", 8080)],
    )
    revision = Revision.objects.get(pk=ids["revision"])
    assert (revision.number, revision.author, revision.files) == (1, alice, {"portico.conf": "# text"})
    rollback = Revision.objects.get(pk=ids["rollback"])
    assert (rollback.rollback_of, rollback.snapshot) == (revision, {"domains": []})
    assert last_applied() == rollback
    npm = NpmSettings.objects.get(pk=ids["npm"])
    assert (npm.url, npm.identity, npm.secret, npm.version) == (
        "http://127.0.0.1:81/api",
        "npm@example.test",
        "npm-secret",
        4,
    )
    # The content types are the same rows, now on the publishing app.
    assert ContentType.objects.get_for_model(Revision).pk == ids["revision_type"]
    assert ContentType.objects.get_for_model(NpmSettings).pk == ids["npm_type"]
    assert not ContentType.objects.filter(app_label="routes", model__in=["revision", "npmsettings"]).exists()
    assert LabContainer.objects.get(pk=ids["lab"]).lab_id == "lab-before"
    assert ContentType.objects.get_for_model(LabContainer).app_label == "lab"

    # Through the API: the old token reads, and the operator's role lets it see the routes.
    client = Client()
    answer = client.get("/api/v1/domains", HTTP_AUTHORIZATION=f"Bearer {PLAIN_TOKEN}")
    assert answer.status_code == 200, answer.content
    assert [d["name"] for d in answer.json()["items"]] == ["a.test"]
    audit = client.get(
        "/api/v1/audit?object_type=accounts.apitoken", HTTP_AUTHORIZATION=f"Bearer {PLAIN_TOKEN}"
    ).json()["items"]
    assert [a["action"] for a in audit] == ["token.create"]
    revisions = client.get("/api/v1/revisions", HTTP_AUTHORIZATION=f"Bearer {PLAIN_TOKEN}")
    assert revisions.status_code == 200, revisions.content
    assert [r["number"] for r in revisions.json()["items"]] == [2, 1]

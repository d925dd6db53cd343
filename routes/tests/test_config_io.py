"""Untrusted config documents (PUT /config, ``portico import``) cost work in proportion to their text, or are refused.

A few kilobytes of YAML anchors and aliases used to expand into gigabytes of work (issue 12, item 3). These tests
prove the refusal by what happens, not by a clock: the loader stops at the first anchor or alias, before the
node is composed, and nothing after it (construction, counting, validation) runs at all.
"""

from __future__ import annotations

import json

import pytest
import yaml

from routes import config_io, schemas
from routes.models import Domain
from routes.schemas import ConfigDocument, DomainSpec, RouteSpec

pytestmark = pytest.mark.django_db

SHARED_ROUTES = """\
domains:
  - name: a.test
    routes: &shared
      - path: /
        targets: [{host: myfront, port: 80}]
  - name: b.test
    routes: *shared
"""


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """Each level lists the previous one ``width`` times: ``width ** levels`` strings from a few hundred bytes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    lines.append(f"domains: [{{name: a.test, routes: *l{levels - 1}}}]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def op(api_client, operator_user):
    return api_client(operator_user)


@pytest.fixture
def work_after_the_refusal(monkeypatch):
    """Counts what runs after parsing: nodes composed by PyYAML, objects constructed, documents validated."""
    counts = {"composed": 0, "constructed": 0, "validated": 0}
    compose = yaml.composer.Composer.compose_node

    def counting_compose(self, parent, index):
        counts["composed"] += 1
        return compose(self, parent, index)

    def counting(name, original):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(yaml.composer.Composer, "compose_node", counting_compose)
    monkeypatch.setattr(
        config_io.StrictYamlLoader,
        "construct_document",
        counting("constructed", config_io.StrictYamlLoader.construct_document),
    )
    monkeypatch.setattr(ConfigDocument, "model_validate", counting("validated", ConfigDocument.model_validate))
    return counts


def test_put_config_refuses_an_alias_with_422_naming_the_field(op):
    response = op.put("/api/v1/config", SHARED_ROUTES, content_type="application/yaml")
    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert error["field"] == "domains.0.routes"
    assert "anchors (&shared) are not accepted" in error["message"]
    assert "line 3" in error["message"]
    assert not Domain.objects.exists()


def test_the_same_document_written_out_is_accepted(op):
    written_out = SHARED_ROUTES.replace(" &shared", "").replace(
        "*shared", "\n      - path: /\n        targets: [{host: myfront, port: 80}]"
    )
    response = op.put("/api/v1/config", written_out, content_type="application/yaml")
    assert response.status_code == 200, response.content
    assert sorted(Domain.objects.values_list("name", flat=True)) == ["a.test", "b.test"]


def test_a_billion_laughs_is_refused_at_its_first_anchor_before_anything_is_built(op, work_after_the_refusal):
    text = billion_laughs()
    assert len(text) < 1000 and 9**9 > 300_000_000  # expanded, hundreds of millions of strings
    response = op.put("/api/v1/config", text, content_type="application/yaml")
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [
        {"field": "l0", "message": "YAML anchors (&l0) are not accepted (line 1, column 5): write the value out."}
    ]
    # The root mapping and the key "l0" are all PyYAML composed: the anchored list never became a node.
    assert work_after_the_refusal == {"composed": 2, "constructed": 0, "validated": 0}


def test_an_alias_alone_is_refused_too(work_after_the_refusal):
    with pytest.raises(config_io.DocumentError) as caught:
        config_io.load("domains: *nowhere\n", "yaml")
    assert caught.value.status == 422
    assert caught.value.errors == [
        {
            "field": "domains",
            "message": "YAML aliases (*nowhere) are not accepted (line 1, column 10): write the value out.",
        }
    ]
    assert work_after_the_refusal["constructed"] == work_after_the_refusal["validated"] == 0


def test_portico_import_uses_the_same_loader(portico):
    code, _out, err = portico("import", "-", stdin=SHARED_ROUTES)
    assert code == 1
    assert "domains.0.routes: YAML anchors (&shared) are not accepted" in err
    assert not Domain.objects.exists()


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_an_error_not_a_crash(op, fmt):
    text = "[" * 100_000 + "]" * 100_000
    response = op.put("/api/v1/config", text, content_type=f"application/{fmt}")
    # YAML's composer recursed once per level (RecursionError, a 500); now it stops at MAX_DEPTH levels.
    assert response.status_code == (422 if fmt == "yaml" else 400), response.content
    if fmt == "yaml":
        assert "Nested deeper than 16 levels" in response.json()["errors"][0]["message"]


def _domains(count: int, routes: int = 0, targets: int = 1) -> dict:
    route = {"path": "/", "targets": [{"host": "h", "port": p} for p in range(1, targets + 1)]}
    return {
        "domains": [
            {"name": f"d{i}.test", "routes": [{**route, "path": f"/r{j}/"} for j in range(routes)]}
            for i in range(count)
        ]
    }


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        (_domains(config_io.MAX_DOMAINS + 1), "domains", f"At most {config_io.MAX_DOMAINS} domains"),
        (
            _domains(2, routes=config_io.MAX_ROUTES // 2 + 1),
            "domains.1.routes",
            f"At most {config_io.MAX_ROUTES} routes",
        ),
        (
            _domains(1, routes=config_io.MAX_TARGETS // 64 + 1, targets=64),
            f"domains.0.routes.{config_io.MAX_TARGETS // 64}.targets",
            f"At most {config_io.MAX_TARGETS} targets",
        ),
    ],
    ids=["domains", "routes", "targets"],
)
def test_counts_over_the_limits_are_refused_before_any_field_is_validated(
    monkeypatch, work_after_the_refusal, document, field, message
):
    validated = []
    monkeypatch.setattr(schemas, "normalize_domain", lambda value: validated.append(value))
    with pytest.raises(config_io.DocumentError) as caught:
        config_io.load(json.dumps(document), "json")
    assert caught.value.status == 422
    [error] = caught.value.errors
    assert error["field"] == field
    assert error["message"].startswith(message)
    assert validated == [] and work_after_the_refusal["validated"] == 0


def test_a_document_at_the_limits_is_accepted():
    document = config_io.load(json.dumps(_domains(2, routes=3, targets=2)), "json")
    assert [len(d.routes) for d in document.domains] == [3, 3]


def test_put_config_answers_422_for_too_many_domains(op):
    body = json.dumps(_domains(config_io.MAX_DOMAINS + 1))
    response = op.put("/api/v1/config", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == "domains"
    assert not Domain.objects.exists()


class CountingStr(str):
    """A string that counts how often it is compared or hashed."""

    calls = 0

    def __eq__(self, other: object) -> bool:
        CountingStr.calls += 1
        return str.__eq__(self, other)

    def __hash__(self) -> int:
        CountingStr.calls += 1
        return str.__hash__(self)


@pytest.mark.parametrize("size", [500, 2000])
def test_duplicate_checks_do_one_lookup_per_entry(monkeypatch, size):
    # list.count() per entry made this n * n comparisons: 250,000 at 500 routes, 4,000,000 at 2,000.
    monkeypatch.setattr(CountingStr, "calls", 0)
    routes = [RouteSpec.model_construct(path=CountingStr(f"/r{i}/")) for i in range(size)]
    DomainSpec.model_construct(name="a.test", routes=routes)._unique_paths()
    domains = [DomainSpec.model_construct(name=CountingStr(f"d{i}.test"), routes=[]) for i in range(size)]
    ConfigDocument.model_construct(version=1, domains=domains)._unique_domains()
    assert CountingStr.calls <= 4 * size


def test_duplicates_are_still_found():
    with pytest.raises(ValueError, match=r"the path /r1/ appears twice in a\.test"):
        routes = [RouteSpec.model_construct(path=p) for p in ("/r0/", "/r1/", "/r2/", "/r1/")]
        DomainSpec.model_construct(name="a.test", routes=routes)._unique_paths()
    with pytest.raises(ValueError, match=r"domains: b\.test appears twice"):
        domains = [DomainSpec.model_construct(name=n, routes=[]) for n in ("a.test", "b.test", "b.test")]
        ConfigDocument.model_construct(version=1, domains=domains)._unique_domains()

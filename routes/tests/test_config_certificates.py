"""The config document carries certificate references (id and names, never a key or a chain): GET /config lists the
certificates its domains use, PUT /config maps them back by id and refuses an id that is another certificate here."""

from __future__ import annotations

import json

import pytest

from certificates import operations as certificate_operations
from certificates.models import Certificate
from certificates.tests.pki import chain, make_cert, pki
from routes.models import Domain

pytestmark = pytest.mark.django_db

ROOT, INTERMEDIATE, _ = pki("unused.test")


def upload(*names: str) -> tuple[Certificate, str]:
    leaf = make_cert(names[0], issuer=INTERMEDIATE, sans=list(names))
    cert = certificate_operations.upload_certificate(chain(leaf, INTERMEDIATE), leaf.key_pem, actor=None, source="cli")
    return cert, leaf.key_pem


def put(client, document: dict):
    return client.put("/api/v1/config", json.dumps(document), content_type="application/json")


def test_the_export_lists_the_certificates_the_domains_use_by_id_and_names_and_never_a_key(api_client, operator_user):
    used, key = upload("shop.test", "www.shop.test")
    upload("unused.test")
    client = api_client(operator_user)
    assert (
        put(client, {"domains": [{"name": "shop.test", "certificate": used.pk}, {"name": "plain.test"}]}).status_code
        == 200
    )
    exported = client.get("/api/v1/config").json()
    assert exported["certificates"] == [{"id": used.pk, "domains": ["shop.test", "www.shop.test"]}]
    as_yaml = client.get("/api/v1/config?format=yaml").content.decode()
    for text in (json.dumps(exported), as_yaml):
        assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
        assert key.splitlines()[1] not in text
    assert f"id: {used.pk}" in as_yaml and "www.shop.test" in as_yaml
    # The exported document goes back in as it is: nothing changes.
    again = put(client, exported)
    assert again.status_code == 200 and again.json()["changed"] is False


def test_an_import_refuses_a_reference_that_is_another_certificate_or_none_here_and_changes_nothing(
    api_client, operator_user
):
    cert, _key = upload("shop.test")
    other, _key = upload("other.test")
    client = api_client(operator_user)
    document = {"domains": [{"name": "shop.test", "certificate": cert.pk}], "certificates": []}

    document["certificates"] = [{"id": other.pk, "domains": ["shop.test"]}]
    wrong = put(client, document)
    assert wrong.status_code == 422
    [error] = [e for e in wrong.json()["errors"] if e["field"].startswith("certificates")]
    assert (
        error["field"] == "certificates.0.domains"
        and f"Certificate {other.pk} here is for other.test" in error["message"]
    )
    document["certificates"] = [{"id": 999, "domains": ["gone.test"]}]
    missing = put(client, document)
    assert missing.status_code == 422
    assert {"field": "certificates.0.id"}.items() <= missing.json()["errors"][0].items()
    assert "no certificate with id 999 here" in missing.json()["errors"][0]["message"]
    twice = put(client, {**document, "certificates": [{"id": cert.pk, "domains": ["shop.test"]}] * 2})
    assert twice.status_code == 422 and "listed twice" in twice.text
    assert not Domain.objects.exists()

    document["certificates"] = [{"id": cert.pk, "domains": ["shop.test"]}]
    assert put(client, document).status_code == 200
    assert Domain.objects.get().certificate_id == cert.pk


def test_a_document_without_references_is_still_accepted(api_client, operator_user):
    cert, _key = upload("shop.test")
    answer = put(api_client(operator_user), {"domains": [{"name": "shop.test", "certificate": cert.pk}]})
    assert answer.status_code == 200, answer.content

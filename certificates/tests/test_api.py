"""/api/v1/certificates: upload (201/422), request (202) then the worker against pebble, list, ETag, renew,
delete; the private key is in no answer, no audit entry and nowhere in the database unsealed."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from certificates import operations
from certificates.models import Certificate
from certificates.tests.pki import chain, make_cert, pki
from routes.models import Domain

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
URL = "/api/v1/certificates"


def post(client, body: dict, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", headers=headers)


def key_body(key_pem: str) -> str:
    """A slice of the key's base64 that would show wherever the key leaked."""
    return "".join(key_pem.splitlines()[1:-1])[20:60]


def whole_database() -> str:
    """Every row of every table as text (what a leaked key would be found in)."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            parts.append(repr(cursor.fetchall()))
    return "\n".join(parts)


def test_an_upload_answers_201_without_the_key(api_client, operator_user):
    client = api_client(operator_user)
    _, intermediate, leaf = pki("shop.example.test")
    response = post(client, {"source": "upload", "certificate": chain(leaf, intermediate), "private_key": leaf.key_pem})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "valid" and body["source"] == "upload" and body["domains"] == ["shop.example.test"]
    assert body["serial"] == format(leaf.cert.serial_number, "x") and body["issuer"] == "CN=Test Intermediate"
    assert response["ETag"] == f'"{body["version"]}"'
    assert response["Location"].endswith(f"/certificates/{body['id']}")
    assert "key" not in " ".join(body) and key_body(leaf.key_pem) not in response.content.decode()
    got = client.get(f"{URL}/{body['id']}")
    assert got.status_code == 200 and got["ETag"] == response["ETag"]
    assert key_body(leaf.key_pem) not in got.content.decode()
    assert key_body(leaf.key_pem) not in client.get("/api/v1/audit").content.decode()
    assert key_body(leaf.key_pem) not in whole_database()


def test_a_refused_upload_answers_422_naming_the_field_and_stores_nothing(api_client, operator_user):
    client = api_client(operator_user)
    _, intermediate, leaf = pki()
    stranger = make_cert("x.example.test")
    response = post(
        client, {"source": "upload", "certificate": chain(leaf, intermediate), "private_key": stranger.key_pem}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "private_key"
    response = post(
        client,
        {"source": "upload", "certificate": chain(leaf, intermediate), "private_key": leaf.key_pem,
         "domains": ["other.example.test"]},
    )  # fmt: skip
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "domains"
    response = post(client, {"source": "upload", "certificate": "junk", "private_key": "junk", "challenge": "http-01"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "challenge"
    assert not Certificate.objects.exists()


def test_a_viewer_reads_but_may_not_write(api_client, viewer_user):
    client = api_client(viewer_user)
    assert client.get(URL).status_code == 200
    response = post(client, {"domains": ["a.example.test"], "source": "acme", "challenge": "http-01"})
    assert response.status_code == 403
    assert not Certificate.objects.exists()


@pytest.mark.nginx
def test_an_acme_request_is_202_pending_and_valid_after_the_worker(api_client, operator_user, acme_settings):
    client = api_client(operator_user)
    response = post(client, {"domains": ["api.portico.test"], "source": "acme", "challenge": "http-01"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["not_after"] is None and body["serial"] == ""
    assert {"id", "domains", "source", "status", "not_before", "not_after", "issuer", "serial", "message"} <= set(body)
    operations.process_due()
    got = client.get(f"{URL}/{body['id']}").json()
    assert got["status"] == "valid" and got["serial"] and got["not_after"]
    cert = Certificate.objects.get()
    from certificates.sealing import unseal

    assert key_body(unseal(cert.key_sealed)) not in whole_database()


def test_dns01_with_a_provider_keeps_its_secret_out_of_answers(api_client, operator_user):
    client = api_client(operator_user)
    response = post(
        client,
        {"domains": ["*.example.com"], "challenge": "dns-01", "dns_provider": "cloudflare",
         "dns_settings": {"zone": "example.com", "auth_token": "tok-very-secret-42"}},
    )  # fmt: skip
    assert response.status_code == 202, response.content
    assert response.json()["dns_settings"] == {"zone": "example.com"}
    assert "tok-very-secret-42" not in response.content.decode()
    assert "tok-very-secret-42" not in client.get(URL).content.decode()
    assert "tok-very-secret-42" not in whole_database()


def test_list_filters_and_pages(api_client, operator_user):
    client = api_client(operator_user)
    for name in ("a.example.test", "b.example.test"):
        _, intermediate, leaf = pki(name)
        operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=operator_user, source="api")
    operations.request_certificate(["c.example.test"], challenge="http-01", actor=operator_user, source="api")
    page = client.get(URL, {"page_size": 2}).json()
    assert page["count"] == 3 and page["pages"] == 2 and len(page["items"]) == 2
    assert [c["domains"] for c in client.get(URL, {"status": "pending"}).json()["items"]] == [["c.example.test"]]
    assert [c["domains"] for c in client.get(URL, {"q": "B.EXAMPLE"}).json()["items"]] == [["b.example.test"]]
    assert client.get(URL, {"source": "upload"}).json()["count"] == 2


def test_renew_and_delete_check_if_match(api_client, operator_user):
    client = api_client(operator_user)
    cert = operations.request_certificate(["r.example.test"], challenge="http-01", actor=operator_user, source="api")
    response = client.post(f"{URL}/{cert.pk}/renew", headers={"If-Match": '"99"'})
    assert response.status_code == 412 and response.json()["errors"][0]["field"] == "If-Match"
    response = client.post(f"{URL}/{cert.pk}/renew", headers={"If-Match": f'"{cert.version}"'})
    assert response.status_code == 202 and response["ETag"] == f'"{cert.version + 1}"'
    assert client.delete(f"{URL}/{cert.pk}", headers={"If-Match": f'"{cert.version}"'}).status_code == 412
    Domain.objects.create(name="r.example.test", certificate=cert)
    response = client.delete(f"{URL}/{cert.pk}")
    assert response.status_code == 409 and "r.example.test" in response.json()["detail"]
    Domain.objects.update(certificate=None)
    assert client.delete(f"{URL}/{cert.pk}", headers={"If-Match": f'"{cert.version + 1}"'}).status_code == 204
    assert client.get(f"{URL}/{cert.pk}").status_code == 404
    assert client.post(f"{URL}/{cert.pk}/renew").status_code == 404


def test_an_uploaded_certificate_cannot_be_renewed_by_acme(api_client, operator_user):
    client = api_client(operator_user)
    _, intermediate, leaf = pki()
    cert = operations.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=operator_user, source="api")
    response = client.post(f"{URL}/{cert.pk}/renew")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "source"


def test_the_openapi_document_describes_certificates(api_client, operator_user):
    schema = api_client(operator_user).get("/api/v1/openapi.json").json()
    assert {"/api/v1/certificates", "/api/v1/certificates/{cert_id}", "/api/v1/certificates/{cert_id}/renew"} <= set(
        schema["paths"]
    )
    renew = schema["paths"]["/api/v1/certificates/{cert_id}/renew"]["post"]
    assert any(p["name"] == "If-Match" for p in renew["parameters"])
    out = schema["components"]["schemas"]["CertificateOut"]["properties"]
    assert not any("key" in name for name in out)


def test_the_api_answers_in_english_whatever_the_browser_asks(api_client, operator_user):
    client = api_client(operator_user)
    response = client.post(
        URL, data=json.dumps({"domains": [], "challenge": "http-01"}), content_type="application/json",
        headers={"Accept-Language": "ko"},
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"].startswith("Give at least one name")

"""The Certificates page and a certificate's page: the list with days left coloured as expiry nears, request and
upload with their refusals on the field, renew, delete refused while a domain uses the certificate, the overview's
warning; every write through certificates.operations (the audit entries say source ui)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from certificates import operations
from certificates.models import Certificate
from certificates.tests.pki import chain, make_cert, pki
from core.models import AuditEntry
from routes.models import Domain

pytestmark = pytest.mark.django_db

ROOT, INTERMEDIATE, _ = pki("unused.test")
HTMX = {"HTTP_HX_REQUEST": "true"}


def uploaded(operator, *names: str) -> Certificate:
    leaf = make_cert(names[0], issuer=INTERMEDIATE, sans=list(names))
    return operations.upload_certificate(chain(leaf, INTERMEDIATE), leaf.key_pem, actor=operator, source="api")


def ends_in(cert: Certificate, days: float) -> None:
    Certificate.objects.filter(pk=cert.pk).update(not_after=timezone.now() + dt.timedelta(days=days, hours=1))


def test_the_page_lists_every_certificate_with_days_left_coloured_as_expiry_nears(client, operator_user):
    client.force_login(operator_user)
    fine, soon, last = (uploaded(operator_user, f"{n}.test") for n in ("fine", "soon", "last"))
    ends_in(soon, 10)
    ends_in(last, 2)
    pending = operations.request_certificate(["wait.test"], challenge="http-01", actor=operator_user, source="ui")
    page = client.get("/certificates/").content.decode()
    for cert, level in ((fine, "ok"), (soon, "warning"), (last, "error")):
        row = page.split(f'id="certificate-{cert.pk}"')[1].split("</tr>")[0]
        assert f'data-level="{level}"' in row and f"state-{level}" in row, (cert, row)
    assert 'data-level="warning">10 days' in page and 'data-level="error">2 days' in page
    ends_in(last, -3)
    row = client.get("/certificates/").content.decode().split(f'id="certificate-{last.pk}"')[1].split("</tr>")[0]
    assert 'data-level="error">expired<' in row
    assert "Test intermediate" in page or fine.issuer in page
    row = page.split(f'id="certificate-{pending.pk}"')[1].split("</tr>")[0]
    assert 'data-status="pending"' in row and "data-level" not in row
    assert 'hx-trigger="every 3s"' in page  # the table refreshes while an order waits
    assert 'href="/certificates/"' in page  # the navigation names the page


def test_the_table_stops_polling_once_nothing_is_pending(client, operator_user):
    client.force_login(operator_user)
    uploaded(operator_user, "fine.test")
    answer = client.get("/certificates/?table=1", **HTMX)
    assert answer.status_code == 286 and 'id="certificates-table"' in answer.content.decode()
    assert "every 3s" not in answer.content.decode()


def test_a_request_is_recorded_for_the_worker_and_its_refusals_show_on_the_field(client, operator_user):
    client.force_login(operator_user)
    refused = client.post("/certificates/request/", {"domains": "*.wild.test", "challenge": "http-01"}, **HTMX)
    assert refused.status_code == 200
    assert 'data-testid="request-error-challenge"' in refused.content.decode()
    assert "wildcards need dns-01" in refused.content.decode()
    bad_name = client.post("/certificates/request/", {"domains": "ok.test bad_name!", "challenge": "http-01"})
    assert bad_name.status_code == 422 and 'data-testid="request-error-domains"' in bad_name.content.decode()
    assert not Certificate.objects.exists()
    made = client.post("/certificates/request/", {"domains": "shop.test, www.shop.test", "challenge": "http-01"})
    assert made.status_code == 302
    cert = Certificate.objects.get()
    assert cert.domains == ["shop.test", "www.shop.test"] and cert.status == "pending"
    assert AuditEntry.objects.get(action="certificate.request").source == "ui"


def test_dns01_settings_are_name_value_lines_and_secrets_are_sealed(client, operator_user):
    client.force_login(operator_user)
    answer = client.post(
        "/certificates/request/",
        {"domains": "*.dns.test", "challenge": "dns-01", "dns_provider": "hook", "dns_settings": "nonsense"},
        **HTMX,
    )
    assert 'data-testid="request-error-dns_settings"' in answer.content.decode()
    assert not Certificate.objects.exists()


def test_an_upload_is_checked_and_refusals_name_the_field_and_store_nothing(client, operator_user):
    client.force_login(operator_user)
    leaf = make_cert("up.test", issuer=INTERMEDIATE, sans=["up.test"])
    other = make_cert("other.test", issuer=INTERMEDIATE, sans=["other.test"])
    wrong_key = client.post(
        "/certificates/upload/", {"certificate": chain(leaf, INTERMEDIATE), "private_key": other.key_pem}, **HTMX
    )
    text = wrong_key.content.decode()
    assert 'data-testid="upload-error-private_key"' in text and "does not belong" in text
    assert other.key_pem.splitlines()[1] not in text  # the key is never sent back, not even into its own field
    garbage = client.post("/certificates/upload/", {"certificate": "garbage", "private_key": leaf.key_pem}, **HTMX)
    assert 'data-testid="upload-error-certificate"' in garbage.content.decode()
    assert (
        "BEGIN PRIVATE KEY" not in garbage.content.decode().split('id="upload-private_key"')[1].split("</textarea>")[0]
    )
    assert not Certificate.objects.exists()
    done = client.post(
        "/certificates/upload/", {"certificate": chain(leaf, INTERMEDIATE), "private_key": leaf.key_pem}, **HTMX
    )
    assert done.status_code == 200 and "Certificate for up.test uploaded." in done.content.decode()
    assert Certificate.objects.get().source == "upload"
    assert leaf.key_pem.splitlines()[1] not in done.content.decode()


def test_delete_is_refused_while_a_domain_uses_the_certificate_naming_it(client, operator_user):
    client.force_login(operator_user)
    cert = uploaded(operator_user, "used.test")
    Domain.objects.create(name="used.test", certificate=cert)
    answer = client.post(f"/certificates/{cert.pk}/delete/", **HTMX)
    text = answer.content.decode()
    assert 'data-testid="certificate-error"' in text and "used.test" in text and "attach another" in text
    assert Certificate.objects.filter(pk=cert.pk).exists()
    Domain.objects.all().delete()
    assert client.post(f"/certificates/{cert.pk}/delete/", **HTMX).content == b""
    assert not Certificate.objects.exists()
    assert AuditEntry.objects.get(action="certificate.delete").source == "ui"


def test_renew_now_asks_the_worker_and_an_upload_is_refused_in_its_row(client, operator_user):
    client.force_login(operator_user)
    acme = operations.request_certificate(["r.test"], challenge="http-01", actor=operator_user, source="ui")
    Certificate.objects.filter(pk=acme.pk).update(next_attempt_at=timezone.now() + dt.timedelta(days=30), failures=3)
    answer = client.post(f"/certificates/{acme.pk}/renew/", **HTMX)
    assert answer.status_code == 200 and f'id="certificate-{acme.pk}"' in answer.content.decode()
    acme.refresh_from_db()
    assert acme.failures == 0 and acme.next_attempt_at <= timezone.now()
    upload = uploaded(operator_user, "u.test")
    refused = client.post(f"/certificates/{upload.pk}/renew/", follow=True)
    assert "renewed by uploading its successor" in refused.content.decode()


def test_viewers_read_the_pages_but_get_no_forms_and_may_not_write(client, viewer_user, operator_user):
    cert = uploaded(operator_user, "v.test")
    client.force_login(viewer_user)
    page = client.get("/certificates/").content.decode()
    assert "v.test" in page and "certificate-request-form" not in page and "certificate-delete" not in page
    assert client.post(f"/certificates/{cert.pk}/delete/").status_code == 403
    assert client.post("/certificates/request/", {"domains": "x.test", "challenge": "http-01"}).status_code == 403
    assert client.get(f"/certificates/{cert.pk}/").status_code == 200


def test_a_failing_certificate_warns_on_the_overview_and_on_its_page(client, operator_user):
    client.force_login(operator_user)
    cert = uploaded(operator_user, "warn.test")
    Certificate.objects.filter(pk=cert.pk).update(message="The ACME server cannot be reached.")
    soon = uploaded(operator_user, "soon.test")
    ends_in(soon, 5)
    overview = client.get("/").content.decode()
    warnings = overview.split('data-testid="certificate-warnings"')[1].split("</ul>")[0]
    assert "warn.test" in warnings and "The ACME server cannot be reached." in warnings
    assert "soon.test" in warnings and "Expires in 5 days." in warnings
    detail = client.get(f"/certificates/{cert.pk}/").content.decode()
    assert 'data-testid="certificate-message"' in detail and "cannot be reached" in detail
    assert "certificate.upload" in detail  # the certificate's history from the audit trail


def test_the_pages_speak_korean(client, operator_user):
    client.force_login(operator_user)
    uploaded(operator_user, "ko.test")
    page = client.get("/certificates/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "인증서" in page and "Request certificate" not in page


def test_the_routes_page_shows_a_domains_certificate_with_the_time_left_and_a_link_to_it(client, operator_user):
    client.force_login(operator_user)
    cert = uploaded(operator_user, "shop.test")
    Domain.objects.create(name="shop.test", certificate=cert)
    page = client.get("/routes/").content.decode()
    link = page.split('data-testid="domain-certificate-left"')[0].rsplit("<a ", 1)[1]
    assert f'href="/certificates/{cert.pk}/"' in link
    text = page.split('data-testid="domain-certificate-left">')[1].split("</a>")[0]
    assert text.endswith(" left") and "month" in text, text  # the test certificates last three months

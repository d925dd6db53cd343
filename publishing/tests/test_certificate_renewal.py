"""A renewal is an apply: certificates ordered from a real pebble, served by Portico's managed nginx, renewed by the
worker (forced through the API, or due by a clock the test moves) and published as a revision of its own that a TLS
handshake verifies; no HTTPS request fails meanwhile. A renewal that fails, or a renewed certificate that cannot be
published, leaves the old certificate serving and says so on the overview, the certificate's page and the audit."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from certificates import operations
from certificates.models import Certificate
from core.models import AuditEntry
from publishing import operations as publishing
from publishing.models import Revision
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from tests.support import free_port

pytestmark = [pytest.mark.nginx, pytest.mark.django_db]

NAME = "shop.portico.test"


class Tls:
    """The managed nginx's TLS listener, verified against pebble's root."""

    def __init__(self, port: int, root_pem: str):
        self.port = port
        self.context = ssl.create_default_context(cadata=root_pem)
        # pebble's test certificates leave out extensions Python 3.13's strict mode asks for; the chain and the
        # name are still verified.
        self.context.verify_flags &= ~ssl.VERIFY_X509_STRICT

    def serial(self, name: str) -> str:
        """The serial (hex) of the leaf presented for SNI ``name``, after verifying the chain and the name."""
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw,
            self.context.wrap_socket(raw, server_hostname=name) as conn,
        ):
            der = conn.getpeercert(binary_form=True)
            assert der
            return format(x509.load_der_x509_certificate(der).serial_number, "x")


@pytest.fixture
def tls(managed_nginx, acme_settings, settings) -> Tls:
    """The managed nginx with a TLS listener; ACME orders go to the test pebble (HTTP-01 answered by its nginx)."""
    settings.PORTICO_NGINX_LISTEN_TLS = ("127.0.0.1", free_port())
    return Tls(settings.PORTICO_NGINX_LISTEN_TLS[1], acme_settings.root_pem())


def issued(operator, name: str = NAME) -> Certificate:
    cert = operations.request_certificate([name], challenge="http-01", actor=operator, source="api")
    operations.process_due()
    cert.refresh_from_db()
    assert cert.status == "valid", cert.message
    return cert


def save(*domains: dict) -> None:
    replace_state(ConfigDocument.model_validate({"domains": list(domains)}), source="test")


def site(name: str, port: int, **fields) -> dict:
    return {"name": name, "routes": [{"path": "/", "targets": [{"host": "127.0.0.1", "port": port}]}], **fields}


def applied() -> Revision:
    revision = publishing.apply(source="test")
    assert revision.status == Revision.Status.APPLIED, (revision.message, revision.output)
    return revision


def served(tls: Tls, backend_port: int, operator) -> tuple[Certificate, Revision]:
    """A certificate from pebble for NAME, attached and applied: the handshake presents it."""
    cert = issued(operator)
    save(site(NAME, backend_port, certificate=cert.pk))
    revision = applied()
    assert tls.serial(NAME) == cert.serial
    return cert, revision


def test_a_renewal_forced_through_the_api_is_a_verified_revision_and_no_https_request_fails(
    tls, managed_nginx, echo_backend, request_loop, operator_user, api_client
):
    backend = echo_backend("shop")
    cert, first = served(tls, backend.port, operator_user)
    # An edit nobody applied yet: the renewal publishes what is live, not this.
    save(site(NAME, backend.port, certificate=cert.pk), site("draft.portico.test", backend.port))
    answer = api_client(operator_user).post(f"/api/v1/certificates/{cert.pk}/renew")
    assert answer.status_code == 202, answer.content

    with request_loop(managed_nginx, NAME, "/", lambda r: r.status_code == 200, tls=(tls.port, tls.context)) as loop:
        [renewed] = operations.process_due()  # what the worker's next pass does
    assert loop.total >= 20 and loop.failures == [], (loop.total, loop.failures[:5])

    assert renewed.serial != cert.serial and renewed.message == ""
    revision = Revision.objects.latest("number")
    assert revision.number == first.number + 1 and revision.status == Revision.Status.APPLIED
    assert revision.author is None and "1 TLS handshake(s) presented the new certificate" in revision.output
    assert revision.snapshot == first.snapshot  # the draft domain stays unapplied
    assert tls.serial(NAME) == renewed.serial
    entry = AuditEntry.objects.filter(action="publish.apply").latest("id")
    assert entry.source == "system" and entry.object_id == str(revision.pk)
    assert f"Certificate {cert.pk} renewed" in entry.message
    assert AuditEntry.objects.filter(action="certificate.published", object_id=str(cert.pk)).exists()


def test_the_worker_renews_when_due_by_the_clock_and_publishes_the_new_serial(
    tls, managed_nginx, echo_backend, operator_user
):
    backend = echo_backend("shop")
    cert, first = served(tls, backend.port, operator_user)
    assert operations.process_due(now=cert.next_attempt_at - dt.timedelta(minutes=1)) == []
    assert Revision.objects.latest("number") == first  # nothing due, nothing published

    [renewed] = operations.process_due(now=cert.next_attempt_at + dt.timedelta(seconds=1))
    assert renewed.status == "valid" and renewed.serial != cert.serial
    revision = Revision.objects.latest("number")
    assert revision.number == first.number + 1 and revision.status == Revision.Status.APPLIED
    assert tls.serial(NAME) == renewed.serial
    assert AuditEntry.objects.filter(action="certificate.renewed", object_id=str(cert.pk)).count() == 1


def test_a_certificate_no_live_domain_serves_is_renewed_without_an_apply(tls, managed_nginx, operator_user):
    cert = issued(operator_user, "unused.portico.test")
    [renewed] = operations.process_due(now=cert.next_attempt_at + dt.timedelta(seconds=1))
    assert renewed.serial != cert.serial
    assert not Revision.objects.exists()


def test_a_failed_renewal_keeps_the_old_certificate_serving_and_warns_everywhere(
    tls, managed_nginx, echo_backend, operator_user, client, settings
):
    backend = echo_backend("shop")
    cert, first = served(tls, backend.port, operator_user)
    settings.PORTICO_ACME_DIRECTORY = f"https://127.0.0.1:{free_port()}/dir"  # the ACME server is gone

    [failed] = operations.process_due(now=cert.next_attempt_at + dt.timedelta(seconds=1))
    assert failed.status == "valid" and failed.serial == cert.serial and failed.failures == 1
    assert "cannot be reached" in failed.message
    assert failed.next_attempt_at > failed.last_attempt_at  # retried later, with backoff
    assert Revision.objects.latest("number") == first
    assert tls.serial(NAME) == cert.serial  # the old certificate keeps serving

    client.force_login(operator_user)
    overview = client.get("/").content.decode()
    warnings = overview.split('data-testid="certificate-warnings"')[1].split("</ul>")[0]
    assert NAME in warnings and "cannot be reached" in warnings
    page = client.get(f"/certificates/{cert.pk}/").content.decode()
    assert 'data-testid="certificate-message"' in page and "cannot be reached" in page
    assert "certificate.renewal_failed" in page
    listing = client.get("/certificates/").content.decode()
    row = listing.split(f'id="certificate-{cert.pk}"')[1].split("</tr>")[0]
    assert "state-warning" in row and "cannot be reached" in row
    entry = AuditEntry.objects.get(action="certificate.renewal_failed", object_id=str(cert.pk))
    assert entry.source == "system" and "cannot be reached" in entry.message


def test_a_renewal_nginx_refuses_to_load_keeps_the_old_certificate_and_says_why(
    tls, managed_nginx, echo_backend, operator_user, settings, tmp_path
):
    backend = echo_backend("shop")
    cert, first = served(tls, backend.port, operator_user)
    # An nginx whose config test fails from now on (a full disk, a broken module...): the publication fails.
    real = settings.PORTICO_NGINX_BIN
    refusing = Path(tmp_path) / "refusing-nginx"
    refusing.write_text(
        f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "-t" ] && {{ echo "nginx: test refused on purpose" >&2; exit 1; }}; '
        f'done\nexec {real} "$@"\n'
    )
    refusing.chmod(refusing.stat().st_mode | stat.S_IXUSR)
    settings.PORTICO_NGINX_BIN = str(refusing)
    assert os.access(refusing, os.X_OK)

    [renewed] = operations.process_due(now=cert.next_attempt_at + dt.timedelta(seconds=1))
    revision = Revision.objects.latest("number")
    assert revision.number == first.number + 1 and revision.status != Revision.Status.APPLIED
    renewed.refresh_from_db()
    assert renewed.status == "valid" and renewed.serial != cert.serial
    assert f"publishing it failed in revision #{revision.number}" in renewed.message
    assert "previous certificate keeps serving" in renewed.message
    assert tls.serial(NAME) == cert.serial
    assert AuditEntry.objects.filter(action="certificate.publish_failed", object_id=str(cert.pk)).exists()
    assert renewed.publish_retry_at is not None and renewed.publish_failures == 1

    # Nothing is retried before its time; once nginx loads config again the worker publishes the chain by itself.
    assert operations.process_due(now=renewed.publish_retry_at - dt.timedelta(seconds=1)) == []
    assert Revision.objects.latest("number").number == revision.number
    settings.PORTICO_NGINX_BIN = real
    operations.process_due(now=renewed.publish_retry_at + dt.timedelta(seconds=1))
    retried = Revision.objects.latest("number")
    assert retried.number == revision.number + 1 and retried.status == Revision.Status.APPLIED, retried.message
    renewed.refresh_from_db()
    assert renewed.message == "" and renewed.publish_retry_at is None and renewed.publish_failures == 0
    assert tls.serial(NAME) == renewed.serial
    assert AuditEntry.objects.filter(action="certificate.published", object_id=str(cert.pk)).exists()

"""The worker (operations.process_due) against pebble: pending certificates are ordered, renewals happen when a third
of the lifetime is left (the test moves the clock), failures back off and keep the old certificate, and a
certificate another worker holds is left alone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from certificates import operations
from certificates.models import AcmeAccount, Certificate
from certificates.sealing import unseal
from core.errors import Invalid
from core.models import AuditEntry
from tests.support import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.nginx, pytest.mark.postgres]


def request(operator, names, **options) -> Certificate:
    return operations.request_certificate(names, actor=operator, source="api", **options)


def test_a_pending_http01_certificate_is_issued_by_the_worker(acme_settings, operator_user):
    cert = request(operator_user, ["worker.portico.test", "www.worker.portico.test"], challenge="http-01")
    assert cert.status == "pending" and not cert.chain_pem
    done = operations.process_due()
    assert [c.pk for c in done] == [cert.pk]
    cert.refresh_from_db()
    assert cert.status == "valid" and cert.message == "" and cert.failures == 0
    assert cert.serial and "Pebble" in cert.issuer
    info, key = operations.pem.check_upload(cert.chain_pem, unseal(cert.key_sealed), cert.domains)
    assert info.serial == cert.serial
    # Renewal is due when a third of the lifetime is left.
    lifetime = cert.not_after - cert.not_before
    assert abs(cert.next_attempt_at - (cert.not_after - lifetime * 33 / 100)) < dt.timedelta(seconds=1)
    assert cert.lease_owner == "" and cert.lease_until is None
    entry = AuditEntry.objects.get(action="certificate.issued")
    assert entry.source == "system" and entry.after["serial"] == cert.serial
    assert "PRIVATE" not in str(entry.after) and unseal(cert.key_sealed)[40:80] not in str(entry.after)
    assert AcmeAccount.objects.get().uri.startswith("https://127.0.0.1:")
    assert operations.process_due() == []  # nothing is due any more


def test_dns01_and_a_wildcard_through_the_hook(acme_settings, operator_user):
    cert = request(
        operator_user, ["*.hooked.portico.test", "hooked.portico.test"], challenge="dns-01", dns_provider="hook"
    )
    operations.process_due()
    cert.refresh_from_db()
    assert cert.status == "valid", cert.message
    assert cert.domains == ["*.hooked.portico.test", "hooked.portico.test"]


def test_renewal_happens_when_due_and_a_failure_keeps_the_old_certificate(acme_settings, operator_user, settings):
    cert = request(operator_user, ["renew.portico.test"], challenge="http-01")
    operations.process_due()
    cert.refresh_from_db()
    first_serial, due_at = cert.serial, cert.next_attempt_at
    assert operations.process_due(now=due_at - dt.timedelta(minutes=1)) == []  # not yet
    [renewed] = operations.process_due(now=due_at + dt.timedelta(seconds=1))
    assert renewed.status == "valid" and renewed.serial != first_serial
    assert AuditEntry.objects.filter(action="certificate.renewed").count() == 1

    # The ACME server goes away: the renewal fails, the old certificate stays valid, retries back off.
    settings.PORTICO_ACME_DIRECTORY = f"https://127.0.0.1:{free_port()}/dir"
    settings.PORTICO_ACME_RETRY_SECONDS = 60
    kept = renewed.serial
    [failed] = operations.process_due(now=renewed.next_attempt_at + dt.timedelta(seconds=1))
    assert failed.status == "valid" and failed.serial == kept and failed.failures == 1
    assert "cannot be reached" in failed.message
    assert abs(failed.next_attempt_at - (failed.last_attempt_at + dt.timedelta(seconds=60))) < dt.timedelta(seconds=1)
    [again] = operations.process_due(now=failed.next_attempt_at + dt.timedelta(seconds=1))
    assert again.failures == 2
    assert abs(again.next_attempt_at - (again.last_attempt_at + dt.timedelta(seconds=120))) < dt.timedelta(seconds=1)
    entry = AuditEntry.objects.filter(action="certificate.renewal_failed").latest("id")
    assert "cannot be reached" in entry.message

    # Past its not-after without a renewal, it is expired.
    operations.expire(now=again.not_after + dt.timedelta(seconds=1))
    again.refresh_from_db()
    assert again.status == "expired"


def test_a_failed_first_order_is_failed_and_renew_now_starts_over(acme_settings, operator_user, settings):
    settings.PORTICO_ACME_CHALLENGE_DIR = settings.VAR_DIR / "not-served-by-nginx"
    cert = request(operator_user, ["unserved.portico.test"], challenge="http-01")
    operations.process_due()
    cert.refresh_from_db()
    assert cert.status == "failed" and cert.failures == 1
    assert "could not validate over http-01" in cert.message
    assert AuditEntry.objects.filter(action="certificate.order_failed").exists()
    settings.PORTICO_ACME_CHALLENGE_DIR = acme_settings.challenge_dir
    renewed = operations.renew_certificate(cert.pk, actor=operator_user, source="api", expected_version=cert.version)
    assert renewed.failures == 0 and renewed.next_attempt_at <= timezone.now()
    operations.process_due()
    cert.refresh_from_db()
    assert cert.status == "valid" and cert.message == ""


def test_a_certificate_leased_by_another_worker_is_left_alone(acme_settings, operator_user):
    cert = request(operator_user, ["leased.portico.test"], challenge="http-01")
    now = timezone.now()
    assert operations._lease(cert.pk, "host-b:1", now)
    assert not operations._lease(cert.pk, "host-a:1", now)  # exactly one claim wins
    assert operations.process(cert.pk, owner="host-a:1") is None
    assert operations.process_due() == []
    cert.refresh_from_db()
    assert cert.status == "pending" and cert.lease_owner == "host-b:1"
    # A worker that died keeps its lease only until it runs out; then another one orders the certificate.
    later = cert.lease_until + dt.timedelta(seconds=1)
    [done] = operations.process_due(now=later, owner="host-a:1")
    assert done.status == "valid" and done.lease_owner == ""


def test_request_refusals_name_the_field(operator_user, settings):
    settings.PORTICO_DNS_HOOK = ""
    cases = [
        ({"domains": [], "challenge": "http-01"}, "domains"),
        ({"domains": ["bad name"], "challenge": "http-01"}, "domains.0"),
        ({"domains": ["*.wild.test"], "challenge": "http-01"}, "challenge"),
        ({"domains": ["a.test"], "challenge": "tls-alpn-01"}, "challenge"),
        ({"domains": ["a.test"], "challenge": "dns-01"}, "dns_provider"),
        ({"domains": ["a.test"], "challenge": "dns-01", "dns_provider": "hook"}, "dns_provider"),
        ({"domains": ["a.test"], "challenge": "dns-01", "dns_provider": "no-such"}, "dns_provider"),
        ({"domains": ["a.test"], "challenge": "dns-01", "dns_provider": "cloudflare"}, "dns_settings.zone"),
    ]
    for options, field in cases:
        names = options.pop("domains")
        with pytest.raises(Invalid) as caught:
            request(operator_user, names, **options)
        assert field in [e["field"] for e in caught.value.errors], (options, caught.value.errors)
    assert not Certificate.objects.exists()


def test_dns_provider_secrets_are_sealed_and_never_audited(operator_user):
    cert = request(
        operator_user,
        ["lex.example.com"],
        challenge="dns-01",
        dns_provider="cloudflare",
        dns_settings={"zone": "example.com", "auth_token": "cf-secret-token-123", "auth_username": "me"},
    )
    assert cert.dns_settings == {"zone": "example.com", "auth_username": "me"}
    assert "cf-secret-token-123" not in cert.dns_secrets_sealed
    assert "cf-secret-token-123" in unseal(cert.dns_secrets_sealed)
    assert "cf-secret-token-123" not in str(list(AuditEntry.objects.values()))


def test_manage_py_certificates_run_once_orders_and_lists(acme_settings, operator_user):
    from io import StringIO

    from django.core.management import call_command

    cert = request(operator_user, ["cli.portico.test"], challenge="http-01")
    out = StringIO()
    call_command("certificates", "run", "--once", stdout=out)
    cert.refresh_from_db()
    assert cert.status == "valid"
    assert f"certificate {cert.pk} cli.portico.test: valid (serial {cert.serial})" in out.getvalue()
    listing = StringIO()
    call_command("certificates", "list", stdout=listing)
    assert listing.getvalue().startswith(f"{cert.pk}\tvalid\t{cert.not_after:%Y-%m-%d}\tcli.portico.test")


def test_no_private_key_reaches_a_log_line(acme_settings, operator_user, caplog):
    import logging

    caplog.set_level(logging.DEBUG)  # the acme library logs whole requests and answers at DEBUG
    cert = request(operator_user, ["logs.portico.test"], challenge="http-01")
    operations.process_due()
    cert.refresh_from_db()
    assert cert.status == "valid"
    assert "Sending POST request" in caplog.text  # the library's debug log was captured...
    account_key = unseal(AcmeAccount.objects.get().key_sealed)
    for key in (unseal(cert.key_sealed), account_key):
        body = "".join(key.splitlines()[1:-1])
        assert body[20:60] not in caplog.text and "PRIVATE KEY" not in caplog.text  # ...and holds no key


def test_an_account_the_server_forgot_is_registered_again(acme_settings, operator_user):
    cert = request(operator_user, ["forgot.portico.test"], challenge="http-01")
    operations._account()
    # As after an ACME server lost its state (pebble restarted): the stored account URL names nothing there.
    AcmeAccount.objects.update(uri=acme_settings.directory.replace("/dir", "/my-account/999999"))
    operations.process_due()
    cert.refresh_from_db()
    assert cert.status == "valid", cert.message
    assert not AcmeAccount.objects.get().uri.endswith("/999999")

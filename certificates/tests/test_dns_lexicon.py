"""DNS-01 through dns-lexicon against a real DNS host's API: Debian's PowerDNS with its HTTP API, asked by a
pebble of its own. The records are really set and removed, a wildcard is issued, and a bad credential is reported
without showing it."""

from __future__ import annotations

import pytest
from cryptography import x509

from certificates import operations, pem
from certificates.acme_client import AcmeClient, AcmeError, new_account_key
from certificates.dns_providers import DnsError, LexiconProvider, provider_for
from certificates.models import Certificate

pytestmark = pytest.mark.nginx


def lexicon(powerdns, **changes) -> LexiconProvider:
    settings = {**powerdns.lexicon_settings(), **changes}
    provider = provider_for("powerdns", settings)
    assert isinstance(provider, LexiconProvider)
    return provider


def test_the_provider_sets_and_removes_a_txt_record(powerdns):
    provider = lexicon(powerdns)
    name = "_acme-challenge.set.pdns.portico.test."
    provider.set_txt(name, "first-value")
    provider.set_txt(name, "second-value")  # a wildcard and its base name need two values under one name
    assert sorted(powerdns.txt_records(name)) == ["first-value", "second-value"]
    provider.remove_txt(name, "first-value")
    assert powerdns.txt_records(name) == ["second-value"]
    provider.remove_txt(name, "second-value")
    assert powerdns.txt_records(name) == []


def test_a_wrong_credential_is_reported_without_showing_it(powerdns):
    provider = lexicon(powerdns, auth_token="wrong-token-0123456789")
    with pytest.raises(DnsError) as caught:
        provider.set_txt("_acme-challenge.x.pdns.portico.test.", "v")
    message = str(caught.value)
    assert "powerdns did not create the TXT record" in message and "pdns.portico.test" in message
    assert "wrong-token-0123456789" not in message


def test_a_wildcard_is_issued_through_lexicon(powerdns):
    server = powerdns.acme
    client = AcmeClient(
        server.directory, new_account_key(), ca_bundle=str(server.ca_bundle), challenge_dir=server.challenge_dir
    )
    provider = lexicon(powerdns, propagation_seconds=0)
    names = ["*.lex.pdns.portico.test", "lex.pdns.portico.test"]
    issued = client.issue(names, challenge="dns-01", dns=provider)
    info, _ = pem.check_upload(issued.chain_pem, issued.key_pem, names)
    assert sorted(info.names) == sorted(names)
    root = x509.load_pem_x509_certificate(server.root_pem().encode())
    pem.load_chain(issued.chain_pem)[-1].verify_directly_issued_by(root)
    assert powerdns.txt_records("_acme-challenge.lex.pdns.portico.test.") == []  # cleaned up


def test_a_provider_error_fails_the_order_with_its_reason(powerdns):
    server = powerdns.acme
    client = AcmeClient(
        server.directory, new_account_key(), ca_bundle=str(server.ca_bundle), challenge_dir=server.challenge_dir
    )
    with pytest.raises(AcmeError, match="powerdns did not create"):
        client.issue(["bad.pdns.portico.test"], challenge="dns-01", dns=lexicon(powerdns, auth_token="nope-nope"))


@pytest.mark.django_db
def test_the_worker_orders_through_a_lexicon_provider_with_sealed_credentials(powerdns, operator_user, settings):
    server = powerdns.acme
    settings.PORTICO_ACME_DIRECTORY = server.directory
    settings.PORTICO_ACME_CA_BUNDLE = str(server.ca_bundle)
    cert = operations.request_certificate(
        ["worker.pdns.portico.test"],
        challenge="dns-01",
        dns_provider="powerdns",
        dns_settings={**powerdns.lexicon_settings(), "propagation_seconds": 0},
        actor=operator_user,
        source="api",
    )
    assert powerdns.api_key not in str(Certificate.objects.values().get())
    operations.process_due()
    cert.refresh_from_db()
    assert cert.status == "valid", cert.message

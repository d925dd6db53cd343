"""The ACME wrapper against a real ACME server (pebble): HTTP-01 through nginx, DNS-01 through the hook provider,
a wildcard, and failures translated into AcmeError with a message a person can act on."""

from __future__ import annotations

import shlex
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certificates import pem
from certificates.acme_client import AcmeClient, AcmeError, new_account_key, render_challenge_location
from certificates.dns_providers import DnsError, HookProvider

pytestmark = pytest.mark.nginx


def client_for(server, **options) -> AcmeClient:
    return AcmeClient(
        server.directory,
        new_account_key(),
        ca_bundle=options.pop("ca_bundle", str(server.ca_bundle)),
        challenge_dir=options.pop("challenge_dir", server.challenge_dir),
        timeout=options.pop("timeout", 60),
        **options,
    )


def hook(server) -> HookProvider:
    return HookProvider(argv=shlex.split(server.hook_command()), timeout=30)


def assert_issued_by_pebble(server, chain_pem: str, key_pem: str, names: list[str]) -> x509.Certificate:
    """The chain is in order, ends at an intermediate that pebble's root signed, is for ``names`` and ``key``."""
    certs = pem.load_chain(chain_pem)
    assert len(certs) >= 2
    info, _ = pem.check_upload(chain_pem, key_pem, names)  # key matches, order, dates, names
    assert sorted(info.names) == sorted(names)
    root = x509.load_pem_x509_certificate(server.root_pem().encode())
    certs[-1].verify_directly_issued_by(root)
    return certs[0]


def test_http01_issues_a_two_name_certificate_through_nginx(acme_server):
    client = client_for(acme_server, email="admin@portico.test")
    names = ["shop.portico.test", "www.shop.portico.test"]
    issued = client.issue(names, challenge="http-01")
    assert_issued_by_pebble(acme_server, issued.chain_pem, issued.key_pem, names)
    assert client.account_uri.startswith("https://127.0.0.1:")
    assert list(acme_server.challenge_dir.iterdir()) == []  # the answers are gone again


def test_dns01_issues_through_the_hook_provider(acme_server):
    issued = client_for(acme_server).issue(["dns.portico.test"], challenge="dns-01", dns=hook(acme_server))
    assert_issued_by_pebble(acme_server, issued.chain_pem, issued.key_pem, ["dns.portico.test"])


def test_dns01_issues_a_wildcard(acme_server):
    names = ["*.wild.portico.test", "wild.portico.test"]
    issued = client_for(acme_server).issue(names, challenge="dns-01", dns=hook(acme_server))
    leaf = assert_issued_by_pebble(acme_server, issued.chain_pem, issued.key_pem, names)
    assert pem.covers(pem.dns_names(leaf), "anything.wild.portico.test")


def test_an_account_key_is_registered_once_and_found_again(acme_server):
    key = new_account_key()
    first = AcmeClient(
        acme_server.directory, key, ca_bundle=str(acme_server.ca_bundle), challenge_dir=acme_server.challenge_dir
    ).register()
    again = AcmeClient(
        acme_server.directory, key, ca_bundle=str(acme_server.ca_bundle), challenge_dir=acme_server.challenge_dir
    ).register()
    assert first == again


def test_an_untrusted_acme_server_says_which_setting_to_fix(acme_server):
    with pytest.raises(AcmeError, match="PORTICO_ACME_CA_BUNDLE"):
        client_for(acme_server, ca_bundle="").issue(["x.portico.test"], challenge="http-01")


def test_a_server_that_does_not_answer_says_so(acme_server):
    from tests.support import free_port

    client = AcmeClient(
        f"https://127.0.0.1:{free_port()}/dir",
        new_account_key(),
        ca_bundle=str(acme_server.ca_bundle),
        challenge_dir=acme_server.challenge_dir,
    )
    with pytest.raises(AcmeError, match="cannot be reached"):
        client.issue(["x.portico.test"], challenge="http-01")


def test_an_http01_answer_nginx_does_not_serve_fails_with_the_reason(acme_server, tmp_path):
    # Answers written where nginx does not look: the ACME server gets 404 and says so for the name.
    client = client_for(acme_server, challenge_dir=tmp_path / "elsewhere")
    with pytest.raises(AcmeError) as caught:
        client.issue(["lost.portico.test"], challenge="http-01")
    message = str(caught.value)
    assert "could not validate over http-01" in message and "lost.portico.test" in message
    assert "/.well-known/acme-challenge/" in message


def test_a_failing_hook_is_reported_with_its_output(acme_server, tmp_path):
    script = tmp_path / "hook.py"
    script.write_text("import sys\nprint('zone example.test is locked', file=sys.stderr)\nsys.exit(3)\n")
    failing = HookProvider(argv=[sys.executable, str(script)], timeout=10)
    with pytest.raises(AcmeError, match=r"exit 3\): zone example.test is locked"):
        client_for(acme_server).issue(["hooked.portico.test"], challenge="dns-01", dns=failing)


def test_the_hook_gets_an_argv_never_a_shell(tmp_path):
    seen = tmp_path / "seen"
    script = tmp_path / "hook.py"
    script.write_text(f"import sys, json\nopen({str(seen)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    provider = HookProvider(argv=[sys.executable, str(script), "--zone", "a b"], timeout=10)
    provider.set_txt("_acme-challenge.x.test.", "v;$(touch /tmp/portico-pwned)")
    assert seen.read_text() == '["--zone", "a b", "set", "_acme-challenge.x.test.", "v;$(touch /tmp/portico-pwned)"]'
    with pytest.raises(DnsError, match="does not exist"):
        HookProvider(argv=[str(tmp_path / "missing")]).remove_txt("a.", "b")


def test_the_challenge_location_refuses_a_path_outside_nginx_alphabet(tmp_path):
    with pytest.raises(AcmeError, match="PORTICO_ACME_CHALLENGE_DIR"):
        render_challenge_location(tmp_path / "a b;")
    text = render_challenge_location(tmp_path / "ok")
    assert f"alias {tmp_path.resolve()}/ok/;" in text and "location ^~ /.well-known/acme-challenge/" in text


def test_the_issued_key_is_fresh_and_pkcs8(acme_server):
    issued = client_for(acme_server).issue(["key.portico.test"], challenge="http-01")
    key = serialization.load_pem_private_key(issued.key_pem.encode(), password=None)
    assert issued.key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == pem.load_chain(issued.chain_pem)[0].public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

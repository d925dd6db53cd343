"""HTTPS through Portico's real nginx: certificates made here with `cryptography` (a root, an intermediate, leaves),
uploaded through the certificates operations, published by a real apply and checked with real TLS handshakes."""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certificates import operations as certificate_operations
from certificates.acme_client import ChallengeFiles
from certificates.models import Certificate
from certificates.sealing import seal
from certificates.tests.pki import Issued, chain, make_cert, pki
from core.models import AuditEntry
from publishing import operations as publishing
from publishing.models import Revision
from publishing.render import TlsCert, file_name, render_config
from publishing.tests.support import LoopThread
from routes.operations import replace_state
from routes.schemas import ConfigDocument
from tests.support import free_port

pytestmark = [pytest.mark.nginx, pytest.mark.django_db]


class Https:
    """The TLS side of the managed nginx under test: handshakes and requests with a chosen SNI, on 127.0.0.1."""

    def __init__(self, port: int, root: Issued):
        self.port = port
        self.root = root

    def context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.root.pem)
        # The test certificates carry no key identifiers, which Python 3.13's strict mode asks for; the chain is
        # still verified up to the test root.
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        if alpn:
            context.set_alpn_protocols(alpn)
        return context

    def handshake(self, name: str, alpn: list[str] | None = None) -> tuple[x509.Certificate, str | None]:
        """The leaf nginx presents for SNI ``name`` (verified against the test root) and the ALPN protocol."""
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw,
            self.context(alpn).wrap_socket(raw, server_hostname=name) as conn,
        ):
            der = conn.getpeercert(binary_form=True)
            assert der
            return x509.load_der_x509_certificate(der), conn.selected_alpn_protocol()

    def get(self, name: str, path: str) -> httpx.Response:
        with httpx.Client(verify=self.context(), timeout=5, trust_env=False) as client:
            return client.get(
                f"https://127.0.0.1:{self.port}{path}",
                headers={"Host": name, "Connection": "close"},
                extensions={"sni_hostname": name},
            )


@pytest.fixture
def https(managed_nginx, settings) -> Iterator[Https]:
    """The managed nginx with a TLS listener on a free port and an ACME challenge directory of its own.

    The challenge directory is outside pytest's tmp_path: that one is 0700, and nginx's workers (``nobody`` when
    the tests run as root) must be able to reach the answers, as they must wherever Portico runs.
    """
    settings.PORTICO_NGINX_LISTEN_TLS = ("127.0.0.1", free_port())
    challenges = Path(tempfile.mkdtemp(prefix="portico-acme-"))
    challenges.chmod(0o755)
    settings.PORTICO_ACME_CHALLENGE_DIR = challenges
    yield Https(settings.PORTICO_NGINX_LISTEN_TLS[1], ROOT)
    shutil.rmtree(challenges, ignore_errors=True)


ROOT, INTERMEDIATE, _ = pki("unused.test")


def leaf(*names: str) -> Issued:
    return make_cert(names[0], issuer=INTERMEDIATE, sans=list(names))


def upload(operator, cert: Issued) -> Certificate:
    return certificate_operations.upload_certificate(
        chain(cert, INTERMEDIATE), cert.key_pem, actor=operator, source="api"
    )


def save(*domains: dict) -> None:
    replace_state(ConfigDocument.model_validate({"domains": list(domains)}), source="test")


def site(name: str, port: int, **fields) -> dict:
    return {"name": name, "routes": [{"path": "/", "targets": [{"host": "127.0.0.1", "port": port}]}], **fields}


def applied() -> Revision:
    revision = publishing.apply(source="test")
    assert revision.status == Revision.Status.APPLIED, (revision.message, revision.output)
    return revision


def test_https_answers_with_the_uploaded_chain_and_the_apply_proves_it_by_handshake(https, echo_backend, operator_user):
    backend = echo_backend("shop")
    cert = upload(operator_user, leaf("shop.test", "www.shop.test"))
    save(site("shop.test", backend.port, certificate=cert.pk))
    revision = applied()
    assert "1 TLS handshake(s) presented the new certificate" in revision.output
    presented, _alpn = https.handshake("shop.test")  # verified against the test root: the chain is complete
    assert format(presented.serial_number, "x") == cert.serial
    answer = https.get("shop.test", "/cart?x=1")
    assert answer.status_code == 200
    assert answer.json()["path"] == "/cart?x=1"
    assert answer.json()["headers"]["X-Forwarded-Proto"] == "https"


def test_force_https_redirects_everything_but_acme_challenges_and_serves_those_from_the_challenge_dir(
    https, managed_nginx, echo_backend, operator_user, settings
):
    backend = echo_backend("shop")
    cert = upload(operator_user, leaf("shop.test"))
    save(site("shop.test", backend.port, certificate=cert.pk, force_https=True), site("plain.test", backend.port))
    applied()
    moved = managed_nginx.get("shop.test", "/cart/?q=1")
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"https://shop.test:{https.port}/cart/?q=1"
    token = "aB3_dE-fGhIjKlMnOpQr"
    ChallengeFiles(settings.PORTICO_ACME_CHALLENGE_DIR).write(token, "the-key-authorization")
    for name in ("shop.test", "plain.test"):  # every domain answers ACME on HTTP, forced to HTTPS or not
        answer = managed_nginx.get(name, f"/.well-known/acme-challenge/{token}")
        assert answer.status_code == 200, (name, answer.status_code)
        assert answer.text == "the-key-authorization"
    assert managed_nginx.get("plain.test", "/").status_code == 200
    assert https.get("shop.test", "/").status_code == 200


def test_hsts_is_sent_only_when_asked_and_only_over_https(https, managed_nginx, echo_backend, operator_user):
    backend = echo_backend("shop")
    cert = upload(operator_user, leaf("hsts.test", "nohsts.test"))
    save(
        site("hsts.test", backend.port, certificate=cert.pk, hsts=31536000),
        site("nohsts.test", backend.port, certificate=cert.pk),
    )
    applied()
    assert https.get("hsts.test", "/").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in https.get("nohsts.test", "/").headers
    assert "Strict-Transport-Security" not in managed_nginx.get("hsts.test", "/").headers


def test_http2_is_negotiated_by_alpn_only_when_a_domain_asks(https, echo_backend, operator_user):
    backend = echo_backend("shop")
    cert = upload(operator_user, leaf("h2.test"))
    save(site("h2.test", backend.port, certificate=cert.pk))
    applied()
    assert https.handshake("h2.test", alpn=["h2", "http/1.1"])[1] == "http/1.1"
    save(site("h2.test", backend.port, certificate=cert.pk, http2=True))
    applied()
    assert https.handshake("h2.test", alpn=["h2", "http/1.1"])[1] == "h2"


def test_a_domain_without_a_certificate_never_gets_another_domains(https, managed_nginx, echo_backend, operator_user):
    backend = echo_backend("shop")
    cert = upload(operator_user, leaf("shop.test"))
    save(site("shop.test", backend.port, certificate=cert.pk), site("plain.test", backend.port))
    applied()
    for name in ("plain.test", "unknown.test"):
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME|unrecognized name"):
            https.handshake(name)
    assert managed_nginx.get("plain.test", "/").status_code == 200


def test_keys_are_written_0600_and_never_reach_revisions_diffs_snapshots_audit_or_output(
    https, echo_backend, operator_user, settings
):
    backend = echo_backend("shop")
    issued = leaf("shop.test")
    cert = upload(operator_user, issued)
    save(site("shop.test", backend.port, certificate=cert.pk, force_https=True))
    revision = applied()
    keys = list((Path(settings.PORTICO_NGINX_DIR) / "tls").glob("*.key"))
    assert len(keys) == 1 and keys[0].stat().st_mode & 0o777 == 0o600
    assert keys[0].read_text() == issued.key_pem
    body = "".join(issued.key_pem.splitlines()[1:-1])[:40]  # a stretch of the key's base64
    for row in [*Revision.objects.values(), *AuditEntry.objects.values()]:
        text = repr(row)
        assert "PRIVATE KEY" not in text and body not in text, row
    assert f"portico-{cert.pk}-" in "".join(revision.files.values())
    assert revision.snapshot["domains"][0]["certificate"] == cert.pk


def test_a_certificate_nginx_refuses_fails_the_apply_and_leaves_the_live_config_and_files_as_they_were(
    https, echo_backend, operator_user, settings
):
    backend = echo_backend("shop")
    good = upload(operator_user, leaf("shop.test"))
    save(site("shop.test", backend.port, certificate=good.pk))
    applied()
    tls_dir = Path(settings.PORTICO_NGINX_DIR) / "tls"
    files_before = sorted(p.name for p in tls_dir.iterdir())
    live_before = publishing.get_publisher().current()
    # A stored key that does not belong to its certificate (a damaged row): nginx -t refuses the pair.
    bad = upload(operator_user, leaf("shop.test"))
    Certificate.objects.filter(pk=bad.pk).update(key_sealed=seal(leaf("other.test").key_pem))
    save(site("shop.test", backend.port, certificate=bad.pk))
    revision = publishing.apply(source="test")
    assert revision.status == Revision.Status.FAILED
    assert "key values mismatch" in revision.message or "key values mismatch" in revision.output
    assert publishing.get_publisher().current() == live_before
    assert sorted(p.name for p in tls_dir.iterdir()) == files_before
    presented, _alpn = https.handshake("shop.test")
    assert format(presented.serial_number, "x") == good.serial


class TlsLoop(LoopThread):
    """HTTPS requests in a thread without pause, a new connection each, counting failures and the serials seen."""

    def __init__(self, https: Https, name: str):
        super().__init__()
        self.https, self.name = https, name
        self.serials: set[str] = set()

    def _run(self) -> None:
        context = self.https.context()
        while not self._stop.is_set():
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.https.port), timeout=5) as raw,
                    context.wrap_socket(raw, server_hostname=self.name) as conn,
                ):
                    der = conn.getpeercert(binary_form=True) or b""
                    self.serials.add(format(x509.load_der_x509_certificate(der).serial_number, "x"))
                    conn.sendall(f"GET / HTTP/1.1\r\nHost: {self.name}\r\nConnection: close\r\n\r\n".encode())
                    reply = b""
                    while chunk := conn.recv(65536):
                        reply += chunk
                good = reply.startswith(b"HTTP/1.1 200")
                detail = reply[:100].decode(errors="replace")
            except (OSError, ssl.SSLError) as exc:
                good, detail = False, repr(exc)
            self.count(good, detail)


def test_changing_a_certificate_fails_no_request_and_the_new_serial_is_served_once_the_apply_returns(
    https, echo_backend, operator_user, settings
):
    backend = echo_backend("shop")
    old = upload(operator_user, leaf("shop.test"))
    save(site("shop.test", backend.port, certificate=old.pk))
    applied()
    new = upload(operator_user, leaf("shop.test"))
    save(site("shop.test", backend.port, certificate=new.pk))
    with TlsLoop(https, "shop.test") as loop:
        revision = applied()
        assert format(https.handshake("shop.test")[0].serial_number, "x") == new.serial
    assert loop.total >= 20 and loop.failures == [], (loop.total, loop.failures[:5])
    assert loop.serials == {old.serial, new.serial}
    assert "TLS handshake(s) presented the new certificate" in revision.output
    # The previous certificate's files stay for a rollback; older ones than that go.
    stems = {p.stem for p in (Path(settings.PORTICO_NGINX_DIR) / "tls").glob("*.crt")}
    assert {s.split("-")[1] for s in stems} == {str(old.pk), str(new.pk)}
    save(site("shop.test", backend.port))
    applied()
    stems = {p.stem for p in (Path(settings.PORTICO_NGINX_DIR) / "tls").glob("*.crt")}
    assert {s.split("-")[1] for s in stems} == {str(new.pk)}


def test_stapling_is_on_only_for_chains_that_name_an_ocsp_responder_and_nginx_t_stays_quiet(tmp_path):
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import AuthorityInformationAccessOID

    from publishing.operations import NginxPublisher  # noqa: F401 (the publisher computes TlsCert the same way)
    from publishing.render import RenderOptions, tls_cert
    from publishing.tests.support import nginx_test_files

    key = ec.generate_private_key(ec.SECP256R1())
    plain = leaf("plain.test")
    ocsp = Issued(
        x509.CertificateBuilder()
        .subject_name(plain.cert.subject)
        .issuer_name(INTERMEDIATE.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(plain.cert.not_valid_before_utc)
        .not_valid_after(plain.cert.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ocsp.test")]), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://127.0.0.1:9/ocsp")
                    )
                ]
            ),
            critical=False,
        )
        .sign(INTERMEDIATE.key, hashes.SHA256()),
        key,
    )
    certs = {1: tls_cert(1, chain(plain, INTERMEDIATE)), 2: tls_cert(2, chain(ocsp, INTERMEDIATE))}
    assert certs[1].stapling is False and certs[2].stapling is True
    assert tls_cert(3, ocsp.pem).stapling is False  # no issuer in the chain: nginx could not staple
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    for number, issued in ((1, plain), (2, ocsp)):
        (tls_dir / f"{certs[number].stem}.crt").write_text(chain(issued, INTERMEDIATE))
        (tls_dir / f"{certs[number].stem}.key").write_text(issued.key_pem)
    document = ConfigDocument.model_validate(
        {"domains": [site("plain.test", 9, certificate=1, http2=True), site("ocsp.test", 9, certificate=2, hsts=60)]}
    )
    options = RenderOptions(listen_tls="127.0.0.1:8443", tls_dir=str(tls_dir), acme_root=str(tmp_path / "acme"))
    files = render_config(document, options, certs)
    assert "ssl_stapling on;" in files[file_name("ocsp.test")]
    assert "ssl_stapling" not in files[file_name("plain.test")]
    ok, output = nginx_test_files(files, tmp_path / "nginx")
    assert ok, output
    assert "[warn]" not in output and "[emerg]" not in output, output
    assert TlsCert(2, certs[2].digest, True) == certs[2]


def test_a_wildcard_domain_is_served_and_verified_by_sni_with_its_wildcard_certificate(
    https, echo_backend, operator_user
):
    backend = echo_backend("apps")
    cert = upload(operator_user, leaf("*.apps.test"))
    save(site("*.apps.test", backend.port, certificate=cert.pk))
    revision = applied()
    # The apply's handshake asked with a name under the wildcard (portico-verify.apps.test) and got this leaf.
    assert "1 TLS handshake(s) presented the new certificate" in revision.output
    for name in ("shop.apps.test", "a-b.apps.test"):
        assert format(https.handshake(name)[0].serial_number, "x") == cert.serial
        assert https.get(name, "/").json()["backend"] == "apps"
    # nginx's *.apps.test also matches a.b.apps.test, but the certificate covers one label only: a client refuses it.
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|match"):
        https.handshake("a.b.apps.test")

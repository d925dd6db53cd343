"""The nginx text the publisher is to render for HTTPS, proven here with a real nginx and a certificate from pebble:
the staged chain and key serve with SNI, the chain verifies against pebble's root, HTTP redirects except the
ACME challenge path, HSTS and HTTP/2 (ALPN) appear when asked, and a name without a certificate gets no handshake
(no other domain's certificate leaks). docs/certificates.md quotes this recipe."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest
from cryptography import x509

from certificates import operations
from certificates.acme_client import AcmeClient, new_account_key, render_challenge_location
from certificates.staging import CHAIN_MODE, KEY_MODE, tls_files
from tests.support import free_port, wait_for_port

pytestmark = [pytest.mark.nginx, pytest.mark.django_db]

# Mozilla's "intermediate" profile: TLS 1.2 and 1.3, forward-secret AEAD ciphers for 1.2.
INTERMEDIATE = """
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:portico_tls:10m;
    ssl_session_tickets off;"""


def recipe(prefix, http_port: int, tls_port: int, name: str, files, challenge_location: str, hsts: int) -> str:
    """nginx.conf for one domain with a certificate, force_https, ``hsts`` and http2 (nginx 1.22 syntax)."""
    user = "user root;" if os.geteuid() == 0 else ""
    hsts_line = f'add_header Strict-Transport-Security "max-age={hsts}" always;' if hsts else ""
    return f"""
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  {INTERMEDIATE}

  server {{
    listen 127.0.0.1:{http_port};
    server_name {name};
{challenge_location}
    location / {{ return 301 https://$host:{tls_port}$request_uri; }}
  }}

  server {{
    listen 127.0.0.1:{tls_port} ssl http2;
    server_name {name};
    ssl_certificate {prefix}/tls/{files.chain_name};
    ssl_certificate_key {prefix}/tls/{files.key_name};
    {hsts_line}
    location / {{ return 200 "served over https\\n"; }}
  }}

  # Names without a certificate: no handshake at all, so no other domain's certificate is ever shown.
  server {{
    listen 127.0.0.1:{tls_port} ssl default_server;
    ssl_reject_handshake on;
  }}
}}
"""


def tls_connect(port: int, name: str, root_pem: str, alpn: list[str] | None = None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cadata=root_pem)
    if alpn:
        context.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname=name)


def test_the_https_recipe_serves_the_staged_certificate(acme_settings, operator_user, tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    server = acme_settings
    names = ["tls.portico.test", "www.tls.portico.test"]
    client = AcmeClient(
        server.directory, new_account_key(), ca_bundle=str(server.ca_bundle), challenge_dir=server.challenge_dir
    )
    issued = client.issue(names, challenge="http-01")
    cert = operations.upload_certificate(issued.chain_pem, issued.key_pem, actor=operator_user, source="api")
    files = tls_files(cert)
    prefix = tmp_path / "nginx"
    (prefix / "tls").mkdir(parents=True)
    (prefix / "tls" / files.chain_name).write_text(files.chain_pem)
    (prefix / "tls" / files.chain_name).chmod(CHAIN_MODE)
    key_path = prefix / "tls" / files.key_name
    key_path.touch(mode=KEY_MODE)
    key_path.write_text(files.key_pem)
    http_port, tls_port = free_port(), free_port()
    conf = prefix / "nginx.conf"
    location = render_challenge_location(server.challenge_dir)
    conf.write_text(recipe(prefix, http_port, tls_port, " ".join(names), files, location, hsts=31536000))
    checked = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    subprocess.run([nginx, "-p", str(prefix), "-c", str(conf)], check=True, capture_output=True, timeout=30)
    try:
        wait_for_port(tls_port)
        root = server.root_pem()
        # HTTPS with SNI: the chain verifies against pebble's root, and it is the certificate stored (its serial).
        with tls_connect(tls_port, "www.tls.portico.test", root, alpn=["h2", "http/1.1"]) as tls:
            presented = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            assert format(presented.serial_number, "x") == cert.serial
            assert tls.selected_alpn_protocol() == "h2" and tls.version() in ("TLSv1.2", "TLSv1.3")
        with tls_connect(tls_port, "tls.portico.test", root, alpn=["http/1.1"]) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: tls.portico.test\r\nConnection: close\r\n\r\n")
            answer = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
            answer.begin()
            body = answer.read()
        assert answer.status == 200 and body == b"served over https\n"
        assert answer.getheader("Strict-Transport-Security") == "max-age=31536000"
        # HTTP redirects to HTTPS, except the ACME challenge path (renewals keep working under force_https).
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/shop?q=1", headers={"Host": "tls.portico.test"})
        moved = plain.getresponse()
        moved.read()
        assert moved.status == 301 and moved.getheader("Location") == f"https://tls.portico.test:{tls_port}/shop?q=1"
        (server.challenge_dir / "recipe-token-0123456789").write_text("answer")
        try:
            plain.request(
                "GET", "/.well-known/acme-challenge/recipe-token-0123456789", headers={"Host": "tls.portico.test"}
            )
            challenge = plain.getresponse()
            assert challenge.status == 200 and challenge.read() == b"answer"
        finally:
            (server.challenge_dir / "recipe-token-0123456789").unlink()
        # A name without a certificate: the handshake is refused, no certificate of another domain is shown.
        # (A client that checks nothing, so that only the server's refusal can fail the handshake.)
        blind = ssl.create_default_context()
        blind.check_hostname, blind.verify_mode = False, ssl.CERT_NONE
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME|unrecognized name"):
            blind.wrap_socket(
                socket.create_connection(("127.0.0.1", tls_port), timeout=10), server_hostname="nocert.portico.test"
            ).close()
    finally:
        subprocess.run([nginx, "-p", str(prefix), "-c", str(conf), "-s", "quit"], capture_output=True, timeout=30)
        deadline = time.monotonic() + 5
        while (prefix / "nginx.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

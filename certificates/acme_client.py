"""The only code that talks to an ACME server (Let's Encrypt, or pebble in tests), through the certbot project's
`acme` library. Failures become AcmeError with a message a person can act on.

HTTP-01 answers are files in PORTICO_ACME_CHALLENGE_DIR that Portico's nginx serves under
``/.well-known/acme-challenge/`` (see ``templates/certificates/nginx/acme_challenge.conf``); DNS-01 answers are TXT
records set through a DnsProvider (certificates.dns_providers).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import josepy as jose
import requests
from acme import challenges, crypto_util, messages
from acme import client as acme_client
from acme import errors as acme_errors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings

from certificates.dns_providers import DnsError, DnsProvider
from core.filemodes import open_passage

log = logging.getLogger(__name__)

CHALLENGE_PATH = "/.well-known/acme-challenge/"
HTTP01 = "http-01"
DNS01 = "dns-01"
# RFC 8555 tokens are base64url: anything else must never become a file name.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
USER_AGENT = "portico-acme"


_NGINX_PATH = re.compile(r"/[A-Za-z0-9._/-]+")


def challenge_root(directory: Path) -> str:
    """The HTTP-01 directory as nginx's ``alias`` gets it (absolute, no trailing slash). Raises AcmeError for a
    path outside nginx's safe alphabet: the setting comes from the environment, but it still becomes nginx text."""
    root = str(directory.resolve()).rstrip("/")
    if not _NGINX_PATH.fullmatch(root) or "/../" in root + "/":
        raise AcmeError(f"PORTICO_ACME_CHALLENGE_DIR={root!r}: use letters, digits and . _ - / only.")
    return root


def render_challenge_location(directory: Path) -> str:
    """The nginx ``location`` that serves HTTP-01 answers from ``directory``; goes into every HTTP server block."""
    from django.template.loader import render_to_string

    return render_to_string("certificates/nginx/acme_challenge.conf", {"challenge_root": challenge_root(directory)})


class AcmeError(Exception):
    """An order, registration or challenge that did not succeed; ``str()`` says what to check."""


@dataclass(frozen=True)
class Issued:
    """A certificate the ACME server issued: the chain (leaf first) and its new private key (PKCS#8 PEM)."""

    chain_pem: str
    key_pem: str


def new_account_key() -> str:
    """A fresh account key (RSA 2048, what every ACME server accepts) as PKCS#8 PEM, to be sealed and kept."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _new_certificate_key() -> str:
    # ECDSA P-256: made in microseconds and served by every client nginx meets; each order gets a fresh key.
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class ChallengeFiles:
    """The directory of HTTP-01 answers: one file per token holding its key authorization."""

    def __init__(self, directory: Path):
        self.directory = directory

    def write(self, token: str, content: str) -> Path:
        """Write the answer for ``token`` (readable by nginx's workers). Raises AcmeError for an odd token."""
        if not _TOKEN.fullmatch(token):
            raise AcmeError("The ACME server sent a challenge token that is not base64url; refusing to use it.")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.directory.chmod(0o755)  # mkdir's mode is masked by Portico's umask (077)
            open_passage(Path(settings.VAR_DIR), self.directory)  # nginx's workers, `nobody` under root
            path = self.directory / token
            path.write_text(content)
            path.chmod(0o644)
        except OSError as exc:
            raise AcmeError(
                f"Cannot write the HTTP-01 answer into {self.directory} ({exc.strerror}): "
                "check PORTICO_ACME_CHALLENGE_DIR and its permissions."
            ) from None
        return path

    def remove(self, token: str) -> None:
        """Remove the answer again (gone already is fine)."""
        if _TOKEN.fullmatch(token):
            (self.directory / token).unlink(missing_ok=True)


class AcmeClient:
    """One ACME directory with one account key; ``account_uri`` (when known) saves a registration round trip."""

    def __init__(
        self,
        directory_url: str,
        account_key_pem: str,
        *,
        email: str = "",
        ca_bundle: str = "",
        timeout: int = 120,
        challenge_dir: Path,
        account_uri: str = "",
    ):
        self.directory_url = directory_url
        self.email = email
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.files = ChallengeFiles(challenge_dir)
        self.account_uri = account_uri
        key = serialization.load_pem_private_key(account_key_pem.encode(), password=None)
        self._jwk = jose.JWKRSA(key=key)
        self._client: acme_client.ClientV2 | None = None

    # --- connection and account ---------------------------------------------------------

    def _connect(self) -> acme_client.ClientV2:
        if self._client is not None:
            return self._client
        # requests takes a CA file path where acme's signature says bool.
        verify = cast(bool, self.ca_bundle or True)
        net = acme_client.ClientNetwork(
            self._jwk, alg=jose.RS256, verify_ssl=verify, user_agent=USER_AGENT, timeout=min(self.timeout, 30)
        )
        directory = self._call("read the directory", acme_client.ClientV2.get_directory, self.directory_url, net)
        self._client = acme_client.ClientV2(directory, net)
        return self._client

    def register(self) -> str:
        """Make sure the account exists (agreeing to the CA's terms); returns its URI. Raises AcmeError."""
        client = self._connect()
        if self.account_uri:
            client.net.account = messages.RegistrationResource(uri=self.account_uri, body=messages.Registration())
            return self.account_uri
        client.net.account = None  # a new registration is signed with the key itself, not an account URL
        new = messages.NewRegistration.from_data(email=self.email or None, terms_of_service_agreed=True)
        try:
            regr = self._call("register the account", client.new_account, new)
        except _Existing as existing:
            regr = messages.RegistrationResource(uri=existing.uri, body=messages.Registration())
            client.net.account = regr
        self.account_uri = str(regr.uri)
        return self.account_uri

    # --- issuing --------------------------------------------------------------------------

    def issue(self, names: list[str], *, challenge: str, dns: DnsProvider | None = None) -> Issued:
        """Order a certificate for ``names`` and answer its challenges over ``challenge`` (http-01 or dns-01,
        which needs ``dns``); returns the chain and its new key. Raises AcmeError; the answers are removed again
        whatever happens."""
        if challenge == DNS01 and dns is None:
            raise AcmeError("DNS-01 needs a DNS provider.")
        try:
            return self._issue(names, challenge, dns)
        except acme_errors.Error as exc:
            # Errors the library raises outside _call (polling, finalising) are translated here.
            raise AcmeError(self._explain(exc, names, challenge)) from None
        except requests.RequestException as exc:
            raise AcmeError(self._network(exc)) from None

    def _issue(self, names: list[str], challenge: str, dns: DnsProvider | None) -> Issued:
        self.register()
        client = self._connect()
        key_pem = _new_certificate_key()
        csr = crypto_util.make_csr(key_pem.encode(), names)
        try:
            order = self._call("create the order", client.new_order, csr)
        except AcmeError as exc:
            if "accountDoesNotExist" not in str(exc) or not self.account_uri:
                raise
            # The server forgot the account (a test server restarted, or an account deactivated): register anew.
            self.account_uri = ""
            self.register()
            order = self._call("create the order", client.new_order, csr)
        deadline = dt.datetime.now() + dt.timedelta(seconds=self.timeout)
        answered: list[tuple[messages.ChallengeBody, Any]] = []
        cleanup: list[tuple[str, str]] = []
        try:
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue  # validated recently for this account: nothing to prove again
                body = self._pick(authz, challenge)
                response, validation = body.chall.response_and_validation(self._jwk)
                identifier = authz.body.identifier.value
                if challenge == HTTP01:
                    token = body.chall.encode("token")
                    self.files.write(token, validation)
                    cleanup.append(("file", token))
                else:
                    record = body.chall.validation_domain_name(identifier).rstrip(".") + "."
                    assert dns is not None
                    self._dns(dns.set_txt, record, validation)
                    cleanup.append((record, validation))
                answered.append((body, response))
            if dns is not None and answered and dns.propagation_seconds:
                time.sleep(dns.propagation_seconds)
            for body, response in answered:
                self._call("answer a challenge", client.answer_challenge, body, response)
            done = client.poll_and_finalize(order, deadline)
        finally:
            self._clean(cleanup, dns)
        return Issued(chain_pem=done.fullchain_pem, key_pem=key_pem)

    def _pick(self, authz: messages.AuthorizationResource, challenge: str) -> messages.ChallengeBody:
        wanted = challenges.HTTP01 if challenge == HTTP01 else challenges.DNS01
        for body in authz.body.challenges:
            if isinstance(body.chall, wanted):
                return body
        name = authz.body.identifier.value
        hint = " (a wildcard needs dns-01)" if authz.body.wildcard else ""
        raise AcmeError(f"The ACME server offers no {challenge} challenge for {name}{hint}.")

    def _dns(self, action: Any, record: str, value: str) -> None:
        try:
            action(record, value)
        except DnsError as exc:
            raise AcmeError(str(exc)) from None

    def _clean(self, cleanup: list[tuple[str, str]], dns: DnsProvider | None) -> None:
        for what, value in cleanup:
            try:
                if what == "file":
                    self.files.remove(value)
                elif dns is not None:
                    dns.remove_txt(what, value)
            except (DnsError, OSError) as exc:
                # The order's outcome stands; a stale TXT record or file is harmless and is logged for the admin.
                log.warning("Could not remove an ACME answer (%s): %s", what if what != "file" else value, exc)

    # --- errors ---------------------------------------------------------------------------

    def _call(self, what: str, function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except acme_errors.ConflictError as exc:
            if what == "register the account":
                raise _Existing(exc.location) from None
            raise AcmeError(f"The ACME server refused to {what}: conflict at {exc.location}.") from None
        except messages.Error as exc:
            raise AcmeError(f"The ACME server refused to {what}: {_problem(exc)}") from None
        except acme_errors.Error as exc:
            raise AcmeError(f"Could not {what} at the ACME server: {exc or type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise AcmeError(self._network(exc)) from None

    def _network(self, exc: requests.RequestException) -> str:
        if isinstance(exc, requests.exceptions.SSLError):
            return (
                f"The ACME server {self.directory_url} presented an HTTPS certificate Portico does not trust: "
                "set PORTICO_ACME_CA_BUNDLE to its CA file, or check PORTICO_ACME_DIRECTORY."
            )
        if isinstance(exc, requests.Timeout):
            return f"The ACME server {self.directory_url} did not answer in time: try again later."
        return (
            f"The ACME server {self.directory_url} cannot be reached ({type(exc).__name__}): check "
            "PORTICO_ACME_DIRECTORY and that Portico's host can reach it."
        )

    def _explain(self, exc: acme_errors.Error, names: list[str], challenge: str) -> str:
        if isinstance(exc, acme_errors.ValidationError):
            parts = []
            for authz in exc.failed_authzrs:
                for body in authz.body.challenges:
                    if body.error is not None:
                        parts.append(f"{authz.body.identifier.value}: {_problem(body.error)}")
            where = (
                f"nginx must serve {CHALLENGE_PATH} for each name on port 80"
                if challenge == HTTP01
                else "the TXT records must be visible in public DNS (raise propagation_seconds if they are slow)"
            )
            return f"The ACME server could not validate over {challenge}: {'; '.join(parts)}. Check: {where}."
        if isinstance(exc, acme_errors.TimeoutError):
            return f"The order for {', '.join(names)} did not finish within {self.timeout} s (PORTICO_ACME_TIMEOUT)."
        if isinstance(exc, acme_errors.IssuanceError):
            return f"The ACME server did not issue the certificate: {_problem(exc.error)}"
        if isinstance(exc, messages.Error):
            return f"The ACME server refused the order: {_problem(exc)}"
        return f"The order for {', '.join(names)} failed: {exc or type(exc).__name__}"


class _Existing(Exception):
    """The account key is registered already (the server answered with the account's URI)."""

    def __init__(self, uri: str):
        super().__init__(uri)
        self.uri = uri


def _problem(error: messages.Error) -> str:
    """An ACME problem document in one line: its detail, and its code when it has one."""
    detail = error.detail or error.title or error.description or "no detail given"
    return f"{detail} ({error.code})" if error.code else detail

"""The only code that changes DNS records: DNS-01 answers (TXT records) through a command of the admin's
(the ``hook`` provider) or a DNS host's API through dns-lexicon. Failures become DnsError with a message a person
can act on; provider secrets never appear in it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.utils.translation import gettext as _

HOOK = "hook"
# Settings whose names look like credentials are sealed at rest and never shown back (dns-lexicon names them
# auth_token, auth_password, auth_secret, auth_key, ...).
_SECRET_NAME = re.compile(r"(^auth_(?!username$|email$|id$)|token|secret|password|passwd|key$)")
_PROVIDER_NAME = re.compile(r"[a-z0-9]{2,30}")
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,49}")
# Options that belong to Portico, not to the DNS provider.
PORTICO_OPTIONS = ("zone", "propagation_seconds")


class DnsError(Exception):
    """A DNS record could not be set or removed; ``str()`` says what to check."""


def is_secret(option: str) -> bool:
    """Whether a provider setting is a credential (sealed at rest, never shown back)."""
    return bool(_SECRET_NAME.search(option))


class DnsProvider(Protocol):
    """Sets and removes the TXT records of DNS-01 answers. ``name`` is fully qualified with a final dot."""

    propagation_seconds: int

    def set_txt(self, name: str, value: str) -> None:
        """Add a TXT record ``name`` with ``value`` (others of that name stay). Raises DnsError."""

    def remove_txt(self, name: str, value: str) -> None:
        """Remove that TXT record again. Raises DnsError."""


def _tail(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


@dataclass
class HookProvider:
    """Runs the admin's command (PORTICO_DNS_HOOK, split like a shell would but never run by one) as
    ``COMMAND... set NAME VALUE`` and ``COMMAND... remove NAME VALUE``; exit status 0 means done."""

    argv: list[str]
    timeout: int = 60
    propagation_seconds: int = 0

    def set_txt(self, name: str, value: str) -> None:
        """Run the hook with ``set``. Raises DnsError when it cannot run, fails or takes too long."""
        self._run("set", name, value)

    def remove_txt(self, name: str, value: str) -> None:
        """Run the hook with ``remove``. Raises DnsError like set_txt."""
        self._run("remove", name, value)

    def _run(self, action: str, name: str, value: str) -> None:
        command = [*self.argv, action, name, value]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise DnsError(f"The DNS hook {self.argv[0]!r} does not exist: fix PORTICO_DNS_HOOK.") from None
        except PermissionError:
            raise DnsError(f"The DNS hook {self.argv[0]!r} is not executable by Portico's user.") from None
        except subprocess.TimeoutExpired:
            raise DnsError(
                f"The DNS hook did not finish '{action} {name}' within {self.timeout} s (PORTICO_DNS_HOOK_TIMEOUT)."
            ) from None
        if proc.returncode != 0:
            said = _tail(proc.stderr or proc.stdout) or "nothing"
            raise DnsError(f"The DNS hook failed to {action} the TXT record {name} (exit {proc.returncode}): {said}")


@dataclass
class LexiconProvider:
    """A DNS host's API through dns-lexicon; ``zone`` is the DNS zone the records go into (e.g. example.com)."""

    provider: str
    zone: str
    options: dict[str, str] = field(default_factory=dict)
    propagation_seconds: int = 60

    def set_txt(self, name: str, value: str) -> None:
        """Create the TXT record through the provider's API. Raises DnsError."""
        self._do("create", name, value)

    def remove_txt(self, name: str, value: str) -> None:
        """Delete the TXT record through the provider's API. Raises DnsError."""
        self._do("delete", name, value)

    def config(self) -> dict[str, Any]:
        """dns-lexicon's configuration for this provider, with the zone as given."""
        return {"provider_name": self.provider, "domain": self.zone, self.provider: self.options}

    def _do(self, action: str, name: str, value: str) -> None:
        # The provider class itself, not lexicon.client.Client: the Client guesses the zone from the public-suffix
        # list (downloading it) and gets zones under private suffixes wrong (pdns.corp.test became
        # pdns.corp.test.test); the admin names the zone, so there is nothing to guess.
        from lexicon._private.discovery import load_provider_module
        from lexicon.config import ConfigResolver

        try:
            config = ConfigResolver().with_dict(self.config())  # type: ignore[no-untyped-call]
            provider = load_provider_module(self.provider).Provider(config)
            provider.authenticate()
            try:
                if action == "create":
                    provider.create_record("TXT", name.rstrip("."), value)
                else:
                    provider.delete_record(None, "TXT", name.rstrip("."), value)
            finally:
                provider.cleanup()
        except Exception as exc:  # lexicon and its providers raise anything (requests, boto, their own)
            raise DnsError(
                f"{self.provider} did not {action} the TXT record {name} in zone {self.zone}: "
                f"{self._masked(str(exc) or type(exc).__name__)} (check the provider's credentials and the zone)."
            ) from None

    def _masked(self, text: str) -> str:
        for option, secret in self.options.items():
            if is_secret(option) and secret:
                text = text.replace(secret, "***")
        return _tail(text)


def lexicon_providers() -> list[str]:
    """The dns-lexicon provider names installed here."""
    import lexicon._private.providers as package  # noqa: PLC0415 (the provider modules are its only registry)

    folder = Path(package.__file__).parent
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_") and p.stem != "auto")


def check_settings(provider: str, options: dict[str, Any]) -> list[dict[str, str]]:
    """Field errors in a DNS-01 provider choice and its settings (empty when they are usable)."""
    if provider == HOOK:
        errors = []
        if not settings.PORTICO_DNS_HOOK:
            errors.append(
                {"field": "dns_provider", "message": _("The hook provider needs PORTICO_DNS_HOOK set on the server.")}
            )
        extra = sorted(set(options) - {"propagation_seconds"})
        if extra:
            message = _(
                "The hook provider takes no settings but propagation_seconds (got %(names)s); its command comes "
                "from PORTICO_DNS_HOOK."
            )
            errors.append({"field": "dns_settings", "message": message % {"names": ", ".join(extra)}})
        return errors + _check_wait(options)
    if not _PROVIDER_NAME.fullmatch(provider or "") or provider not in lexicon_providers():
        return [{"field": "dns_provider", "message": _("Use hook or a dns-lexicon provider name (e.g. cloudflare).")}]
    errors = []
    zone = options.get("zone")
    if not isinstance(zone, str) or not re.fullmatch(r"(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{2,63}", zone):
        errors.append({"field": "dns_settings.zone", "message": _("Give the DNS zone, e.g. example.com (lower case).")})
    for name, value in options.items():
        if not _OPTION_NAME.fullmatch(name):
            errors.append(
                {"field": "dns_settings", "message": _("%(name)r is not a setting name.") % {"name": name[:50]}}
            )
        elif name != "propagation_seconds" and (not isinstance(value, str) or len(value) > 4000 or "\x00" in value):
            errors.append({"field": f"dns_settings.{name}", "message": _("Give text (at most 4000 characters).")})
    return errors + _check_wait(options)


def _check_wait(options: dict[str, Any]) -> list[dict[str, str]]:
    wait = options.get("propagation_seconds", 0)
    if not isinstance(wait, int) or isinstance(wait, bool) or not 0 <= wait <= 3600:
        return [{"field": "dns_settings.propagation_seconds", "message": _("Give whole seconds from 0 to 3600.")}]
    return []


def provider_for(provider: str, options: dict[str, Any]) -> DnsProvider:
    """The DnsProvider for a stored choice (secrets already unsealed into ``options``)."""
    wait = int(options.get("propagation_seconds", 0 if provider == HOOK else 60))
    if provider == HOOK:
        argv = shlex.split(settings.PORTICO_DNS_HOOK)
        if not argv:
            raise DnsError("The hook provider needs PORTICO_DNS_HOOK set on the server.")
        return HookProvider(argv=argv, timeout=settings.PORTICO_DNS_HOOK_TIMEOUT, propagation_seconds=wait)
    rest = {k: str(v) for k, v in options.items() if k not in PORTICO_OPTIONS}
    return LexiconProvider(provider=provider, zone=str(options["zone"]), options=rest, propagation_seconds=wait)

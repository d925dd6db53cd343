"""The Certificates page's forms: they parse what a person typed; the rules are the operations' (certificates.operations)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from certificates.acme_client import DNS01, HTTP01
from certificates.pem import MAX_PEM_CHARS

_SEPARATORS = re.compile(r"[\s,]+")


def _names(text: str) -> list[str]:
    return [name for name in _SEPARATORS.split(text.strip()) if name]


class RequestForm(forms.Form):
    """Order a certificate from the ACME server: its names, the challenge and, for dns-01, the DNS provider."""

    domains = forms.CharField(
        label=_("Names"),
        max_length=10000,
        help_text=_("One or more, separated by spaces or commas; a wildcard (*.example.com) needs dns-01."),
        widget=forms.TextInput(attrs={"placeholder": "shop.example.com www.shop.example.com"}),
    )
    challenge = forms.ChoiceField(
        label=_("Challenge"),
        choices=[(HTTP01, _("http-01 (Portico's nginx answers)")), (DNS01, _("dns-01 (a TXT record)"))],
        initial=HTTP01,
    )
    dns_provider = forms.CharField(
        label=_("DNS provider"),
        required=False,
        max_length=40,
        help_text=_("dns-01 only: hook, or a dns-lexicon provider name such as cloudflare."),
    )
    dns_settings = forms.CharField(
        label=_("Provider settings"),
        required=False,
        max_length=5000,
        help_text=_("dns-01 only: one name=value per line (zone, credentials); secrets are stored encrypted."),
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_domains(self) -> list[str]:
        return _names(self.cleaned_data["domains"])

    def clean_dns_settings(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for number, line in enumerate(self.cleaned_data["dns_settings"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(_("Line %(line)d: write name=value.") % {"line": number})
            found[name.strip()] = value.strip()
        return found


class SecretTextarea(forms.Textarea):
    """A textarea that never sends its value back: a refused upload asks for the key again rather than echo it."""

    def format_value(self, value: Any) -> None:
        return None


class UploadForm(forms.Form):
    """Upload a certificate: the leaf and its chain, and the private key (PEM); checked before anything is stored."""

    certificate = forms.CharField(
        label=_("Certificate and chain (PEM)"),
        max_length=MAX_PEM_CHARS,
        strip=False,
        help_text=_("The leaf first, then each issuer."),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "placeholder": "-----BEGIN CERTIFICATE-----"}),
    )
    private_key = forms.CharField(
        label=_("Private key (PEM)"),
        max_length=MAX_PEM_CHARS,
        strip=False,
        help_text=_("Unencrypted; stored encrypted and never shown again."),
        widget=SecretTextarea(
            attrs={
                "rows": 4,
                "spellcheck": "false",
                "autocomplete": "off",
                "placeholder": "-----BEGIN PRIVATE KEY-----",
            }
        ),
    )
    domains = forms.CharField(
        label=_("Names it must cover (optional)"),
        required=False,
        max_length=10000,
        widget=forms.TextInput(attrs={"placeholder": "shop.example.com"}),
    )

    def clean_domains(self) -> list[str]:
        return _names(self.cleaned_data["domains"])

"""Forms of the containers pages: the list filters and a new engine."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from containers.models import Engine

STATES = ["", "running", "created", "restarting", "paused", "exited", "dead"]


class FilterForm(forms.Form):
    """Narrow the container list (all fields optional; Docker applies them)."""

    engine = forms.CharField(required=False, label=_("Engine"))
    q = forms.CharField(required=False, max_length=100, label=_("Name"))
    state = forms.ChoiceField(required=False, choices=[(s, s or _("any state")) for s in STATES], label=_("State"))
    network = forms.CharField(required=False, max_length=100, label=_("Network"))
    project = forms.CharField(required=False, max_length=100, label=_("Compose project"))
    routed = forms.BooleanField(required=False, label=_("Only routed"))


class EngineForm(forms.ModelForm):
    """Add a Docker engine by URL (admins)."""

    class Meta:
        model = Engine
        fields = ["name", "url", "tls_ca", "tls_cert", "tls_key", "tls_verify", "default"]
        labels = {
            "name": _("Name"),
            "url": _("URL"),
            "tls_ca": _("TLS CA file"),
            "tls_cert": _("TLS client certificate"),
            "tls_key": _("TLS client key"),
            "tls_verify": _("Verify the server certificate"),
            "default": _("Default engine"),
        }
        help_texts = {
            "url": _("unix:///var/run/docker.sock, tcp://host:2376 (with TLS files) or ssh://user@host"),
        }

"""Forms of the project-level pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from dashboard.roles import ROLE_LABELS, ROLES


class TokenForm(forms.Form):
    """A new API token: a name and an optional lifetime."""

    name = forms.CharField(label=_("Name"), max_length=100)
    expires_in_days = forms.IntegerField(
        label=_("Expires in days"),
        required=False,
        min_value=1,
        max_value=3650,
        help_text=_("Leave empty for a token that never expires."),
    )


class AccountForm(forms.Form):
    """A new account: name, first password and role (dashboard.accounts checks them)."""

    username = forms.CharField(label=_("User name"), max_length=150)
    password = forms.CharField(label=_("Password"), max_length=128, widget=forms.PasswordInput(render_value=False))
    role = forms.ChoiceField(label=_("Role"), choices=[(r, ROLE_LABELS[r]) for r in ROLES], initial="viewer")
    email = forms.EmailField(label=_("E-mail"), required=False, max_length=254)


class AuditFilterForm(forms.Form):
    """Filters of the audit log page (the same ones GET /api/v1/audit takes)."""

    SOURCES = [("", _("any")), ("ui", "UI"), ("api", "API"), ("cli", "CLI"), ("system", _("system"))]

    q = forms.CharField(label=_("Search"), required=False, max_length=255)
    actor = forms.CharField(label=_("User"), required=False, max_length=150)
    action = forms.CharField(
        label=_("Action"), required=False, max_length=64, help_text=_("Exact, or a prefix such as route.*")
    )
    object_type = forms.ChoiceField(label=_("Object type"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False, choices=SOURCES)
    since = forms.DateTimeField(
        label=_("Since"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        label=_("Until"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, object_types: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["object_type"].choices = [("", _("any"))] + [(t, t) for t in object_types]

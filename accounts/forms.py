"""Forms of the project-level pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from core.roles import ROLE_LABELS, ROLES


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
    """A new account: name, first password and role (accounts.operations checks them)."""

    username = forms.CharField(label=_("User name"), max_length=150)
    password = forms.CharField(label=_("Password"), max_length=128, widget=forms.PasswordInput(render_value=False))
    role = forms.ChoiceField(label=_("Role"), choices=[(r, ROLE_LABELS[r]) for r in ROLES], initial="viewer")
    email = forms.EmailField(label=_("E-mail"), required=False, max_length=254)

"""Forms of the project-level pages."""

from django import forms
from django.utils.translation import gettext_lazy as _


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

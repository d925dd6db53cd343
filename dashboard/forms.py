"""Forms of the project-level pages."""

from django import forms


class TokenForm(forms.Form):
    """A new API token: a name and an optional lifetime."""

    name = forms.CharField(max_length=100)
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Leave empty for a token that never expires."
    )

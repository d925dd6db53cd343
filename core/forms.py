"""The audit log page's filters."""

from django import forms
from django.utils.translation import gettext_lazy as _


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

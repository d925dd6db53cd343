"""Forms of the routes page: a domain, and a route with its targets.

Fields only parse what was typed; the rules live in routes/validators.py and routes/schemas.py, which the
forms call, so the page, the API and config-as-code reject exactly the same input with the same words.
"""

from __future__ import annotations

from typing import Any

import pydantic
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from certificates.models import Certificate
from core.errors import Conflict, error_message, field_errors
from core.htmx import show_on_form
from routes import operations
from routes.models import Domain, Route
from routes.schemas import ACTION_FIELDS, HSTS_MAX, DomainSpec, RouteSpec
from routes.validators import (
    CONNECT_TIMEOUT,
    MAX_DOMAIN_LENGTH,
    MAX_HOST_LENGTH,
    MAX_NOTES_LENGTH,
    MAX_PATH_LENGTH,
    MAX_REDIRECT_URL_LENGTH,
    MAX_RESPOND_BODY_LENGTH,
    MAX_TARGETS,
    READ_TIMEOUT,
    RESPOND_STATUSES,
    WEIGHT,
    normalize_target_host,
    validate_path,
    validate_port,
)

TARGET_PREFIX = "targets"
NO_TARGETS = "no-targets"


class DomainNotesForm(forms.Form):
    """Change a domain's notes (its name is what nginx matches, so it does not change)."""

    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=MAX_NOTES_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    def __init__(self, *args, domain: Domain, **kwargs):
        kwargs.setdefault("auto_id", f"domain-{domain.pk}-notes-%s")
        super().__init__(*args, **kwargs)
        self.domain = domain


class CertificateChoice(forms.ModelChoiceField):
    """A certificate shown by its names, state and expiry."""

    def label_from_instance(self, obj: Certificate) -> str:
        until = obj.not_after.date().isoformat() if obj.not_after else _("not issued yet")
        return f"#{obj.pk} {', '.join(obj.domains)} ({obj.get_status_display()}, {until})"


class DomainHttpsForm(forms.Form):
    """A domain's HTTPS settings; the rules (a certificate is needed and must cover the name) are the operation's."""

    certificate = CertificateChoice(
        label=_("Certificate"), queryset=Certificate.objects.all(), required=False, empty_label=_("none (HTTP only)")
    )
    force_https = forms.BooleanField(label=_("Redirect HTTP to HTTPS"), required=False)
    hsts = forms.IntegerField(
        label=_("HSTS max-age (seconds, 0 = off)"),
        min_value=0,
        max_value=HSTS_MAX,
        initial=0,
        widget=forms.NumberInput(attrs={"size": 10}),
    )
    http2 = forms.BooleanField(label=_("HTTP/2"), required=False)

    def __init__(self, *args, domain: Domain, **kwargs):
        kwargs.setdefault("auto_id", f"domain-{domain.pk}-https-%s")
        kwargs.setdefault(
            "initial",
            {
                "certificate": domain.certificate_id,
                "force_https": domain.force_https,
                "hsts": domain.hsts,
                "http2": domain.http2,
            },
        )
        super().__init__(*args, **kwargs)
        self.domain = domain

    def settings(self) -> dict[str, Any]:
        """The cleaned values as the domain's settings (certificate as its id)."""
        data = self.cleaned_data
        certificate = data["certificate"]
        return {
            "certificate": certificate.pk if certificate else None,
            "force_https": data["force_https"],
            "hsts": data["hsts"],
            "http2": data["http2"],
        }


class DomainForm(forms.Form):
    """Add a domain: a host name (IDN and ``*.`` wildcards accepted) and notes."""

    dom_id = "domain-form"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.dom_id}-%s")
        super().__init__(*args, **kwargs)

    name = forms.CharField(
        label=_("Domain"),
        max_length=MAX_DOMAIN_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "gctask.com", "size": 28}),
    )
    notes = forms.CharField(label=_("Notes"), required=False, max_length=MAX_NOTES_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "name" not in data:
            return data
        try:
            spec = DomainSpec(name=data["name"], notes=data.get("notes", ""))
        except pydantic.ValidationError as exc:
            for error in exc.errors():
                field = error["loc"][0] if error["loc"] and error["loc"][0] in self.fields else None
                self.add_error(field, error_message(error))
            return data
        try:
            operations.ensure_domain_free(spec.name)  # said while typing; the operation decides on save
        except Conflict as exc:
            show_on_form(self, exc)
        data["spec"] = spec
        return data


class TargetForm(forms.Form):
    """One upstream server of a route."""

    host = forms.CharField(
        label=_("Host"),
        max_length=MAX_HOST_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "mytaskapi", "size": 18}),
    )
    port = forms.IntegerField(
        label=_("Port"), validators=[validate_port], widget=forms.NumberInput(attrs={"placeholder": "80"})
    )
    weight = forms.IntegerField(label=_("Weight"), initial=WEIGHT.default)
    backup = forms.BooleanField(label=_("Backup"), required=False)

    def clean_host(self) -> str:
        return normalize_target_host(self.cleaned_data["host"])


class BaseTargetFormSet(forms.BaseFormSet):
    """Targets of a route; blank rows are ignored, the route's own rules say how many are needed."""

    def filled_forms(self) -> list[TargetForm]:
        return [f for f in self.forms if f.has_changed()]


TargetFormSet = forms.formset_factory(
    TargetForm, formset=BaseTargetFormSet, extra=0, max_num=MAX_TARGETS, absolute_max=MAX_TARGETS
)


class RouteForm(forms.Form):
    """A route of ``domain``: path, options and a formset of targets (``self.targets``)."""

    path = forms.CharField(
        label=_("Path"),
        max_length=MAX_PATH_LENGTH,
        initial="/",
        widget=forms.TextInput(attrs={"placeholder": "/task/", "size": 14}),
    )
    # Not named "action": the form's own buttons send name="action" (add or remove a target row).
    route_action = forms.ChoiceField(
        label=_("Action"),
        choices=[("proxy", _("Proxy to targets")), ("redirect", _("Redirect")), ("respond", _("Fixed answer"))],
        initial="proxy",
        required=False,  # absent: proxy, as before routes had an action
    )
    scheme = forms.ChoiceField(label=_("Scheme"), choices=Route.Scheme.choices, initial="http")
    strip_prefix = forms.BooleanField(label=_("Strip prefix"), required=False)
    balance = forms.ChoiceField(label=_("Balance"), choices=Route.Balance.choices, initial="round_robin")
    websocket = forms.BooleanField(label=_("WebSocket"), required=False)
    connect_timeout = forms.IntegerField(label=_("Connect timeout (s)"), initial=CONNECT_TIMEOUT.default)
    read_timeout = forms.IntegerField(label=_("Read timeout (s)"), initial=READ_TIMEOUT.default)
    redirect_url = forms.CharField(
        label=_("Redirect to"),
        required=False,
        max_length=MAX_REDIRECT_URL_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "https://new.example.com/", "size": 30}),
    )
    redirect_code = forms.TypedChoiceField(
        label=_("Redirect code"),
        coerce=int,
        initial=301,
        required=False,
        empty_value=301,
        choices=[
            (301, _("301 moved permanently")),
            (302, _("302 found (temporary)")),
            (307, _("307 temporary, same method")),
            (308, _("308 permanent, same method")),
        ],
    )
    preserve_path = forms.BooleanField(label=_("Append what follows the prefix, with the query"), required=False)
    respond_status = forms.TypedChoiceField(
        label=_("Status"),
        coerce=int,
        initial=404,
        required=False,
        empty_value=404,
        choices=[(c, str(c)) for c in RESPOND_STATUSES],
    )
    respond_body = forms.CharField(
        label=_("Body (plain text, optional)"),
        required=False,
        max_length=MAX_RESPOND_BODY_LENGTH,
        widget=forms.TextInput(attrs={"size": 30}),
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    # Which fields the page shows for which action (the others are hidden and ignored on save).
    COMMON = ("path", "route_action", "enabled")
    BY_ACTION = {
        "proxy": ("scheme", "strip_prefix", "balance", "websocket", "connect_timeout", "read_timeout"),
        "redirect": tuple(ACTION_FIELDS["redirect"]),
        "respond": tuple(ACTION_FIELDS["respond"]),
    }

    def __init__(self, *args, domain: Domain, route: Route | None = None, **kwargs):
        self.domain = domain
        self.route = route
        if route is not None and "initial" not in kwargs and not args and kwargs.get("data") is None:
            spec = route.spec()
            kwargs["initial"] = {
                **spec.model_dump(exclude={"targets", "action"}),
                "route_action": spec.action,
                "version": route.version,
            }
            target_initial = [t.model_dump() for t in spec.targets]
        else:
            target_initial = [{"weight": WEIGHT.default}] if route is None else []
        kwargs.setdefault("auto_id", f"{self.dom_id}-%s")
        super().__init__(*args, **kwargs)
        data = self.data if self.is_bound else None
        self.targets = TargetFormSet(
            data, prefix=TARGET_PREFIX, initial=None if data else target_initial, auto_id=self.auto_id
        )
        for form in self.targets.forms:
            form.fields["host"].widget.attrs["list"] = f"{self.dom_id}-hosts"
        self.spec: RouteSpec | None = None
        self.quiet = False  # True: the form was only rearranged (rows added/removed), show no errors yet

    @property
    def chosen_action(self) -> str:
        """The action the form shows fields for: as typed when bound, else the route's (proxy for a new one)."""
        value = self["route_action"].value()
        return value if value in self.BY_ACTION else "proxy"

    def field_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """("", the fields every route has), then (action, its fields) for each action."""
        groups = [("", [self[name] for name in self.COMMON])]
        return groups + [(action, [self[name] for name in names]) for action, names in self.BY_ACTION.items()]

    @property
    def dom_id(self) -> str:
        """The form's element id: ``route-<id>`` replaces the route's row, ``new-route-<domain id>`` is new."""
        return f"route-{self.route.pk}" if self.route is not None else f"new-route-{self.domain.pk}"

    @property
    def action_url(self) -> str:
        if self.route is not None:
            return reverse("routes:route-edit", args=[self.route.pk])
        return reverse("routes:route-create", args=[self.domain.pk])

    @property
    def validate_url(self) -> str:
        if self.route is not None:
            return reverse("routes:route-validate", args=[self.route.pk])
        return reverse("routes:route-create-validate", args=[self.domain.pk])

    @property
    def cancel_url(self) -> str:
        """Where Cancel gets the content that replaces the form (the route's row, or the domain's section)."""
        if self.route is not None:
            return reverse("routes:route", args=[self.route.pk])
        return reverse("routes:domain", args=[self.domain.pk])

    @property
    def cancel_target(self) -> str:
        return f"#{self.dom_id}" if self.route is not None else f"#domain-{self.domain.pk}"

    def clean_path(self) -> str:
        path = self.cleaned_data["path"].strip()
        validate_path(path)
        return path

    def is_valid(self) -> bool:
        valid = super().is_valid()
        # A redirect or respond route ignores the target rows, even half-typed ones.
        targets_ok = self.chosen_action != "proxy" or self.targets.is_valid()
        return targets_ok and valid and self.spec is not None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("route_action") or "proxy"
        proxy = action == "proxy"
        if (proxy and not self.targets.is_valid()) or self.errors:
            return data
        targets = (
            [{k: f.cleaned_data[k] for k in ("host", "port", "weight", "backup")} for f in self.targets.filled_forms()]
            if proxy
            else []
        )
        if proxy and not targets:
            self.add_error(None, ValidationError(_("Add at least one target: a host and a port."), code=NO_TARGETS))
            return data
        fields = {k: v for k, v in data.items() if k in RouteSpec.model_fields}
        # The hidden fields of the other actions are sent too; only the chosen action's count.
        for other, defaults in ACTION_FIELDS.items():
            if other != action:
                fields.update(defaults)
        try:
            self.spec = RouteSpec(**fields, action=action, targets=targets)
        except pydantic.ValidationError as exc:
            self._add_spec_errors(exc)
            return data
        try:
            operations.ensure_path_free(self.domain, self.spec.path, self.route)  # the operation checks it again
        except Conflict as exc:
            show_on_form(self, exc)
            self.spec = None
        return data

    def _add_spec_errors(self, exc: pydantic.ValidationError) -> None:
        filled = self.targets.filled_forms()
        # field_errors also finds the field a whole-route rule names first ("redirect_url: ...").
        for error in field_errors(exc.errors()):
            loc = [int(part) if part.isdigit() else part for part in error["field"].split(".")]
            message = error["message"]
            if loc[0] == "targets":
                if (
                    len(loc) >= 3
                    and isinstance(loc[1], int)
                    and loc[1] < len(filled)
                    and loc[2] in TargetForm.base_fields
                ):
                    filled[loc[1]].add_error(str(loc[2]), message)
                else:
                    self.add_error(None, _("Targets: %(message)s") % {"message": message})
            elif loc[0] == "action":
                self.add_error("route_action", message)
            elif loc[0] in self.fields:
                self.add_error(str(loc[0]), message)
            else:
                self.add_error(None, message)

    @property
    def target_errors(self) -> list[str]:
        """Errors about the target list as a whole (none given, duplicates, backups)."""
        return list(self.targets.non_form_errors()) if self.targets.is_bound else []

    def field_errors(self, typing: bool = False) -> dict[str, list[str]]:
        """Every field's errors by input name (``path``, ``targets-0-port``); empty lists for valid fields.

        ``typing``: leave out "add at least one target", which is said on save, not while typing the path.
        """
        # Hidden inputs (the version) have no error slot on the page: htmx would log a missing swap target.
        shown = [name for name, field in self.fields.items() if not field.widget.is_hidden]
        errors = {self.add_prefix(name): list(self.errors.get(name, [])) for name in shown}
        general = [e for e in self.non_field_errors().as_data() if not (typing and e.code == NO_TARGETS)]
        errors["__all__"] = [m for e in general for m in e.messages] + self.target_errors
        for form in self.targets.forms:
            for name in form.fields:
                errors[form.add_prefix(name)] = list(form.errors.get(name, []))
        return errors


def target_rows(data) -> list[dict[str, str]]:
    """The target rows as typed (strings), from a bound form's data; used to add or remove rows."""
    try:
        total = min(int(data.get(f"{TARGET_PREFIX}-TOTAL_FORMS", 0)), MAX_TARGETS)
    except (TypeError, ValueError):
        total = 0
    rows = []
    for i in range(total):
        prefix = f"{TARGET_PREFIX}-{i}-"
        rows.append({name: data.get(prefix + name, "") for name in ("host", "port", "weight", "backup")})
    return rows


def with_target_rows(data, rows: list[dict[str, str]]):
    """A copy of ``data`` whose targets are ``rows`` (renumbered from 0)."""
    new = data.copy()
    for key in list(new.keys()):
        if key.startswith(f"{TARGET_PREFIX}-"):
            del new[key]
    for i, row in enumerate(rows[:MAX_TARGETS]):
        for name, value in row.items():
            if name == "backup" and not value:
                continue
            new[f"{TARGET_PREFIX}-{i}-{name}"] = value
    new[f"{TARGET_PREFIX}-TOTAL_FORMS"] = str(min(len(rows), MAX_TARGETS))
    new[f"{TARGET_PREFIX}-INITIAL_FORMS"] = "0"
    return new


def parse_pick(value: str) -> dict[str, str] | None:
    """A picker value ``host:port`` / ``[v6]:port`` / ``host:`` as a target row, or None."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        normalize_target_host(host)
    except ValidationError:
        return None
    if port and not port.isdigit():
        return None
    return {"host": host, "port": port, "weight": str(WEIGHT.default), "backup": ""}

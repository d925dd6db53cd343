"""The routes page: create, edit, toggle and delete through the views, field errors, roles and the audit trail."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from django.urls import reverse

from core.models import AuditEntry
from publishing.models import Revision
from routes.models import Domain, Route, Target
from routes.schemas import RouteSpec
from routes.state import export_state, save_route

pytestmark = pytest.mark.postgres

HX = {"HX-Request": "true"}


def route_data(path="/task/", targets=(("mytaskapi", "80"),), **extra) -> dict[str, str]:
    """What the route form posts."""
    data = {
        "path": path,
        "scheme": "http",
        "balance": "round_robin",
        "connect_timeout": "5",
        "read_timeout": "60",
        "enabled": "on",
        "targets-TOTAL_FORMS": str(len(targets)),
        "targets-INITIAL_FORMS": "0",
    }
    for i, (host, port) in enumerate(targets):
        data[f"targets-{i}-host"] = host
        data[f"targets-{i}-port"] = port
        data[f"targets-{i}-weight"] = "1"
    data.update(extra)
    return data


@pytest.fixture
def operator(client, operator_user):
    client.force_login(operator_user)
    return client


@pytest.fixture
def domain(db):
    return Domain.objects.create(name="gctask.test")


@pytest.fixture
def route(domain):
    spec = RouteSpec(path="/task/", targets=[{"host": "mytaskapi", "port": 80}], strip_prefix=True)
    return save_route(domain, spec)[0]


def errors_of(html: str) -> dict[str, str]:
    """Field error slots in a response: slot id -> its text."""
    slots = re.findall(r'<div id="([^"]+-err-[^"]+)"[^>]*>(.*?)</div>', html, re.S)
    return {slot: htmllib.unescape(re.sub(r"<[^>]+>", " ", text)).strip() for slot, text in slots}


def input_value(html: str, name: str) -> str | None:
    """The value attribute of the input called ``name``, or None when there is no such input."""
    tag = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', html)
    if tag is None:
        return None
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return htmllib.unescape(value.group(1)) if value else ""


# --- the page ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_groups_routes_by_domain_and_explains_prefix_stripping(operator, domain, route):
    save_route(domain, RouteSpec(path="/user/", targets=[{"host": "myuserapi", "port": 8080}]))
    html = operator.get(reverse("routes:index")).content.decode()
    assert f'id="domain-{domain.pk}"' in html
    assert f'id="route-{route.pk}"' in html
    text = re.sub(r"<[^>]+>", "", html)
    assert "gctask.test/task/x → mytaskapi:80/x" in text
    assert "gctask.test/user/x → myuserapi:8080/user/x" in text
    assert "no / route" in text


@pytest.mark.django_db
def test_an_idn_domain_is_shown_decoded_and_as_punycode(operator):
    Domain.objects.create(name="xn--bcher-kva.example")
    html = operator.get(reverse("routes:index")).content.decode()
    assert "bücher.example" in html
    assert "xn--bcher-kva.example" in html


@pytest.mark.django_db
def test_a_viewer_sees_everything_but_no_edit_controls(client, viewer_user, route):
    client.force_login(viewer_user)
    html = client.get(reverse("routes:index")).content.decode()
    assert "gctask.test/task/x" in re.sub(r"<[^>]+>", "", html)
    for control in ("route-edit", "route-toggle", "route-delete", "add-route", "domain-form", "domain-toggle"):
        assert control not in html


@pytest.mark.django_db
def test_a_viewer_cannot_change_anything(client, viewer_user, domain, route):
    client.force_login(viewer_user)
    before = export_state()
    posts = [
        reverse("routes:domain-create"),
        reverse("routes:domain-toggle", args=[domain.pk]),
        reverse("routes:domain-delete", args=[domain.pk]),
        reverse("routes:route-create", args=[domain.pk]),
        reverse("routes:route-edit", args=[route.pk]),
        reverse("routes:route-toggle", args=[route.pk]),
        reverse("routes:route-delete", args=[route.pk]),
        reverse("routes:route-validate", args=[route.pk]),
        reverse("routes:domain-validate"),
    ]
    for url in posts:
        assert client.post(url, route_data(name="evil.test")).status_code == 403, url
        assert client.post(url, route_data(name="evil.test"), headers=HX).status_code == 403, url
    assert client.get(reverse("routes:route-edit", args=[route.pk])).status_code == 403
    assert client.get(reverse("routes:route-create", args=[domain.pk])).status_code == 403
    assert export_state() == before
    assert not AuditEntry.objects.exists()


# --- domains -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_adding_a_domain_without_javascript_redirects_and_audits(operator):
    response = operator.post(reverse("routes:domain-create"), {"name": "Bücher.Example", "notes": "lab"})
    domain = Domain.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("routes:index") + f"#domain-{domain.pk}"
    assert domain.name == "xn--bcher-kva.example"
    entry = AuditEntry.objects.get(action="domain.create")
    assert entry.source == "ui" and entry.actor_name == "oscar"
    assert entry.after == domain.snapshot()
    assert (entry.after["name"], entry.after["enabled"], entry.after["notes"]) == ("xn--bcher-kva.example", True, "lab")


@pytest.mark.django_db
def test_domain_notes_are_edited_in_place_audited_and_versioned(operator, domain, client, viewer_user):
    url = reverse("routes:domain-notes", args=[domain.pk])
    form = operator.get(url, headers=HX).content.decode()
    assert 'data-testid="domain-notes-form"' in form and f'id="domain-{domain.pk}"' in form

    too_long = operator.post(url, {"notes": "x" * 2001}, headers=HX)
    assert too_long.status_code == 422 and "at most 2000 characters" in too_long.content.decode()
    assert Domain.objects.get().notes == ""

    saved = operator.post(url, {"notes": "  lab 3: front, task and user  "}, headers=HX)
    html = saved.content.decode()
    assert saved.status_code == 200 and "lab 3: front, task and user" in html
    assert 'data-testid="domain-notes-form"' not in html
    fresh = Domain.objects.get()
    assert (fresh.notes, fresh.version) == ("lab 3: front, task and user", domain.version + 1)
    entry = AuditEntry.objects.get(action="domain.update")
    assert entry.source == "ui" and entry.after == fresh.snapshot()
    assert entry.before == {**fresh.snapshot(), "notes": ""}

    assert operator.post(url, {"notes": "lab 3: front, task and user"}, headers=HX).status_code == 200
    assert AuditEntry.objects.filter(action="domain.update").count() == 1  # unchanged notes: nothing recorded

    # Without JavaScript: the page with the form, then a redirect back to the domain.
    assert 'data-testid="domain-notes-form"' in operator.get(url).content.decode()
    back = operator.post(url, {"notes": ""})
    assert back.status_code == 302 and back["Location"].endswith(f"#domain-{domain.pk}")

    client.force_login(viewer_user)
    assert client.post(url, {"notes": "viewer"}, headers=HX).status_code == 403
    assert 'data-testid="domain-notes-edit"' not in client.get(reverse("routes:index")).content.decode()
    assert Domain.objects.get().notes == ""


@pytest.mark.django_db
def test_adding_a_domain_with_htmx_returns_the_list_with_the_new_domain(operator):
    response = operator.post(reverse("routes:domain-create"), {"name": "gctask.test"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#domain-list"
    assert 'id="domain-list"' in html and "gctask.test" in html
    assert 'id="changes-banner" hx-swap-oob="true"' in html
    assert "1 unapplied change" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x y", "not a valid label"),
        ("gctask.com; return 200", "not a valid label"),
        ("-bad.test", "not a valid label"),
        ("a.*.test", "wildcard"),
        ("", "required"),
    ],
)
def test_a_bad_domain_name_gives_a_field_error_and_saves_nothing(operator, name, reason):
    response = operator.post(reverse("routes:domain-create"), {"name": name}, headers=HX)
    assert response.status_code == 200
    errors = errors_of(response.content.decode())
    assert reason in errors["domain-form-err-name"].lower()
    assert not Domain.objects.exists()
    assert not AuditEntry.objects.exists()
    plain = operator.post(reverse("routes:domain-create"), {"name": name})
    assert plain.status_code == 422
    assert not Domain.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_domain_is_refused(operator, domain):
    response = operator.post(reverse("routes:domain-create"), {"name": "GCTASK.test"}, headers=HX)
    assert "already exists" in errors_of(response.content.decode())["domain-form-err-name"]
    assert Domain.objects.count() == 1


@pytest.mark.django_db
def test_toggling_a_domain_updates_its_section_and_audits(operator, domain, route):
    url = reverse("routes:domain-toggle", args=[domain.pk])
    html = operator.post(url, headers=HX).content.decode()
    domain.refresh_from_db()
    assert not domain.enabled and domain.version == 2
    assert f'id="domain-{domain.pk}"' in html and "Enable domain" in html
    entry = AuditEntry.objects.get(action="domain.disable")
    assert entry.after == domain.snapshot() and entry.before == {**domain.snapshot(), "enabled": True}
    assert operator.post(url).status_code == 302
    domain.refresh_from_db()
    assert domain.enabled
    assert AuditEntry.objects.filter(action="domain.enable").count() == 1


@pytest.mark.django_db
def test_deleting_a_domain_asks_first_without_javascript_then_deletes_its_routes(operator, domain, route):
    url = reverse("routes:domain-delete", args=[domain.pk])
    page = operator.get(url)
    assert page.status_code == 200 and "Delete gctask.test?" in page.content.decode()
    assert Domain.objects.exists()
    assert operator.post(url).status_code == 302
    assert not Domain.objects.exists() and not Route.objects.exists()
    entry = AuditEntry.objects.get(action="domain.delete")
    assert entry.before["routes"][0]["path"] == "/task/"


# --- routes ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_creating_a_route_with_htmx_returns_the_domain_section_and_audits(operator, domain):
    url = reverse("routes:route-create", args=[domain.pk])
    form = operator.get(url, headers=HX).content.decode()
    assert f'id="new-route-{domain.pk}"' in form
    data = route_data(
        "/task/", targets=[("mytaskapi", "80"), ("mytaskapi2", "80")], strip_prefix="on", balance="ip_hash"
    )
    response = operator.post(url, data, headers=HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == f"#domain-{domain.pk}"
    route = Route.objects.get()
    assert route.strip_prefix and route.balance == "ip_hash"
    assert [str(t) for t in route.targets.all()] == ["mytaskapi:80", "mytaskapi2:80"]
    assert f'id="route-{route.pk}"' in response.content.decode()
    entry = AuditEntry.objects.get(action="route.create")
    assert entry.before is None
    assert entry.after["domain"] == "gctask.test" and entry.after["path"] == "/task/"
    assert len(entry.after["targets"]) == 2


@pytest.mark.django_db
def test_creating_a_route_without_javascript_redirects(operator, domain):
    response = operator.post(reverse("routes:route-create", args=[domain.pk]), route_data("/"))
    route = Route.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"#route-{route.pk}")


BAD_INPUTS = [
    ({"path": "/a;b"}, "err-path", "';' is not allowed"),
    ({"path": "x y"}, "err-path", "starts with"),
    ({"path": "/x y"}, "err-path", "u+0020"),
    ({"path": "/x { return 200; }"}, "err-path", "not allowed"),
    ({"path": "/$host"}, "err-path", "not allowed"),
    ({"path": "/a/../b"}, "err-path", "segments"),
    ({"targets-0-port": "70000"}, "err-targets-0-port", "1 to 65535"),
    ({"targets-0-port": "0"}, "err-targets-0-port", "1 to 65535"),
    ({"targets-0-host": "evil;proxy_pass http://x"}, "err-targets-0-host", "neither an ip address"),
    ({"targets-0-host": "x y"}, "err-targets-0-host", "neither an ip address"),
    ({"targets-0-host": "a}b"}, "err-targets-0-host", "neither an ip address"),
    ({"targets-0-weight": "0"}, "err-targets-0-weight", "greater than or equal to 1"),
    ({"connect_timeout": "0"}, "err-connect_timeout", "greater than or equal to 1"),
    ({"read_timeout": "100000"}, "err-read_timeout", "less than or equal to 86400"),
    ({"scheme": "gopher"}, "err-scheme", "select a valid choice"),
    ({"balance": "random; evil"}, "err-balance", "select a valid choice"),
    ({"route_action": "redirect", "redirect_url": "https://x.test/$1"}, "err-redirect_url", "'$' is not allowed"),
    (
        {"route_action": "redirect", "redirect_url": 'https://x.test/"; return 200 "x'},
        "err-redirect_url",
        "not allowed",
    ),
    ({"route_action": "redirect", "redirect_url": "ftp://x.test/"}, "err-redirect_url", "absolute http"),
    (
        {"route_action": "redirect", "redirect_url": "https://x.test/", "redirect_code": "303"},
        "err-redirect_code",
        "select a valid choice",
    ),
    ({"route_action": "respond", "respond_body": 'say "hi"; }'}, "err-respond_body", "not allowed in a response body"),
    (
        {"route_action": "respond", "respond_status": "204", "respond_body": "x"},
        "err-respond_body",
        "204 answer has no body",
    ),
    ({"route_action": "respond", "respond_status": "418"}, "err-respond_status", "select a valid choice"),
    ({"route_action": "forward"}, "err-route_action", "select a valid choice"),
]


# Refused on save only: while typing, an empty field is not reported yet.
ON_SAVE = [({"route_action": "redirect", "redirect_url": ""}, "err-redirect_url", "needs the address")]


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "slot", "reason"), BAD_INPUTS + ON_SAVE)
def test_bad_input_gives_a_field_error_and_nothing_is_saved(operator, domain, route, change, slot, reason):
    before = export_state()
    for url, key in (
        (reverse("routes:route-create", args=[domain.pk]), f"new-route-{domain.pk}"),
        (reverse("routes:route-edit", args=[route.pk]), f"route-{route.pk}"),
    ):
        data = {**route_data("/new/"), **change}
        response = operator.post(url, data, headers=HX)
        assert response.status_code == 200
        errors = errors_of(response.content.decode())
        assert reason in errors[f"{key}-{slot}"].lower(), errors
        plain = operator.post(url, data)
        assert plain.status_code == 422
        assert reason in errors_of(plain.content.decode())[f"{key}-{slot}"].lower()
    assert export_state() == before
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "slot", "reason"), BAD_INPUTS)
def test_the_validation_endpoint_names_the_field_while_typing(operator, domain, change, slot, reason):
    url = reverse("routes:route-create-validate", args=[domain.pk])
    response = operator.post(url, {**route_data("/new/"), **change}, headers=HX)
    html = response.content.decode()
    errors = errors_of(html)
    key = f"new-route-{domain.pk}"
    assert reason in errors[f"{key}-{slot}"].lower()
    # every other slot is sent too (empty), so an error that was fixed disappears
    assert errors[f"{key}-err-targets-0-host" if "host" not in slot else f"{key}-err-path"] == ""
    assert html.count('hx-swap-oob="true"') == len(errors)
    assert not Route.objects.exists()


@pytest.mark.django_db
def test_the_validation_endpoint_stays_quiet_about_fields_not_typed_yet(operator, domain):
    url = reverse("routes:route-create-validate", args=[domain.pk])
    response = operator.post(url, route_data("/task/", targets=[("", "")]), headers=HX)
    assert all(text == "" for text in errors_of(response.content.decode()).values())
    # the blank row the new-route form starts with must be filled (or removed) on save
    blank_row = {**route_data("/task/", targets=[("", "")]), "targets-INITIAL_FORMS": "1"}
    saved = operator.post(reverse("routes:route-create", args=[domain.pk]), blank_row)
    assert "required" in errors_of(saved.content.decode())[f"new-route-{domain.pk}-err-targets-0-host"]


@pytest.mark.django_db
def test_the_validation_endpoint_of_an_existing_route_reports_a_path_clash(operator, domain, route):
    other = save_route(domain, RouteSpec(path="/user/", targets=[{"host": "u", "port": 1}]))[0]
    url = reverse("routes:route-validate", args=[other.pk])
    errors = errors_of(operator.post(url, route_data("/task/"), headers=HX).content.decode())
    assert "already has a route for /task/" in errors[f"route-{other.pk}-err-path"]


@pytest.mark.django_db
def test_the_domain_validation_endpoint_reports_bad_names(operator):
    response = operator.post(reverse("routes:domain-validate"), {"name": "a b"}, headers=HX)
    assert "not a valid label" in errors_of(response.content.decode())["domain-form-err-name"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("targets", "extra", "reason"),
    [
        ([("a", "80"), ("a", "80")], {}, "listed twice"),
        ([("a", "80")], {"targets-0-backup": "on"}, "must not be a backup"),
        ([("a", "80"), ("b", "80")], {"targets-1-backup": "on", "balance": "ip_hash"}, "ip_hash"),
        ([("", "")], {"targets-INITIAL_FORMS": "0"}, "at least one target"),
    ],
)
def test_rules_about_the_target_list_are_shown_on_the_form(operator, domain, targets, extra, reason):
    url = reverse("routes:route-create", args=[domain.pk])
    response = operator.post(url, route_data("/x/", targets=targets, **extra), headers=HX)
    assert reason in errors_of(response.content.decode())[f"new-route-{domain.pk}-err-__all__"]
    assert not Route.objects.exists()


@pytest.mark.django_db
def test_a_path_can_exist_only_once_per_domain(operator, domain, route):
    response = operator.post(reverse("routes:route-create", args=[domain.pk]), route_data("/task/"), headers=HX)
    assert "already has a route" in errors_of(response.content.decode())[f"new-route-{domain.pk}-err-path"]
    assert Route.objects.count() == 1


@pytest.mark.django_db
def test_editing_in_place_returns_the_row_and_audits_before_and_after(operator, route):
    url = reverse("routes:route-edit", args=[route.pk])
    form = operator.get(url, headers=HX).content.decode()
    assert f'<form id="route-{route.pk}"' in form
    assert input_value(form, "targets-0-host") == "mytaskapi"
    assert input_value(form, "version") == "1"
    data = route_data("/task/", targets=[("mytaskapi", "8080")], version=str(route.version), websocket="on")
    response = operator.post(url, data, headers=HX)
    html = response.content.decode()
    assert html.lstrip().startswith(f'<div class="route-row" id="route-{route.pk}"')
    assert "mytaskapi:8080" in html
    route.refresh_from_db()
    assert route.version == 2 and route.websocket and not route.strip_prefix
    entry = AuditEntry.objects.get(action="route.update")
    assert entry.before["targets"] == [{"host": "mytaskapi", "port": 80, "weight": 1, "backup": False}]
    assert entry.after["targets"] == [{"host": "mytaskapi", "port": 8080, "weight": 1, "backup": False}]
    assert entry.before["strip_prefix"] is True and entry.after["strip_prefix"] is False


@pytest.mark.django_db
def test_saving_an_unchanged_route_writes_no_audit_entry(operator, route):
    data = route_data("/task/", version="1", strip_prefix="on")
    response = operator.post(reverse("routes:route-edit", args=[route.pk]), data)
    assert response.status_code == 302
    route.refresh_from_db()
    assert route.version == 1
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_an_edit_based_on_a_stale_version_is_refused(operator, route):
    data = route_data("/task/", targets=[("other", "81")], version="1")
    route.targets.update(port=81)
    Route.objects.filter(pk=route.pk).update(version=2)
    response = operator.post(reverse("routes:route-edit", args=[route.pk]), data, headers=HX)
    assert response.status_code == 200  # htmx swaps the form with the refusal on it
    assert (
        "gctask.test/task/ was changed by someone else"
        in errors_of(response.content.decode())[f"route-{route.pk}-err-__all__"]
    )
    assert list(Target.objects.values_list("host", flat=True)) == ["mytaskapi"]


@pytest.mark.django_db
def test_target_rows_are_added_and_removed_without_saving(operator, route):
    url = reverse("routes:route-edit", args=[route.pk])
    data = route_data("/task/", targets=[("a", "1"), ("b", "2")], version="1")
    added = operator.post(url, {**data, "action": "add-target"}, headers=HX).content.decode()
    assert added.count('data-testid="target-row"') == 3
    assert 'name="targets-TOTAL_FORMS" value="3"' in added
    removed = operator.post(url, {**data, "action": "remove-target-0"}, headers=HX).content.decode()
    assert removed.count('data-testid="target-row"') == 1
    assert input_value(removed, "targets-0-host") == "b" and input_value(removed, "targets-1-host") is None
    # nothing is saved by rearranging rows, and no errors are shown for the blank new row
    assert all(text == "" for text in errors_of(added).values())
    assert [str(t) for t in Route.objects.get().targets.all()] == ["mytaskapi:80"]
    # without JavaScript the same buttons re-render the whole page with the form open
    page = operator.post(url, {**data, "action": "add-target"})
    assert page.status_code == 200 and "<html" in page.content.decode()
    assert page.content.decode().count('data-testid="target-row"') == 3


@pytest.mark.django_db
def test_a_picked_container_fills_the_blank_target_row(operator, domain):
    url = reverse("routes:route-create", args=[domain.pk])
    data = route_data("/task/", targets=[("", "")])
    html = operator.post(url, {**data, "action": "pick", "pick": "mytaskapi:8080"}, headers=HX).content.decode()
    assert input_value(html, "targets-0-host") == "mytaskapi"
    assert input_value(html, "targets-0-port") == "8080"
    assert input_value(html, "targets-1-host") is None
    # with a filled row, a pick adds a row instead
    data = {**route_data("/task/", targets=[("front", "80")]), "action": "pick", "pick": "[::1]:9000"}
    html = operator.post(url, data, headers=HX).content.decode()
    assert [input_value(html, f"targets-{i}-host") for i in range(2)] == ["front", "::1"]
    assert input_value(html, "targets-1-port") == "9000"
    assert not Route.objects.exists()


@pytest.mark.django_db
def test_toggling_a_route_returns_its_row_and_audits(operator, route):
    url = reverse("routes:route-toggle", args=[route.pk])
    html = operator.post(url, headers=HX).content.decode()
    route.refresh_from_db()
    assert not route.enabled and route.version == 2
    assert f'id="route-{route.pk}"' in html
    assert re.search(r'data-testid="route-toggle"[^>]*>\s*Enable</button>', html)
    assert re.search(r'data-testid="route-state">disabled<', html)
    assert "This route is disabled" in html
    entry = AuditEntry.objects.get(action="route.disable")
    assert entry.before["enabled"] is True and entry.after["enabled"] is False
    assert operator.post(url).status_code == 302
    route.refresh_from_db()
    assert route.enabled


@pytest.mark.django_db
def test_deleting_a_route_with_htmx_removes_the_row_and_audits(operator, route):
    response = operator.post(reverse("routes:route-delete", args=[route.pk]), headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    # The domain's section comes back in place of the old one: without the row, saying it has no routes.
    assert response["HX-Retarget"] == f"#domain-{route.domain_id}" and response["HX-Reswap"] == "outerHTML"
    assert f'id="domain-{route.domain_id}"' in html and f'id="route-{route.pk}"' not in html
    assert "No routes yet." in html
    assert 'id="changes-banner" hx-swap-oob="true"' in html
    assert not Route.objects.exists()
    entry = AuditEntry.objects.get(action="route.delete")
    assert entry.before["path"] == "/task/" and entry.after is None


@pytest.mark.django_db
def test_deleting_a_route_without_javascript_asks_first(operator, route):
    url = reverse("routes:route-delete", args=[route.pk])
    assert "Delete the route gctask.test/task/?" in operator.get(url).content.decode()
    assert Route.objects.exists()
    assert operator.post(url).status_code == 302
    assert not Route.objects.exists()


@pytest.mark.django_db
def test_cancel_returns_the_row_or_the_domain_section(operator, domain, route):
    row = operator.get(reverse("routes:route", args=[route.pk]), headers=HX).content.decode()
    assert f'id="route-{route.pk}"' in row and "<form id=" not in row.split('class="inline"')[0]
    section = operator.get(reverse("routes:domain", args=[domain.pk]), headers=HX).content.decode()
    assert f'id="domain-{domain.pk}"' in section and 'data-testid="add-route"' in section
    assert operator.get(reverse("routes:route", args=[route.pk])).status_code == 302


# --- unapplied changes banner ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_banner_counts_changes_since_the_last_applied_revision(operator, domain, route):
    html = operator.get(reverse("routes:index")).content.decode()
    assert "2 unapplied changes" in html  # the domain and its route, never applied
    # an apply through the other publisher does not make this one current
    Revision.objects.create(number=9, status=Revision.Status.APPLIED, snapshot=export_state(), publisher="npm")
    assert "2 unapplied changes" in operator.get(reverse("routes:index")).content.decode()
    Revision.objects.filter(number=9).delete()
    Revision.objects.create(number=1, status=Revision.Status.APPLIED, snapshot=export_state(), publisher="nginx")
    assert 'data-testid="changes-banner"' not in operator.get(reverse("routes:index")).content.decode()
    Revision.objects.create(number=2, status=Revision.Status.FAILED, snapshot={})  # failed applies do not count
    operator.post(reverse("routes:route-toggle", args=[route.pk]))
    html = operator.get(reverse("routes:index")).content.decode()
    assert "1 unapplied change" in html and "Route gctask.test/task/ changed" in html


@pytest.mark.django_db
def test_the_page_speaks_korean(operator, route):
    operator.cookies["django_language"] = "ko"
    html = operator.get(reverse("routes:index")).content.decode()
    assert "라우트 추가" in html and "접두사 제거가 켜져 있습니다" in html
    assert "Add route" not in html


@pytest.mark.django_db
def test_a_redirect_route_is_created_from_the_form_and_its_row_says_where_requests_go(operator):
    shop = Domain.objects.create(name="shop.example.com")
    url = reverse("routes:route-create", args=[shop.pk])
    form = operator.get(url, headers=HX).content.decode()
    assert 'data-testid="fields-redirect" hidden' in form and 'data-testid="fields-proxy"' in form
    # The target row typed before choosing "redirect" is ignored, not refused.
    data = route_data(
        "/old/",
        targets=[("half-typed", "")],
        route_action="redirect",
        redirect_url="https://new.example.com",
        redirect_code="301",
        preserve_path="on",
    )
    response = operator.post(url, data, headers=HX)
    assert response.status_code == 200, errors_of(response.content.decode())
    route = Route.objects.get()
    assert (route.action, route.redirect_url, route.redirect_code, route.preserve_path) == (
        "redirect",
        "https://new.example.com",
        301,
        True,
    )
    assert not route.targets.exists()
    explain = re.sub(r"<[^>]+>|\s+", " ", response.content.decode())
    assert "shop.example.com/old/x → 301 https://new.example.com/x" in re.sub(r" +", " ", explain)

    edit = operator.get(reverse("routes:route-edit", args=[route.pk]), headers=HX).content.decode()
    assert 'data-testid="fields-proxy" hidden' in edit and 'data-testid="fields-redirect" hidden' not in edit


@pytest.mark.django_db
def test_a_respond_route_row_shows_its_status_and_body(operator):
    shop = Domain.objects.create(name="shop.example.com")
    data = route_data("/gone/", targets=[], route_action="respond", respond_status="410", respond_body="Gone for good.")
    response = operator.post(reverse("routes:route-create", args=[shop.pk]), data, headers=HX)
    assert response.status_code == 200, errors_of(response.content.decode())
    text = re.sub(r" +", " ", re.sub(r"<[^>]+>|\s+", " ", htmllib.unescape(response.content.decode())))
    assert "shop.example.com/gone/x → 410 “Gone for good.”" in text

"""The Audit log page: filters, pages, htmx partials, before/after, login and role."""

from __future__ import annotations

import re

import pytest

from core import audit
from core.models import AuditEntry


def _fill(count: int, **fields) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(source=fields.get("source", "api"), action=fields.get("action", "route.update"),
                   actor_name=fields.get("actor", "oscar"), object_repr=f"gctask.test/p{i}/")
        for i in range(count)
    )  # fmt: skip


@pytest.mark.django_db
def test_the_page_lists_pages_and_filters(client, viewer_user, operator_user):
    _fill(60)
    audit.record(
        "domain.delete",
        actor=operator_user,
        source="cli",
        object_type="routes.domain",
        object_repr="old.test",
        before={"name": "old.test", "notes": "최종"},
    )
    client.force_login(viewer_user)
    page = client.get("/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "61 entries" in html
    assert len(re.findall(r'id="audit-\d+"', html)) == 50
    assert "domain.delete" in html and "최종" in html  # newest first, with its state before
    assert 'rel="next"' in html
    second = client.get("/audit/?page=2").content.decode()
    assert len(re.findall(r'id="audit-\d+"', second)) == 11
    filtered = client.get("/audit/?source=cli").content.decode()
    assert "1 entry" in filtered and "old.test" in filtered
    assert "routes.domain" in filtered  # the object type choices come from the log itself
    assert "0 entries" in client.get("/audit/?action=token.*").content.decode()
    assert "61 entries" in client.get("/audit/?action=*").content.decode()


@pytest.mark.django_db
def test_htmx_gets_only_the_results_and_bad_filters_name_the_field(client, viewer_user):
    _fill(3)
    client.force_login(viewer_user)
    partial = client.get("/audit/?actor=oscar", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="audit-results">')
    assert "3 entries" in partial
    bad = client.get("/audit/?since=not-a-date").content.decode()
    assert "Enter a valid date/time." in bad
    assert "0 entries" in bad


@pytest.mark.django_db
def test_the_page_needs_a_login_and_is_in_the_menu(client, viewer_user):
    assert client.get("/audit/").status_code == 302
    client.force_login(viewer_user)
    assert 'href="/audit/"' in client.get("/").content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_person_filters_and_pages_the_audit_log_in_the_browser(logged_in_page, live_server):
    from playwright.sync_api import expect

    _fill(55, actor="oscar")
    _fill(2, actor="vera", action="domain.create", source="ui")
    page = logged_in_page("admin")
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"{live_server.url}/audit/")
    count = page.get_by_test_id("audit-count")
    assert count.inner_text() == "57 entries"
    page.fill("#id_actor", "vera")
    expect(count).to_have_text(
        "2 entries"
    )  # not wait_for_function("..."): a string predicate is eval, which CSP refuses
    assert "actor=vera" in page.url  # the filtered view is a link that can be shared
    page.fill("#id_actor", "")
    expect(count).to_have_text("57 entries")
    page.get_by_role("link", name="Older").click()
    page.wait_for_selector("text=Page 2 of 2")
    assert page.locator("#audit-results tbody tr").count() == 7

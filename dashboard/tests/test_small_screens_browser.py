"""An admin walks every page the menu links to, and a domain's, a route's, a revision's, a container's and a
certificate's own page, in English and in Korean, on a phone (390×844) and a laptop (1366×900): nothing scrolls
sideways, the menu collapses on the phone and opens to a link that works, no console error. Every page's screenshot is
kept (test-results/small-screens/, a CI artifact)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.nginx, pytest.mark.docker, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
# Long names, as people give them, are what pushes a page wider than a phone.
DOMAIN = "student-shop-with-a-long-name.gctask-classroom.test"

# The page's width, and the elements sticking out of it that do not sit in a box that scrolls by itself (to say
# what to fix, not only that something is too wide).
MEASURE = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (e) => { for (; e && e !== document.body; e = e.parentElement) {
    if (!["visible", ""].includes(getComputedStyle(e).overflowX)) return true; } return false; };
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\\s+/).join(".") : "");
  const wide = [...document.querySelectorAll("body *")].filter((e) => {
    const box = e.getBoundingClientRect();
    const spills = getComputedStyle(e).overflowX === "visible" && e.scrollWidth > e.clientWidth + 1;
    return box.width > 0 && (box.right > width + 1 || spills) && !scrolls(e.parentElement);
  }).slice(0, 6).map((e) => `${name(e)} right=${Math.round(e.getBoundingClientRect().right)} text=${e.scrollWidth}`);
  return {scrollWidth: document.documentElement.scrollWidth, wide};
}"""


@pytest.fixture
def shots(pytestconfig) -> Path:
    folder = Path(pytestconfig.getoption("--output")) / "small-screens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def objects(managed_nginx, echo_backend, run_container, make_user, token_for) -> dict[str, str]:
    """A domain with two routes, applied (a revision), a certificate for it, a running container, a token and a
    second account; returns the detail pages to walk."""
    from certificates import operations as certificates
    from certificates.tests.pki import chain, make_cert, pki
    from publishing.models import Revision
    from publishing.operations import apply
    from routes.models import Domain, Route
    from routes.operations import replace_state
    from routes.schemas import ConfigDocument

    admin = make_user("walker-setup", "admin")
    shop = echo_backend("shop")
    targets = [{"host": "127.0.0.1", "port": shop.port}]
    routes = [{"path": "/", "targets": targets}, {"path": "/api/v1/orders-and-payments/", "targets": targets}]
    replace_state(ConfigDocument.model_validate({"domains": [{"name": DOMAIN, "routes": routes}]}), source="test")
    revision = apply(actor=admin, source="test")
    assert revision.status == Revision.Status.APPLIED, revision.message
    _, intermediate, _ = pki("unused.test")
    leaf = make_cert(DOMAIN, issuer=intermediate)
    certificate = certificates.upload_certificate(chain(leaf, intermediate), leaf.key_pem, actor=admin, source="test")
    container = run_container(["sleep", "600"], labels={"portico.description": "a container with a long label"})
    token_for(admin)
    make_user("student-with-a-rather-long-username-01", "viewer")
    domain = Domain.objects.get(name=DOMAIN)
    route = Route.objects.filter(domain=domain).order_by("path").last()
    assert route is not None
    return {
        "domain": f"/routes/domains/{domain.pk}/",
        "route": f"/routes/{route.pk}/",
        "route-edit": f"/routes/{route.pk}/edit/",
        "plan": "/routes/plan/",
        "revision": f"/routes/revisions/{revision.pk}/",
        "container": f"/containers/c/{container.name}/",
        "certificate": f"/certificates/{certificate.pk}/",
    }


def fits(page: Page, width: int, label: str) -> None:
    """Nothing on the page reaches past the window's right edge."""
    page.wait_for_load_state("networkidle")
    measured = page.evaluate(MEASURE)
    assert measured["scrollWidth"] <= width, (label, measured)


def test_every_page_fits_a_phone_and_a_laptop_in_english_and_korean(logged_in_page, live_server, objects, shots):
    page = logged_in_page("admin")
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text} ({page.url})"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e} ({page.url})"))
    toggle = page.get_by_test_id("nav-toggle")
    menu = page.locator("nav.nav .nav-links")
    walked: list[str] = []

    for language in ("en", "ko"):
        page.set_viewport_size(PHONE)
        page.goto(f"{live_server.url}/")
        # The menu is collapsed behind its toggle; the language choice sits in it.
        expect(toggle).to_be_visible()
        expect(menu).to_be_hidden()
        toggle.click()
        expect(menu).to_be_visible()
        if page.locator("html").get_attribute("lang") != language:
            with page.expect_navigation():
                page.locator("select[name=language]").select_option(language)
        else:
            toggle.click()  # the toggle closes it too
        assert page.locator("html").get_attribute("lang") == language
        expect(menu).to_be_hidden()

        links = menu.locator("a")
        hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
        assert len(hrefs) == 10 and "/users/" in hrefs, hrefs  # an admin's whole menu
        for href in hrefs:
            # Open the menu, follow its link: the page it leads to fits.
            toggle.click()
            link = menu.locator(f'a[href="{href}"]')
            expect(link).to_be_visible()
            box = link.bounding_box()
            assert box is not None and box["x"] + box["width"] <= PHONE["width"], (href, box)
            with page.expect_navigation():
                link.click()
            assert page.url == f"{live_server.url}{href}"
            expect(menu).to_be_hidden()  # a new page starts with the menu closed
            fits(page, PHONE["width"], f"{language} {href}")
            name = href.strip("/").replace("/", "-") or "overview"
            if href == "/":
                # The topology keeps its drawn size (shrunk to 390 px its labels could not be read): its box scrolls.
                picture = page.locator("#topology-svg")
                drawn = picture.bounding_box()
                assert drawn is not None and drawn["width"] == float(picture.get_attribute("width") or 0), drawn
                assert page.locator(".topology-wrap").evaluate("e => e.scrollWidth > e.clientWidth")
            page.screenshot(path=shots / f"{language}-390-{name}.png", full_page=True)
            walked.append(href)
        for name, url in objects.items():
            page.goto(f"{live_server.url}{url}")
            fits(page, PHONE["width"], f"{language} {url}")
            page.screenshot(path=shots / f"{language}-390-{name}.png", full_page=True)
        # The menu closes on Escape and on a click outside it.
        toggle.click()
        expect(menu).to_be_visible()
        page.screenshot(path=shots / f"{language}-390-menu-open.png")
        page.keyboard.press("Escape")
        expect(menu).to_be_hidden()
        toggle.click()
        page.locator("footer").click()
        expect(menu).to_be_hidden()

        # A laptop: the menu shows itself, no toggle.
        page.set_viewport_size(LAPTOP)
        for href in hrefs + list(objects.values()):
            page.goto(f"{live_server.url}{href}")
            expect(toggle).to_be_hidden()
            expect(menu).to_be_visible()
            fits(page, LAPTOP["width"], f"{language} {href}")
            name = next((n for n, u in objects.items() if u == href), href.strip("/").replace("/", "-") or "overview")
            page.screenshot(path=shots / f"{language}-1366-{name}.png", full_page=True)

    assert len(walked) == 20
    assert problems == [], "\n".join(problems)


def test_the_phone_menu_opens_and_leads_somewhere_without_javascript(browser, live_server, make_user):
    make_user("no-script", "operator", password="browser-pw-123")
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "no-script")
    page.fill("#id_password", "browser-pw-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    menu = page.locator("nav.nav .nav-links")
    expect(menu).to_be_hidden()
    page.get_by_test_id("nav-toggle").click()
    expect(menu).to_be_visible()
    with page.expect_navigation():
        menu.get_by_role("link", name="Certificates").click()
    assert page.url == f"{live_server.url}/certificates/"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()

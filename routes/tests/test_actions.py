"""Routes that redirect or answer by themselves (issue 15), through Portico's real managed nginx."""

from __future__ import annotations

import pytest

from publishing import operations
from publishing.models import Revision
from routes.operations import replace_state
from routes.schemas import ConfigDocument

pytestmark = [pytest.mark.nginx, pytest.mark.django_db]


def applied(*routes: dict, name: str = "shop.test") -> Revision:
    replace_state(ConfigDocument.model_validate({"domains": [{"name": name, "routes": list(routes)}]}))
    revision = operations.apply()
    assert revision.status == Revision.Status.APPLIED, (revision.message, revision.output)
    return revision


def redirect(path: str, url: str, code: int, preserve: bool) -> dict:
    return {"path": path, "action": "redirect", "redirect_url": url, "redirect_code": code, "preserve_path": preserve}


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_redirect_answers_its_code_with_the_address_alone_or_with_the_rest_and_the_query(managed_nginx, code):
    applied(
        redirect("/old/", "https://new.example.com", code, True),
        redirect("/fixed/", "https://new.example.com/landing", code, False),
    )

    kept = managed_nginx.get("shop.test", "/old/x/y?a=1&b=%20")
    assert kept.status_code == code
    assert kept.headers["location"] == "https://new.example.com/x/y?a=1&b=%20"
    bare = managed_nginx.get("shop.test", "/old/")
    assert (bare.status_code, bare.headers["location"]) == (code, "https://new.example.com/")
    fixed = managed_nginx.get("shop.test", "/fixed/x/y?a=1")
    assert (fixed.status_code, fixed.headers["location"]) == (code, "https://new.example.com/landing")


def test_an_encoded_line_break_in_the_path_stays_encoded_in_the_location(managed_nginx):
    applied(redirect("/", "https://new.example.com/", 302, True))

    answer = managed_nginx.get("shop.test", "/a%0d%0aSet-Cookie:%20x=1")

    assert answer.status_code == 302
    assert answer.headers["location"] == "https://new.example.com/a%0d%0aSet-Cookie:%20x=1"
    assert "set-cookie" not in answer.headers


def test_a_respond_route_answers_its_status_and_plain_text_body(managed_nginx):
    applied(
        {"path": "/gone/", "action": "respond", "respond_status": 410, "respond_body": "This page is gone. 사라짐"},
        {"path": "/empty", "action": "respond", "respond_status": 204},
        {"path": "/", "action": "respond", "respond_status": 404},
    )

    gone = managed_nginx.get("shop.test", "/gone/x")
    assert gone.status_code == 410
    assert gone.text == "This page is gone. 사라짐\n"
    assert gone.headers["content-type"] == "text/plain; charset=utf-8"
    empty = managed_nginx.get("shop.test", "/empty")
    assert (empty.status_code, empty.content) == (204, b"")
    assert managed_nginx.get("shop.test", "/anything").status_code == 404


def test_a_redirect_route_and_a_proxy_route_share_a_domain(managed_nginx, echo_backend):
    app = echo_backend("app")
    applied(
        {"path": "/", "targets": [{"host": "127.0.0.1", "port": app.port}]},
        redirect("/old/", "https://new.example.com", 301, True),
    )

    assert managed_nginx.seen("shop.test", "/cart?id=3")["path"] == "/cart?id=3"
    moved = managed_nginx.get("shop.test", "/old/x")
    assert (moved.status_code, moved.headers["location"]) == (301, "https://new.example.com/x")

"""publishing/npm/client.py against the fake NPM (or a real one: see docs/npm.md). Every request body is schema-checked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from publishing.npm.client import NpmClient, NpmError
from publishing.tests.npm_fake import TEST_DOMAIN_SUFFIX, NpmTarget
from publishing.tests.npm_schema import ajv_message, request_errors, transcript

GCTASK = "gctask" + TEST_DOMAIN_SUFFIX


def gctask_body(**changes) -> dict:
    body = {
        "domain_names": [GCTASK],
        "forward_scheme": "http",
        "forward_host": "127.0.0.1",
        "forward_port": 8011,
        "meta": {"portico_managed": True},
        "locations": [
            {"path": "/task/", "forward_scheme": "http", "forward_host": "127.0.0.1", "forward_port": 8012},
            {"path": "/user/", "forward_scheme": "http", "forward_host": "127.0.0.1", "forward_port": 8013},
        ],
    }
    body.update(changes)
    return body


def logins(fake) -> int:
    return sum(1 for r in fake.requests if r["method"] == "POST" and r["path"] == "/tokens")


def test_it_logs_in_once_and_reuses_the_token(npm: NpmTarget):
    with npm.client() as client:
        client.list_proxy_hosts()
        client.list_proxy_hosts()
    with npm.client() as again:  # a second client of the same NPM and user shares the token
        again.list_proxy_hosts()
    if npm.fake:
        assert logins(npm.fake) == 1
    assert npm.transport.checked >= 4


def test_it_creates_reads_updates_and_deletes_a_host(npm: NpmTarget):
    with npm.client() as client:
        created = client.create_proxy_host(gctask_body())
        assert created.domain_names == [GCTASK]
        assert created.managed
        read = client.get_proxy_host(created.id)
        assert read.nginx_online is True
        assert [loc.path for loc in read.locations] == ["/task/", "/user/"]
        updated = client.update_proxy_host(created.id, {"forward_port": 8021})
        assert updated.forward_port == 8021
        assert updated.nginx_online is True  # a PUT's answer carries NPM's nginx verdict
        assert created.id in [h.id for h in client.list_proxy_hosts()]
        client.delete_proxy_host(created.id)
        assert created.id not in [h.id for h in client.list_proxy_hosts()]
        with pytest.raises(NpmError) as missing:
            client.get_proxy_host(created.id)
    assert missing.value.status == 404
    assert missing.value.output == f"Not Found - {created.id}"


def test_a_create_without_locations_reads_back_null_locations_as_empty(npm: NpmTarget):
    with npm.client() as client:
        created = client.create_proxy_host({k: v for k, v in gctask_body().items() if k != "locations"})
        assert created.raw["locations"] is None  # NPM's quirk, recorded in transcript 57's siblings
        assert client.get_proxy_host(created.id).locations == []
        client.delete_proxy_host(created.id)


def test_npm_s_already_in_use_comes_back_as_its_own_words(npm: NpmTarget):
    with npm.client() as client:
        first = client.create_proxy_host(gctask_body())
        with pytest.raises(NpmError) as refused:
            client.create_proxy_host(gctask_body())
        client.delete_proxy_host(first.id)
    assert refused.value.status == 400
    assert refused.value.output == f"{GCTASK} is already in use"


def test_wrong_credentials_are_reported_not_retried(npm: NpmTarget):
    client = NpmClient(npm.url, npm.identity, "wrong-password", transport=npm.transport)
    with client, pytest.raises(NpmError) as failed:
        client.list_proxy_hosts()
    assert failed.value.status == 400
    assert failed.value.output == "Invalid email or password"
    assert "Invalid email or password" not in failed.value.message  # NPM's words: log and admins only


def test_an_expired_token_means_one_new_login(npm: NpmTarget):
    fake = npm.need_fake()
    with npm.client() as client:
        client.list_proxy_hosts()
        fake.expire_tokens()
        # The client thinks the token is still good (its clock says so); NPM answers 400 "Token has expired".
        client.list_proxy_hosts()
    assert logins(fake) == 2
    statuses = [r["path"] for r in fake.requests]
    assert statuses == ["/tokens", "/nginx/proxy-hosts", "/nginx/proxy-hosts", "/tokens", "/nginx/proxy-hosts"]


def test_the_token_is_refreshed_before_it_expires(npm: NpmTarget):
    fake = npm.need_fake()
    fake.token_lifetime = timedelta(minutes=30)  # less than the client's refresh margin
    with npm.client() as client:
        client.list_proxy_hosts()
        client.list_proxy_hosts()
    refreshes = [r for r in fake.requests if r["method"] == "GET" and r["path"] == "/tokens"]
    assert refreshes and refreshes[0]["query"] == {"expiry": "1d"}
    assert logins(fake) == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "Not Found - /nginx/proxy-hosts"), (500, "Internal Error")],
    ids=["404-on-the-route-itself", "500-internal-error"],
)
def test_npm_s_odd_auth_signals_trigger_one_new_login(npm: NpmTarget, status, message):
    fake = npm.need_fake()
    with npm.client() as client:
        client.list_proxy_hosts()
        fake.fail_next(status, message, method="GET", path="/nginx/proxy-hosts")
        assert client.list_proxy_hosts() == []
    assert logins(fake) == 2


def test_a_persistent_500_is_an_error_after_exactly_one_new_login(npm: NpmTarget):
    fake = npm.need_fake()
    fake.fail_next(500, "Internal Error", path="/nginx")
    fake.fail_next(500, "Internal Error", path="/nginx")
    with npm.client() as client, pytest.raises(NpmError) as failed:
        client.list_proxy_hosts()
    assert failed.value.status == 500
    assert failed.value.output == "Internal Error" and "(500)" in failed.value.message
    assert logins(fake) == 2


def test_a_missing_id_is_not_mistaken_for_an_auth_problem(npm: NpmTarget):
    with npm.client() as client:
        client.list_proxy_hosts()
        with pytest.raises(NpmError) as failed:
            client.get_proxy_host(987654)
    assert failed.value.status == 404
    if npm.fake:
        assert logins(npm.fake) == 1


def test_a_slow_npm_is_a_timeout_error(npm: NpmTarget):
    fake = npm.need_fake()
    with npm.client(timeout=0.3) as client:
        client.list_proxy_hosts()
        fake.delay = 1.5
        with pytest.raises(NpmError) as failed:
            client.list_proxy_hosts()
    assert failed.value.status is None
    assert "did not answer" in failed.value.message


def test_an_unreachable_npm_is_an_error_with_the_url():
    from tests.support import free_port

    url = f"http://127.0.0.1:{free_port()}/api"
    with NpmClient(url, "a@example.com", "x", timeout=1) as client, pytest.raises(NpmError) as failed:
        client.list_proxy_hosts()
    assert url in failed.value.message


def test_a_login_answer_whose_token_is_not_text_has_no_token():
    """The token goes into an Authorization header: a number there is refused, not cached and sent."""
    import httpx

    paths = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"token": 12345, "expires": "2099-01-01T00:00:00.000Z"})

    transport = httpx.MockTransport(answer)  # nothing leaves the process
    with NpmClient("http://127.0.0.1:9/api", "odd@example.com", "x", transport=transport) as client:
        with pytest.raises(NpmError) as failed:
            client.list_proxy_hosts()
        assert client.token_expires() is None
    assert "login answer has no token" in failed.value.message
    assert paths == ["/api/tokens"]


def test_health_reads_npm_s_status(npm: NpmTarget):
    with npm.client() as client:
        assert client.health()["status"] == "OK"


# --- the schema check itself ----------------------------------------------------------------------------


def test_the_schema_check_rejects_what_npm_rejected():
    # The recorded 400s (transcripts 11-16, 25) must also fail our validation, with NPM's own wording.
    for name in ("11-", "12-", "13-", "14-", "15-", "16-", "25-"):
        exchange = transcript(name)
        request = exchange["request"]
        path = request["url"].split("/api", 1)[1]
        errors = request_errors(request["method"], path, request["body"])
        assert errors, f"transcript {name} should break the schema"
        assert ajv_message(errors) == exchange["response"]["body"]["error"]["message"], name


def test_the_schema_check_accepts_what_npm_accepted():
    for name in ("06-", "18-", "27-", "53-", "57-"):
        request = transcript(name)["request"]
        path = request["url"].split("/api", 1)[1]
        assert request_errors(request["method"], path, request["body"]) == [], name


def test_the_fake_answers_like_the_recorded_npm(npm: NpmTarget):
    """Replays recorded exchanges against the fake: same status, same error text."""
    fake = npm.need_fake()
    import httpx

    with httpx.Client(base_url=fake.url) as http:
        token = http.post("/tokens", json={"identity": "admin@example.com", "secret": "changeme"}).json()["token"]
        for name in ("04-", "05-", "08-", "09-", "11-", "12-", "13-", "14-", "15-", "16-", "80-", "81-", "82-", "84-"):
            exchange = transcript(name)
            request = exchange["request"]
            headers = {}
            auth = request["headers"].get("Authorization", "")
            if auth.startswith("Bearer eyJ"):
                headers["Authorization"] = f"Bearer {token}"
            elif auth:
                headers["Authorization"] = "Bearer not-a-token"
            answer = http.request(
                request["method"], request["url"].split("/api", 1)[1], json=request["body"], headers=headers
            )
            assert answer.status_code == exchange["response"]["status"], name
            assert answer.json() == exchange["response"]["body"], name

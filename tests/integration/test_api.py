"""Admin and health APIs of every service: JSON errors for bad input and
missing tokens, /healthz, /readyz, /metrics."""
import pytest
import requests

from harness import unique
from harness.stack import SERVICES


def _assert_json_error(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body.get("error"), dict), body
    assert body["error"].get("code"), body
    assert "message" in body["error"], body


@pytest.mark.parametrize("service,path,body", [
    ("rewrite", "/v1/domains", {"name": "x.test", "bogus": 1}),
    ("rewrite", "/v1/aliases", {"address": "a@example.test", "targets": ["b@remote.test"],
                                "colour": "red"}),
    ("lists", "/v1/lists", {"address": "l@example.test", "unexpected": True}),
])
def test_unknown_fields_400(stack, service, path, body):
    if "address" in body:
        body["address"] = "%s@%s" % (unique("api"), stack.domain)
    _assert_json_error(stack.api(service).post(path, json=body), 400)


@pytest.mark.parametrize("service,path", [
    ("rewrite", "/v1/domains"),
    ("rewrite", "/v1/aliases"),
    ("lists", "/v1/lists"),
])
def test_malformed_json_400(stack, service, path):
    r = stack.api(service).post(path, data=b'{"address": "x@example.test", ',
                                headers={"Content-Type": "application/json"})
    _assert_json_error(r, 400)


def test_member_unknown_field_400(stack):
    addr = "%s@%s" % (unique("apil"), stack.domain)
    stack.add_list(addr)
    r = stack.api("lists").post("/v1/lists/%s/members" % requests.utils.quote(addr, safe=""),
                                json={"address": "m@remote.test", "nope": 1})
    _assert_json_error(r, 400)


@pytest.mark.parametrize("service,path", [
    ("rewrite", "/v1/recipients/x@example.test"),
    ("lists", "/v1/lists"),
    ("archive", "/v1/messages/1"),
    ("relay", "/v1/queue"),
])
def test_no_token_401(stack, service, path):
    _assert_json_error(stack.api(service, token=None).get(path), 401)
    _assert_json_error(stack.api(service, token="wrong-token").get(path), 401)


def test_admin_api_creates_and_conflicts(stack):
    addr = "%s@%s" % (unique("apia"), stack.domain)
    api = stack.api("rewrite")
    r = api.post("/v1/aliases", json={"address": addr, "targets": ["x@remote.test"]})
    assert r.status_code in (200, 201), r.text
    r = api.post("/v1/aliases", json={"address": addr, "targets": ["x@remote.test"]})
    _assert_json_error(r, 409)
    r = api.get("/v1/recipients/%s" % addr)
    assert r.status_code == 200, r.text
    assert r.json()["class"] == "alias"
    _assert_json_error(api.get("/v1/recipients/%s@%s" % (unique("no"), stack.domain)), 404)


@pytest.mark.parametrize("service", SERVICES)
def test_health_ready_metrics(stack, service):
    base = stack.url(service)
    assert requests.get(base + "/healthz", timeout=5).status_code == 200
    assert requests.get(base + "/readyz", timeout=5).status_code == 200
    r = requests.get(base + "/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    assert "# TYPE " in r.text, r.text[:500]
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            assert name, line
            float(value)  # every sample line ends with a number

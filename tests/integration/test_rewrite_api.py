"""rewrite's own API and stage: domains and aliases CRUD, the RCPT-time
classification mx uses (GET /v1/recipients), and nested alias expansion with
loop detection as recorded in the spool (jobs and events)."""
import json
import time

from harness import unique
from harness.smtp import make_message, send
from harness.srs import srs_forward
from harness.stack import SRS_SECRETS, quote_addr


def _error_code(r):
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return r.json()["error"]["code"]


def test_domains_crud(stack):
    api = stack.api("rewrite")
    name = "%s.Example.TEST" % unique("dom")
    r = api.post("/v1/domains", json={"name": name})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name.lower()
    assert r.json()["created_at"]
    r = api.post("/v1/domains", json={"name": name.lower()})
    assert r.status_code == 409 and _error_code(r) == "conflict", r.text
    r = api.get("/v1/domains", params={"limit": 1000})
    assert r.status_code == 200
    assert name.lower() in [d["name"] for d in r.json()["domains"]]
    for bad in ("bad_domain", "-x.test", "", "a..b"):
        r = api.post("/v1/domains", json={"name": bad})
        assert r.status_code == 400, (bad, r.text)
    r = api.post("/v1/domains", json={"name": 5})
    assert r.status_code == 400
    r = api.delete("/v1/domains/%s" % name)
    assert r.status_code == 204, r.text
    r = api.delete("/v1/domains/%s" % name)
    assert r.status_code == 404 and _error_code(r) == "not_found"
    r = api.get("/v1/domains", params={"limit": 0})
    assert r.status_code == 400


def test_aliases_crud(stack):
    api = stack.api("rewrite")
    uid = unique("crud")
    addr = "%s@%s" % (uid, stack.domain)
    r = api.post("/v1/aliases", json={"address": addr.upper(),
                                      "targets": ["One@Remote.test", "one@remote.test",
                                                  "two@remote.test"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["address"] == addr
    # kept as written, duplicates (case-insensitive) dropped
    assert body["targets"] == ["One@Remote.test", "two@remote.test"]
    r = api.get("/v1/aliases/%s" % quote_addr(addr.upper()))
    assert r.status_code == 200 and r.json()["targets"] == body["targets"]
    r = api.put("/v1/aliases/%s" % quote_addr(addr), json={"targets": ["three@remote.test"]})
    assert r.status_code == 200 and r.json()["targets"] == ["three@remote.test"], r.text
    r = api.put("/v1/aliases/%s" % quote_addr(addr), json={"targets": ["x@remote.test"],
                                                           "address": addr})
    assert r.status_code == 400 and _error_code(r) == "unknown_field"
    r = api.post("/v1/aliases", json={"address": "%s@not-ours.test" % uid,
                                      "targets": ["x@remote.test"]})
    assert r.status_code == 422 and _error_code(r) == "unknown_domain", r.text
    for targets in ([], ["not an address"], ["B-" + addr], "x@remote.test", [7]):
        r = api.post("/v1/aliases", json={"address": "b-" + addr, "targets": targets})
        assert r.status_code == 400, (targets, r.text)
    r = api.post("/v1/aliases", json={"address": "<%s>" % addr, "targets": ["x@remote.test"]})
    assert r.status_code == 400
    r = api.get("/v1/aliases", params={"limit": 1000})
    assert addr in [a["address"] for a in r.json()["aliases"]]
    r = api.delete("/v1/aliases/%s" % quote_addr(addr))
    assert r.status_code == 204
    r = api.delete("/v1/aliases/%s" % quote_addr(addr))
    assert r.status_code == 404
    r = api.get("/v1/aliases/%s" % quote_addr(addr))
    assert r.status_code == 404


def test_recipient_classes(stack):
    api = stack.api("rewrite")
    uid = unique("cls")
    alias = "%s@%s" % (uid, stack.domain)
    lst = "l-%s@%s" % (uid, stack.domain)
    stack.add_alias(alias, ["t@remote.test"])
    stack.add_list(lst)

    def get(a):
        return api.get("/v1/recipients/%s" % quote_addr(a))

    r = get("x@%s.far.test" % uid)
    assert r.status_code == 200 and r.json()["class"] == "foreign"
    r = get(alias.upper())
    assert r.status_code == 200, r.text
    assert r.json() == {"address": alias, "class": "alias", "targets": ["t@remote.test"]}
    r = get(lst)
    assert r.status_code == 200 and r.json()["class"] == "list", r.text
    r = get("nobody-%s@%s" % (uid, stack.domain))
    assert r.status_code == 404 and _error_code(r) == "unknown_recipient"
    good = srs_forward(SRS_SECRETS[0], "orig-%s@sender.test" % uid, stack.srs_domain)
    r = get(good)
    assert r.status_code == 200 and r.json()["class"] == "srs", r.text
    old_secret = srs_forward(SRS_SECRETS[1], "orig-%s@sender.test" % uid, stack.srs_domain)
    assert get(old_secret).json()["class"] == "srs"
    expired = srs_forward(SRS_SECRETS[0], "orig-%s@sender.test" % uid, stack.srs_domain,
                          now=time.time() - 40 * 86400)
    r = get(expired)
    assert r.status_code == 404 and _error_code(r) == "srs_invalid", r.text
    forged = srs_forward("not-our-secret", "orig-%s@sender.test" % uid, stack.srs_domain)
    r = get(forged)
    assert r.status_code == 404 and _error_code(r) == "srs_invalid", r.text
    r = get("not-an-address")
    assert r.status_code == 400 and _error_code(r) == "invalid_address"


def _jobs_and_events(stack, msgid):
    rows = stack.psql("SELECT id FROM spool.messages WHERE message_id = '%s'" % msgid)
    if not rows:
        return None
    mid = rows[0][0]
    state = stack.psql("SELECT state FROM spool.jobs WHERE message_id = %s AND stage = 'rewrite'"
                       % mid)
    if not state or state[0][0] != "done":
        return None
    jobs = [(s, json.loads(p)) for s, p in stack.psql(
        "SELECT stage, payload FROM spool.jobs WHERE message_id = %s AND stage <> 'rewrite'"
        " ORDER BY id" % mid)]
    events = [(e, json.loads(d)) for e, d in stack.psql(
        "SELECT event, detail FROM spool.events WHERE message_id = %s AND service = 'rewrite'"
        " ORDER BY id" % mid)]
    return jobs, events


def test_nested_alias_loop_and_unknown(stack):
    uid = unique("nest")
    d = stack.domain
    top, inner = "%s@%s" % (uid, d), "in-%s@%s" % (uid, d)
    lst = "l-%s@%s" % (uid, d)
    stack.add_list(lst)
    stack.add_alias(inner, [top, "b-%s@remote.test" % uid])           # loops back to top
    stack.add_alias(top, [inner, "a-%s@remote.test" % uid, lst, "nobody-%s@%s" % (uid, d)])
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, top, subject="nested " + uid)
    send(stack.smtp_port, sender, [top], data)
    jobs, events = stack.wait_until(lambda: _jobs_and_events(stack, msgid), timeout=30,
                                    what="the rewrite job of %s" % msgid)
    relays = [p for s, p in jobs if s == "relay"]
    assert len(relays) == 1, jobs
    assert sorted(relays[0]["rcpts"]) == sorted(["a-%s@remote.test" % uid,
                                                 "b-%s@remote.test" % uid])
    assert relays[0]["mail_from"].upper().startswith("SRS0="), relays[0]
    assert relays[0]["mail_from"].lower().endswith("@" + stack.srs_domain)
    assert ("lists", {"list": lst, "mail_from": sender}) in jobs
    names = [e for e, _ in events]
    assert "rewritten" in names and "to_list" in names
    loops = [dt for e, dt in events if e == "alias_loop"]
    assert len(loops) == 1 and loops[0]["target"] == top and loops[0]["alias"] == inner
    unknown = [dt for e, dt in events if e == "unknown_recipient"]
    assert unknown and unknown[0]["rcpt"] == "nobody-%s@%s" % (uid, d)
    # the unknown target bounces to the sender
    assert any(e == "dsn_queued" for e, _ in stack.psql(
        "SELECT event, '' FROM spool.events WHERE message_id = (SELECT id FROM spool.messages"
        " WHERE message_id = '%s')" % msgid))

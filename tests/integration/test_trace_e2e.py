"""Trace (GET /v1/trace/{id} on every service, mailyardctl trace): the events
of a message from acceptance to delivery, for an alias forward and a list
post, found by Message-ID (with or without angle brackets) or queue id."""
import json

from harness import unique
from harness.smtp import make_message, send
from harness.stack import quote_addr

SERVICES = ("mx", "rewrite", "lists", "archive", "relay")


def _trace_api(stack, service, ident):
    r = stack.api(service).get("/v1/trace/%s" % quote_addr(ident))
    assert r.status_code == 200, (service, r.text)
    body = r.json()
    assert body["service"] == service
    assert all(e["service"] == service for e in body["events"]), body
    return body["events"]


def _ctl_trace(stack, ident):
    return json.loads(stack.ctl("--json", "trace", ident).stdout)


def _wait_events(stack, ident, want):
    """Waits until the merged trace holds every (service, event) in want."""
    def have():
        got = _ctl_trace(stack, ident)
        pairs = {(e["service"], e["event"]) for e in got["events"]}
        return got if want <= pairs else None
    return stack.wait_until(have, timeout=40, what="trace events %s" % sorted(want))


def test_trace_of_an_alias_forward(stack):
    uid = unique("tr")
    target = "t-%s@remote.test" % uid
    alias = "%s@%s" % (uid, stack.domain)
    stack.add_alias(alias, [target])
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="trace " + uid)
    send(stack.smtp_port, sender, [alias], data)
    stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid)

    got = _wait_events(stack, msgid, {("mx", "accepted"), ("rewrite", "rewritten"),
                                      ("relay", "delivered")})
    assert got["errors"] == []
    ev = got["events"]
    assert [e["at"] for e in ev] == sorted(e["at"] for e in ev)
    order = [(e["service"], e["event"]) for e in ev]
    assert order.index(("mx", "accepted")) < order.index(("rewrite", "rewritten")) \
        < order.index(("relay", "delivered"))
    rw = [e for e in ev if e["event"] == "rewritten"][0]
    assert rw["detail"]["targets"] == [target]
    assert rw["detail"]["mail_from"].lower().startswith("srs0="), rw   # SRS sender
    dl = [e for e in ev if e["event"] == "delivered"][0]
    assert dl["detail"]["rcpt"] == target and dl["detail"]["reply"].startswith("250")
    assert dl["detail"]["host"].startswith("mx.remote.test[")
    qid = ev[0]["queue_id"]
    assert all(e["queue_id"] == qid for e in ev)

    # the same story by queue id, and by Message-ID without brackets
    assert [e["event"] for e in _ctl_trace(stack, qid)["events"]] == [e["event"] for e in ev]
    bare = msgid.strip("<>")
    assert len(_ctl_trace(stack, bare)["events"]) == len(ev)
    # each service answers with its own events only
    # (both mx events are written in the commit's transaction: same time)
    assert sorted(e["event"] for e in _trace_api(stack, "mx", bare)) == ["accepted", "authenticated"]
    assert "delivered" in [e["event"] for e in _trace_api(stack, "relay", msgid)]
    assert _trace_api(stack, "lists", msgid) == []

    out = stack.ctl("trace", msgid).stdout.splitlines()
    assert len(out) == len(ev)
    # mx's two events come first (same transaction, so in either order)
    assert {out[0].split()[2], out[1].split()[2]} == {"accepted", "authenticated"}
    assert qid in out[0] and qid in out[1]
    line = [ln for ln in out if " delivered " in ln][0]
    assert "relay" in line and "reply=\"250" in line and target in line


def test_trace_of_a_list_post_follows_the_copy(stack):
    uid = unique("tl")
    addr = "%s@%s" % (uid, stack.domain)
    members = ["m%d-%s@remote.test" % (i, uid) for i in range(2)]
    stack.add_list(addr, members)
    msgid, data = make_message(members[0], addr, subject="traced post " + uid)
    send(stack.smtp_port, members[0], [addr], data)
    for m in members:
        stack.sink.wait_for(m, timeout=30)

    want = {("mx", "accepted"), ("rewrite", "to_list"), ("lists", "expanded"),
            ("archive", "archived"), ("relay", "delivered")}
    got = _wait_events(stack, msgid, want)
    ev = got["events"]
    acc = [e for e in ev if e["event"] == "accepted"][0]
    exp = [e for e in ev if e["event"] == "expanded"][0]
    copy_qid = exp["detail"]["queue_id"]
    assert copy_qid != acc["queue_id"]
    delivered = [e for e in ev if e["event"] == "delivered"]
    assert {e["detail"]["rcpt"] for e in delivered} == set(members)
    assert all(e["queue_id"] == copy_qid for e in delivered)
    # by the original's queue id: the copy is found through the Message-ID
    # and the parent chain
    by_qid = _wait_events(stack, acc["queue_id"], want)
    assert len(by_qid["events"]) == len(ev)


def test_trace_of_a_bounce_includes_the_dsn(stack):
    uid = unique("tb")
    target = "bad-%s@remote.test" % uid
    stack.sink.plan_rcpt(target, [], then=550)
    alias = "%s@%s" % (uid, stack.domain)
    stack.add_alias(alias, [target])
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="bounce " + uid)
    send(stack.smtp_port, sender, [alias], data)
    got = _wait_events(stack, msgid, {("relay", "bounced"), ("relay", "dsn_queued")})
    ev = got["events"]
    b = [e for e in ev if e["event"] == "bounced"][0]
    assert b["detail"]["reply"].startswith("550")
    # the DSN is its own message (parent: the original, its own Message-ID):
    # its events (rewrite's SRS reversal, the relay's delivery) show up too
    def dsn_events():
        evs = _ctl_trace(stack, msgid)["events"]
        return [e for e in evs if e["queue_id"] != b["queue_id"]] or None
    dsn = stack.wait_until(dsn_events, timeout=40, what="the DSN's events in the trace")
    assert len({e["queue_id"] for e in dsn}) == 1


def test_trace_prints_tls_details_of_an_attempt(stack):
    """The sink speaks no TLS: a relay event as a TLS delivery records it
    (see relay_job.c) is added to a real message to check the rendering."""
    uid = unique("tt")
    target = "t-%s@remote.test" % uid
    alias = "%s@%s" % (uid, stack.domain)
    stack.add_alias(alias, [target])
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="tls " + uid)
    send(stack.smtp_port, sender, [alias], data)
    got = _wait_events(stack, msgid, {("relay", "delivered")})
    qid = got["events"][0]["queue_id"]
    stack.psql("INSERT INTO spool.events (message_id, service, event, detail) "
               "SELECT id, 'relay', 'deferred', '{\"rcpt\": \"x@remote.test\", \"reply\": "
               "\"421 4.3.0 try later\", \"host\": \"mx.remote.test[127.0.0.1]:25\", "
               "\"tls\": \"TLSv1.3 TLS_AES_256_GCM_SHA384\"}' FROM spool.messages "
               "WHERE queue_id = '%s'" % qid)
    out = stack.ctl("trace", qid).stdout
    line = [ln for ln in out.splitlines() if " deferred " in ln][0]
    assert "tls=\"TLSv1.3 TLS_AES_256_GCM_SHA384\"" in line and "421 4.3.0" in line


def test_trace_unknown_and_bad_ids(stack):
    r = stack.ctl("trace", "<no-such-%s@nowhere.test>" % unique("x"), check=False)
    assert r.returncode == 1 and "no trace" in r.stderr
    for s in SERVICES:
        assert _trace_api(stack, s, "NOSUCHQUEUEID") == []
    r = stack.api("relay").get("/v1/trace/%s" % ("a" * 1200))
    assert r.status_code == 400
    r = stack.api("mx").get("/v1/trace/%01")
    assert r.status_code in (400, 404)
    assert stack.api("mx", token=None).get("/v1/trace/x").status_code == 401

"""relay: MX routing (preference order, implicit MX, null MX, NXDOMAIN),
one transaction per domain, and the /v1/queue API."""
from harness import unique
from harness.smtp import make_message, send


def _alias_to(stack, targets):
    alias = "%s@%s" % (unique("rr"), stack.domain)
    stack.add_alias(alias, list(targets))
    return alias


def _send_via_alias(stack, targets, tag):
    uid = unique(tag)
    alias = _alias_to(stack, targets)
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="%s %s" % (tag, uid))
    send(stack.smtp_port, sender, [alias], data)
    return sender, msgid


def _queue_row(stack, rcpt, state=None, timeout=30):
    def find():
        r = stack.api("relay").get("/v1/queue", params={"limit": 1000})
        assert r.status_code == 200, r.text
        for d in r.json()["deliveries"]:
            if d["rcpt"] == rcpt and (state is None or d["state"] == state):
                return d
        return None
    return stack.wait_until(find, timeout=timeout, what="queue row for %s" % rcpt)


def _dsn_status(stack, sender, failed_rcpt, timeout=60):
    got = stack.sink.wait_for(
        sender, timeout=timeout,
        pred=lambda m: m.mail_from == "" and failed_rcpt.encode() in m.data)
    m = got[0]
    assert m.msg.get_content_type() == "multipart/report"
    for part in m.msg.walk():
        if part.get_content_type() == "message/delivery-status":
            return m.data.decode("utf-8", "replace")
    raise AssertionError("no message/delivery-status part")


def test_delivery_is_visible_in_the_queue_api(stack):
    target = "ok-%s@remote.test" % unique("q")
    _, msgid = _send_via_alias(stack, [target], "api")
    stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid)
    row = _queue_row(stack, target, state="delivered")
    assert row["attempts"] == 1
    assert row["last_reply"].startswith("250 ")
    assert row["last_host"].startswith("mx.remote.test[127.0.0.1]:")
    assert row["next_attempt_at"] is None
    r = stack.api("relay").get("/v1/queue/%s" % row["queue_id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["queue_id"] == row["queue_id"]
    assert target in [d["rcpt"] for d in body["deliveries"]]
    r = stack.api("relay").get("/v1/queue", params={"state": "delivered"})
    assert r.status_code == 200
    assert all(d["state"] == "delivered" for d in r.json()["deliveries"])
    metrics = stack.api("relay", token=None).get("/metrics").text
    assert 'mailyard_relay_deliveries_total{result="delivered"}' in metrics
    assert "mailyard_relay_attempt_seconds_count" in metrics


def test_queue_api_errors(stack):
    api = stack.api("relay")
    r = api.get("/v1/queue/NOSUCHQUEUEID")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = api.get("/v1/queue", params={"state": "lost"})
    assert r.status_code == 400
    r = api.get("/v1/queue", params={"limit": "0"})
    assert r.status_code == 400
    r = stack.api("relay", token=None).get("/v1/queue")
    assert r.status_code == 401


def test_recipients_of_one_domain_share_one_transaction(stack):
    uid = unique("grp")
    t1, t2 = "a-%s@remote.test" % uid, "b-%s@remote.test" % uid
    _, msgid = _send_via_alias(stack, [t1, t2], "grp")
    got = stack.sink.wait_for(t1, pred=lambda m: m.message_id == msgid)
    assert sorted(r.lower() for r in got[0].rcpts) == sorted([t1, t2])
    assert len([m for m in stack.sink.messages_to(t2) if m.message_id == msgid]) == 1


def test_mx_preference_order_and_fallback_to_next_mx(stack):
    uid = unique("pref")
    domain = "%s.test" % uid
    dead = "dead-%s.test" % uid
    stack.dns.add(dead, "A", "127.0.0.2")          # nothing listens there
    stack.dns.add(domain, "MX", "20 mx.remote.test")
    stack.dns.add(domain, "MX", "5 %s" % dead)
    target = "u@%s" % domain
    _, msgid = _send_via_alias(stack, [target], "pref")
    stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid)
    assert (dead, "A") in stack.dns.queries
    row = _queue_row(stack, target, state="delivered")
    assert row["last_host"].startswith("mx.remote.test[")


def test_domain_without_mx_uses_its_address(stack):
    domain = "%s.test" % unique("amx")
    stack.dns.add(domain, "A", "127.0.0.1")
    target = "u@%s" % domain
    _, msgid = _send_via_alias(stack, [target], "amx")
    stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid)
    row = _queue_row(stack, target, state="delivered")
    assert row["last_host"].startswith("%s[127.0.0.1]" % domain)


def test_null_mx_bounces_with_5_1_10(stack):
    domain = "%s.test" % unique("nullmx")
    stack.dns.add(domain, "MX", "0 .")
    target = "u@%s" % domain
    sender, _ = _send_via_alias(stack, [target], "nullmx")
    text = _dsn_status(stack, sender, target)
    assert "Status: 5.1.10" in text
    assert "Action: failed" in text
    row = _queue_row(stack, target, state="bounced")
    assert row["attempts"] == 1


def test_nxdomain_bounces_with_5_1_2(stack):
    target = "u@%s.test" % unique("nxd")
    sender, _ = _send_via_alias(stack, [target], "nxd")
    text = _dsn_status(stack, sender, target)
    assert "Status: 5.1.2" in text

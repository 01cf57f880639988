"""Queue control (docs/queue.md): listing with filters, one message with its
attempt log, flush, hold/release, delete, requeue and the summary, through
the relay API and mailyardctl.

The relay of this module's stack retries only after an hour, so a recipient
the sink answers with 4xx stays deferred until a test flushes it; every test
uses its own recipient domain (the DNS server points it at the sink)."""
import json

from harness import unique
from harness.smtp import make_message, send

STACK_CONFIG = {"extra_env": {"relay": {
    "MAILYARD_RELAY_RETRY_BASE_SECONDS": "3600",
    "MAILYARD_RELAY_RETRY_MAX_SECONDS": "3600",
}}}


def _domain(stack):
    d = unique("qd") + ".test"
    stack.dns.add_mail_domain(d)
    return d


def _send(stack, targets, tag):
    uid = unique(tag)
    alias = "%s@%s" % (uid, stack.domain)
    stack.add_alias(alias, list(targets))
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="%s %s" % (tag, uid))
    send(stack.smtp_port, sender, [alias], data)
    return sender, msgid


def _rows(stack, **params):
    r = stack.api("relay").get("/v1/queue", params=params)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def _row(stack, rcpt, pred, what):
    dom = rcpt.split("@")[1]

    def find():
        for d in _rows(stack, domain=dom, limit=1000):
            if d["rcpt"] == rcpt and pred(d):
                return d
        return None
    return stack.wait_until(find, timeout=40, what=what)


def _deferred(stack, rcpt):
    return _row(stack, rcpt, lambda d: d["state"] == "pending" and d["attempts"] >= 1,
                "deferred row for %s" % rcpt)


def _state(stack, rcpt, state):
    return _row(stack, rcpt, lambda d: d["state"] == state, "%s row for %s" % (state, rcpt))


def _show(stack, qid):
    r = stack.api("relay").get("/v1/queue/%s" % qid)
    assert r.status_code == 200, r.text
    return r.json()


def _job_state(stack, job_id):
    return stack.psql("SELECT state FROM spool.jobs WHERE id = %d" % job_id)[0][0]


def test_list_filters_paging_show_and_summary(module_stack):
    stack = module_stack
    d1, d2 = _domain(stack), _domain(stack)
    t1, t2, t3 = "a@" + d1, "b@" + d1, "c@" + d2
    stack.sink.plan_rcpt(t1, [], then=451)
    stack.sink.plan_rcpt(t2, [], then=452)
    sender, _ = _send(stack, [t1, t2, t3], "ls")
    stack.sink.wait_for(t3)
    r1, r2 = _deferred(stack, t1), _deferred(stack, t2)
    _state(stack, t3, "delivered")

    assert {d["rcpt"] for d in _rows(stack, domain=d1)} == {t1, t2}
    assert {d["rcpt"] for d in _rows(stack, domain=d1.upper(), state="deferred")} == {t1, t2}
    assert _rows(stack, domain=d1, state="delivered") == []
    assert [d["rcpt"] for d in _rows(stack, domain=d2, state="delivered")] == [t3]
    # the envelope sender is our SRS address for the forward
    assert {d["rcpt"] for d in _rows(stack, domain=d1, sender=r1["mail_from"])} == {t1, t2}
    assert _rows(stack, domain=d1, sender="nobody@else.test") == []
    assert _rows(stack, domain=d1, min_age=3600) == []
    assert len(_rows(stack, domain=d1, max_age=3600)) == 2
    # paging: newest first, "next" is the cursor
    r = stack.api("relay").get("/v1/queue", params={"domain": d1, "limit": 1})
    page1 = r.json()
    assert len(page1["deliveries"]) == 1 and page1["next"] == page1["deliveries"][0]["id"]
    page2 = _rows(stack, domain=d1, limit=1, after=page1["next"])
    assert len(page2) == 1 and page2[0]["id"] < page1["next"]

    body = _show(stack, r1["queue_id"])
    by_rcpt = {d["rcpt"]: d for d in body["deliveries"]}
    assert set(by_rcpt) == {t1, t2, t3}
    h = by_rcpt[t1]["history"]
    assert len(h) == 1 and h[0]["result"] == "deferred", h
    assert h[0]["reply"].startswith("451"), h
    assert h[0]["host"].startswith("mx.remote.test["), h
    assert by_rcpt[t3]["history"][-1]["result"] == "delivered"

    r = stack.api("relay").get("/v1/queue/summary")
    assert r.status_code == 200, r.text
    s = r.json()
    dom = {d["domain"]: d for d in s["domains"]}
    assert dom[d1]["queued"] == 2 and dom[d1]["states"]["deferred"] == 2
    assert dom[d1]["ages"][0] == 2 and len(s["buckets"]) == len(dom[d1]["ages"])
    assert dom[d2]["queued"] == 0 and dom[d2]["states"]["delivered"] == 1
    assert s["total"]["queued"] >= 2

    out = stack.ctl("queue", "ls", "--domain", d1, "--state", "deferred").stdout
    assert t1 in out and t2 in out and t3 not in out
    out = stack.ctl("queue", "show", r1["queue_id"]).stdout
    assert "deferred" in out and "451" in out and t3 in out
    out = stack.ctl("queue", "summary").stdout
    line = [ln for ln in out.splitlines() if ln.startswith(d1)]
    assert line and line[0].split()[1] == "2", out
    assert d2 not in out     # nothing queued there: only with --all
    assert d2 in stack.ctl("queue", "summary", "--all").stdout
    js = json.loads(stack.ctl("--json", "queue", "summary").stdout)
    assert "domains" in js


def test_flush_by_domain_delivers_deferred_mail_now(module_stack):
    stack = module_stack
    d = _domain(stack)
    t = "f@" + d
    stack.sink.plan_rcpt(t, [451], then=250)
    _, msgid = _send(stack, [t], "flush")
    row = _deferred(stack, t)
    out = stack.ctl("queue", "flush", "--domain", d).stdout
    assert "changed" in out
    stack.sink.wait_for(t, pred=lambda m: m.message_id == msgid, timeout=30)
    _state(stack, t, "delivered")
    h = [x for x in _show(stack, row["queue_id"])["deliveries"] if x["rcpt"] == t][0]["history"]
    assert [a["result"] for a in h] == ["deferred", "delivered"], h


def test_flush_one_message_and_flush_all(module_stack):
    stack = module_stack
    d = _domain(stack)
    t1, t2 = "one@" + d, "two@" + d
    stack.sink.plan_rcpt(t1, [451], then=250)
    stack.sink.plan_rcpt(t2, [451], then=250)
    _send(stack, [t1], "f1")
    _send(stack, [t2], "f2")
    r1, _ = _deferred(stack, t1), _deferred(stack, t2)
    stack.ctl("queue", "flush", r1["queue_id"])
    _state(stack, t1, "delivered")
    r = stack.api("relay").post("/v1/queue/flush", json={})
    assert r.status_code == 200 and r.json()["action"] == "flush", r.text
    _state(stack, t2, "delivered")


def test_hold_keeps_mail_and_its_job_until_release(module_stack):
    stack = module_stack
    d = _domain(stack)
    held, other = "held@" + d, "other@" + d
    stack.sink.plan_rcpt(held, [451], then=250)
    stack.sink.plan_rcpt(other, [451], then=250)
    _send(stack, [held], "hold")
    _send(stack, [other], "hold2")
    row = _deferred(stack, held)
    _deferred(stack, other)

    r = stack.api("relay").post("/v1/queue/%s/hold" % row["queue_id"])
    assert r.status_code == 200 and r.json()["changed"] == 1, r.text
    _state(stack, held, "held")
    assert [x["rcpt"] for x in _rows(stack, domain=d, state="held")] == [held]
    # flushing the domain attempts the other message, never the held one
    stack.ctl("queue", "flush", "--domain", d)
    _state(stack, other, "delivered")
    assert stack.sink.attempts(held) == 1
    assert _state(stack, held, "held")["attempts"] == 1
    assert _job_state(stack, row["job_id"]) == "pending"

    out = stack.ctl("queue", "release", row["queue_id"]).stdout
    assert "changed" in out
    stack.sink.wait_for(held, timeout=30)
    _state(stack, held, "delivered")
    stack.wait_until(lambda: _job_state(stack, row["job_id"]) == "done", timeout=30)
    # nothing held any more: a second release changes nothing
    r = stack.api("relay").post("/v1/queue/%s/release" % row["queue_id"])
    assert r.status_code == 200 and r.json()["changed"] == 0, r.text


def test_delete_finishes_the_job_without_dsn(module_stack):
    stack = module_stack
    d = _domain(stack)
    t = "del@" + d
    stack.sink.plan_rcpt(t, [], then=451)
    _send(stack, [t], "del")
    row = _deferred(stack, t)
    stack.ctl("queue", "delete", row["queue_id"])
    _state(stack, t, "deleted")
    stack.wait_until(lambda: _job_state(stack, row["job_id"]) == "done", timeout=10)
    events = stack.psql("SELECT event FROM spool.events e JOIN spool.messages m "
                        "ON m.id = e.message_id WHERE m.queue_id = '%s' AND e.service = 'relay'"
                        % row["queue_id"])
    names = [e[0] for e in events]
    assert "deleted" in names and "dsn_queued" not in names, names
    # deleted rows are out of reach of flush and release
    r = stack.api("relay").post("/v1/queue/flush", json={"queue_id": row["queue_id"]})
    assert r.status_code == 200 and r.json()["changed"] == 0, r.text


def test_requeue_bounced_mail_is_tried_again(module_stack):
    stack = module_stack
    d = _domain(stack)
    t = "rq@" + d
    stack.sink.plan_rcpt(t, [550], then=250)
    _, msgid = _send(stack, [t], "requeue")
    row = _state(stack, t, "bounced")
    stack.wait_until(lambda: _job_state(stack, row["job_id"]) == "done", timeout=10)
    r = stack.api("relay").post("/v1/queue/%s/requeue" % row["queue_id"])
    assert r.status_code == 200 and r.json()["changed"] == 1, r.text
    stack.sink.wait_for(t, pred=lambda m: m.message_id == msgid, timeout=30)
    done = _state(stack, t, "delivered")
    assert done["attempts"] == 1
    h = [x for x in _show(stack, row["queue_id"])["deliveries"]][0]["history"]
    assert [a["result"] for a in h] == ["bounced", "delivered"], h


def test_requeue_deferred_resets_attempts(module_stack):
    stack = module_stack
    d = _domain(stack)
    t = "rd@" + d
    stack.sink.plan_rcpt(t, [451, 451], then=250)
    _send(stack, [t], "rqd")
    row = _deferred(stack, t)
    stack.ctl("queue", "requeue", row["queue_id"])
    # requeued: due now, attempts reset; tried again at once (451 again)
    again = _row(stack, t, lambda x: x["state"] == "pending" and x["attempts"] == 1
                 and stack.sink.attempts(t) >= 2, "second attempt of %s" % t)
    assert again["last_reply"].startswith("451")


def test_queue_api_errors(module_stack):
    api = module_stack.api("relay")
    for params in ({"state": "lost"}, {"min_age": "-1"}, {"max_age": "x"},
                   {"after": "0"}, {"limit": "1001"}):
        r = api.get("/v1/queue", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "bad_request"
    assert api.post("/v1/queue/NOSUCHQID/hold").status_code == 404
    assert api.post("/v1/queue/NOSUCHQID/explode").status_code == 404
    assert api.post("/v1/queue/bad!id/hold").status_code == 404
    r = api.post("/v1/queue/flush", json={"domain": "a.test", "queue_id": "X"})
    assert r.status_code == 400
    r = api.post("/v1/queue/flush", json={"color": "red"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_field"
    r = api.post("/v1/queue/flush", json={"domain": 5})
    assert r.status_code == 400
    r = module_stack.ctl("queue", "hold", "NOSUCHQID", check=False)
    assert r.returncode == 1 and "not_found" in r.stderr
    r = module_stack.ctl("queue", "flush", "--domain", "x.test", "QID", check=False)
    assert r.returncode == 2

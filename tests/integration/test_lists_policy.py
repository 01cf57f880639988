"""Lists beyond the basic post: the API's checks (conflicts, companions,
roles), the moderated and open policies, reject, the -bounces address,
subject prefixes that are already there, and the archive's paging checks.
Owned by the lists engineer (services/lists, services/archive)."""
import time

from harness import unique
from harness.smtp import make_message, send
from harness.stack import quote_addr


def _list(stack, uid, policy=None, members=()):
    addr = "%s@%s" % (uid, stack.domain)
    body = {"address": addr}
    if policy:
        body["policy"] = policy
    lists = stack.api("lists")
    r = lists.post("/v1/lists", json=body)
    assert r.status_code == 201, r.text
    for m in members:
        r = lists.post("/v1/lists/%s/members" % quote_addr(addr), json={"address": m})
        assert r.status_code == 201, r.text
    return addr


def _held(stack, addr, state=None):
    path = "/v1/lists/%s/held" % quote_addr(addr)
    if state:
        path += "?state=" + state
    r = stack.api("lists").get(path)
    assert r.status_code == 200, r.text
    return r.json()["held"]


def test_list_api_checks(stack):
    uid = unique("la")
    addr = _list(stack, uid)
    lists = stack.api("lists")
    r = lists.get("/v1/lists/%s" % quote_addr(addr.upper()))
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj["address"] == addr
    assert obj["subject_prefix"] == "[%s] " % uid
    assert obj["policy"] == "members"
    assert obj["members_count"] == 0
    assert "role" not in obj
    for suffix, role in (("-bounces", "bounces"), ("-request", "request")):
        r = lists.get("/v1/lists/%s" % quote_addr("%s%s@%s" % (uid, suffix, stack.domain)))
        assert r.status_code == 200, r.text
        assert r.json()["role"] == role
        assert r.json()["address"] == addr
        # a companion address cannot become a list of its own
        r = lists.post("/v1/lists", json={"address": "%s%s@%s" % (uid, suffix, stack.domain)})
        assert r.status_code == 409, r.text
    assert lists.post("/v1/lists", json={"address": addr}).status_code == 409
    for bad in ({"address": "x-%s@%s" % (uid, stack.domain), "policy": "anarchy"},
                {"address": "x-%s@%s" % (uid, stack.domain), "subject_prefix": "[x]\r\nBcc: a@b"},
                {"address": "not an address"},
                {"name": "no address"}):
        r = lists.post("/v1/lists", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert "error" in r.json()

    mpath = "/v1/lists/%s/members" % quote_addr(addr)
    assert lists.post(mpath, json={"address": "Owner-%s@Remote.test" % uid,
                                   "role": "owner"}).status_code == 201
    assert lists.post(mpath, json={"address": "owner-%s@remote.test" % uid}).status_code == 409
    assert lists.post(mpath, json={"address": "k-%s@remote.test" % uid,
                                   "role": "king"}).status_code == 400
    r = lists.get(mpath)
    assert r.json()["members"] == [{"address": "owner-%s@remote.test" % uid, "role": "owner",
                                   "bounce_count": 0, "last_bounce_at": None}]
    member = quote_addr("owner-%s@remote.test" % uid)
    assert lists.delete("%s/%s" % (mpath, member)).status_code == 204
    assert lists.delete("%s/%s" % (mpath, member)).status_code == 404

    assert lists.delete("/v1/lists/%s" % quote_addr(addr)).status_code == 204
    r = lists.get("/v1/lists/%s" % quote_addr(addr))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_moderated_list_holds_members_and_reject_sends_nothing(stack):
    uid = unique("lm")
    member = "m-%s@remote.test" % uid
    addr = _list(stack, uid, policy="moderated", members=[member])
    subject = "moderated post " + uid
    _, data = make_message(member, addr, subject=subject)
    send(stack.smtp_port, member, [addr], data)
    held = stack.wait_until(lambda: _held(stack, addr), timeout=45, what="a held post")
    assert len(held) == 1
    assert held[0]["reason"] == "moderated"
    assert held[0]["subject"] == subject
    assert held[0]["mail_from"] == member
    hid = held[0]["id"]

    lists = stack.api("lists")
    r = lists.post("/v1/held/%s/reject" % hid)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "rejected"
    assert lists.post("/v1/held/%s/reject" % hid).status_code == 409
    assert lists.post("/v1/held/%s/approve" % hid).status_code == 409
    assert _held(stack, addr) == []
    assert [h["state"] for h in _held(stack, addr, "all")] == ["rejected"]
    time.sleep(2)
    assert stack.sink.messages_to(member) == [], "a rejected post was delivered"


def test_open_list_keeps_existing_prefix(stack):
    uid = unique("lo")
    members = ["m%d-%s@remote.test" % (i, uid) for i in range(2)]
    addr = _list(stack, uid, policy="open", members=members)
    outsider = "out-%s@sender.test" % uid
    subject = "Re: [%s] thread %s" % (uid, uid)
    _, data = make_message(outsider, addr, subject=subject,
                           extra=["List-Id: other <other.list.test>", "Precedence: bulk"])
    send(stack.smtp_port, outsider, [addr], data)
    for mem in members:
        got = stack.sink.wait_for(mem, pred=lambda m: uid in (m.header("Subject") or ""),
                                  timeout=45)[0]
        assert got.header("Subject") == subject
        assert got.msg.get_all("List-Id") == ["%s <%s.%s>" % (uid, uid, stack.domain)]
        assert got.msg.get_all("Precedence") == ["list"]
        assert got.header("List-Post") == "<mailto:%s>" % addr
        assert got.header("List-Unsubscribe") == \
            "<mailto:%s-request@%s?subject=unsubscribe>" % (uid, stack.domain)
    assert _held(stack, addr) == []


def test_bounces_address_is_recorded(stack):
    uid = unique("lb")
    addr = _list(stack, uid, members=["m-%s@remote.test" % uid])
    bounces = "%s-bounces@%s" % (uid, stack.domain)
    _, data = make_message("", bounces, subject="Undelivered " + uid)
    send(stack.smtp_port, "", [bounces], data)

    def recorded():
        return stack.psql("SELECT detail->>'list' FROM spool.events WHERE service = 'lists'"
                          " AND event = 'bounce_received' AND detail->>'address' = '%s'"
                          % bounces)
    rows = stack.wait_until(recorded, timeout=45, what="a bounce_received event")
    assert rows[0][0] == addr
    assert _held(stack, addr) == []


def test_archive_paging_checks(stack):
    archive = stack.api("archive")
    base = "/v1/lists/%s/messages" % quote_addr("nobody-%s@%s" % (unique("ap"), stack.domain))
    r = archive.get(base)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 0 and r.json()["messages"] == []
    assert r.json()["page"] == 1 and r.json()["per_page"] == 50
    for q in ("per_page=201", "per_page=0", "page=0", "page=-1", "page=abc", "per_page=1e3"):
        r = archive.get(base + "?" + q)
        assert r.status_code == 400, (q, r.text)
        assert "error" in r.json()
    assert archive.get("/v1/messages/not-a-number").status_code == 404

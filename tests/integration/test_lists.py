"""Mailing lists end to end: member posts with list headers and the archive,
non-member posts held and approved (API and mailyardctl)."""
import json

from harness import unique
from harness.smtp import make_message, send
from harness.stack import quote_addr


def _new_list(stack, nmembers=3):
    uid = unique("ls")
    addr = "%s@%s" % (uid, stack.domain)
    members = ["m%d-%s@remote.test" % (i, uid) for i in range(nmembers)]
    stack.add_list(addr, members)
    return uid, addr, members


def _check_list_headers(m, uid, addr, subject):
    for h in ("List-Id", "List-Post", "List-Help", "List-Unsubscribe", "List-Archive"):
        assert m.header(h), "missing %s in %r" % (h, m.data[:2000])
    assert uid in m.header("List-Id")
    assert addr in m.header("List-Post")
    subj = m.header("Subject")
    assert subj.startswith("["), "no subject prefix: %r" % subj
    prefix = subj[1:subj.index("]")]
    assert uid in prefix, "subject prefix %r does not name the list" % subj
    assert subject in subj


def test_member_post_reaches_every_member_and_archive(stack):
    uid, addr, members = _new_list(stack)
    subject = "hello list " + uid
    msgid, data = make_message(members[0], addr, subject=subject, body="post body %s\r\n" % uid)
    send(stack.smtp_port, members[0], [addr], data)
    for mem in members:
        got = stack.sink.wait_for(mem, pred=lambda m: subject in (m.header("Subject") or ""),
                                  timeout=30)
        _check_list_headers(got[0], uid, addr, subject)
        assert b"post body" in got[0].data

    archive = stack.api("archive")

    def archived():
        r = archive.get("/v1/lists/%s/messages" % quote_addr(addr))
        if r.status_code != 200:
            return None
        for e in r.json()["messages"]:
            if uid in json.dumps(e) or msgid.strip("<>") in json.dumps(e):
                return e
        return None
    entry = stack.wait_until(archived, timeout=30, what="the post in the archive")
    assert "id" in entry, entry
    r = archive.get("/v1/messages/%s" % entry["id"])
    assert r.status_code == 200, r.text
    assert uid in r.text
    # unknown message -> 404 JSON error
    r = archive.get("/v1/messages/999999999")
    assert r.status_code == 404
    assert "error" in r.json()


def _held_ids(stack, addr):
    r = stack.api("lists").get("/v1/lists/%s/held" % quote_addr(addr))
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["held"]]


def _post_nonmember_and_wait_held(stack, addr, uid):
    outsider = "out-%s@sender.test" % uid
    subject = "outsider post " + uid
    _, data = make_message(outsider, addr, subject=subject)
    send(stack.smtp_port, outsider, [addr], data)
    ids = stack.wait_until(lambda: _held_ids(stack, addr), timeout=30, what="a held post")
    assert len(ids) == 1, ids
    return ids[0], subject


def test_nonmember_post_held_then_approved_via_api(stack):
    uid, addr, members = _new_list(stack, 2)
    hid, subject = _post_nonmember_and_wait_held(stack, addr, uid)
    assert stack.sink.messages_to(members[0]) == [], "held post was delivered"
    r = stack.api("lists").post("/v1/held/%s/approve" % hid)
    assert r.status_code in (200, 202, 204), r.text
    for mem in members:
        got = stack.sink.wait_for(mem, pred=lambda m: subject in (m.header("Subject") or ""),
                                  timeout=30)
        _check_list_headers(got[0], uid, addr, subject)
    assert _held_ids(stack, addr) == []


def test_nonmember_post_held_then_approved_via_ctl(stack):
    uid, addr, members = _new_list(stack, 2)
    hid, subject = _post_nonmember_and_wait_held(stack, addr, uid)
    r = stack.ctl("held", "ls", addr)
    assert str(hid) in r.stdout, r.stdout
    stack.ctl("held", "approve", hid)
    for mem in members:
        stack.sink.wait_for(mem, pred=lambda m: subject in (m.header("Subject") or ""),
                            timeout=30)

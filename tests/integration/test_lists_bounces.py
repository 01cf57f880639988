"""VERP per list and per-member bounce counters (docs/lists.md "VERP and
bounce counters"): with the relay's MAILYARD_RELAY_VERP off (default), a
list set to "verp": "on" still goes out with one VERP envelope per member
while a list left at "default" does not; a DSN (null sender) that comes
back to a member's VERP address raises that member's bounce_count and
last_bounce_at (members API and `mailyardctl member ls`; the setting via
`mailyardctl list verp`), other mail to the
address does not, and the other members stay at 0. With
MAILYARD_LISTS_BOUNCE_DISABLE_AFTER=1 the bounced member gets no more list
mail until removed and added again (which starts its counter afresh)."""
from harness import unique
from harness.smtp import make_message, send
from harness.stack import quote_addr
from test_forwarding_bounce import dsn_for, events_of

STACK_CONFIG = {"extra_env": {"lists": {"MAILYARD_LISTS_BOUNCE_DISABLE_AFTER": "1"}}}


def _members(s, addr):
    r = s.api("lists").get("/v1/lists/%s/members" % quote_addr(addr))
    assert r.status_code == 200, r.text
    return {m["address"]: m for m in r.json()["members"]}


def _post(s, addr, members, tag):
    subject = "%s %s" % (tag, unique(tag))
    msgid, data = make_message(members[0], addr, subject=subject)
    send(s.smtp_port, members[0], [addr], data)
    got = {m: s.sink.wait_for(m, timeout=60, pred=lambda x: subject in
                              (x.header("Subject") or ""))[0] for m in members}
    return msgid, got


def test_list_verp_setting_and_member_bounce_counter(module_stack):
    s = module_stack
    uid = unique("lb")
    addr = "%s@%s" % (uid, s.domain)
    members = ["m%d-%s@remote.test" % (i, uid) for i in range(2)]
    s.add_list(addr, members)
    lists = s.api("lists")
    assert lists.get("/v1/lists/%s" % quote_addr(addr)).json()["verp"] == "default"
    bad = lists.patch("/v1/lists/%s" % quote_addr(addr), json={"verp": "yes"})
    assert bad.status_code == 400, bad.text

    # default (relay VERP off): one plain envelope
    _, got = _post(s, addr, members, "lbplain")
    assert got[members[0]].mail_from == "%s-bounces@%s" % (uid, s.domain)

    s.ctl("list", "verp", addr, "on")
    assert lists.get("/v1/lists/%s" % quote_addr(addr)).json()["verp"] == "on"
    assert s.ctl("list", "verp", addr, "sometimes", check=False).returncode != 0
    msgid, got = _post(s, addr, members, "lbverp")
    victim = members[1]
    local, dom = victim.split("@")
    verp = got[victim].mail_from
    assert verp == "%s-bounces+%s=%s@%s" % (uid, local, dom, s.domain), verp
    assert got[victim].rcpts == [victim]

    # mail from a non-null sender to the VERP address is not a bounce
    _, junk = make_message("x-%s@sender.test" % uid, verp, subject="not a bounce")
    send(s.smtp_port, "x-%s@sender.test" % uid, [verp], junk)
    # a DSN is
    bmsgid, bdata = dsn_for(verp, msgid, "text/rfc822-headers")
    send(s.smtp_port, "", [verp], bdata)

    def counted():
        return [e for e in events_of(s, bmsgid) if e[0] == "member_bounce"] or None
    ev = s.wait_until(counted, timeout=60, what="member_bounce event")
    assert victim in ev[0][1] and '"bounce_count": 1' in ev[0][1], ev
    assert '"disabled": true' in ev[0][1], ev
    m = _members(s, addr)
    assert m[victim]["bounce_count"] == 1, m
    assert m[victim]["last_bounce_at"], m
    assert m[members[0]]["bounce_count"] == 0 and m[members[0]]["last_bounce_at"] is None, m
    # the non-bounce reached lists too, and did not count
    s.wait_until(lambda: int(s.psql(
        "select count(*) from spool.events where service = 'lists' and "
        "event = 'bounce_received' and detail->>'list' = '%s'" % addr)[0][0]) >= 2,
        timeout=60, what="both messages at the list's -bounces")
    assert _members(s, addr)[victim]["bounce_count"] == 1

    out = s.ctl("member", "ls", addr).stdout
    line = [ln for ln in out.splitlines() if victim in ln]
    assert line and "bounce_count" in line[0] and "1" in line[0], out

    # disabled after 1 bounce: the next post goes to the other member only
    subject = "lbdis " + unique("lbdis")
    pid, data = make_message(members[0], addr, subject=subject)
    send(s.smtp_port, members[0], [addr], data)
    s.sink.wait_for(members[0], timeout=60,
                    pred=lambda x: subject in (x.header("Subject") or ""))
    exp = [e for e in events_of(s, pid) if e[0] == "expanded"]
    assert len(exp) == 1 and '"members": 1' in exp[0][1], exp
    # removed and added again: counter reset, mail again
    mpath = "/v1/lists/%s/members" % quote_addr(addr)
    assert lists.delete("%s/%s" % (mpath, quote_addr(victim))).status_code == 204
    assert lists.post(mpath, json={"address": victim}).status_code == 201
    assert _members(s, addr)[victim]["bounce_count"] == 0
    _post(s, addr, members, "lbback")

"""VERP for list mail (MAILYARD_RELAY_VERP=on): one envelope per member with
MAIL FROM <list-bounces+member=domain@listdomain>, and a bounce that comes
back to such an address is matched to the list copy and the member
(rewrite_verp.c: "bounce_received" with verp_rcpt on the copy,
"verp_bounce" and "bounce_matched" on the bounce). Forwarded (non-list)
mail keeps its one envelope."""
from harness import unique
from harness.smtp import make_message, send
from test_forwarding_bounce import dsn_for, events_of

STACK_CONFIG = {"extra_env": {"relay": {"MAILYARD_RELAY_VERP": "on"}}}


def _post(stack, nmembers=2):
    uid = unique("vp")
    addr = "%s@%s" % (uid, stack.domain)
    members = ["m%d-%s@remote.test" % (i, uid) for i in range(nmembers)]
    stack.add_list(addr, members)
    subject = "verp " + uid
    msgid, data = make_message(members[0], addr, subject=subject)
    send(stack.smtp_port, members[0], [addr], data)
    got = {m: stack.sink.wait_for(m, timeout=60, pred=lambda x: subject in
                                  (x.header("Subject") or ""))[0] for m in members}
    return uid, addr, members, msgid, got


def test_each_member_gets_its_own_envelope_with_a_verp_sender(module_stack):
    s = module_stack
    uid, addr, members, _, got = _post(s, 3)
    for m, msg in got.items():
        local, dom = m.split("@")
        assert msg.rcpts == [m], msg.rcpts
        assert msg.mail_from == "%s-bounces+%s=%s@%s" % (uid, local, dom, s.domain), \
            msg.mail_from


def test_a_bounce_to_the_verp_address_is_matched_to_the_copy_and_the_member(module_stack):
    s = module_stack
    uid, addr, members, msgid, got = _post(s, 2)
    victim = members[1]
    verp = got[victim].mail_from
    bmsgid, bdata = dsn_for(verp, msgid, "text/rfc822-headers")
    send(s.smtp_port, "", [verp], bdata)

    def matched():
        ev = [e for e in events_of(s, msgid) if e[0] == "bounce_received"
              and "verp_rcpt" in e[1]]
        return ev or None
    ev = s.wait_until(matched, timeout=60, what="bounce_received with the member")
    assert len(ev) == 1 and victim in ev[0][1], ev
    assert members[0] not in ev[0][1]
    bev = events_of(s, bmsgid)
    assert any(e[0] == "verp_bounce" and victim in e[1] for e in bev), bev
    assert any(e[0] == "bounce_matched" for e in bev), bev
    # the list's -bounces address still got it (lists' own bounce_received)
    s.wait_until(lambda: [e for e in bev + events_of(s, bmsgid)
                          if e[0] == "bounce_received"] or None,
                 timeout=30, what="lists' bounce_received on the bounce")


def test_forwarded_mail_is_not_verped(module_stack):
    s = module_stack
    uid = unique("vpf")
    alias = "%s@%s" % (uid, s.domain)
    targets = ["a-%s@remote.test" % uid, "b-%s@remote.test" % uid]
    s.add_alias(alias, targets)
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="fwd " + uid)
    send(s.smtp_port, sender, [alias], data)
    got = s.sink.wait_for(targets[0], timeout=60, pred=lambda m: m.message_id == msgid)
    assert sorted(got[0].rcpts) == sorted(targets)      # one envelope for both
    assert got[0].mail_from.upper().startswith("SRS0=")

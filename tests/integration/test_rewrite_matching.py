"""rewrite's recipient matching end to end: user+tag@ reaching the alias or
list user@, per-domain catch-alls used only when nothing else matches,
postmaster@/abuse@ always deliverable, and mx's RCPT answers agreeing with
the rewrite job's decision (both use rewrite's classification)."""
import smtplib

from harness import unique
from harness.smtp import make_message, send

POSTMASTER = "ops-postmaster@remote.test"
STACK_CONFIG = {"extra_env": {"rewrite": {"MAILYARD_REWRITE_POSTMASTER": POSTMASTER}}}


def rcpt_code(stack, addr, sender="s@sender.test"):
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as c:
        c.ehlo("client.it.test")
        assert c.mail(sender)[0] == 250
        return c.rcpt(addr)[0]


def new_domain(stack):
    d = "%s.test" % unique("dom")
    stack.seed_domain(d)
    return d


def deliver(stack, rcpt, target):
    sender = "%s@sender.test" % unique("s")
    msgid, data = make_message(sender, rcpt, subject="matching " + rcpt)
    send(stack.smtp_port, sender, [rcpt], data)
    return stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)[0]


def test_extension_reaches_alias(module_stack):
    s = module_stack
    uid = unique("ext")
    alias = "%s@%s" % (uid, s.domain)
    target = "t-%s@remote.test" % uid
    s.add_alias(alias, [target])
    tagged = "%s+news@%s" % (uid, s.domain)
    r = s.api("rewrite").get("/v1/recipients/" + tagged)
    assert r.status_code == 200, r.text
    assert r.json()["class"] == "alias" and r.json()["matched"] == alias
    assert rcpt_code(s, tagged) == 250
    m = deliver(s, tagged, target)
    assert m.mail_from.upper().startswith("SRS0="), m.mail_from
    # without the base alias, the tagged address is unknown at RCPT and in the API
    other = "%s+news@%s" % (unique("none"), s.domain)
    assert s.api("rewrite").get("/v1/recipients/" + other).status_code == 404
    assert rcpt_code(s, other) == 550


def test_exact_tagged_alias_wins(module_stack):
    s = module_stack
    uid = unique("exact")
    s.add_alias("%s@%s" % (uid, s.domain), ["base-%s@remote.test" % uid])
    s.add_alias("%s+vip@%s" % (uid, s.domain), ["vip-%s@remote.test" % uid])
    deliver(s, "%s+vip@%s" % (uid, s.domain), "vip-%s@remote.test" % uid)
    deliver(s, "%s+other@%s" % (uid, s.domain), "base-%s@remote.test" % uid)


def test_extension_reaches_list(module_stack):
    s = module_stack
    lst = "%s@%s" % (unique("lst"), s.domain)
    s.add_list(lst, members=["m-%s@remote.test" % unique("m")])
    local, dom = lst.split("@")
    r = s.api("rewrite").get("/v1/recipients/%s+digest@%s" % (local, dom))
    assert r.status_code == 200, r.text
    assert r.json()["class"] == "list" and r.json()["matched"] == lst
    assert rcpt_code(s, "%s+digest@%s" % (local, dom)) == 250


def test_catchall_only_when_nothing_else_matches(module_stack):
    s = module_stack
    d = new_domain(s)
    catch = "catch-%s@remote.test" % unique("c")
    exact = "exact-%s@remote.test" % unique("e")
    s.add_alias("known@" + d, [exact])
    # unknown before the catch-all exists
    assert rcpt_code(s, "before@" + d) == 550
    r = s.api("rewrite").post("/v1/aliases", json={"address": "@" + d, "targets": [catch]})
    assert r.status_code == 201, r.text
    assert r.json()["address"] == "@" + d
    assert s.api("rewrite").get("/v1/aliases/@" + d).status_code == 200
    r = s.api("rewrite").get("/v1/recipients/whoever@" + d)
    assert r.status_code == 200 and r.json()["matched"] == "@" + d, r.text
    assert rcpt_code(s, "whoever@" + d) == 250
    deliver(s, "whoever@" + d, catch)
    deliver(s, "known@" + d, exact)
    # the catch-all does not leak into other domains
    assert rcpt_code(s, "whoever@" + s.domain) == 550
    # a bad catch-all key is refused
    r = s.api("rewrite").post("/v1/aliases", json={"address": "@not a domain",
                                                   "targets": [catch]})
    assert r.status_code == 400


def test_catchall_loop_bounces_not_loops(module_stack):
    s = module_stack
    d = new_domain(s)
    s.add_alias("@" + d, ["other@" + d])
    assert rcpt_code(s, "x@" + d) == 250
    sender = "%s@sender.test" % unique("loop")
    msgid, data = make_message(sender, "x@" + d)
    send(s.smtp_port, sender, ["x@" + d], data)
    dsn = s.sink.wait_for(sender, timeout=30)[0]
    assert dsn.mail_from == ""
    assert b"5.4.6" in dsn.data


def test_postmaster_and_abuse_always_deliverable(module_stack):
    s = module_stack
    d = new_domain(s)
    for local in ("postmaster", "Abuse", "postmaster+x"):
        addr = "%s@%s" % (local, d)
        r = s.api("rewrite").get("/v1/recipients/" + addr)
        assert r.status_code == 200, r.text
        assert r.json()["targets"] == [POSTMASTER]
        assert rcpt_code(s, addr) == 250
        assert rcpt_code(s, addr, sender="") == 250
    deliver(s, "abuse@" + d, POSTMASTER)
    # RFC 5321 4.5.1: "Postmaster" without a domain (rewrite's answer; mx's
    # parsing of RCPT TO:<Postmaster> is mx's part)
    r = s.api("rewrite").get("/v1/recipients/Postmaster")
    assert r.status_code == 200 and r.json()["class"] == "alias", r.text
    assert rcpt_code(s, "Postmaster") == 250
    deliver(s, "Postmaster", POSTMASTER)
    # an explicit alias wins over the default
    own = "pm-%s@remote.test" % unique("pm")
    s.add_alias("postmaster@" + d, [own])
    deliver(s, "postmaster@" + d, own)

"""Alias forwarding end to end: SRS-rewritten envelope sender, bounces to the
SRS address reach the original sender, forged SRS addresses are refused."""
import smtplib
import time

from harness import unique
from harness.smtp import make_message, send
from harness.srs import SRS0_RE, norm_hash, srs_hash, srs_tt
from harness.stack import SRS_SECRETS


def _forward_one(stack):
    """Sends one message to a fresh alias; returns (sender, target, sink message)."""
    uid = unique("al")
    alias = "%s@%s" % (uid, stack.domain)
    target = "t-%s@remote.test" % uid
    sender = "s-%s@sender.test" % uid
    stack.add_alias(alias, [target])
    msgid, data = make_message(sender, alias, subject="alias test " + uid,
                               body="alias body %s\r\n" % uid)
    send(stack.smtp_port, sender, [alias], data)
    got = stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)
    return sender, target, got[0]


def test_alias_forwarding_rewrites_sender_with_srs(stack):
    sender, target, m = _forward_one(stack)
    local, domain = sender.split("@")
    mt = SRS0_RE.match(m.mail_from)
    assert mt, "envelope sender %r is not SRS0" % m.mail_from
    h, tt, sdomain, slocal, srsdom = mt.groups()
    assert sdomain.lower() == domain
    assert slocal.lower() == local
    assert srsdom.lower() == stack.srs_domain
    assert m.rcpts == [target] or target in [r.lower() for r in m.rcpts]
    body = m.data.split(b"\r\n\r\n", 1)[1]
    assert b"alias body" in body
    # the hash follows libcommon/srs.h with the first (signing) secret
    assert tt.upper() in (srs_tt(), srs_tt(time.time() - 86400))
    assert norm_hash(h) == norm_hash(srs_hash(SRS_SECRETS[0], tt, sdomain, slocal)), \
        "SRS hash %s does not verify with the signing secret" % h


def test_bounce_to_srs_address_reaches_original_sender(stack):
    sender, target, m = _forward_one(stack)
    srs_addr = m.mail_from
    assert SRS0_RE.match(srs_addr), srs_addr
    uid = unique("bounce")
    msgid, data = make_message("", srs_addr, subject="Undelivered mail " + uid,
                               body="your message could not be delivered\r\n")
    send(stack.smtp_port, "", [srs_addr], data)
    got = stack.sink.wait_for(sender, pred=lambda x: x.message_id == msgid, timeout=30)
    assert got[0].mail_from == "", "a bounce must keep the null sender, got %r" % got[0].mail_from


def test_forged_srs_address_refused_at_rcpt(stack):
    uid = unique("forged")
    tt = srs_tt()
    real = srs_hash(SRS_SECRETS[0], tt, "sender.test", uid)
    fake = "ZZZZ" if norm_hash(real) != "zzzz" else "YYYY"
    forged = "SRS0=%s=%s=sender.test=%s@%s" % (fake, tt, uid, stack.srs_domain)
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as c:
        c.ehlo("client.it.test")
        code, _ = c.mail("")
        assert code == 250
        code, text = c.rcpt(forged)
        assert code == 550, "forged SRS %s got %d %r" % (forged, code, text)

"""SMTP ingress policy of mx: recipient validation, relay refusal, STARTTLS,
limits and malformed input (each answered, never a crash)."""
import smtplib

import pytest

from harness import unique
from harness.smtp import RawSession, make_message, send


def _alias(stack):
    uid = unique("pol")
    alias = "%s@%s" % (uid, stack.domain)
    target = "t-%s@remote.test" % uid
    stack.add_alias(alias, [target])
    return uid, alias, target


def test_unknown_local_recipient_550_511(stack):
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as c:
        c.ehlo("client.it.test")
        assert c.mail("someone@sender.test")[0] == 250
        code, text = c.rcpt("%s@%s" % (unique("nobody"), stack.domain))
        assert code == 550, (code, text)
        assert b"5.1.1" in text


def test_foreign_domain_without_auth_554_571(stack):
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as c:
        c.ehlo("client.it.test")
        assert c.mail("someone@sender.test")[0] == 250
        code, text = c.rcpt("victim@elsewhere.test")
        assert code == 554, (code, text)
        assert b"5.7.1" in text


def test_starttls_session_delivers(stack):
    uid, alias, target = _alias(stack)
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as c:
        c.ehlo("client.it.test")
        assert c.has_extn("starttls"), "STARTTLS not offered"
    msgid, data = make_message("tls-%s@sender.test" % uid, alias, subject="tls " + uid)
    send(stack.smtp_port, "tls-%s@sender.test" % uid, [alias], data, starttls=True)
    stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)


def test_message_over_size_limit_552(stack):
    uid, alias, target = _alias(stack)
    limit = stack.config.smtp_max_message_size
    body = ("x" * 76 + "\r\n") * (limit // 78 + 100)
    _, data = make_message("big@sender.test", alias, subject="big", body=body)
    assert len(data) > limit
    # through smtplib (uses SIZE= when advertised: refused at MAIL or at DATA)
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as ei:
        send(stack.smtp_port, "big@sender.test", [alias], data)
    assert ei.value.smtp_code == 552, ei.value
    assert b"5.3.4" in ei.value.smtp_error
    # without SIZE=: the limit is enforced while the data arrives
    with RawSession(stack.smtp_port) as s:
        assert s.read_reply()[0] == 220
        assert s.cmd("EHLO client.it.test")[0] == 250
        assert s.cmd("MAIL FROM:<big@sender.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
        assert s.cmd("DATA")[0] == 354
        try:
            s.send_raw(data + b"\r\n.\r\n")
        except OSError:
            pass  # the server may answer 552 and stop reading early
        code, text = s.read_reply()
        assert code == 552, text
        assert "5.3.4" in text
    assert stack.sink.messages_to(target) == []


def test_line_over_1000_octets_5xx(stack):
    with RawSession(stack.smtp_port) as s:
        assert s.read_reply()[0] == 220
        assert s.cmd("EHLO client.it.test")[0] == 250
        code, text = s.cmd("NOOP " + "x" * 1100)
        assert 500 <= code < 600, text


def test_command_sequence_errors_503(stack):
    uid, alias, _ = _alias(stack)
    with RawSession(stack.smtp_port) as s:
        assert s.read_reply()[0] == 220
        code, text = s.cmd("MAIL FROM:<a@sender.test>")
        assert code == 503, "MAIL before EHLO: %s" % text
        assert s.cmd("EHLO client.it.test")[0] == 250
        assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250
        code, text = s.cmd("MAIL FROM:<b@sender.test>")
        assert code == 503, "second MAIL: %s" % text
        code, text = s.cmd("DATA")
        assert code == 503, "DATA without RCPT: %s" % text
        assert s.cmd("RSET")[0] == 250
        assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
        assert s.cmd("QUIT")[0] == 221


def test_garbage_bytes_500_and_session_goes_on(stack):
    with RawSession(stack.smtp_port) as s:
        assert s.read_reply()[0] == 220
        assert s.cmd("EHLO client.it.test")[0] == 250
        code, text = s.cmd(b"\x00\x01\xff\xfe\x80garbage\x1b[0m")
        assert code == 500, text
        code, text = s.cmd(b"FROBNICATE now")
        assert code == 500, text
        assert s.cmd("NOOP")[0] == 250
        assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250


def test_vrfy_252(stack):
    with RawSession(stack.smtp_port) as s:
        assert s.read_reply()[0] == 220
        assert s.cmd("EHLO client.it.test")[0] == 250
        code, text = s.cmd("VRFY postmaster")
        assert code == 252, text

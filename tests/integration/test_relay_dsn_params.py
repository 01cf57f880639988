"""RFC 3461 DSN parameters from the ingress to the relay's reports: NOTIFY
(NEVER, SUCCESS, FAILURE without DELAY), RET (HDRS / FULL), ENVID and
ORCPT, carried through alias expansion; a next hop that announces DSN
(Postfix's smtp-sink, reached through the transport map) gets the
parameters on MAIL/RCPT instead of a "relayed" report from us."""
import glob
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile

import pytest

from harness import unique
from harness.smtp import make_message
from harness.util import free_port, wait_until

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


class PostfixSink:
    """Postfix's smtp-sink on loopback, dumping every message with its
    X-Mail-Args / X-Rcpt-Args (the parameters it was given)."""

    def __init__(self, base):
        self.dir = os.path.join(base, "dump")
        os.chmod(base, 0o755)          # smtp-sink writes as "nobody" when we are root
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        args = [SMTP_SINK]
        if os.getuid() == 0:
            args += ["-u", "nobody"]
        args += ["-D", os.path.join(self.dir, "dump"), "127.0.0.1:%d" % self.port, "10"]
        self.proc = subprocess.Popen(args)
        wait_until(self._listening, timeout=10, what="smtp-sink listening")

    def _listening(self):
        assert self.proc.poll() is None, "smtp-sink exited"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return None

    def dumps(self):
        out = b""
        for p in glob.glob(os.path.join(self.dir, "*")):
            with open(p, "rb") as f:
                out += f.read()
        return out.decode("utf-8", "replace")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def dsnstack():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="relay-dsn-")
    psink = PostfixSink(tmp) if os.path.exists(SMTP_SINK) else None
    tmap = os.path.join(tmp, "transport-map")
    with open(tmap, "w") as f:
        f.write("dsnhop.test  smarthost:127.0.0.1:%d\n" % (psink.port if psink else 9))
    s = _new_stack("relay_dsn", extra_env={"relay": {
        "MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap,
        "MAILYARD_RELAY_DELAY_WARNING_SECONDS": "2"}})
    yield s, psink
    _close(s)
    if psink is not None:
        psink.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def _send(stack, sender, rcpts, mail_opts=(), rcpt_opts=None, subject="dsn", body="hello\r\n"):
    """One SMTP transaction to our mx with per-recipient options."""
    msgid, data = make_message(sender, rcpts[0], subject="%s %s" % (subject, unique("s")),
                               body=body)
    rcpt_opts = rcpt_opts or {}
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, local_hostname="client.it.test",
                      timeout=30) as c:
        c.ehlo()
        code, _ = c.mail(sender, list(mail_opts))
        assert code == 250
        for r in rcpts:
            code, msg = c.rcpt(r, list(rcpt_opts.get(r, ())))
            assert code == 250, (r, code, msg)
        code, msg = c.data(data)
        assert code == 250, msg
    return msgid


def _alias(stack, target):
    alias = "%s@%s" % (unique("dpalias"), stack.domain)
    stack.add_alias(alias, [target])
    return alias


def _queued_reports(stack, rcpt):
    """(action, recipients) of the DSNs the relay queued for the message
    that rcpt's delivery belongs to: queued in the same transaction as the
    delivery's event, so complete once that event is there."""
    return stack.psql("select detail->>'action', detail->>'recipients' from spool.events "
                      "where event = 'dsn_queued' and message_id in (select message_id "
                      "from relay.deliveries where rcpt = '%s') order by id" % rcpt)


def _reports(stack, sender, action):
    return [m for m in stack.sink.messages_to(sender)
            if m.mail_from == "" and ("Action: %s" % action).encode() in m.data]


def _final_events(stack, rcpt):
    return stack.psql("select event, coalesce(detail->>'dsn', '') from spool.events "
                      "where service = 'relay' and event in ('delivered', 'bounced') "
                      "and detail->>'rcpt' = '%s'" % rcpt)


def test_notify_never_suppresses_the_failure_report_of_that_recipient_only(dsnstack):
    s, _ = dsnstack
    never = "never-%s@remote.test" % unique("dp")
    normal = "normal-%s@remote.test" % unique("dp")
    s.sink.plan_rcpt(never, [], then=550)
    s.sink.plan_rcpt(normal, [], then=550)
    sender = "s-%s@sender.test" % unique("dp")
    a_normal, a_never = _alias(s, normal), _alias(s, never)
    _send(s, sender, [a_normal, a_never], rcpt_opts={a_never: ["NOTIFY=NEVER"]})

    got = s.sink.wait_for(sender, timeout=60, pred=lambda m: b"Action: failed" in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; %s" % normal in text
    assert never not in text and a_never not in text
    s.wait_until(lambda: _final_events(s, never) or None, timeout=30, what="bounce event")
    assert _final_events(s, never) == [["bounced", ""]]
    assert _final_events(s, normal) == [["bounced", "failed"]]
    assert _queued_reports(s, never) == [["failed", "1"]]


def test_ret_hdrs_envid_and_orcpt_through_an_alias_in_the_failure_report(dsnstack):
    s, _ = dsnstack
    target = "gone-%s@remote.test" % unique("dp")
    s.sink.plan_rcpt(target, [], then=550)
    alias = "%s@%s" % (unique("dpalias"), s.domain)
    s.add_alias(alias, [target])
    sender = "s-%s@sender.test" % unique("dp")
    msgid = _send(s, sender, [alias], mail_opts=["RET=HDRS", "ENVID=env+2Bid-42"],
                  rcpt_opts={alias: ["NOTIFY=FAILURE", "ORCPT=rfc822;" + alias]},
                  body="SECRET-BODY-LINE\r\n")

    got = s.sink.wait_for(sender, timeout=60, pred=lambda m: b"Action: failed" in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Original-Envelope-Id: env+id-42" in text
    assert "Original-Recipient: rfc822;%s" % alias in text
    assert "Final-Recipient: rfc822; %s" % target in text
    assert "Content-Type: text/rfc822-headers" in text
    assert msgid in text
    assert "SECRET-BODY-LINE" not in text


def test_ret_full_returns_the_body_and_orcpt_defaults_to_the_alias(dsnstack):
    s, _ = dsnstack
    target = "gone-%s@remote.test" % unique("dp")
    s.sink.plan_rcpt(target, [], then=550)
    alias = "%s@%s" % (unique("dpalias"), s.domain)
    s.add_alias(alias, [target])
    sender = "s-%s@sender.test" % unique("dp")
    _send(s, sender, [alias], mail_opts=["RET=FULL"], body="FULL-BODY-LINE\r\n")

    got = s.sink.wait_for(sender, timeout=60, pred=lambda m: b"Action: failed" in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Content-Type: message/rfc822" in text
    assert "FULL-BODY-LINE" in text
    assert "Original-Recipient: rfc822;%s" % alias in text
    assert "Original-Envelope-Id" not in text


def test_notify_success_to_a_hop_without_dsn_gets_a_relayed_report(dsnstack):
    s, _ = dsnstack
    target = "ok-%s@remote.test" % unique("dp")
    alias = "%s@%s" % (unique("dpalias"), s.domain)
    s.add_alias(alias, [target])
    sender = "s-%s@sender.test" % unique("dp")
    msgid = _send(s, sender, [alias], mail_opts=["ENVID=succ1"],
                  rcpt_opts={alias: ["NOTIFY=SUCCESS,FAILURE"]}, body="SUCCESS-BODY\r\n")

    s.sink.wait_for(target, timeout=60)
    got = s.sink.wait_for(sender, timeout=60, pred=lambda m: b"Action: relayed" in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Successful Mail Delivery Report" in got[0].header("Subject")
    assert "Final-Recipient: rfc822; %s" % target in text
    assert "Original-Recipient: rfc822;%s" % alias in text
    assert "Original-Envelope-Id: succ1" in text
    assert "Status: 2.0.0" in text
    assert "Content-Type: text/rfc822-headers" in text     # headers only
    assert msgid in text and "SUCCESS-BODY" not in text
    assert _final_events(s, target) == [["delivered", "relayed"]]


def test_no_success_report_without_notify_success(dsnstack):
    s, _ = dsnstack
    target = "ok-%s@remote.test" % unique("dp")
    sender = "s-%s@sender.test" % unique("dp")
    _send(s, sender, [_alias(s, target)])
    s.sink.wait_for(target, timeout=60)
    s.wait_until(lambda: _final_events(s, target) or None, timeout=30, what="event")
    assert _final_events(s, target) == [["delivered", ""]]
    assert _queued_reports(s, target) == []
    assert not _reports(s, sender, "relayed")


def test_a_hop_that_announces_dsn_gets_the_parameters_and_we_stay_silent(dsnstack):
    s, psink = dsnstack
    if psink is None:
        pytest.skip("Postfix's smtp-sink is not installed (deploy/local/deps.sh: postfix)")
    target = "ok-%s@dsnhop.test" % unique("dp")
    alias = "%s@%s" % (unique("dpalias"), s.domain)
    s.add_alias(alias, [target])
    sender = "s-%s@sender.test" % unique("dp")
    _send(s, sender, [alias], mail_opts=["RET=HDRS", "ENVID=hop+2B1"],
          rcpt_opts={alias: ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Orig+2Bx@sender.test"]})

    def dumped():
        d = psink.dumps()
        return d if target in d else None
    dump = s.wait_until(dumped, timeout=60, what="message at smtp-sink")
    rcpt_line = [ln for ln in dump.splitlines() if ln.startswith("X-Rcpt-Args: <%s>" % target)]
    assert rcpt_line, dump[:2000]
    assert "NOTIFY=SUCCESS,DELAY" in rcpt_line[0]
    assert "ORCPT=rfc822;Orig+2Bx@sender.test" in rcpt_line[0]
    mail_lines = [ln for ln in dump.splitlines() if ln.startswith("X-Mail-Args:")]
    assert any("RET=HDRS" in ln and "ENVID=hop+2B1" in ln for ln in mail_lines), mail_lines
    s.wait_until(lambda: _final_events(s, target) or None, timeout=30, what="event")
    assert _final_events(s, target) == [["delivered", ""]]
    assert _queued_reports(s, target) == []


def test_notify_failure_without_delay_gets_no_delay_warning(dsnstack):
    s, _ = dsnstack
    quiet = "busy-q-%s@remote.test" % unique("dp")
    loud = "busy-l-%s@remote.test" % unique("dp")
    s.sink.plan_rcpt(quiet, [], then=451)
    s.sink.plan_rcpt(loud, [], then=451)
    sender = "s-%s@sender.test" % unique("dp")
    a_loud, a_quiet = _alias(s, loud), _alias(s, quiet)
    _send(s, sender, [a_loud, a_quiet], rcpt_opts={a_quiet: ["NOTIFY=FAILURE"],
                                                   a_loud: ["NOTIFY=DELAY,FAILURE"]})

    got = s.sink.wait_for(sender, timeout=60, pred=lambda m: b"Action: delayed" in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; %s" % loud in text
    status = text.split("Content-Type: message/delivery-status")[1].split("--=_mailyard")[0]
    assert "Final-Recipient: rfc822; %s" % loud in status
    assert quiet not in status and a_quiet not in status
    rows = s.psql("select state, delay_warned_at is not null from relay.deliveries "
                  "where rcpt = '%s'" % quiet)
    assert rows == [["pending", "t"]], rows


def test_notify_success_on_final_delivery_reports_delivered(stack_factory, tmp_path):
    """Maildir is a final delivery: NOTIFY=SUCCESS gives "Action: delivered"
    (the report itself lands in the same Maildir, as all mail of that stack)."""
    md = str(tmp_path / "maildir")
    s = stack_factory(extra_env={"relay": {"MAILYARD_RELAY_TRANSPORT": "maildir",
                                           "MAILYARD_RELAY_MAILDIR": md}})
    target = "box-%s@remote.test" % unique("dp")
    alias = _alias(s, target)
    sender = "s-%s@sender.test" % unique("dp")
    _send(s, sender, [alias], rcpt_opts={alias: ["NOTIFY=SUCCESS"]})

    def report():
        new = os.path.join(md, "new")
        for name in os.listdir(new) if os.path.isdir(new) else []:
            with open(os.path.join(new, name), "rb") as f:
                data = f.read()
            if b"Action: delivered" in data and sender.encode() in data:
                return data.decode("utf-8", "replace")
        return None
    text = s.wait_until(report, timeout=60, what="a delivered report in the Maildir")
    assert "Final-Recipient: rfc822; %s" % target in text
    assert "Original-Recipient: rfc822;%s" % alias in text
    assert "Status: 2.0.0" in text
    assert _final_events(s, target) == [["delivered", "delivered"]]

"""Delay warning DSNs (RFC 3464 Action: delayed): one per recipient after
MAILYARD_RELAY_DELAY_WARNING_SECONDS of deferrals, never to the null
sender, and the recipient keeps being retried afterwards."""
from email.utils import parsedate_to_datetime

from harness import unique
from harness.smtp import make_message, send

STACK_CONFIG = {"extra_env": {"relay": {"MAILYARD_RELAY_DELAY_WARNING_SECONDS": "2"}}}


def _send_via_alias(stack, target, sender, tag):
    alias = "%s@%s" % (unique("dw"), stack.domain)
    stack.add_alias(alias, [target])
    msgid, data = make_message(sender or None, alias, subject="%s %s" % (tag, unique(tag)))
    send(stack.smtp_port, sender, [alias], data)
    return msgid


def _delay_dsns(stack, sender, target):
    return [m for m in stack.sink.messages_to(sender)
            if m.mail_from == "" and target.encode() in m.data
            and b"Action: delayed" in m.data]


def test_one_delay_warning_per_recipient_then_retries_go_on(module_stack):
    s = module_stack
    target = "busy-%s@remote.test" % unique("dw")
    s.sink.plan_rcpt(target, [], then=451)
    sender = "s-%s@sender.test" % unique("dw")
    msgid = _send_via_alias(s, target, sender, "dw")

    got = s.sink.wait_for(sender, timeout=60,
                          pred=lambda m: m.mail_from == "" and b"Action: delayed" in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; %s" % target in text
    assert "Status: 4.3.0" in text
    assert "Diagnostic-Code: smtp; 451 4.3.0" in text
    assert "Remote-MTA: dns; mx.remote.test" in text
    assert "Delayed Mail" in got[0].header("Subject")
    assert msgid in text                      # the original is attached
    # Will-Retry-Until (RFC 3464 §2.3.9): arrival + the give-up age
    # (MAILYARD_RELAY_MAX_AGE_SECONDS, default 432000)
    until = [ln.split(":", 1)[1].strip() for ln in text.split("\r\n")
             if ln.startswith("Will-Retry-Until:")]
    assert len(until) == 1, text
    created = s.psql("select floor(extract(epoch from created_at))::bigint from "
                     "relay.deliveries where rcpt = '%s'" % target)
    assert int(parsedate_to_datetime(until[0]).timestamp()) == int(created[0][0]) + 432000

    # more deferrals follow, but no second warning and no failure DSN
    seen = s.sink.attempts(target)
    s.wait_until(lambda: s.sink.attempts(target) >= seen + 3, timeout=60,
                 what="three more attempts")
    assert len(_delay_dsns(s, sender, target)) == 1
    assert not [m for m in s.sink.messages_to(sender) if b"Action: failed" in m.data]
    rows = s.psql("select state, delay_warned_at is not null from relay.deliveries "
                  "where rcpt = '%s'" % target)
    assert rows == [["pending", "t"]], rows


def test_no_delay_warning_to_the_null_sender(module_stack):
    s = module_stack
    target = "busy-null-%s@remote.test" % unique("dw")
    s.sink.plan_rcpt(target, [], then=451)
    _send_via_alias(s, target, "", "dwnull")

    def warned():
        rows = s.psql("select detail->>'sent' from spool.events where service = 'relay' "
                      "and event = 'delay_warning' and detail->'rcpts' ? '%s'" % target)
        return rows or None
    rows = s.wait_until(warned, timeout=60, what="delay_warning event")
    assert rows[0][0] == "false", rows
    queued = s.psql("select count(*) from spool.events e where e.event = 'dsn_queued' and "
                    "e.message_id in (select message_id from relay.deliveries "
                    "where rcpt = '%s')" % target)
    assert queued == [["0"]], queued

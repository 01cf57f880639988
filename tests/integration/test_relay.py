"""relay: retries after temporary failures, DSNs after permanent ones (the
DSN goes back through rewrite's SRS reverse path to the original sender)."""
from harness import unique
from harness.smtp import make_message, send


def _alias_to(stack, target):
    alias = "%s@%s" % (unique("rl"), stack.domain)
    stack.add_alias(alias, [target])
    return alias


def test_temporary_failure_is_retried_until_delivered(stack):
    uid = unique("tmp")
    target = "t-%s@remote.test" % uid
    stack.sink.plan_rcpt(target, [451, 451], then=250)
    alias = _alias_to(stack, target)
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="retry " + uid)
    send(stack.smtp_port, sender, [alias], data)
    got = stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=40)
    assert len(got) == 1
    assert stack.sink.attempts(target) >= 3
    # no DSN for a message that was eventually delivered
    assert [m for m in stack.sink.messages_to(sender) if m.mail_from == ""] == []


def _dsn_for(stack, sender, failed_rcpt, timeout=40):
    def is_dsn(m):
        return m.mail_from == "" and failed_rcpt.encode() in m.data
    got = stack.sink.wait_for(sender, pred=is_dsn, timeout=timeout)
    m = got[0]
    assert m.msg.get_content_type() == "multipart/report", m.msg.get_content_type()
    assert m.msg.get_param("report-type") == "delivery-status", m.msg["Content-Type"]
    parts = [p.get_content_type() for p in m.msg.walk()]
    assert "message/delivery-status" in parts, parts
    return m


def test_permanent_failure_at_rcpt_sends_dsn_to_original_sender(stack):
    uid = unique("perm")
    target = "bad-%s@remote.test" % uid
    stack.sink.plan_rcpt(target, [], then=550)
    alias = _alias_to(stack, target)
    sender = "s-%s@sender.test" % uid
    _, data = make_message(sender, alias, subject="perm " + uid)
    send(stack.smtp_port, sender, [alias], data)
    m = _dsn_for(stack, sender, target)
    assert m.rcpts == [sender] or sender in [r.lower() for r in m.rcpts]
    assert stack.sink.messages_to(target) == []


def test_permanent_failure_at_data_sends_dsn(stack):
    uid = unique("permd")
    target = "bad-%s@remote.test" % uid
    stack.sink.plan_data(target, [], then=554)
    alias = _alias_to(stack, target)
    sender = "s-%s@sender.test" % uid
    _, data = make_message(sender, alias, subject="permdata " + uid)
    send(stack.smtp_port, sender, [alias], data)
    _dsn_for(stack, sender, target)

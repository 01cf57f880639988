"""Forwarding through the SMTP sink and bounce matching: a DSN that comes
back to the SRS address of a forward reaches the original sender and leaves
a "bounce_received" event on the ORIGINAL message (found through the
Message-ID in the DSN's text/rfc822-headers or message/rfc822 part)."""
from harness import unique
from harness.smtp import make_message, send


def dsn_for(srs_addr, orig_msgid, part_type):
    boundary = "b-" + unique("x")
    if part_type == "text/rfc822-headers":
        returned = "From: someone\r\nMessage-ID: %s\r\nSubject: x\r\n" % orig_msgid
    else:
        returned = "From: someone\r\nMessage-ID: %s\r\nSubject: x\r\n\r\nbody\r\n" % orig_msgid
    body = ("--%(b)s\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
            "--%(b)s\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; remote.test\r\n\r\nFinal-Recipient: rfc822; x@remote.test\r\n"
            "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
            "--%(b)s\r\nContent-Type: %(t)s\r\n\r\n%(r)s\r\n--%(b)s--\r\n"
            % {"b": boundary, "t": part_type, "r": returned})
    msgid, data = make_message("", srs_addr, subject="Undelivered Mail Returned to Sender",
                               body=body)
    data = data.replace(b"Content-Type: text/plain; charset=us-ascii",
                        ("Content-Type: multipart/report; report-type=delivery-status;"
                         " boundary=\"%s\"" % boundary).encode())
    return msgid, data


def events_of(stack, msgid):
    return stack.psql(
        "SELECT e.event, e.detail::text FROM spool.events e JOIN spool.messages m"
        " ON m.id = e.message_id WHERE m.message_id = '%s' ORDER BY e.id"
        % msgid.replace("'", "''"))


def run(stack, part_type):
    uid = unique("fwd")
    alias = "%s@%s" % (uid, stack.domain)
    target = "t-%s@remote.test" % uid
    sender = "s-%s@sender.test" % uid
    stack.add_alias(alias, [target])
    msgid, data = make_message(sender, alias, subject="forward " + uid)
    send(stack.smtp_port, sender, [alias], data)
    fwd = stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)[0]
    assert fwd.mail_from.upper().startswith("SRS0=")
    bmsgid, bdata = dsn_for(fwd.mail_from, msgid, part_type)
    send(stack.smtp_port, "", [fwd.mail_from], bdata)
    back = stack.sink.wait_for(sender, pred=lambda m: m.message_id == bmsgid, timeout=30)[0]
    assert back.mail_from == ""
    stack.wait_until(lambda: any(e[0] == "bounce_received" for e in events_of(stack, msgid)),
                     timeout=30, what="bounce_received on the original message")
    ev = [e for e in events_of(stack, msgid) if e[0] == "bounce_received"]
    assert len(ev) == 1 and sender in ev[0][1]
    assert any(e[0] == "bounce_matched" for e in events_of(stack, bmsgid))


def test_dsn_with_rfc822_headers_is_matched(stack):
    run(stack, "text/rfc822-headers")


def test_dsn_with_full_message_is_matched(stack):
    run(stack, "message/rfc822")


def test_bounce_without_original_is_still_delivered(stack):
    uid = unique("nomatch")
    alias = "%s@%s" % (uid, stack.domain)
    target = "t-%s@remote.test" % uid
    sender = "s-%s@sender.test" % uid
    stack.add_alias(alias, [target])
    msgid, data = make_message(sender, alias)
    send(stack.smtp_port, sender, [alias], data)
    fwd = stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)[0]
    bmsgid, bdata = make_message("", fwd.mail_from, body="no original quoted\r\n")
    send(stack.smtp_port, "", [fwd.mail_from], bdata)
    stack.sink.wait_for(sender, pred=lambda m: m.message_id == bmsgid, timeout=30)
    assert not any(e[0] == "bounce_received" for e in events_of(stack, msgid))

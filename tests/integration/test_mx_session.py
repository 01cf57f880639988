"""mx on real sockets against the shared stack: what is stored (Received
header, byte-exact body, job, event), pipelining, refusals that keep the
session going, and STARTTLS dropping injected plaintext."""
import ssl

from harness import unique
from harness.smtp import RawSession


def _alias(stack):
    uid = unique("mxs")
    alias = "%s@%s" % (uid, stack.domain)
    stack.add_alias(alias, ["t-%s@remote.test" % uid])
    return uid, alias


def _open(stack):
    s = RawSession(stack.smtp_port)
    code, text = s.read_reply()
    assert code == 220 and text.endswith(" ESMTP Mailyard"), text
    return s


def test_pipelined_transaction_is_stored_byte_exact(stack):
    uid, alias = _alias(stack)
    body = (b"From: <p-%s@sender.test>\r\nTo: <%s>\r\nMessage-ID: <%s@it.test>\r\n"
            b"Subject: pipelined\r\n\r\n.starts with a dot\r\n..two dots\r\nend\r\n"
            % (uid.encode(), alias.encode(), uid.encode()))
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    with _open(stack) as s:
        # pipelining starts after the EHLO reply (RFC 2920; before it: 554)
        code, text = s.cmd("EHLO client.it.test")
        assert code == 250 and "PIPELINING" in text and "ENHANCEDSTATUSCODES" in text
        s.send_raw(b"MAIL FROM:<p-%s@sender.test> SIZE=%d\r\n"
                   b"RCPT TO:<%s>\r\nDATA\r\n" % (uid.encode(), len(body), alias.encode()))
        assert s.read_reply() == (250, "250 2.1.0 Ok")
        assert s.read_reply() == (250, "250 2.1.5 Ok")
        assert s.read_reply()[0] == 354
        s.send_raw(stuffed + b".\r\nQUIT\r\n")
        code, text = s.read_reply()
        assert code == 250 and text.startswith("250 2.0.0 Ok: queued as "), text
        qid = text.split()[-1]
        assert s.read_reply()[0] == 221
    rows = stack.psql("SELECT encode(raw, 'hex'), origin, helo, client_ip, message_id, mail_from,"
                      " array_to_string(rcpts, ',') FROM spool.messages WHERE queue_id = '%s'" % qid)
    assert len(rows) == 1
    raw, origin, helo, ip, msgid, mail_from, rcpts = rows[0]
    raw = bytes.fromhex(raw)
    prefix = ("Received: from client.it.test ([127.0.0.1]) by mx.%s (Mailyard) with ESMTP id %s"
              "\r\n\tfor <%s>; " % (stack.domain, qid, alias)).encode()
    assert raw.startswith(prefix), raw[:200]
    # Received, then our Authentication-Results (possibly folded), then the
    # client's bytes exactly as sent.
    assert raw.endswith(body), raw
    rest = raw[:-len(body)]
    received_end = rest.index(b" +0000\r\n") + len(b" +0000\r\n")
    ar = rest[received_end:]
    assert ar.startswith(b"Authentication-Results: mx.%s;" % stack.domain.encode()), ar
    assert ar.endswith(b"\r\n") and all(line[:1] in (b" ", b"\t")
                                         for line in ar.split(b"\r\n")[1:-1]), ar
    assert (origin, helo, ip, msgid) == ("mx", "client.it.test", "127.0.0.1", "<%s@it.test>" % uid)
    assert (mail_from, rcpts) == ("p-%s@sender.test" % uid, alias)
    jobs = stack.psql("SELECT j.stage FROM spool.jobs j JOIN spool.messages m ON m.id = j.message_id"
                      " WHERE m.queue_id = '%s' AND j.stage = 'rewrite'" % qid)
    assert jobs == [["rewrite"]]
    ev = stack.psql("SELECT e.detail->>'client', e.detail->>'helo' FROM spool.events e"
                    " JOIN spool.messages m ON m.id = e.message_id"
                    " WHERE m.queue_id = '%s' AND e.service = 'mx' AND e.event = 'accepted'" % qid)
    assert ev == [["127.0.0.1", "client.it.test"]]


def test_malformed_data_refused_and_session_goes_on(stack):
    uid, alias = _alias(stack)
    with _open(stack) as s:
        assert s.cmd("EHLO client.it.test")[0] == 250
        for data, what in ((b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n", "bare LF"),
                           (b"Subject: x\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n", "long line")):
            assert s.cmd("MAIL FROM:<m-%s@sender.test>" % uid)[0] == 250
            assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
            assert s.cmd("DATA")[0] == 354
            s.send_raw(data)
            code, text = s.read_reply()
            assert code == 550 and "5.6.0" in text, (what, text)
        # "\n.\n" is not the end of data: the final CRLF.CRLF is
        assert s.cmd("MAIL FROM:<m-%s@sender.test>" % uid)[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
        assert s.cmd("DATA")[0] == 354
        s.send_raw(b"Subject: x\r\n\r\na\n.\nstill data\r\n.\r\n")
        code, text = s.read_reply()
        assert code == 550 and "5.6.0" in text, text
        assert s.cmd("NOOP") == (250, "250 2.0.0 Ok")
    assert stack.psql("SELECT count(*) FROM spool.messages WHERE mail_from = 'm-%s@sender.test'"
                      % uid) == [["0"]]


def test_address_syntax_and_routes(stack):
    with _open(stack) as s:
        assert s.cmd("EHLO client.it.test")[0] == 250
        assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250
        code, text = s.cmd("RCPT TO:<no-brackets@%s" % stack.domain)
        assert code == 501 and "5.1.3" in text, text
        code, text = s.cmd("RCPT TO:<@relay.test:victim@%s>" % stack.domain)
        assert code == 553 and "5.7.1" in text, text
        code, text = s.cmd("RCPT TO:<victim%%elsewhere.test@%s>" % stack.domain)
        assert code == 553 and "5.7.1" in text, text
        code, text = s.cmd("DATA")
        assert code == 554 and "5.5.1" in text, text


def test_starttls_discards_injected_plaintext(stack):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with _open(stack) as s:
        assert s.cmd("EHLO client.it.test")[0] == 250
        s.send_raw(b"STARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@evil.test>\r\n")
        code, text = s.read_reply()
        assert code == 220 and "2.0.0" in text, text
        assert s.buf == b""
        try:
            t = ctx.wrap_socket(s.sock, server_hostname="mx.test")
        except (ssl.SSLError, OSError):
            return  # the injected bytes broke the handshake: also safe
        t.sendall(b"RCPT TO:<x@%s>\r\n" % stack.domain.encode())
        reply = t.recv(1000)
        # the injected EHLO and MAIL were not executed
        assert reply.startswith(b"503 5.5.1"), reply
        t.sendall(b"EHLO client.it.test\r\n")
        reply = b""
        while b"250 " not in reply:
            chunk = t.recv(1000)
            assert chunk
            reply += chunk
        assert b"STARTTLS" not in reply
        t.close()

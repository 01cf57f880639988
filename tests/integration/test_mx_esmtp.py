"""ESMTP extensions and limits of mx on real sockets: SMTPUTF8 (RFC 6531),
CHUNKING/BDAT (RFC 3030), DSN parameters stored in the spool (RFC 3461),
the header size limit, connections per client IP and the data-block
timeout."""
import smtplib
import socket

from harness import unique
from harness.smtp import RawSession, make_message

STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SMTP_MAX_HEADER_SIZE": "4096",
    "MAILYARD_SMTP_MAX_CONN_PER_IP": "3",
    "MAILYARD_SMTP_DATA_TIMEOUT_SECONDS": "2",
    "MAILYARD_SMTP_TIMEOUT_SECONDS": "60",
}}}


def _alias(st):
    uid = unique("esm")
    alias = "%s@%s" % (uid, st.domain)
    target = "t-%s@remote.test" % uid
    st.add_alias(alias, [target])
    return uid, alias, target


def _open(st):
    s = RawSession(st.smtp_port, timeout=30)
    assert s.read_reply()[0] == 220
    code, text = s.cmd("EHLO client.it.test")
    assert code == 250
    return s, text


def test_ehlo_advertises(module_stack):
    s, text = _open(module_stack)
    with s:
        for kw in ("SMTPUTF8", "CHUNKING", "DSN", "PIPELINING", "8BITMIME", "STARTTLS"):
            assert "250-" + kw in text or "250 " + kw in text, (kw, text)


def test_smtputf8_with_smtplib(module_stack):
    st = module_stack
    uid, alias, target = _alias(st)
    sender = "j\u00f6rg-%s@b\u00fccher.test" % uid
    msgid, data = make_message("x@sender.test", alias, subject="utf8 " + uid)
    with smtplib.SMTP("127.0.0.1", st.smtp_port, local_hostname="client.it.test", timeout=30) as c:
        c.ehlo()
        assert c.has_extn("smtputf8")
        c.sendmail(sender, [alias], data, mail_options=["SMTPUTF8"])
    rows = st.psql("SELECT smtputf8, mail_from FROM spool.messages WHERE message_id = '%s'" % msgid)
    assert rows == [["t", sender]], rows
    raw = st.psql("SELECT encode(raw, 'hex') FROM spool.messages WHERE message_id = '%s'" % msgid)
    assert b"with UTF8SMTP id" in bytes.fromhex(raw[0][0])
    st.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)
    # without the parameter, a UTF-8 address is refused with 553 5.6.7
    s, _ = _open(st)
    with s:
        code, text = s.cmd("MAIL FROM:<%s>" % sender)
        assert code == 553 and "5.6.7" in text, text
        assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250
        code, text = s.cmd("RCPT TO:<\u00e9t\u00e9@%s>" % st.domain)
        assert code == 553 and "5.6.7" in text, text
        code, text = s.cmd(b"MAIL FROM:<a@sender.test> SMTPUTF8\r\nNOOP \xff".split(b"\r\n")[1])
        assert code == 500, text   # invalid UTF-8 in a command line


def test_bdat_delivers_byte_exact(module_stack):
    st = module_stack
    uid, alias, target = _alias(st)
    msgid, data = make_message("b-%s@sender.test" % uid, alias, subject="bdat " + uid,
                               body=".leading dot\r\nline\r\n")
    half = len(data) // 2
    s, _ = _open(st)
    with s:
        s.send_raw(b"MAIL FROM:<b-%s@sender.test>\r\nRCPT TO:<%s>\r\nBDAT %d\r\n"
                   % (uid.encode(), alias.encode(), half) + data[:half])
        assert s.read_reply()[0] == 250
        assert s.read_reply()[0] == 250
        code, text = s.read_reply()
        assert code == 250 and "%d octets" % half in text, text
        s.send_raw(b"BDAT %d LAST\r\n" % (len(data) - half) + data[half:])
        code, text = s.read_reply()
        assert code == 250 and "queued as" in text, text
    m = st.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)[0]
    assert m.data.endswith(b"\r\n\r\n.leading dot\r\nline\r\n"), m.data


def test_dsn_parameters_stored(module_stack):
    st = module_stack
    uid, alias, target = _alias(st)
    uid2, alias2, _ = _alias(st)
    s, _ = _open(st)
    with s:
        assert s.cmd("MAIL FROM:<d-%s@sender.test> RET=HDRS ENVID=env+2B%s" % (uid, uid))[0] == 250
        assert s.cmd("RCPT TO:<%s> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig+2B%s@x.test"
                     % (alias, uid))[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias2)[0] == 250
        code, text = s.cmd("RCPT TO:<%s> NOTIFY=NEVER,SUCCESS" % alias)
        assert code == 501, text
        assert s.cmd("DATA")[0] == 354
        s.send_raw(b"Subject: dsn\r\n\r\nbody\r\n.\r\n")
        code, text = s.read_reply()
        assert code == 250, text
    rows = st.psql("SELECT dsn_ret, dsn_envid, rcpt_dsn::text, smtputf8 FROM spool.messages"
                   " WHERE mail_from = 'd-%s@sender.test'" % uid)
    assert len(rows) == 1
    ret, envid, rcpt_dsn, utf8 = rows[0]
    assert (ret, envid, utf8) == ("HDRS", "env+%s" % uid, "f")
    import json
    assert json.loads(rcpt_dsn) == [{"notify": "SUCCESS,DELAY", "orcpt": "rfc822;orig+%s@x.test" % uid},
                                    None]


def test_header_size_limit_552(module_stack):
    st = module_stack
    uid, alias, target = _alias(st)
    s, _ = _open(st)
    with s:
        assert s.cmd("MAIL FROM:<h-%s@sender.test>" % uid)[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
        assert s.cmd("DATA")[0] == 354
        s.send_raw(b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 70) for i in range(80)) +
                   b"\r\nbody\r\n.\r\n")
        code, text = s.read_reply()
        assert code == 552 and "5.3.4" in text and "header" in text, text
        assert s.cmd("NOOP")[0] == 250


def test_connections_per_ip_421(module_stack):
    st = module_stack
    conns = []
    try:
        for _ in range(3):
            c = RawSession(st.smtp_port)
            assert c.read_reply()[0] == 220
            conns.append(c)
        with RawSession(st.smtp_port) as extra:
            code, text = extra.read_reply()
            assert code == 421 and "4.7.0" in text, text
    finally:
        for c in conns:
            c.close()

    def slot():
        with RawSession(st.smtp_port) as s:
            return s.read_reply()[0] == 220
    st.wait_until(slot, timeout=10, what="a per-IP connection slot")


def test_data_block_timeout_421(module_stack):
    st = module_stack
    uid, alias, _ = _alias(st)
    s, _ = _open(st)
    with s:
        assert s.cmd("MAIL FROM:<to-%s@sender.test>" % uid)[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
        assert s.cmd("DATA")[0] == 354
        s.send_raw(b"Subject: slow\r\n")
        s.sock.settimeout(30)            # the command timeout is 60 s: this is the data one
        code, text = s.read_reply()
        assert code == 421 and "4.4.2" in text, text
    assert st.psql("SELECT count(*) FROM spool.messages WHERE mail_from = 'to-%s@sender.test'"
                   % uid) == [["0"]]
    _ = socket

"""SMTP smuggling and injection against mx on real sockets: every
end-of-data variant of the issue, sent whole and split across TCP segments,
through DATA and BDAT, with MAILYARD_SMTP_BARE_LF=reject (default) and
=normalize; none may end the message or inject a second one (checked in the
SMTP replies, the spool and the sink). Also pregreet (talking before the
220) and pipelining before EHLO."""
import socket
import time

import pytest

from harness import unique
from harness.smtp import RawSession

VARIANTS = [b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n",
            b"\r\n.\r", b"\r\n\x00.\r\n"]
IDS = [v.decode("latin-1").encode("unicode_escape").decode() for v in VARIANTS]


def _aliases(stack):
    uid = unique("smg")
    good, evil = "%s@%s" % (uid, stack.domain), "evil-%s@%s" % (uid, stack.domain)
    stack.add_alias(good, ["t-%s@remote.test" % uid])
    stack.add_alias(evil, ["victim-%s@remote.test" % uid])
    return uid, good, evil


def _open(port):
    s = RawSession(port, timeout=30)
    assert s.read_reply()[0] == 220
    assert s.cmd("EHLO client.it.test")[0] == 250
    return s


def _pieces(uid, fake_end, evil):
    """The message: a fake end of data, then a smuggled transaction."""
    return [b"From: <a-%s@sender.test>\r\nSubject: smuggle %s\r\n\r\nhello" % (uid.encode(), uid.encode()),
            fake_end,
            b"MAIL FROM:<evil-%s@sender.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (uid.encode(), evil.encode()),
            b"Subject: smuggled\r\n\r\nsmuggled %s\r\n" % uid.encode()]


def _send(s, pieces, split):
    if not split:
        s.send_raw(b"".join(pieces))
        return
    for p in pieces:                     # separate TCP segments
        for i in range(0, len(p), 2):
            s.send_raw(p[i:i + 2])
            time.sleep(0.01)


def _transaction(s, uid, good, fake_end, evil, split, bdat):
    assert s.cmd("MAIL FROM:<a-%s@sender.test>" % uid)[0] == 250
    assert s.cmd("RCPT TO:<%s>" % good)[0] == 250
    pieces = _pieces(uid, fake_end, evil)
    if bdat:
        total = sum(len(p) for p in pieces)
        s.send_raw(b"BDAT %d LAST\r\n" % total)
        _send(s, pieces, split)
    else:
        assert s.cmd("DATA")[0] == 354
        _send(s, pieces, split)
        s.send_raw(b".\r\n")
    code, text = s.read_reply()
    # exactly one reply: the next one is NOOP's
    assert s.cmd("NOOP") == (250, "250 2.0.0 Ok")
    return code, text


def _evil_count(stack, uid):
    return stack.psql("SELECT count(*) FROM spool.messages WHERE mail_from = 'evil-%s@sender.test'"
                      " OR 'evil-%s@%s' = ANY(rcpts)" % (uid, uid, stack.domain))[0][0]


@pytest.mark.parametrize("bdat", [False, True], ids=["data", "bdat"])
@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize("fake_end", VARIANTS, ids=IDS)
def test_smuggling_rejected(stack, fake_end, split, bdat):
    uid, good, evil = _aliases(stack)
    with _open(stack.smtp_port) as s:
        code, text = _transaction(s, uid, good, fake_end, evil, split, bdat)
        assert code == 550 and "5.6.0" in text, text
    assert _evil_count(stack, uid) == "0"
    assert stack.psql("SELECT count(*) FROM spool.messages WHERE mail_from = 'a-%s@sender.test'"
                      % uid) == [["0"]]


NORMALIZE = {"extra_env": {"mx": {"MAILYARD_SMTP_BARE_LF": "normalize",
                                  "MAILYARD_SMTP_PREGREET_MS": "700"}}}


@pytest.fixture(scope="module")
def normalize_stack(stack_factory_module):
    return stack_factory_module


@pytest.fixture(scope="module")
def stack_factory_module():
    from conftest import _close, _new_stack
    s = _new_stack("normalize", **NORMALIZE)
    yield s
    _close(s)


def _patient_open(port):
    s = RawSession(port, timeout=30)
    assert s.read_reply()[0] == 220      # we wait for the banner
    assert s.cmd("EHLO client.it.test")[0] == 250
    return s


@pytest.mark.parametrize("fake_end", VARIANTS, ids=IDS)
def test_smuggling_normalized_is_one_message(normalize_stack, fake_end):
    st = normalize_stack
    uid, good, evil = _aliases(st)
    target = "t-%s@remote.test" % uid
    for split, bdat in ((False, False), (True, False), (True, True)):
        with _patient_open(st.smtp_port) as s:
            code, text = _transaction(s, uid, good, fake_end, evil, split, bdat)
            if b"\x00" in fake_end:
                assert code == 550 and "5.6.0" in text, text   # NUL: refused in any mode
                continue
            assert code == 250, text
    if b"\x00" not in fake_end:
        msgs = st.sink.wait_for(target, count=3, timeout=60)
        for m in msgs:
            assert b"smuggled %s" % uid.encode() in m.data      # inside the one message
            body = m.data.split(b"\r\n\r\n", 1)[1]
            assert b"\n" not in body.replace(b"\r\n", b"")     # CRLF everywhere
            assert b"\r" not in body.replace(b"\r\n", b"")
    assert _evil_count(st, uid) == "0"
    assert st.sink.messages_to("victim-%s@remote.test" % uid) == []


def test_pregreet_refused(normalize_stack):
    st = normalize_stack
    s = socket.create_connection(("127.0.0.1", st.smtp_port), timeout=15)
    try:
        s.sendall(b"EHLO early.it.test\r\n")
        data = b""
        while b"\n" not in data:
            chunk = s.recv(1000)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"554 5.5.0"), data
        assert b"220" not in data
    finally:
        s.close()
    with _patient_open(st.smtp_port) as s:
        assert s.cmd("NOOP")[0] == 250


def test_pipelining_before_ehlo_refused(stack):
    with RawSession(stack.smtp_port) as s:
        assert s.read_reply()[0] == 220
        s.send_raw(b"EHLO client.it.test\r\nMAIL FROM:<a@sender.test>\r\n")
        code, text = s.read_reply()
        assert code == 250 and "PIPELINING" in text
        code, text = s.read_reply()
        assert code == 554 and "5.5.0" in text, text
        with pytest.raises(ConnectionError):
            s.read_reply()
    with RawSession(stack.smtp_port) as s:   # HELO: no pipelining at all
        assert s.read_reply()[0] == 220
        assert s.cmd("HELO client.it.test")[0] == 250
        s.send_raw(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<b@%s>\r\n" % stack.domain.encode())
        assert s.read_reply()[0] == 250
        code, text = s.read_reply()
        assert code == 554 and "5.5.0" in text, text

"""mx limits that need their own stack: connection cap, idle timeout,
rewrite unreachable (451, never 550), and the drain on SIGTERM."""
import signal
import socket
import time

from harness import unique
from harness.smtp import RawSession

STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SMTP_MAX_CONNECTIONS": "3",
    "MAILYARD_SMTP_TIMEOUT_SECONDS": "3",
    "MAILYARD_SMTP_DRAIN_SECONDS": "3",
    "MAILYARD_MX_RCPT_CACHE_SECONDS": "0",
}}}


def test_connection_cap_421(module_stack):
    st = module_stack
    conns = [RawSession(st.smtp_port) for _ in range(3)]
    try:
        for c in conns:
            assert c.read_reply()[0] == 220
        with RawSession(st.smtp_port) as extra:
            code, text = extra.read_reply()
            assert code == 421 and "4.7.0" in text, text
    finally:
        for c in conns:
            c.close()
    def accepted():
        with RawSession(st.smtp_port) as s:
            return s.read_reply()[0] == 220
    st.wait_until(accepted, timeout=10, what="a connection slot")


def test_idle_timeout_421(module_stack):
    with RawSession(module_stack.smtp_port, timeout=15) as s:
        assert s.read_reply()[0] == 220
        t0 = time.monotonic()
        code, text = s.read_reply()
        assert code == 421 and "4.4.2" in text, text
        assert 2 < time.monotonic() - t0 < 10


def test_rewrite_unreachable_is_451(module_stack):
    st = module_stack
    uid = unique("down")
    alias = "%s@%s" % (uid, st.domain)
    st.add_alias(alias, ["t-%s@remote.test" % uid])
    st.stop("rewrite")
    try:
        with RawSession(st.smtp_port) as s:
            assert s.read_reply()[0] == 220
            assert s.cmd("EHLO client.it.test")[0] == 250
            assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250
            for rcpt in (alias, "nobody-%s@%s" % (uid, st.domain)):
                code, text = s.cmd("RCPT TO:<%s>" % rcpt)
                assert code == 451 and "4.4.3" in text, text
    finally:
        st.start("rewrite")
    with RawSession(st.smtp_port) as s:
        assert s.read_reply()[0] == 220
        assert s.cmd("EHLO client.it.test")[0] == 250
        assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250


def test_sigterm_drains_then_421(module_stack):
    st = module_stack
    uid = unique("drain")
    alias = "%s@%s" % (uid, st.domain)
    st.add_alias(alias, ["t-%s@remote.test" % uid])
    s = RawSession(st.smtp_port, timeout=20)
    try:
        assert s.read_reply()[0] == 220
        assert s.cmd("EHLO client.it.test")[0] == 250
        assert s.cmd("MAIL FROM:<a@sender.test>")[0] == 250
        assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
        assert s.cmd("DATA")[0] == 354
        st.procs["mx"].send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # new connections are refused while the session in DATA drains
        try:
            socket.create_connection(("127.0.0.1", st.smtp_port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        assert refused
        t0 = time.monotonic()
        s.sock.settimeout(1)
        got = b""
        while time.monotonic() - t0 < 15 and not got:
            try:
                s.send_raw(b"more data\r\n")   # keep the session active
                got = s.sock.recv(1000)
            except socket.timeout:
                pass
        assert got.startswith(b"421 4.3.2"), got
        assert st.procs["mx"].wait(20) == 0
    finally:
        s.close()
        st.start("mx")

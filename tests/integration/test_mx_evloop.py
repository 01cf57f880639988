"""mx's event-driven model (issue 3, item 1): one loop thread holds
thousands of connections while a small worker pool (MAILYARD_SMTP_WORKERS)
runs the sessions' blocking work. Thousands of idle connections cost no
thread each and do not stop another client from being served; a client
that dribbles its message byte by byte ties up no worker; bytes that
arrive after STARTTLS in a later segment (while the STARTTLS command is
still being handled) are discarded too (CVE-2011-0411)."""
import re
import resource
import socket
import ssl
import threading
import time

import pytest
import requests

from harness import unique
from harness.smtp import RawSession

IDLE = 1500
WORKERS = 2

# The mx of this module's stack inherits the descriptor limit of this
# process (the stack starts after the import): room for IDLE sockets on
# both sides.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_want = 2 * IDLE + 512
if _soft < _want and (_hard == resource.RLIM_INFINITY or _hard >= _want):
    resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))
FD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SMTP_WORKERS": str(WORKERS),
    "MAILYARD_SMTP_MAX_CONNECTIONS": str(IDLE + 100),
}}}


def _alias(st):
    uid = unique("evl")
    alias = "%s@%s" % (uid, st.domain)
    st.add_alias(alias, ["t-%s@remote.test" % uid])
    return uid, alias


def _status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def _gauge(st, name):
    text = requests.get(st.url("mx") + "/metrics", timeout=10).text
    m = re.search(r"^%s (\S+)$" % name, text, re.M)
    assert m, text[:2000]
    return float(m.group(1))


def _transaction(st, s, uid, alias, body):
    assert s.cmd("EHLO client.it.test")[0] == 250
    assert s.cmd("MAIL FROM:<e-%s@sender.test>" % uid)[0] == 250
    assert s.cmd("RCPT TO:<%s>" % alias)[0] == 250
    assert s.cmd("DATA")[0] == 354
    s.send_raw(body + b".\r\n")
    code, text = s.read_reply()
    assert code == 250 and "queued as" in text, text
    return text.split()[-1]


def _stored(st, qid):
    rows = st.psql("SELECT encode(raw, 'hex') FROM spool.messages WHERE queue_id = '%s'" % qid)
    assert len(rows) == 1
    return bytes.fromhex(rows[0][0])


def test_thousands_of_idle_connections_few_threads(module_stack):
    st = module_stack
    if FD_LIMIT < 2 * IDLE + 256:
        pytest.skip("descriptor limit %d too low for %d connections" % (FD_LIMIT, IDLE))
    pid = st.procs["mx"].pid
    threads_before = _status(pid, "Threads")
    idle = []
    try:
        for _ in range(IDLE):
            c = socket.create_connection(("127.0.0.1", st.smtp_port), timeout=30)
            idle.append(c)
        # every one of them got its banner (all are being served at once)
        for c in idle:
            got = b""
            while not got.endswith(b"\r\n"):
                chunk = c.recv(1000)
                assert chunk, "connection closed before its banner"
                got += chunk
            assert got.startswith(b"220 "), got
        assert _gauge(st, "mailyard_smtp_connections") >= IDLE
        threads = _status(pid, "Threads")
        # no thread per connection: the loop and WORKERS workers existed before
        assert threads <= threads_before + 2, (threads_before, threads)
        assert threads < 100, threads
        # another client is still served while they stay open
        uid, alias = _alias(st)
        body = b"Subject: busy\r\nMessage-ID: <%s@it.test>\r\n\r\nstill served\r\n" % uid.encode()
        with RawSession(st.smtp_port, timeout=60) as s:
            assert s.read_reply()[0] == 220
            qid = _transaction(st, s, uid, alias, body)
        assert _stored(st, qid).endswith(body)
        # the idle ones are all still open and answer
        for c in idle[::100]:
            c.sendall(b"NOOP\r\n")
            assert c.recv(1000).startswith(b"250 "), "an idle connection stopped answering"
    finally:
        for c in idle:
            c.close()
    st.wait_until(lambda: _gauge(st, "mailyard_smtp_connections") < 10, timeout=60,
                  what="the idle connections to close")


def test_dribbling_client_ties_up_no_worker(module_stack):
    st = module_stack
    uid, alias = _alias(st)
    body = (b"From: <d-%s@sender.test>\r\nMessage-ID: <%s@it.test>\r\nSubject: slow\r\n\r\n"
            b"one byte at a time\r\n..a stuffed dot\r\nend\r\n" % (uid.encode(), uid.encode()))
    script = (b"EHLO slow.it.test\r\nMAIL FROM:<d-%s@sender.test>\r\nRCPT TO:<%s>\r\nDATA\r\n"
              % (uid.encode(), alias.encode()))
    result = {}
    mid = threading.Event()        # the dribbler is inside DATA
    fast_done = threading.Event()  # the other clients were served meanwhile
    data = script + body + b".\r\nQUIT\r\n"
    half = len(script) + len(body) // 2

    def dribble():
        try:
            s = socket.create_connection(("127.0.0.1", st.smtp_port), timeout=60)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            replies = b""
            banner = s.recv(1000)
            assert banner.startswith(b"220 "), banner
            ehlo = len(b"EHLO slow.it.test\r\n")
            # one byte per segment; the replies after EHLO's are read at the end
            for i, b in enumerate(data):
                if i == half:
                    mid.set()
                    fast_done.wait(120)
                s.sendall(bytes([b]))
                time.sleep(0.002)
                if i + 1 == ehlo:
                    # RFC 2920: pipelining only after the EHLO reply
                    while b"250 " not in replies:
                        replies += s.recv(4096)
            while b"221 " not in replies:
                chunk = s.recv(4096)
                if not chunk:
                    break
                replies += chunk
            s.close()
            result["replies"] = replies
        except Exception as e:  # reported by the main thread
            result["error"] = e
        finally:
            mid.set()

    t = threading.Thread(target=dribble)
    t.start()
    try:
        assert mid.wait(120)
        assert "error" not in result, result.get("error")
        # while it sits in DATA, more clients than workers are served
        for _ in range(WORKERS + 1):
            uid2, alias2 = _alias(st)
            body2 = b"Subject: fast\r\nMessage-ID: <%s@it.test>\r\n\r\nfast\r\n" % uid2.encode()
            with RawSession(st.smtp_port, timeout=30) as s:
                assert s.read_reply()[0] == 220
                qid2 = _transaction(st, s, uid2, alias2, body2)
            assert _stored(st, qid2).endswith(body2)
    finally:
        fast_done.set()
        t.join(120)
    assert "error" not in result, result.get("error")
    replies = result["replies"].decode()
    m = re.search(r"250 2\.0\.0 Ok: queued as (\S+)", replies)
    assert m, replies
    assert "221 " in replies, replies
    assert _stored(st, m.group(1)).endswith(body.replace(b"\r\n..", b"\r\n."))


def test_starttls_injection_in_a_later_segment_is_discarded(module_stack):
    st = module_stack
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for _ in range(5):
        with RawSession(st.smtp_port) as s:
            assert s.read_reply()[0] == 220
            assert s.cmd("EHLO client.it.test")[0] == 250
            s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.send_raw(b"STARTTLS\r\n")
            s.send_raw(b"EHLO evil.test\r\nMAIL FROM:<evil@evil.test>\r\n")
            code, text = s.read_reply()
            assert code == 220 and "2.0.0" in text, text
            assert s.buf == b""
            try:
                t = ctx.wrap_socket(s.sock, server_hostname="mx.test")
            except (ssl.SSLError, OSError):
                continue  # the injected bytes broke the handshake: also safe
            t.sendall(b"RCPT TO:<x@%s>\r\n" % st.domain.encode())
            reply = t.recv(1000)
            # the injected EHLO and MAIL were not executed
            assert reply.startswith(b"503 5.5.1"), reply
            t.close()

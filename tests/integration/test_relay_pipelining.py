"""The relay's SMTP client with PIPELINING (RFC 2920) and connection reuse
without RSET: against a scripted SMTP server on loopback that records in
which read each command arrived. With PIPELINING offered, MAIL, every RCPT
and DATA come in one write and the replies are matched in order (a refused
recipient bounces, the others are delivered); a transaction that ended
with its final reply is followed by the next MAIL without RSET, one that
did not (every recipient refused) by RSET first. Without PIPELINING each
command waits for its reply."""
import os
import shutil
import socket
import tempfile
import threading

import pytest

from harness import unique
from test_delivery_tls import relay_events, send_via_alias


class ScriptedSMTP:
    """Accepts connections one after another, answers like a small MTA and
    records (connection number, read number, command) for every command
    line, and the message bodies."""

    def __init__(self, pipelining=True):
        self.pipelining = pipelining
        self.log = []          # (conn, read, command line)
        self.bodies = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.conns = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def commands(self, conn=None):
        with self.lock:
            return [c for (n, _r, c) in self.log if conn is None or n == conn]

    def reads_of(self, prefix):
        with self.lock:
            return [(n, r) for (n, r, c) in self.log if c.startswith(prefix)]

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(c, self.conns), daemon=True).start()

    def _serve(self, c, n):
        c.settimeout(60)
        f_buf = b""
        reads = 0
        rcpts_ok = 0
        in_data = False
        body = b""

        def say(line):
            c.sendall(line.encode() + b"\r\n")

        say("220 scripted.test ESMTP")
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    return
                reads += 1
                f_buf += chunk
                while b"\r\n" in f_buf:
                    line, f_buf = f_buf.split(b"\r\n", 1)
                    if in_data:
                        if line == b".":
                            in_data = False
                            with self.lock:
                                self.bodies.append(body)
                            body = b""
                            say("250 2.0.0 queued as SCRIPTED")
                        else:
                            body += line + b"\r\n"
                        continue
                    cmd = line.decode("utf-8", "replace")
                    with self.lock:
                        self.log.append((n, reads, cmd))
                    u = cmd.upper()
                    if u.startswith("EHLO"):
                        ext = ["250-scripted.test", "250-SIZE 10000000", "250-8BITMIME"]
                        if self.pipelining:
                            ext.append("250-PIPELINING")
                        ext.append("250 ENHANCEDSTATUSCODES")
                        c.sendall(("\r\n".join(ext) + "\r\n").encode())
                    elif u.startswith("MAIL FROM"):
                        rcpts_ok = 0
                        say("250 2.1.0 ok")
                    elif u.startswith("RCPT TO"):
                        if "refuse" in cmd:
                            say("550 5.1.1 no such user here")
                        else:
                            rcpts_ok += 1
                            say("250 2.1.5 ok")
                    elif u == "DATA":
                        if rcpts_ok == 0:
                            say("554 5.5.1 no valid recipients")
                        else:
                            in_data = True
                            say("354 go ahead")
                    elif u == "RSET":
                        rcpts_ok = 0
                        say("250 2.0.0 ok")
                    elif u == "QUIT":
                        say("221 2.0.0 bye")
                        return
                    else:
                        say("502 5.5.2 not implemented")
        except OSError:
            return
        finally:
            c.close()


def _stack_with(peer, name):
    from conftest import _new_stack
    tmp = tempfile.mkdtemp(prefix="relay-pipe-")
    tmap = os.path.join(tmp, "transport-map")
    with open(tmap, "w") as f:
        f.write("pipe.test smarthost:127.0.0.1:%d\n" % peer.port)
    s = _new_stack(name, extra_env={"relay": {
        "MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap,
        "MAILYARD_RELAY_CONN_IDLE_SECONDS": "60",
        "MAILYARD_RELAY_DEST_CONCURRENCY": "1"}})
    return s, tmp


@pytest.fixture(scope="module")
def pipe_stack():
    from conftest import _close
    peer = ScriptedSMTP(pipelining=True).start()
    s, tmp = _stack_with(peer, "pipe")
    try:
        yield s, peer
    finally:
        _close(s)
        peer.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _delivered(s, rcpt):
    return relay_events(s, rcpt, "delivered")


def test_envelope_in_one_write_and_no_rset_between(pipe_stack):
    s, peer = pipe_stack
    rcpts = ["p%d-%s@pipe.test" % (i, unique("pl")) for i in range(3)]
    for r in rcpts:
        send_via_alias(s, [r], "pipe")
        s.wait_until(lambda r=r: _delivered(s, r), timeout=30, what="delivery to " + r)
    for r in rcpts:
        mail = [(n, rd) for (n, rd) in peer.reads_of("RCPT TO:<%s>" % r)]
        assert len(mail) == 1, mail
    # MAIL, RCPT and DATA of each transaction came in the same read
    with peer.lock:
        log = list(peer.log)
    for r in rcpts:
        i = next(k for k, (_n, _rd, c) in enumerate(log) if c.startswith("RCPT TO:<%s>" % r))
        conn, rd = log[i][0], log[i][1]
        assert log[i - 1][2].startswith("MAIL FROM:") and log[i - 1][:2] == (conn, rd), log
        assert log[i + 1][2] == "DATA" and log[i + 1][:2] == (conn, rd), log
    # one connection, and no RSET between transactions that ended cleanly
    used = {n for (n, _rd, c) in log if any(c.startswith("RCPT TO:<%s>" % r) for r in rcpts)}
    assert len(used) == 1, log
    assert "RSET" not in [c for (_n, _rd, c) in log], log


def test_pipelined_refusal_per_recipient_then_rset(pipe_stack):
    s, peer = pipe_stack
    good = "ok-%s@pipe.test" % unique("pr")
    bad = "refuse-%s@pipe.test" % unique("pr")
    # one job, one transaction with two recipients: the 550 bounces one
    send_via_alias(s, [good, bad], "pipe2")
    s.wait_until(lambda: _delivered(s, good), timeout=30, what="delivery to " + good)
    s.wait_until(lambda: relay_events(s, bad, "bounced"), timeout=30, what="bounce of " + bad)
    assert "550 5.1.1" in relay_events(s, bad, "bounced")[0][0]
    # every recipient refused: DATA is refused too (554), the transaction
    # stays open on the server, so the next one starts with RSET
    only_bad = "refuse-%s@pipe.test" % unique("pr")
    send_via_alias(s, [only_bad], "pipe3")
    s.wait_until(lambda: relay_events(s, only_bad, "bounced"), timeout=30,
                 what="bounce of " + only_bad)
    after = "ok-%s@pipe.test" % unique("pr")
    send_via_alias(s, [after], "pipe4")
    s.wait_until(lambda: _delivered(s, after), timeout=30, what="delivery to " + after)
    with peer.lock:
        log = [c for (_n, _rd, c) in peer.log]
    i = max(k for k, c in enumerate(log) if c.startswith("RCPT TO:<%s>" % only_bad))
    j = max(k for k, c in enumerate(log) if c.startswith("RCPT TO:<%s>" % after))
    assert log[i + 1] == "DATA", log[i:]
    assert "RSET" in log[i + 2:j], log[i:j + 1]
    # the body went once, for the accepted recipient of the mixed job
    with peer.lock:
        assert sum(1 for b in peer.bodies if b"Subject: pipe2 " in b) == 1


def test_without_pipelining_one_command_per_read():
    from conftest import _close
    peer = ScriptedSMTP(pipelining=False).start()
    s, tmp = _stack_with(peer, "nopipe")
    try:
        r = "np-%s@pipe.test" % unique("np")
        send_via_alias(s, [r], "nopipe")
        s.wait_until(lambda: _delivered(s, r), timeout=30, what="delivery to " + r)
        with peer.lock:
            log = list(peer.log)
        i = next(k for k, (_n, _rd, c) in enumerate(log) if c.startswith("RCPT TO:<%s>" % r))
        assert log[i - 1][2].startswith("MAIL FROM:")
        assert log[i + 1][2] == "DATA"
        # each command in a read of its own: the client waited for replies
        assert log[i - 1][1] < log[i][1] < log[i + 1][1], log
    finally:
        _close(s)
        peer.stop()
        shutil.rmtree(tmp, ignore_errors=True)

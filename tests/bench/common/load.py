"""Load for the SMTP benchmarks.

run_smtp_source()  Postfix's smtp-source with -s/-m/-l; returns the elapsed
                   wall time (it exits non-zero on any non-2xx reply, which
                   is an error here, never a number)
LatencySampler     a small client on one connection that sends messages one
                   after another while the load runs and records, for each,
                   the time from the end of its data (<CRLF>.<CRLF> written)
                   to the 250 reply
IdleConnections    N sockets that each read the banner, sent EHLO, read the
                   reply and then stay idle until close()
Every socket operation has a timeout; every loop is bounded.
"""
import socket
import subprocess
import threading
import time

SOURCE = "/usr/sbin/smtp-source"


def run_smtp_source(port, messages, sessions, size, mail_from, rcpt, timeout):
    argv = [SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-M", "source.bench.test", "-f", mail_from, "-t", rcpt,
            "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    elapsed = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError("smtp-source exited %d after %.1fs:\n%s"
                           % (r.returncode, elapsed, r.stdout.decode("utf-8", "replace")[-2000:]))
    return elapsed


class _Conn:
    """A blocking SMTP client connection with a line reader."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def reply(self):
        """Reads one (multi-line) reply; returns its code."""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed by server")
                self.buf += chunk
                if len(self.buf) > 1 << 20:
                    raise ConnectionError("reply too long")
            line, self.buf = self.buf.split(b"\r\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3])

    def cmd(self, data, want):
        self.sock.sendall(data)
        code = self.reply()
        if code != want:
            raise RuntimeError("%r -> %d (wanted %d)" % (data[:40], code, want))
        return code

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _message(n, size):
    body_line = b"x" * 76 + b"\r\n"
    body = body_line * (size // len(body_line) + 1)
    head = (b"From: <latency@source.bench.test>\r\nTo: <rcpt@bench.test>\r\n"
            b"Subject: latency sample %d\r\nMessage-ID: <lat-%d-%f@source.bench.test>\r\n"
            b"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n\r\n" % (n, n, time.time()))
    return head + body[:size] + b"\r\n.\r\n"


class LatencySampler(threading.Thread):
    def __init__(self, port, rcpt, size, max_samples=2000):
        super().__init__(daemon=True)
        self.port, self.rcpt, self.size = port, rcpt, size
        self.max_samples = max_samples
        self.samples = []
        self.error = None
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()
        self.join(60)

    def run(self):
        try:
            c = _Conn(self.port)
            try:
                c.reply()
                c.cmd(b"EHLO latency.bench.test\r\n", 250)
                n = 0
                while not self._halt.is_set() and n < self.max_samples:
                    c.cmd(b"MAIL FROM:<latency@source.bench.test>\r\n", 250)
                    c.cmd(b"RCPT TO:<%s>\r\n" % self.rcpt.encode(), 250)
                    c.cmd(b"DATA\r\n", 354)
                    msg = _message(n, self.size)
                    c.sock.sendall(msg[:-5])
                    t0 = time.monotonic()
                    c.cmd(msg[-5:], 250)
                    self.samples.append(time.monotonic() - t0)
                    n += 1
                c.sock.sendall(b"QUIT\r\n")
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            self.error = e


class IdleConnections:
    def __init__(self, port, count, timeout=60.0):
        self.port, self.count, self.timeout = port, count, timeout
        self.conns = []

    def open(self):
        """Opens count connections, each greeted and EHLO'd; returns the seconds
        that took. Raises if one is refused (e.g. a connection limit)."""
        t0 = time.monotonic()
        for i in range(self.count):
            c = _Conn(self.port, timeout=self.timeout)
            self.conns.append(c)
            code = c.reply()
            if code != 220:
                raise RuntimeError("connection %d: banner %d" % (i, code))
            c.cmd(b"EHLO idle-%d.bench.test\r\n" % i, 250)
        return time.monotonic() - t0

    def close(self):
        for c in self.conns:
            try:
                c.sock.sendall(b"QUIT\r\n")
            except OSError:
                pass
            c.close()
        self.conns = []

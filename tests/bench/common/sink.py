"""Postfix's smtp-sink on a free loopback port: accepts everything, stores
nothing, and prints a running counter ("sess=N quit=N mesg=N\\r") that
count() reads to know how many messages were received."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration"))
from harness.util import free_port  # noqa: E402

_MESG = re.compile(rb"mesg=(\d+)")


class PostfixSink:
    def __init__(self, base):
        self.port = free_port()
        self.out = os.path.join(base, "smtp-sink.out")
        self.proc = None

    def start(self):
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                ["/usr/sbin/smtp-sink", "-c", "-h", "sink.bench.test"] + user
                + ["127.0.0.1:%d" % self.port, "1024"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError("smtp-sink exited: %s" % open(self.out, "rb").read()[-500:])

    def count(self):
        """Messages received so far (the last counter smtp-sink printed)."""
        try:
            with open(self.out, "rb") as f:
                f.seek(max(0, os.path.getsize(self.out) - 256))
                tail = f.read()
        except OSError:
            return 0
        m = _MESG.findall(tail)
        return int(m[-1]) if m else 0

    def wait_count(self, n, timeout):
        """Polls until count() >= n; returns the time that took (monotonic
        seconds) or raises after timeout."""
        deadline = time.monotonic() + timeout
        while self.count() < n:
            if time.monotonic() > deadline:
                raise RuntimeError("smtp-sink has %d of %d messages after %ds"
                                   % (self.count(), n, timeout))
            time.sleep(0.02)
        return time.monotonic()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

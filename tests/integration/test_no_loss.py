"""Never lose an accepted message: 500 messages in flight while each service
is killed with SIGKILL and restarted, and again with Redis FLUSHALL.

Each message goes to an alias (two remote targets) and a list (two remote
members, one of them the sender), so it crosses mx, rewrite, lists,
archive and relay. The senders retry any session that failed before the
final 250, as SMTP clients do. Every recipient must end up with every
message (distinct sequence tokens; duplicates are allowed)."""
import os
import re
import signal
import threading
import time

import pytest

from harness import unique
from harness.smtp import make_message, send_with_retry

pytestmark = pytest.mark.slow

STACK_CONFIG = {}
COUNT = int(os.environ.get("MAILYARD_IT_NO_LOSS_COUNT", "500"))
SENDERS = 4
# pacing per sender, so that sending lasts ~12 s and every kill hits traffic
SEND_INTERVAL = 0.08
DELIVERY_TIMEOUT = 180


def _setup(stack):
    uid = unique("nl")
    alias = "%s@%s" % (uid, stack.domain)
    lst = "l%s@%s" % (uid, stack.domain)
    targets = ["a1-%s@remote.test" % uid, "a2-%s@remote.test" % uid]
    members = ["m1-%s@remote.test" % uid, "m2-%s@remote.test" % uid]
    stack.add_alias(alias, targets)
    stack.add_list(lst, members)
    return uid, [alias, lst], targets + members, members[0]


class _Senders:
    def __init__(self, stack, uid, rcpts, sender, count):
        self.stack, self.uid, self.rcpts, self.sender = stack, uid, rcpts, sender
        self.count = count
        self.next = 0
        self.lock = threading.Lock()
        self.errors = 0
        self.failures = []
        self.deadline = time.monotonic() + DELIVERY_TIMEOUT
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SENDERS)]

    def _take(self):
        with self.lock:
            if self.next >= self.count:
                return None
            self.next += 1
            return self.next - 1

    def _err(self, e):
        with self.lock:
            self.errors += 1

    def _run(self):
        while True:
            i = self._take()
            if i is None:
                return
            _, data = make_message(self.sender, self.rcpts[0],
                                   subject="nl-%s-%d" % (self.uid, i))
            try:
                send_with_retry(self.stack.smtp_port, self.sender, self.rcpts, data,
                                self.deadline, on_error=self._err)
            except Exception as e:  # noqa: BLE001 - reported by the test
                with self.lock:
                    self.failures.append((i, repr(e)))
            time.sleep(SEND_INTERVAL)

    def start(self):
        for t in self.threads:
            t.start()

    def alive(self):
        return any(t.is_alive() for t in self.threads)

    def join(self):
        for t in self.threads:
            t.join(max(1, self.deadline - time.monotonic()))


def _wait_all_delivered(stack, uid, rcpts, count):
    pat = re.compile(r"nl-%s-(\d+)" % re.escape(uid))

    def missing():
        seen = {r: set() for r in rcpts}
        for m in stack.sink.snapshot():
            mt = pat.search(m.header("Subject") or "")
            if not mt:
                continue
            for r in m.rcpts:
                if r.lower() in seen:
                    seen[r.lower()].add(int(mt.group(1)))
        return {r: count - len(s) for r, s in seen.items() if len(s) < count}
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    left = missing()
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = missing()
    assert not left, "messages missing per recipient after %ss: %s" % (DELIVERY_TIMEOUT, left)


def _chaos_kills(stack, senders):
    """Kills each service with SIGKILL and restarts it, spaced over the run."""
    for svc in ("mx", "rewrite", "lists", "archive", "relay"):
        time.sleep(1.0)
        stack.kill(svc, signal.SIGKILL)
        time.sleep(0.3)
        stack.start(svc)


@pytest.mark.timeout(480)
def test_no_loss_when_services_are_killed(module_stack):
    stack = module_stack
    uid, rcpts, expect, sender = _setup(stack)
    s = _Senders(stack, uid, rcpts, sender, COUNT)
    t0 = time.monotonic()
    s.start()
    _chaos_kills(stack, s)
    still_sending = s.alive()
    s.join()
    print("no-loss kills: %d messages sent in %.1fs, %d failed sessions retried, "
          "senders still active after the last kill: %s"
          % (COUNT, time.monotonic() - t0, s.errors, still_sending))
    assert not s.failures, "messages never accepted: %s" % s.failures[:5]
    _wait_all_delivered(stack, uid, expect, COUNT)


@pytest.mark.timeout(480)
def test_no_loss_when_redis_is_flushed(module_stack):
    stack = module_stack
    uid, rcpts, expect, sender = _setup(stack)
    s = _Senders(stack, uid, rcpts, sender, COUNT)
    t0 = time.monotonic()
    s.start()
    for _ in range(2):
        time.sleep(2)
        assert "OK" in stack.redis("FLUSHALL")
    s.join()
    print("no-loss flush: %d messages sent in %.1fs" % (COUNT, time.monotonic() - t0))
    assert not s.failures, "messages never accepted: %s" % s.failures[:5]
    _wait_all_delivered(stack, uid, expect, COUNT)

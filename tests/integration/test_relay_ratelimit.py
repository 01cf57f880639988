"""Per-destination-domain policies (MAILYARD_RELAY_DOMAIN_POLICY): a
concurrency limit that a slow hub never sees exceeded, slow start (the
window grows by one per delivering transaction and halves after a
temporary failure, shown by GET /v1/destinations), and a rate limit over
which recipients wait (state and reason in the queue API) instead of
failing. No timing assertions: the maximum of simultaneous transactions the
hub saw, the window values, the waiting rows."""
import asyncio
import os
import shutil
import tempfile
import threading

import pytest
from aiosmtpd.controller import Controller

from harness import unique
from harness.util import free_port
from test_delivery_tls import send_via_alias

WORKERS = 4


class SlowHub:
    """Holds every DATA for a moment and records how many transactions
    (MAIL .. end of DATA) were open at once."""

    def __init__(self, hold=0.4):
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.got = []
        hub = self

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, options):
                with hub.lock:
                    hub.active += 1
                    hub.max_active = max(hub.max_active, hub.active)
                envelope.mail_from = address
                envelope.mail_options.extend(options)
                return "250 2.1.0 OK"

            async def handle_RSET(self, server, session, envelope):
                return "250 2.0.0 OK"

            async def handle_DATA(self, server, session, envelope):
                await asyncio.sleep(hold)
                with hub.lock:
                    hub.active -= 1
                    hub.got.extend(envelope.rcpt_tos)
                return "250 2.0.0 OK: slow hub"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     decode_data=False)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


@pytest.fixture(scope="module")
def policed():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="relay-ratelimit-")
    hub = SlowHub().start()
    tmap = os.path.join(tmp, "transport-map")
    with open(tmap, "w") as f:
        f.write("conc.test  smtp:127.0.0.1:%d\n" % hub.port)
    policy = ("conc.test=concurrency:2,start:2; slow.test=concurrency:5,start:1;"
              "rate.test=rate:2/h")
    s = _new_stack("ratelimit", worker_threads=WORKERS, extra_env={"relay": {
        "MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap,
        "MAILYARD_RELAY_CONN_IDLE_SECONDS": "0",
        "MAILYARD_RELAY_DOMAIN_POLICY": policy}})
    s.dns.add_mail_domain("slow.test")
    s.dns.add_mail_domain("rate.test")
    yield s, hub
    _close(s)
    hub.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def _destination(stack, domain):
    r = stack.api("relay").get("/v1/destinations")
    assert r.status_code == 200, r.text
    for d in r.json()["destinations"]:
        if d["domain"] == domain:
            return d
    raise AssertionError("no destination %s in %s" % (domain, r.json()))


def _delivered(stack, rcpt):
    return stack.psql("select count(*) from relay.deliveries where rcpt = '%s' "
                      "and state = 'delivered'" % rcpt) == [["1"]]


def test_the_concurrency_limit_holds_with_more_workers_than_slots(policed):
    s, hub = policed
    rcpts = ["c%d-%s@conc.test" % (i, unique("rl")) for i in range(3 * WORKERS)]
    for r in rcpts:
        send_via_alias(s, [r], "rlconc")
    s.wait_until(lambda: all(r in hub.got for r in rcpts) or None, timeout=120,
                 what="every message at the slow hub")
    assert hub.max_active <= 2, hub.max_active
    assert hub.max_active >= 1
    assert _destination(s, "conc.test")["window"] == 2


def test_slow_start_grows_per_delivery_and_halves_on_a_temporary_failure(policed):
    s, _ = policed
    assert _destination(s, "slow.test")["window"] == 1
    for i in range(3):
        r = "s%d-%s@slow.test" % (i, unique("rl"))
        send_via_alias(s, [r], "rlslow")
        s.wait_until(lambda: _delivered(s, r) or None, timeout=60, what="delivery")
    assert _destination(s, "slow.test")["window"] == 4

    busy = "busy-%s@slow.test" % unique("rl")
    s.sink.plan_rcpt(busy, [], then=451)
    send_via_alias(s, [busy], "rlslow")
    s.wait_until(lambda: s.psql("select count(*) from relay.deliveries where rcpt = '%s' "
                                "and last_reply like '451%%'" % busy) == [["1"]] or None,
                 timeout=60, what="a deferral")
    assert _destination(s, "slow.test")["window"] == 2


def test_over_the_rate_recipients_wait_with_the_reason_in_the_queue_api(policed):
    s, _ = policed
    rcpts = ["r%d-%s@rate.test" % (i, unique("rl")) for i in range(4)]
    for r in rcpts:
        send_via_alias(s, [r], "rlrate")

    def settled():
        rows = s.psql("select rcpt, state, coalesce(wait_reason, '') from relay.deliveries "
                      "where rcpt in (%s)" % ",".join("'%s'" % r for r in rcpts))
        done = [x for x in rows if x[1] == "delivered"]
        waiting = [x for x in rows if x[1] == "pending" and x[2]]
        return (done, waiting) if len(done) + len(waiting) == 4 else None
    done, waiting = s.wait_until(settled, timeout=60, what="2 delivered, 2 waiting")
    assert len(done) == 2 and len(waiting) == 2, (done, waiting)
    assert len([m for r in rcpts for m in s.sink.messages_to(r)]) == 2

    r = s.api("relay").get("/v1/queue", params={"state": "waiting", "domain": "rate.test"})
    assert r.status_code == 200, r.text
    rows = r.json()["deliveries"]
    assert sorted(d["rcpt"] for d in rows) == sorted(w[0] for w in waiting)
    for d in rows:
        assert d["state"] == "pending"
        assert "rate limit of rate.test" in d["wait_reason"]
        assert d["attempts"] == 0           # waiting is not a failed attempt
    assert _destination(s, "rate.test")["rate"] == 2
    events = s.psql("select count(*) from spool.events where service = 'relay' and "
                    "event = 'waiting' and detail->>'rcpt' in (%s)"
                    % ",".join("'%s'" % w[0] for w in waiting))
    assert int(events[0][0]) >= 2

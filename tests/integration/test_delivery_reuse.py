"""Connection reuse and the per-destination concurrency limit: several
jobs to the same next hop share one SMTP connection (STARTTLS once; no
RSET between transactions that ended with their final reply, as Postfix), and with MAILYARD_RELAY_DEST_CONCURRENCY=1
the two worker threads never talk to it at the same time. The hub counts
connections."""
import os
import shutil
import tempfile

import pytest

from harness import unique
from test_delivery_tls import Hub, send_via_alias


@pytest.fixture(scope="module")
def reuse_stack():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="delivery-reuse-")
    hub = Hub(os.path.join(tmp, "hub")).start()
    hub.baseline = hub.connections      # aiosmtpd's own start-up probe(s)
    tmap = os.path.join(tmp, "transport-map")
    with open(tmap, "w") as f:
        f.write("reuse.test smarthost:127.0.0.1:%d\n" % hub.port)
    s = None
    try:
        s = _new_stack("reuse", extra_env={"relay": {
            "MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap,
            "MAILYARD_RELAY_CONN_IDLE_SECONDS": "60",
            "MAILYARD_RELAY_DEST_CONCURRENCY": "1"}})
        yield s, hub
    finally:
        if s is not None:
            _close(s)
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_jobs_to_one_host_share_a_connection(reuse_stack):
    s, hub = reuse_stack
    rcpts = ["r%d-%s@reuse.test" % (i, unique("cr")) for i in range(6)]
    for r in rcpts:                     # one message, one job each
        send_via_alias(s, [r], "reuse")
    for r in rcpts:
        s.wait_until(lambda r=r: hub.to(r), timeout=30, what="delivery of " + r)
    assert all(hub.to(r)[0]["tls"] for r in rcpts)
    assert hub.connections - hub.baseline == 1, (hub.connections, hub.baseline, hub.rsets)
    assert hub.rsets == 0, hub.rsets
    assert hub.max_active == 1

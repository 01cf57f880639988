"""TLS-RPT (RFC 8460 §4.3.1) result types of MTA-STS policies that are
announced in DNS but cannot be had, against a Python HTTPS server on
loopback (like test_delivery_mtasts.py): a 404 is sts-policy-fetch-error, a
policy of an unknown version sts-policy-invalid, a policy host whose
certificate does not carry its name sts-webpki-invalid. The mail itself is
delivered (no policy applies, RFC 8461 §5) and the attempt is counted under
policy type sts with the failure, not as no-policy-found."""
import datetime
import http.server
import os
import shutil
import ssl
import tempfile
import threading

import pytest

from harness import unique
from harness.util import free_port
from test_delivery_mtasts import _cert
from test_delivery_tls import Hub, send_via_alias

OK = "version: STSv1\nmode: testing\nmx: hub.remote.test\nmax_age: 86400\n"
# policy domain -> (HTTP status, body); webpki.test is served with a
# certificate that does not name mta-sts.webpki.test
POLICIES = {
    "fetch404.test": (404, ""),
    "invalid.test": (200, "version: STSv9\nmode: enforce\nmx: hub.remote.test\nmax_age: 1\n"),
    "webpki.test": (200, OK),
}


class PolicyServer:
    def __init__(self, certdir):
        names = ["mta-sts." + d for d in POLICIES if d != "webpki.test"]
        self.cert, key = _cert(certdir, names)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                status, body = POLICIES.get(host[len("mta-sts."):], (404, ""))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def rpt():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="tlsrpt-results-")
    hub = Hub(os.path.join(tmp, "hub")).start()
    web = PolicyServer(os.path.join(tmp, "web")).start()
    bundle = os.path.join(tmp, "ca.pem")
    with open(bundle, "w") as f:
        f.write(open(hub.cert).read() + open(web.cert).read())
    s = None
    try:
        s = _new_stack("tlsrptres", extra_env={"relay": {
            "MAILYARD_RELAY_SMTP_PORT": str(hub.port),
            "MAILYARD_RELAY_CA_FILE": bundle,
            "MAILYARD_RELAY_MTASTS_PORT": str(web.port)}})
        s.dns.add("hub.remote.test", "A", "127.0.0.1")
        for d in POLICIES:
            s.dns.add("_mta-sts." + d, "TXT", '"v=STSv1; id=20261122T1"')
            s.dns.add("mta-sts." + d, "A", "127.0.0.1")
            s.dns.add_mail_domain(d, mx="hub.remote.test")
        yield s, hub
    finally:
        if s is not None:
            _close(s)
        web.stop()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _results(s, domain):
    return s.psql("select policy_type, result_type, sessions, failure_reason from "
                  "relay.tlsrpt_results where policy_domain = '%s' order by result_type"
                  % domain)


@pytest.mark.parametrize("domain,result,reason", [
    ("fetch404.test", "sts-policy-fetch-error", "HTTP status 404"),
    ("invalid.test", "sts-policy-invalid", "unknown policy version"),
    ("webpki.test", "sts-webpki-invalid", "mta-sts.webpki.test"),
])
def test_unobtainable_policy_is_an_sts_failure(rpt, domain, result, reason):
    s, hub = rpt
    rcpt = "r-%s@%s" % (unique("rpt"), domain)
    send_via_alias(s, [rcpt], "rpt")
    s.wait_until(lambda: hub.to(rcpt), timeout=30, what="delivery without a policy")
    rows = s.wait_until(lambda: _results(s, domain), timeout=10, what="TLS-RPT row")
    assert len(rows) == 1, rows
    ptype, rtype, sessions, why = rows[0]
    assert (ptype, rtype, sessions) == ("sts", result, "1"), rows
    assert reason in why, rows
    # and the RFC 8460 report of the day has it as an sts failure detail
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    r = s.api("relay").get("/v1/tls-reports", params={"date": day, "domain": domain})
    assert r.status_code == 200, r.text
    pols = [p for p in r.json()["policies"] if p["policy"]["policy-type"] == "sts"]
    assert len(pols) == 1, r.json()
    assert pols[0]["summary"]["total-failure-session-count"] == 1, pols
    assert [d["result-type"] for d in pols[0]["failure-details"]] == [result], pols

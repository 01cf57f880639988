"""MTA-STS (RFC 8461) against a Python HTTPS server on loopback serving the
policies, with the TXT and A records in the harness DNS: enforce refuses
(defers) an MX host that is not in the policy, delivers with a verified
certificate to one that is, testing only logs, and a policy is fetched
once and then cached by id."""
import http.server
import os
import shutil
import ssl
import subprocess
import tempfile
import threading

import pytest

from harness import unique
from harness.util import free_port
from test_delivery_tls import Hub, relay_events, send_via_alias

POLICIES = {
    "sts-ok.test": "version: STSv1\r\nmode: enforce\r\nmx: hub.remote.test\r\nmax_age: 86400\r\n",
    "sts-bad.test": "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n",
    "sts-testing.test": "version: STSv1\nmode: testing\nmx: hub.remote.test\nmax_age: 86400\n",
}


def _cert(dirpath, names):
    os.makedirs(dirpath, exist_ok=True)
    cert, key = os.path.join(dirpath, "cert.pem"), os.path.join(dirpath, "key.pem")
    san = ",".join("DNS:" + n for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", "/CN=" + names[0],
                    "-addext", "subjectAltName=" + san],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class PolicyServer:
    def __init__(self, certdir):
        self.fetches = []
        names = ["mta-sts." + d for d in POLICIES]
        self.cert, key = _cert(certdir, names)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                owner.fetches.append((host, self.path))
                domain = host[len("mta-sts."):]
                body = POLICIES.get(domain)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
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

    def count(self, domain):
        return len([f for f in self.fetches if f[0] == "mta-sts." + domain])


@pytest.fixture(scope="module")
def sts():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="delivery-mtasts-")
    hub = Hub(os.path.join(tmp, "hub")).start()
    web = PolicyServer(os.path.join(tmp, "web")).start()
    bundle = os.path.join(tmp, "ca.pem")
    with open(bundle, "w") as f:
        f.write(open(hub.cert).read() + open(web.cert).read())
    s = None
    try:
        s = _new_stack("mtasts", extra_env={"relay": {
            "MAILYARD_RELAY_SMTP_PORT": str(hub.port),
            "MAILYARD_RELAY_CA_FILE": bundle,
            "MAILYARD_RELAY_MTASTS_PORT": str(web.port)}})
        s.dns.add("hub.remote.test", "A", "127.0.0.1")
        s.dns.add("other.remote.test", "A", "127.0.0.1")
        for d in POLICIES:
            s.dns.add("_mta-sts." + d, "TXT", '"v=STSv1; id=20261122T1"')
            s.dns.add("mta-sts." + d, "A", "127.0.0.1")
        s.dns.add_mail_domain("sts-ok.test", mx="hub.remote.test")
        s.dns.add_mail_domain("sts-bad.test", mx="other.remote.test")
        s.dns.add_mail_domain("sts-testing.test", mx="other.remote.test")
        yield s, hub, web
    finally:
        if s is not None:
            _close(s)
        web.stop()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_enforce_defers_an_mx_not_in_the_policy(sts):
    s, hub, web = sts
    rcpt = "b-%s@sts-bad.test" % unique("sts")
    send_via_alias(s, [rcpt], "stsbad")
    ev = s.wait_until(lambda: relay_events(s, rcpt, "deferred"), timeout=30,
                      what="deferred event")
    assert "MTA-STS policy of sts-bad.test (mode enforce" in ev[0][0], ev
    assert "other.remote.test" in ev[0][0], ev
    assert hub.to(rcpt) == []
    assert web.count("sts-bad.test") >= 1


def test_enforce_delivers_verified_and_caches_the_policy(sts):
    s, hub, web = sts
    first = "o1-%s@sts-ok.test" % unique("sts")
    send_via_alias(s, [first], "stsok")
    s.wait_until(lambda: hub.to(first), timeout=30, what="delivery")
    ev = s.wait_until(lambda: relay_events(s, first, "delivered"), timeout=10, what="event")
    assert '"tls_verify": "verified"' in ev[0][0], ev
    second = "o2-%s@sts-ok.test" % unique("sts")
    send_via_alias(s, [second], "stsok")
    s.wait_until(lambda: hub.to(second), timeout=30, what="second delivery")
    assert web.count("sts-ok.test") == 1, web.fetches      # same id: cached


def test_testing_mode_only_logs(sts):
    s, hub, web = sts
    rcpt = "t-%s@sts-testing.test" % unique("sts")
    send_via_alias(s, [rcpt], "ststest")
    s.wait_until(lambda: hub.to(rcpt), timeout=30, what="delivery despite the mismatch")
    assert web.count("sts-testing.test") >= 1
    log = open(s.logfile("relay")).read()
    assert "MTA-STS (testing): MX host not in the policy" in log

"""DANE (RFC 7672) in the relay against a really DNSSEC-signed test zone
(ldns-signzone, served by NSD; harness/dnssec.py) that the relay's
libunbound validates with the zone's key as trust anchor, and a STARTTLS hub
on loopback:

  ok.dane.test     TLSA 3 1 1 of the hub's key        -> delivered, "dane": verified
  bad.dane.test    TLSA 3 1 1 of another key          -> deferred, "dane": failed
  bogus.dane.test  TLSA with a broken RRSIG           -> deferred (DNSSEC bogus)
  plain.test       unsigned zone, a wrong TLSA        -> ignored, delivered as usual
  sts.dane.test    MTA-STS enforce policy that allows none of its MX hosts,
                   plus matching TLSA                 -> DANE wins, delivered
  sts.plain.test   the same policy, no DNSSEC         -> deferred by MTA-STS
"""
import http.server
import json
import os
import shutil
import ssl
import tempfile
import threading

import pytest

from harness import unique
from harness.dnssec import SignedZones, tlsa_3_1_1
from harness.tlscert import make_self_signed
from harness.util import free_port
from test_delivery_tls import Hub, relay_events, send_via_alias

STS_POLICY = "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n"
STS_DOMAINS = ("sts.dane.test", "sts.plain.test")


class PolicyServer:
    """HTTPS on loopback serving STS_POLICY for mta-sts.<STS_DOMAINS>."""

    def __init__(self, certdir):
        self.cert, key = make_self_signed(certdir, cn="mta-sts." + STS_DOMAINS[0])
        # a certificate valid for both policy hosts
        import subprocess
        san = ",".join("DNS:mta-sts." + d for d in STS_DOMAINS)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", self.cert, "-days", "30", "-subj",
                        "/CN=mta-sts." + STS_DOMAINS[0], "-addext", "subjectAltName=" + san],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.fetches = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.fetches.append((self.headers.get("Host") or "").split(":")[0])
                data = STS_POLICY.encode()
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
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _zones(tmp, hub):
    good = tlsa_3_1_1(hub.cert)
    other_cert, _ = make_self_signed(os.path.join(tmp, "other"), cn="other.dane.test")
    wrong = tlsa_3_1_1(other_cert)
    p = hub.port
    z = SignedZones(tmp)
    z.add_zone("dane.test", [
        "ok MX 10 mx-ok.dane.test.", "mx-ok A 127.0.0.1", "_%d._tcp.mx-ok TLSA %s" % (p, good),
        "bad MX 10 mx-bad.dane.test.", "mx-bad A 127.0.0.1",
        "_%d._tcp.mx-bad TLSA %s" % (p, wrong),
        "bogus MX 10 mx-bogus.dane.test.", "mx-bogus A 127.0.0.1",
        "_%d._tcp.mx-bogus TLSA %s" % (p, good),
        "sts MX 10 mx-ok.dane.test.", '_mta-sts.sts TXT "v=STSv1; id=20261122T1"',
        "mta-sts.sts A 127.0.0.1",
    ])
    z.corrupt("dane.test", "_%d._tcp.mx-bogus.dane.test" % p, "TLSA")
    z.add_zone("plain.test", [
        "@ MX 10 mx.plain.test.", "mx A 127.0.0.1", "_%d._tcp.mx TLSA %s" % (p, wrong),
        "sts MX 10 mx.plain.test.", '_mta-sts.sts TXT "v=STSv1; id=20261122T1"',
        "mta-sts.sts A 127.0.0.1",
    ], sign=False)
    return z.start()


@pytest.fixture(scope="module")
def dane():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="delivery-dane-")
    hub = Hub(os.path.join(tmp, "hub"), cn="mx-ok.dane.test").start()
    web = zones = s = None
    try:
        web = PolicyServer(os.path.join(tmp, "web"))
        zones = _zones(tmp, hub)
        s = _new_stack("dane", extra_env={"relay": {
            "MAILYARD_RELAY_SMTP_PORT": str(hub.port),
            "MAILYARD_DNS_SERVERS": zones.server_spec,
            "MAILYARD_DNS_TRUST_ANCHOR_FILE": zones.trust_anchor_file,
            "MAILYARD_RELAY_CA_FILE": web.cert,
            "MAILYARD_RELAY_MTASTS_PORT": str(web.port)}})
        yield s, hub, web
    finally:
        if s is not None:
            _close(s)
        if zones is not None:
            zones.cleanup()
        if web is not None:
            web.stop()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _event(s, rcpt, event):
    ev = s.wait_until(lambda: relay_events(s, rcpt, event), timeout=40,
                      what="%s event for %s" % (event, rcpt))
    return json.loads(ev[0][0])


def test_matching_tlsa_delivers_with_dane_verified(dane):
    s, hub, _ = dane
    rcpt = "ok-%s@ok.dane.test" % unique("dane")
    send_via_alias(s, [rcpt], "daneok")
    d = _event(s, rcpt, "delivered")
    assert d["dane"].startswith("verified (DANE-EE 3 1 1)"), d
    assert d["tls_verify"] == "verified", d
    assert hub.to(rcpt) and hub.to(rcpt)[0]["tls"] is True


def test_non_matching_tlsa_defers_and_records_the_failure(dane):
    s, hub, _ = dane
    rcpt = "bad-%s@bad.dane.test" % unique("dane")
    send_via_alias(s, [rcpt], "danebad")
    d = _event(s, rcpt, "deferred")
    assert d["status"] == "4.7.5", d
    assert "matches none of its TLSA records" in d["reply"], d
    assert d["dane"].startswith("failed:"), d
    assert hub.to(rcpt) == []


def test_bogus_signature_defers(dane):
    s, hub, _ = dane
    rcpt = "bogus-%s@bogus.dane.test" % unique("dane")
    send_via_alias(s, [rcpt], "danebogus")
    d = _event(s, rcpt, "deferred")
    assert d["status"] == "4.7.5", d
    assert "DNSSEC bogus" in d["reply"], d
    assert d["dane"].startswith("failed:"), d
    assert hub.to(rcpt) == []


def test_unsigned_zone_falls_back_to_the_usual_policy(dane):
    s, hub, _ = dane
    rcpt = "plain-%s@plain.test" % unique("dane")
    send_via_alias(s, [rcpt], "daneplain")
    d = _event(s, rcpt, "delivered")
    assert "dane" not in d, d                      # the insecure TLSA is ignored
    assert d["tls_verify"].startswith("not verified"), d   # may mode, self-signed hub


def test_dane_beats_mta_sts(dane):
    s, hub, web = dane
    control = "c-%s@sts.plain.test" % unique("dane")
    send_via_alias(s, [control], "stsplain")
    d = _event(s, control, "deferred")
    assert "MTA-STS policy of sts.plain.test" in d["reply"], d      # the policy applies
    rcpt = "sts-%s@sts.dane.test" % unique("dane")
    send_via_alias(s, [rcpt], "stsdane")
    d = _event(s, rcpt, "delivered")
    assert d["dane"].startswith("verified"), d
    assert "mta-sts.sts.dane.test" not in web.fetches     # not even fetched

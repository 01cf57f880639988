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

and TLS-RPT (RFC 8460): the sessions above are counted per policy domain
and day, and `mailyardctl relay tls-report send` posts the gzipped JSON
report to an https: rua (the policy server below) and mails it to a mailto:
rua (delivered to the hub); the JSON is checked against the RFC's fields.
"""
import datetime
import email
import gzip
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
REPORT_HOST = "tlsrpt.dane.test"


class PolicyServer:
    """HTTPS on loopback serving STS_POLICY for mta-sts.<STS_DOMAINS>."""

    def __init__(self, certdir):
        self.cert, key = make_self_signed(certdir, cn="mta-sts." + STS_DOMAINS[0])
        # a certificate valid for both policy hosts
        import subprocess
        san = ",".join(["DNS:mta-sts." + d for d in STS_DOMAINS] + ["DNS:" + REPORT_HOST])
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", self.cert, "-days", "30", "-subj",
                        "/CN=mta-sts." + STS_DOMAINS[0], "-addext", "subjectAltName=" + san],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.fetches = []
        self.reports = []          # (Content-Type, body) of TLS-RPT POSTs
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

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                owner.reports.append((self.headers.get("Content-Type"), self.rfile.read(n)))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

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


def _zones(tmp, hub, web):
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
        "tlsrpt A 127.0.0.1",
        '_smtp._tls.ok TXT "v=TLSRPTv1; rua=https://%s:%d/tlsrpt"' % (REPORT_HOST, web.port),
        '_smtp._tls.bad TXT "v=TLSRPTv1; rua=mailto:tlsrpt@rua.plain.test"',
    ])
    z.corrupt("dane.test", "_%d._tcp.mx-bogus.dane.test" % p, "TLSA")
    z.add_zone("plain.test", [
        "@ MX 10 mx.plain.test.", "mx A 127.0.0.1", "_%d._tcp.mx TLSA %s" % (p, wrong),
        "sts MX 10 mx.plain.test.", '_mta-sts.sts TXT "v=STSv1; id=20261122T1"',
        "mta-sts.sts A 127.0.0.1",
        '_smtp._tls.sts TXT "v=TLSRPTv1; rua=https://%s:%d/tlsrpt"' % (REPORT_HOST, web.port),
        "rua MX 10 mx.plain.test.",
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
        zones = _zones(tmp, hub, web)
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


def _check_report(rep, domain, ptype):
    """The RFC 8460 §4.4 fields; returns the policy entry of ptype."""
    assert rep["organization-name"] == "mx.example.test", rep
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    assert rep["date-range"] == {"start-datetime": day + "T00:00:00Z",
                                 "end-datetime": day + "T23:59:59Z"}, rep
    assert rep["contact-info"] == "postmaster@mx.example.test", rep
    assert rep["report-id"].startswith(day + "." + domain + "."), rep
    pols = [p for p in rep["policies"] if p["policy"]["policy-type"] == ptype]
    assert len(pols) == 1, rep
    p = pols[0]
    assert p["policy"]["policy-domain"] == domain, p
    assert set(p["summary"]) == {"total-successful-session-count",
                                 "total-failure-session-count"}, p
    return p


def test_tls_reports_over_https_and_mail(dane):
    s, hub, web = dane
    ok = "r-%s@ok.dane.test" % unique("rpt")
    bad = "r-%s@bad.dane.test" % unique("rpt")
    sts = "r-%s@sts.plain.test" % unique("rpt")
    send_via_alias(s, [ok, bad, sts], "tlsrpt")
    _event(s, ok, "delivered")
    _event(s, bad, "deferred")
    _event(s, sts, "deferred")
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    r = s.ctl("--json", "relay", "tls-report", "send", "--date", day, "--force")
    sent = {x["domain"]: x for x in json.loads(r.stdout)["reports"]}
    assert sent["ok.dane.test"]["state"] == "sent", sent
    assert sent["bad.dane.test"]["state"] == "sent", sent
    assert sent["sts.plain.test"]["state"] == "sent", sent
    assert sent["bogus.dane.test"]["state"] == "no-rua", sent

    # https: POST application/tlsrpt+gzip, one per domain with an https rua
    posted = {}
    for ctype, body in web.reports:
        assert ctype == "application/tlsrpt+gzip"
        rep = json.loads(gzip.decompress(body))
        posted[rep["policies"][0]["policy"]["policy-domain"]] = rep
    p = _check_report(posted["ok.dane.test"], "ok.dane.test", "tlsa")
    assert p["policy"]["policy-string"] == [tlsa_3_1_1(hub.cert)], p
    assert p["summary"]["total-successful-session-count"] >= 1, p
    p = _check_report(posted["sts.plain.test"], "sts.plain.test", "sts")
    assert "mode: enforce" in p["policy"]["policy-string"], p
    assert p["policy"]["mx-host"] == ["*.elsewhere.test"], p
    assert p["summary"]["total-failure-session-count"] >= 1, p
    assert p["failure-details"][0]["result-type"] == "validation-failure", p

    # mailto: a message through the pipeline with the RFC 8460 §5.3 headers
    got = s.wait_until(lambda: hub.to("tlsrpt@rua.plain.test"), timeout=40,
                       what="the mailed report")
    msg = email.message_from_bytes(got[0]["data"])
    assert msg["TLS-Report-Domain"] == "bad.dane.test"
    assert msg["TLS-Report-Submitter"] == "mx.example.test"
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    att = [part for part in msg.walk() if part.get_content_type() == "application/tlsrpt+gzip"]
    assert len(att) == 1 and att[0].get_filename().endswith(".json.gz")
    rep = json.loads(gzip.decompress(att[0].get_payload(decode=True)))
    p = _check_report(rep, "bad.dane.test", "tlsa")
    assert p["summary"]["total-failure-session-count"] >= 1, p
    fd = p["failure-details"][0]
    assert fd["result-type"] == "tlsa-invalid", fd
    assert fd["receiving-mx-hostname"] == "mx-bad.dane.test", fd
    assert fd["receiving-ip"] == "127.0.0.1", fd
    assert fd["failed-session-count"] >= 1, fd

    # once sent, a second run without --force sends nothing again
    again = json.loads(s.ctl("--json", "relay", "tls-report", "send", "--date", day).stdout)
    assert not {"ok.dane.test", "bad.dane.test", "sts.plain.test"} & \
        {x["domain"] for x in again["reports"]}, again


def test_tls_report_preview_and_bad_input(dane):
    s, _, _ = dane
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    r = s.api("relay").get("/v1/tls-reports", params={"domain": "bogus.dane.test",
                                                      "date": day})
    if r.status_code == 404:      # run alone: count a session first
        rcpt = "p-%s@bogus.dane.test" % unique("rpt")
        send_via_alias(s, [rcpt], "preview")
        _event(s, rcpt, "deferred")
        r = s.api("relay").get("/v1/tls-reports", params={"domain": "bogus.dane.test",
                                                          "date": day})
    assert r.status_code == 200, r.text
    assert r.json()["report-id"] == "preview@mx.example.test"
    p = _check_report(dict(r.json(), **{"report-id": day + ".bogus.dane.test.x"}),
                      "bogus.dane.test", "tlsa")
    assert p["failure-details"][0]["result-type"] == "dnssec-invalid", p
    bad = s.api("relay").post("/v1/tls-reports/send", json={"date": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    bad = s.api("relay").post("/v1/tls-reports/send", json={"when": day})
    assert bad.status_code == 400

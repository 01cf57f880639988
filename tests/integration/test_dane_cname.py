"""DANE TLSA base names through CNAMEs (RFC 7672 §2.2.3) against a
DNSSEC-signed zone (harness/dnssec.py, validated by the relay's libunbound)
and a STARTTLS hub on loopback. The MX host names are aliases with a secure
CNAME chain:

  first.cname.test   MX alias-a -> CNAME real-a; TLSA of the hub at real-a,
                     a wrong TLSA at alias-a     -> the expanded name wins:
                                                    delivered, DANE verified
  fallback.cname.test MX alias-b -> CNAME real-b; no TLSA at real-b, the
                     hub's TLSA at alias-b       -> the original name is used:
                                                    delivered, DANE verified
  wrong.cname.test   MX alias-c -> CNAME real-c; a wrong TLSA at real-c, the
                     hub's at alias-c            -> the expanded name's records
                                                    decide: deferred (4.7.5)

and DANE-TA(2) with a CA-issued certificate for the expanded name only:

  ta.catest.test     MX alias-d -> CNAME real-d; TLSA 2 0 1 of the CA at
                     real-d, the hub's certificate names real-d -> the
                     expanded name is a reference identifier: delivered
  tano.catest.test   MX alias-e -> CNAME real-e (no TLSA there); TLSA 2 0 1
                     of the CA at alias-e; the certificate names real-d
                     only                        -> no name matches: deferred
"""
import json
import os
import shutil
import tempfile

import pytest

from harness import unique
from harness.dnssec import SignedZones, tlsa_2_0_1, tlsa_3_1_1
from harness.tlscert import make_ca_issued, make_self_signed
from test_delivery_tls import Hub, relay_events, send_via_alias


@pytest.fixture(scope="module")
def dane_cname():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="dane-cname-")
    hub = Hub(os.path.join(tmp, "hub"), cn="real-a.cname.test").start()
    zones = s = None
    try:
        good = tlsa_3_1_1(hub.cert)
        other, _ = make_self_signed(os.path.join(tmp, "other"), cn="other.cname.test")
        wrong = tlsa_3_1_1(other)
        p = hub.port
        zones = SignedZones(tmp)
        zones.add_zone("cname.test", [
            "first MX 10 alias-a.cname.test.", "alias-a CNAME real-a.cname.test.",
            "real-a A 127.0.0.1", "_%d._tcp.real-a TLSA %s" % (p, good),
            "_%d._tcp.alias-a TLSA %s" % (p, wrong),
            "fallback MX 10 alias-b.cname.test.", "alias-b CNAME real-b.cname.test.",
            "real-b A 127.0.0.1", "_%d._tcp.alias-b TLSA %s" % (p, good),
            "wrong MX 10 alias-c.cname.test.", "alias-c CNAME real-c.cname.test.",
            "real-c A 127.0.0.1", "_%d._tcp.real-c TLSA %s" % (p, wrong),
            "_%d._tcp.alias-c TLSA %s" % (p, good),
        ])
        zones.start()
        s = _new_stack("danecname", extra_env={"relay": {
            "MAILYARD_RELAY_SMTP_PORT": str(hub.port),
            "MAILYARD_DNS_SERVERS": zones.server_spec,
            "MAILYARD_DNS_TRUST_ANCHOR_FILE": zones.trust_anchor_file}})
        yield s, hub
    finally:
        if s is not None:
            _close(s)
        if zones is not None:
            zones.cleanup()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _event(s, rcpt, event):
    ev = s.wait_until(lambda: relay_events(s, rcpt, event), timeout=40,
                      what="%s event for %s" % (event, rcpt))
    return json.loads(ev[0][0])


@pytest.mark.parametrize("domain", ["first.cname.test", "fallback.cname.test"])
def test_tlsa_of_the_expanded_name_then_the_original(dane_cname, domain):
    s, hub = dane_cname
    rcpt = "c-%s@%s" % (unique("dc"), domain)
    send_via_alias(s, [rcpt], "danecname")
    d = _event(s, rcpt, "delivered")
    assert d["dane"].startswith("verified (DANE-EE 3 1 1)"), d
    assert hub.to(rcpt)


def test_records_at_the_expanded_name_decide(dane_cname):
    s, hub = dane_cname
    rcpt = "w-%s@wrong.cname.test" % unique("dc")
    send_via_alias(s, [rcpt], "danecnamew")
    d = _event(s, rcpt, "deferred")
    assert d["status"] == "4.7.5", d
    assert "matches none of its TLSA records" in d["reply"], d
    assert hub.to(rcpt) == []


@pytest.fixture(scope="module")
def dane_ta_cname():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="dane-ta-cname-")
    chain, key, ca = make_ca_issued(os.path.join(tmp, "pki"), "real-d.catest.test")
    hub = Hub(cert_key=(chain, key)).start()
    zones = s = None
    try:
        ta = tlsa_2_0_1(ca)
        p = hub.port
        zones = SignedZones(tmp)
        zones.add_zone("catest.test", [
            "ta MX 10 alias-d.catest.test.", "alias-d CNAME real-d.catest.test.",
            "real-d A 127.0.0.1", "_%d._tcp.real-d TLSA %s" % (p, ta),
            "tano MX 10 alias-e.catest.test.", "alias-e CNAME real-e.catest.test.",
            "real-e A 127.0.0.1", "_%d._tcp.alias-e TLSA %s" % (p, ta),
        ])
        zones.start()
        s = _new_stack("danetacname", extra_env={"relay": {
            "MAILYARD_RELAY_SMTP_PORT": str(hub.port),
            "MAILYARD_DNS_SERVERS": zones.server_spec,
            "MAILYARD_DNS_TRUST_ANCHOR_FILE": zones.trust_anchor_file}})
        yield s, hub
    finally:
        if s is not None:
            _close(s)
        if zones is not None:
            zones.cleanup()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_dane_ta_accepts_the_expanded_name(dane_ta_cname):
    s, hub = dane_ta_cname
    rcpt = "t-%s@ta.catest.test" % unique("dta")
    send_via_alias(s, [rcpt], "danetacname")
    d = _event(s, rcpt, "delivered")
    assert d["dane"].startswith("verified (DANE-TA 2 0 1)"), d
    assert hub.to(rcpt)


def test_dane_ta_names_must_match(dane_ta_cname):
    """Records at the original name: only it and the next-hop domain are
    reference identifiers, and the certificate names neither."""
    s, hub = dane_ta_cname
    rcpt = "n-%s@tano.catest.test" % unique("dta")
    send_via_alias(s, [rcpt], "danetano")
    d = _event(s, rcpt, "deferred")
    assert d["status"] == "4.7.5", d
    assert hub.to(rcpt) == []

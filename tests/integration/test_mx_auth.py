"""mx sender authentication end to end: the Authentication-Results header
in the stored message (SPF from the test DNS, DKIM signed by dkimpy), our
authserv-id's forged headers removed, the DMARC policy per recipient domain
(record: delivered with dmarc=fail; reject: 550 5.7.1 at the end of data,
nothing stored), a trusted ARC sealer vouching for a failure, a DMARC DNS
timeout giving 451 4.7.0, the "authenticated" trace event and the metrics.

A private stack: the shared one keeps record mode. Records are added to
the harness DNS server under fresh names per test (the resolver caches)."""
import base64
import smtplib
import threading
import time

import dkim
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import unique
from harness.smtp import make_message

AUTHSERV = "mx.auth.test"
STRICT = "strict-auth.test"          # a local domain in reject mode
SEALER = "sealer.test"               # trusted ARC sealer
DNS_TIMEOUT_MS = 1500
STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_MX_AUTHSERV_ID": AUTHSERV,
    "MAILYARD_MX_DMARC_POLICY": "record",
    "MAILYARD_MX_DMARC_POLICY_MAP": "%s=reject" % STRICT,
    "MAILYARD_MX_ARC_TRUSTED_SEALERS": "%s, trusted2.test" % SEALER,
    "MAILYARD_DNS_TIMEOUT_MS": str(DNS_TIMEOUT_MS),
}}}


# ------------------------------------------------------------------ helpers
class Key:
    """An RSA key whose public part is published at sel._domainkey.domain."""

    def __init__(self, st, domain, selector="sel"):
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = k.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
        pub = k.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
        rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
        self.domain, self.selector = domain, selector
        add_txt(st, "%s._domainkey.%s" % (selector, domain), rec)


def add_txt(st, name, text):
    parts = [text[i:i + 200] for i in range(0, len(text), 200)]
    st.dns.add(name, "TXT", " ".join('"%s"' % p for p in parts))


def local_rcpt(st, domain=None):
    addr = "%s@%s" % (unique("auth"), domain or st.domain)
    st.add_alias(addr, ["fwd-%s@remote.test" % unique("t")])
    return addr


def message(from_addr, to, extra=()):
    return make_message(from_addr, to, subject="auth test", extra=extra)


def send_raw(st, mail_from, rcpt, data):
    """One session; returns (code, text) of the reply to the end of data."""
    with smtplib.SMTP("127.0.0.1", st.smtp_port, local_hostname="client.it.test",
                      timeout=60) as c:
        c.ehlo()
        code, _ = c.mail(mail_from)
        assert code == 250
        code, msg = c.rcpt(rcpt)
        assert code == 250, msg
        code, msg = c.data(data)
        return code, msg.decode()


def stored(st, msgid):
    rows = st.psql("SELECT encode(raw, 'hex') FROM spool.messages WHERE message_id = '%s'"
                   % msgid)
    return [bytes.fromhex(r[0]) for r in rows]


def header_fields(raw):
    """[(name, unfolded value)] of the header section."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    out = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        else:
            name, _, value = line.partition(":")
            out.append((name, value.strip()))
    return out


def our_ar(raw):
    ars = [v for n, v in header_fields(raw) if n.lower() == "authentication-results"
           and v.split(";")[0].strip().lower() == AUTHSERV]
    assert len(ars) == 1, raw[:1500]
    return ars[0]


def metric(st, name, **labels):
    text = requests.get(st.url("mx") + "/metrics", timeout=10).text
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        lab, _, val = line.partition("} ")
        got = ",".join(sorted(lab[len(name) + 1:].split(",")))
        if got == want:
            total += float(val)
    return total


# -------------------------------------------------------------------- tests
def test_spf_and_dkim_pass_in_stored_header(module_stack):
    st = module_stack
    dom = "%s.test" % unique("spfdkim")
    add_txt(st, dom, "v=spf1 ip4:127.0.0.1 -all")
    key = Key(st, dom)
    rcpt = local_rcpt(st)
    msgid, data = message("alice@" + dom, rcpt)
    sig = dkim.sign(data, key.selector.encode(), dom.encode(), key.pem,
                    include_headers=[b"from", b"to", b"subject", b"message-id"])
    before = metric(st, "mailyard_auth_results_total", method="spf", result="pass")
    code, text = send_raw(st, "bounce@" + dom, rcpt, sig + data)
    assert code == 250, text
    raws = stored(st, msgid)
    assert len(raws) == 1
    raw = raws[0]
    fields = header_fields(raw)
    assert fields[0][0] == "Received" and fields[1][0] == "Authentication-Results", fields[:3]
    ar = our_ar(raw)
    assert "spf=pass" in ar and "smtp.mailfrom=" in ar, ar
    assert "dkim=pass" in ar and "header.d=%s" % dom in ar, ar
    assert "dmarc=none" in ar, ar
    # the signed part is stored byte for byte after our two fields
    assert raw.endswith(sig + data)
    ev = st.psql("SELECT e.detail->>'spf', e.detail->>'dkim', e.detail->>'dmarc',"
                 " e.detail->>'arc' FROM spool.events e JOIN spool.messages m"
                 " ON m.id = e.message_id WHERE m.message_id = '%s'"
                 " AND e.service = 'mx' AND e.event = 'authenticated'" % msgid)
    assert ev == [["pass", "pass", "none", "none"]]
    assert metric(st, "mailyard_auth_results_total", method="spf", result="pass") == before + 1


def test_forged_results_with_our_id_removed(module_stack):
    st = module_stack
    rcpt = local_rcpt(st)
    forged = "Authentication-Results: %s; spf=pass smtp.mailfrom=x.test; dmarc=pass" \
        % AUTHSERV.upper()
    foreign = "Authentication-Results: other.example; dkim=pass header.d=y.test"
    msgid, data = message("bob@sender.test", rcpt, extra=[forged, foreign])
    code, text = send_raw(st, "bob@sender.test", rcpt, data)
    assert code == 250, text
    raw = stored(st, msgid)[0]
    ar = our_ar(raw)                                  # exactly one with our id
    assert "spf=none" in ar and "dmarc=none" in ar, ar
    assert b"smtp.mailfrom=x.test" not in raw
    assert foreign.encode() + b"\r\n" in raw


def dmarc_fail_domain(st):
    dom = "%s.test" % unique("dmfail")
    add_txt(st, "_dmarc." + dom, "v=DMARC1; p=reject")
    add_txt(st, dom, "v=spf1 ip4:192.0.2.1 -all")       # not us: SPF fails
    return dom


def test_dmarc_reject_failure_record_mode_delivered(module_stack):
    st = module_stack
    dom = dmarc_fail_domain(st)
    rcpt = local_rcpt(st)                             # the stack domain: record mode
    msgid, data = message("ceo@" + dom, rcpt)
    code, text = send_raw(st, "ceo@" + dom, rcpt, data)
    assert code == 250, text
    ar = our_ar(stored(st, msgid)[0])
    assert "dmarc=fail" in ar and "spf=fail" in ar, ar


def test_dmarc_reject_failure_reject_mode_refused(module_stack):
    st = module_stack
    st.seed_domain(STRICT)
    dom = dmarc_fail_domain(st)
    rcpt = local_rcpt(st, STRICT)
    before = metric(st, "mailyard_smtp_rejections_total", reason="dmarc")
    msgid, data = message("ceo@" + dom, rcpt)
    code, text = send_raw(st, "ceo@" + dom, rcpt, data)
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    assert stored(st, msgid) == []
    assert metric(st, "mailyard_smtp_rejections_total", reason="dmarc") == before + 1
    # a DMARC pass for the same recipient is accepted
    ok = "%s.test" % unique("dmok")
    add_txt(st, "_dmarc." + ok, "v=DMARC1; p=reject")
    add_txt(st, ok, "v=spf1 ip4:127.0.0.1 -all")
    msgid, data = message("ceo@" + ok, rcpt)
    code, text = send_raw(st, "ceo@" + ok, rcpt, data)
    assert code == 250, text
    assert "dmarc=pass" in our_ar(stored(st, msgid)[0])


def arc_sealed(st, sealer, from_addr, rcpt):
    key = Key(st, sealer, "arc")
    msgid, data = message(from_addr, rcpt)
    data = ("Authentication-Results: %s; spf=pass smtp.mailfrom=%s\r\n"
            % (sealer, from_addr.split("@")[1])).encode() + data
    fields = dkim.arc_sign(data, b"arc", sealer.encode(), key.pem, sealer.encode(),
                           timestamp=str(int(time.time())))
    assert fields, "dkimpy did not seal"
    return msgid, b"".join(fields) + data


def test_trusted_arc_sealer_vouches_for_failure(module_stack):
    st = module_stack
    st.seed_domain(STRICT)
    dom = dmarc_fail_domain(st)
    rcpt = local_rcpt(st, STRICT)
    msgid, data = arc_sealed(st, SEALER, "ceo@" + dom, rcpt)
    code, text = send_raw(st, "ceo@" + dom, rcpt, data)
    assert code == 250, text
    ar = our_ar(stored(st, msgid)[0])
    assert "arc=pass" in ar and "dmarc=fail" in ar, ar
    # the same chain from a sealer we do not trust: refused
    untrusted = "%s.test" % unique("sealer")
    msgid, data = arc_sealed(st, untrusted, "ceo@" + dom, rcpt)
    code, text = send_raw(st, "ceo@" + dom, rcpt, data)
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    assert stored(st, msgid) == []


def test_dmarc_dns_timeout_reject_mode_tempfails(module_stack):
    """Last in the module: the dropped queries may make the resolver wary."""
    st = module_stack
    st.seed_domain(STRICT)
    slow = "%s.test" % unique("slow")
    slow_name = "_dmarc." + slow
    release = threading.Event()
    servers = [s.server for s in st.dns.servers]
    originals = [s.resolver for s in servers]

    class Slow:
        def __init__(self, inner):
            self.inner = inner

        def resolve(self, request, handler):
            if str(request.q.qname).rstrip(".").lower() == slow_name:
                release.wait(DNS_TIMEOUT_MS / 1000.0 * 4)   # never answered in time
            return self.inner.resolve(request, handler)

    for s in servers:
        s.resolver = Slow(s.resolver)
    try:
        rcpt = local_rcpt(st, STRICT)
        msgid, data = message("ceo@" + slow, rcpt)
        code, text = send_raw(st, "bounce@sender.test", rcpt, data)
        assert code == 451 and text.startswith("4.7."), (code, text)
        assert stored(st, msgid) == []
        # in record mode the same timeout is recorded as temperror, delivered
        rcpt2 = local_rcpt(st)
        msgid, data = message("ceo@" + slow, rcpt2)
        code, text = send_raw(st, "bounce@sender.test", rcpt2, data)
        assert code == 250, text
        assert "dmarc=temperror" in our_ar(stored(st, msgid)[0])
    finally:
        release.set()
        for s, orig in zip(servers, originals):
            s.resolver = orig

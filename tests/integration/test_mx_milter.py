"""mx in milter mode (`mailyard-mx --milter`) behind a REAL Postfix
(harness/postfix.py: a private instance on loopback whose smtpd uses
smtpd_milters, milter_default_action=tempfail, relaying everything to the
harness's SMTP sink):

  check mode    a DMARC p=reject failure -> Postfix answers 550 5.7.1; a
                DKIM-signed message (dkimpy, key in the harness DNS) arrives
                at the sink with our Authentication-Results on top and a
                forged one with our authserv-id removed; a DNS timeout ->
                451 4.7.0;
  hand-off      (MAILYARD_MILTER_HANDOFF=on) the message is stored in the
                spool, goes through rewrite and relay to the alias target at
                the sink, and Postfix discards its own copy.

The milter processes are started here (two mailyard-mx --milter, one per
mode, with their own admin HTTP port) against the module's stack (its
PostgreSQL, Redis, DNS, rewrite and relay)."""
import os
import signal
import smtplib
import socket
import subprocess
import threading
import time

import dkim
import pytest
import requests

from harness import unique
from harness import postfix as pfmod
from harness.smtp import make_message
from harness.util import free_port

from test_mx_auth import Key, add_txt, header_fields

AUTHSERV = "mx.milter.test"
DNS_TIMEOUT_MS = 1500
DNSBL_ZONE = "bl.milter.test"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

# Postfix itself comes from deploy/local/deps.sh; only a non-root run skips
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a private Postfix needs root")


class Milter:
    """One mailyard-mx --milter process on a free loopback port."""

    def __init__(self, st, name, handoff, extra=None):
        self.st = st
        self.name = name
        self.port = free_port()
        self.http_port = free_port()
        self.log = os.path.join(st.base, "milter-%s.log" % name)
        env = st.service_env("mx")
        env.update({
            "MAILYARD_HTTP_LISTEN": "127.0.0.1:%d" % self.http_port,
            "MAILYARD_MILTER_SOCKET": "inet:%d@127.0.0.1" % self.port,
            "MAILYARD_MILTER_HANDOFF": "on" if handoff else "off",
            "MAILYARD_MX_AUTHSERV_ID": AUTHSERV,
            "MAILYARD_MX_DMARC_POLICY": "reject",
            "MAILYARD_DNS_TIMEOUT_MS": str(DNS_TIMEOUT_MS),
        })
        env.update(extra or {})
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([st.binary("mailyard-mx"), "--milter"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=st.base)
        st.wait_until(self.ready, timeout=60, what="milter %s ready" % name)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def ready(self):
        assert self.proc.poll() is None, "milter exited:\n" + self.log_text()[-3000:]
        try:
            if requests.get(self.url + "/healthz", timeout=2).status_code != 200:
                return False
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def milter_env(module_stack):
    st = module_stack
    check = Milter(st, "check", handoff=False)
    handoff = Milter(st, "handoff", handoff=True)
    # every loopback client is listed in this zone
    st.dns.add("1.0.0.127." + DNSBL_ZONE, "A", "127.0.0.2")
    listed = Milter(st, "dnsbl", handoff=False,
                    extra={"MAILYARD_MX_DNSBL_ZONES": DNSBL_ZONE})
    milters = (check, handoff, listed)
    pf = pfmod.Postfix(st.base, st.sink.port, name="milter")
    check_port = pf.add_smtpd(milters="inet:127.0.0.1:%d" % check.port)
    handoff_port = pf.add_smtpd(milters="inet:127.0.0.1:%d" % handoff.port)
    dnsbl_port = pf.add_smtpd(milters="inet:127.0.0.1:%d" % listed.port)
    try:
        pf.start()
        yield {"st": st, "pf": pf, "check": check, "handoff": handoff,
               "check_port": check_port, "handoff_port": handoff_port,
               "dnsbl_port": dnsbl_port}
    finally:
        pf.stop()
        codes = {m.name: m.stop() for m in milters}
        found = [line for m in milters for line in m.log_text().splitlines()
                 if any(k in line for k in SANITIZER_MARKS)]
        assert not found, "sanitizer reports in the milter logs:\n" + "\n".join(found[:40])
        assert codes == {"check": 0, "handoff": 0, "dnsbl": 0}, codes


def send(port, mail_from, rcpt, data):
    """One session through Postfix; (code, text) of the end-of-data reply."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.it.test", timeout=120) as c:
        c.ehlo()
        code, msg = c.mail(mail_from)
        assert code == 250, msg
        code, msg = c.rcpt(rcpt)
        assert code == 250, msg
        code, msg = c.data(data)
        return code, msg.decode()


def dmarc_fail_domain(st):
    dom = "%s.test" % unique("mfail")
    add_txt(st, "_dmarc." + dom, "v=DMARC1; p=reject")
    add_txt(st, dom, "v=spf1 ip4:192.0.2.1 -all")       # not us: SPF fails
    return dom


def ours(fields):
    return [v for n, v in fields if n.lower() == "authentication-results"
            and v.split(";")[0].strip().lower() == AUTHSERV]


def test_dmarc_reject_failure_refused_by_postfix(milter_env):
    e = milter_env
    st = e["st"]
    dom = dmarc_fail_domain(st)
    rcpt = "%s@remote.test" % unique("mrej")
    msgid, data = make_message("ceo@" + dom, rcpt, subject="milter reject")
    code, text = send(e["check_port"], "ceo@" + dom, rcpt, data)
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    assert "DMARC" in text, text
    assert "milter-reject" in e["pf"].log_text()
    m = requests.get(e["check"].url + "/metrics", timeout=10).text
    assert 'mailyard_milter_verdicts_total{verdict="reject"}' in m, m[:2000]
    assert 'mailyard_smtp_rejections_total{reason="dmarc"}' in m
    time.sleep(1)
    assert st.sink.messages_to(rcpt) == []


def test_dkim_signed_passes_with_our_header_on_top(milter_env):
    e = milter_env
    st = e["st"]
    dom = "%s.test" % unique("mdkim")
    add_txt(st, dom, "v=spf1 ip4:127.0.0.1 -all")
    add_txt(st, "_dmarc." + dom, "v=DMARC1; p=reject")
    key = Key(st, dom)
    rcpt = "%s@remote.test" % unique("mok")
    forged = "Authentication-Results: %s; spf=pass smtp.mailfrom=forged.test; dmarc=pass" \
        % AUTHSERV.upper()
    foreign = "Authentication-Results: other.example; dkim=pass header.d=y.test"
    msgid, data = make_message("alice@" + dom, rcpt, subject="milter dkim",
                               extra=[forged, foreign])
    sig = dkim.sign(data, key.selector.encode(), dom.encode(), key.pem,
                    include_headers=[b"from", b"to", b"subject", b"message-id"])
    code, text = send(e["check_port"], "bounce@" + dom, rcpt, sig + data)
    assert code == 250, text
    msgs = st.sink.wait_for(rcpt, timeout=60)
    raw = msgs[0].data
    fields = header_fields(raw)
    ar = ours(fields)
    assert len(ar) == 1, fields[:12]
    assert "dkim=pass" in ar[0] and "header.d=%s" % dom in ar[0], ar
    assert "spf=pass" in ar[0] and "dmarc=pass" in ar[0], ar
    assert b"forged.test" not in raw
    assert foreign.encode() + b"\r\n" in raw
    # ours is above every field of the original message (only Postfix's own
    # Received may be above it)
    names = [n.lower() for n, _ in fields]
    pos = names.index("authentication-results")
    assert all(n == "received" for n in names[:pos]), names[:6]
    assert pos < names.index("dkim-signature"), names[:8]
    # the signed part still verifies after Postfix and our edits
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: dns_txt(st, name))


def dns_txt(st, name):
    name = name.decode() if isinstance(name, bytes) else name
    for rtype, rdata in st.dns.records.get(name.rstrip(".").lower(), []):
        if rtype == "TXT":
            return "".join(p for p in rdata.split('"') if p.strip()).encode()
    return None


def test_dns_timeout_gives_451(milter_env):
    e = milter_env
    st = e["st"]
    slow = "%s.test" % unique("mslow")
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
        rcpt = "%s@remote.test" % unique("mslow")
        msgid, data = make_message("ceo@" + slow, rcpt, subject="milter slow")
        code, text = send(e["check_port"], "bounce@sender.test", rcpt, data)
        assert code == 451 and text.startswith("4.7.0"), (code, text)
    finally:
        release.set()
        for s, orig in zip(servers, originals):
            s.resolver = orig
    time.sleep(1)
    assert st.sink.messages_to(rcpt) == []


def test_dnsbl_listed_client_refused_at_rcpt(milter_env):
    e = milter_env
    with smtplib.SMTP("127.0.0.1", e["dnsbl_port"], local_hostname="client.it.test",
                      timeout=60) as c:
        c.ehlo()
        assert c.mail("a@sender.test")[0] == 250
        code, msg = c.rcpt("%s@remote.test" % unique("mbl"))
        assert code == 554, (code, msg)
        assert msg.decode().startswith("5.7.1") and DNSBL_ZONE in msg.decode(), msg


def test_too_big_message_refused(milter_env):
    e = milter_env
    st = e["st"]
    rcpt = "%s@remote.test" % unique("mbig")
    line = "x" * 76 + "\r\n"
    body = line * (st.config.smtp_max_message_size // len(line) + 10)
    msgid, data = make_message("a@sender.test", rcpt, subject="milter big", body=body)
    code, text = send(e["check_port"], "a@sender.test", rcpt, data)
    assert code == 552 and text.startswith("5.3.4"), (code, text)
    time.sleep(1)
    assert st.sink.messages_to(rcpt) == []


def test_handoff_stores_and_postfix_discards(milter_env):
    e = milter_env
    st = e["st"]
    alias = "%s@%s" % (unique("mhand"), st.domain)
    target = "%s@remote.test" % unique("mtgt")
    st.add_alias(alias, [target])
    dom = "%s.test" % unique("mhok")
    add_txt(st, dom, "v=spf1 ip4:127.0.0.1 -all")
    msgid, data = make_message("carol@" + dom, alias, subject="milter handoff")
    code, text = send(e["handoff_port"], "carol@" + dom, alias, data)
    assert code == 250, text
    # durable in our spool before Postfix was told to discard
    rows = st.psql("SELECT origin, client_ip FROM spool.messages WHERE message_id = '%s'"
                   % msgid)
    assert rows == [["mx", "127.0.0.1"]], rows
    # through rewrite and relay to the alias target
    msgs = st.sink.wait_for(target, timeout=60)
    raw = msgs[0].data
    assert msgid.encode() in raw
    assert len(ours(header_fields(raw))) == 1
    assert "spf=pass" in ours(header_fields(raw))[0]
    # Postfix dropped its copy: nothing for the alias itself reaches the sink
    st.wait_until(lambda: "milter triggers DISCARD action" in e["pf"].log_text(),
                  timeout=30, what="postfix discard log line")
    time.sleep(2)
    assert st.sink.messages_to(alias) == []
    assert e["pf"].queued() == 0
    # a recipient rewrite does not know is refused at RCPT (like mx)
    with smtplib.SMTP("127.0.0.1", e["handoff_port"], local_hostname="client.it.test",
                      timeout=60) as c:
        c.ehlo()
        assert c.mail("carol@" + dom)[0] == 250
        code, msg = c.rcpt("nobody-%s@%s" % (unique("x"), st.domain))
        assert code == 550 and msg.decode().startswith("5.1.1"), (code, msg)

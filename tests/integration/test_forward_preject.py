"""A forward of mail from a p=reject domain to a strict receiver (issue 4,
real peers).

The author domain strict.test publishes p=reject, an SPF record that does
not cover 127.0.0.1, and a DKIM key; its messages are signed by dkimpy. They
are sent to an alias of our forwarder (the module stack, example.test): mx
-> rewrite (SRS: the envelope sender becomes SRS0=...@example.test, whose
SPF allows 127.0.0.1) -> relay (DKIM rsa + ed25519 and an ARC set for
example.test). The relay's transport map hands receiver.test to a second
stack, the strict receiver: its mx is in DMARC reject mode, trusts
example.test as an ARC sealer and scans with rspamd. Every check reads the
forwarder's DNS server (the receiver's mx and rspamd point at it).

  - the forward passes at the receiving mx (spf=pass via SRS, dkim=pass for
    our signature, arc=pass, dmarc=pass) and in rspamd (R_SPF_ALLOW,
    R_DKIM_ALLOW for example.test, ARC_ALLOW, DMARC_POLICY_ALLOW);
  - a message whose author signature was broken before it reached us still
    passes at the receiver because our ARC seal vouches for it (arc=pass,
    trusted sealer), and rspamd sees SPF, our DKIM and ARC pass;
  - the control: the same kind of message forwarded the naive way (original
    envelope sender, no SRS, no signature or seal of ours, a "[fwd]" subject
    that breaks the author's signature) is refused with 550 5.7.1, and
    rspamd reports R_SPF_FAIL and DMARC_POLICY_REJECT.
"""
import base64
import os
import re
import shutil
import smtplib
import tempfile

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import unique
from harness.rspamd import Rspamd, available
from harness.smtp import make_message, send
from test_signing_relay import _publish

pytestmark = pytest.mark.skipif(not available(), reason="rspamd is not installed "
                                "(deploy/local/deps.sh)")

AUTHOR_DOMAIN = "strict.test"
RECEIVER_DOMAIN = "receiver.test"
SELECTOR = "author1"


def _txt_chunks(txt):
    return " ".join('"%s"' % txt[i:i + 255] for i in range(0, len(txt), 255))


@pytest.fixture(scope="module")
def chain(module_stack):
    """(forwarder stack, receiver stack, rspamd, author private key PEM)."""
    from conftest import _close, _new_stack
    fwd = module_stack
    dns = fwd.dns
    # the author domain: p=reject, SPF without 127.0.0.1, a DKIM key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    dns.add("%s._domainkey.%s" % (SELECTOR, AUTHOR_DOMAIN), "TXT",
            _txt_chunks("v=DKIM1; k=rsa; p=" + pub))
    dns.add(AUTHOR_DOMAIN, "TXT", '"v=spf1 ip4:192.0.2.1 -all"')
    dns.add("_dmarc." + AUTHOR_DOMAIN, "TXT", '"v=DMARC1; p=reject"')
    # the forwarder: its SRS domain's SPF allows us, its keys sign
    dns.add(fwd.srs_domain, "TXT", '"v=spf1 ip4:127.0.0.1 -all"')
    dns.add("mx." + fwd.domain, "A", "127.0.0.1")
    api = fwd.api("relay")
    for sel, alg in (("fwd1", "rsa-sha256"), ("fwd1-ed", "ed25519-sha256")):
        r = api.post("/v1/dkim/keys", json={"domain": fwd.domain, "selector": sel,
                                            "algorithm": alg})
        assert r.status_code == 201, r.text
        _publish(fwd, r.json())

    spam = Rspamd(dns.port)
    tmp = tempfile.mkdtemp(prefix="forward-preject-")
    rx = None
    try:
        spam.start()
        rx = _new_stack("receiver", domain=RECEIVER_DOMAIN, extra_env={"mx": {
            "MAILYARD_DNS_SERVERS": dns.server_spec,
            "MAILYARD_MX_DMARC_POLICY": "reject",
            "MAILYARD_MX_ARC_TRUSTED_SEALERS": fwd.domain,
            "MAILYARD_MX_RSPAMD_URL": spam.url,
            "MAILYARD_MX_RSPAMD_TIMEOUT_MS": "20000",
        }})
        tmap = os.path.join(tmp, "transport-map")
        with open(tmap, "w") as f:
            f.write("%s smarthost:[127.0.0.1]:%d\n" % (RECEIVER_DOMAIN, rx.smtp_port))
        fwd.config.extra_env["relay"] = {"MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap}
        fwd.stop("relay")
        fwd.start("relay")
        yield fwd, rx, spam, pem
    finally:
        if rx is not None:
            _close(rx)
        spam.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _author_message(pem, uid, to, subject):
    author = "a-%s@%s" % (uid, AUTHOR_DOMAIN)
    msgid, data = make_message(author, to, subject=subject,
                               body="a message from a p=reject domain %s\r\n" % uid)
    sig = dkim.sign(data, SELECTOR.encode(), AUTHOR_DOMAIN.encode(), pem,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return author, msgid, sig + data


def _authres(msg, authserv_id):
    for v in msg.msg.get_all("Authentication-Results") or []:
        v = re.sub(r"\s+", " ", str(v))
        if v.startswith(authserv_id + ";"):
            return v
    raise AssertionError("no Authentication-Results of %s in %r"
                         % (authserv_id, msg.msg.get_all("Authentication-Results")))


def _forward(chain, tag, break_author=False):
    """Sends an author message to an alias of the forwarder; returns
    (message at the receiver's sink, the receiver's A-R, SRS sender)."""
    fwd, rx, _, pem = chain
    uid = unique(tag)
    alias = "f-%s@%s" % (uid, fwd.domain)
    rcpt = "r-%s@%s" % (uid, RECEIVER_DOMAIN)
    final = "final-%s@remote.test" % uid
    fwd.add_alias(alias, [rcpt])
    rx.add_alias(rcpt, [final])
    author, msgid, data = _author_message(pem, uid, alias, "p=reject forward " + uid)
    if break_author:   # changed on the way to us: the author signature fails
        data = data.replace(b"Subject: p=reject", b"Subject: [ext] p=reject")
    send(fwd.smtp_port, author, [alias], data)
    got = rx.sink.wait_for(final, pred=lambda m: m.message_id == msgid, timeout=60)[0]
    ar = _authres(got, "mx." + RECEIVER_DOMAIN)
    m = re.search(r"smtp\.mailfrom=(\S+?);?( |$)", ar)
    assert m, ar
    return got, ar, m.group(1).strip('"')   # quoted: the SRS local part has '='



def _rspamd_symbols(spam, data, mail_from, fwd):
    reply = spam.check(data, ip="127.0.0.1", helo="mx." + fwd.domain, mail_from=mail_from)
    return reply["symbols"]


def test_forward_passes_spf_via_srs_dkim_and_arc(chain):
    fwd, rx, spam, _ = chain
    got, ar, srs = _forward(chain, "pr")
    assert srs.upper().startswith("SRS0=") and srs.endswith("@" + fwd.srs_domain), srs
    assert "spf=pass" in ar, ar
    assert re.search(r"dkim=pass [^;]*header\.d=%s" % re.escape(fwd.domain), ar), ar
    assert "arc=pass" in ar, ar
    assert "dmarc=pass" in ar, ar
    assert got.header("X-Spam-Score") is not None, "the receiver's mx scanned it"
    sym = _rspamd_symbols(spam, got.data, srs, fwd)
    assert "R_SPF_ALLOW" in sym, sym
    assert any(o.startswith(fwd.domain) for o in sym.get("R_DKIM_ALLOW", {}).get("options", [])), sym
    assert "ARC_ALLOW" in sym, sym
    assert "DMARC_POLICY_ALLOW" in sym, sym
    for bad in ("R_SPF_FAIL", "R_DKIM_REJECT", "ARC_REJECT", "ARC_INVALID",
                "DMARC_POLICY_REJECT"):
        assert bad not in sym, (bad, sym)


def test_broken_author_signature_is_vouched_for_by_our_arc_seal(chain):
    fwd, rx, spam, _ = chain
    got, ar, srs = _forward(chain, "prv", break_author=True)
    assert "spf=pass" in ar and "arc=pass" in ar, ar
    assert re.search(r"dkim=pass [^;]*header\.d=%s" % re.escape(fwd.domain), ar), ar
    assert "dmarc=fail" in ar, ar     # accepted only thanks to the trusted ARC sealer
    sym = _rspamd_symbols(spam, got.data, srs, fwd)
    assert "R_SPF_ALLOW" in sym and "ARC_ALLOW" in sym, sym
    assert any(o.startswith(fwd.domain) for o in sym.get("R_DKIM_ALLOW", {}).get("options", [])), sym


def test_naive_forward_is_refused(chain):
    fwd, rx, spam, pem = chain
    uid = unique("prn")
    rcpt = "r-%s@%s" % (uid, RECEIVER_DOMAIN)
    rx.add_alias(rcpt, ["final-%s@remote.test" % uid])
    author, msgid, data = _author_message(pem, uid, rcpt, "p=reject naive " + uid)
    data = data.replace(b"Subject: p=reject", b"Subject: [fwd] p=reject")
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(rx.smtp_port, author, [rcpt], data, helo="mx." + fwd.domain)
    assert e.value.smtp_code == 550 and e.value.smtp_error.startswith(b"5.7.1"), e.value
    assert b"DMARC" in e.value.smtp_error
    sym = _rspamd_symbols(spam, data, author, fwd)
    assert "R_SPF_FAIL" in sym, sym
    assert "DMARC_POLICY_REJECT" in sym, sym
    assert "R_DKIM_ALLOW" not in sym and "ARC_ALLOW" not in sym, sym

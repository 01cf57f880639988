"""A real Postfix as the receiving MTA (issue 4, real peers): the relay
delivers a forward to a private Postfix (harness/postfix_rx.py) through a
transport-map route that requires STARTTLS (tls=encrypt); Postfix's
virtual(8) agent writes it into a maildir, where the message has Postfix's
Received field saying ESMTPS with TLS, and our DKIM signatures (rsa and
ed25519), which dkimpy verifies with the keys in the harness DNS.

Runs on its own stack (signing keys, and the relay restarted with the
route)."""
import os
import re
import shutil
import tempfile

import dkim
import pytest

from harness import unique
from harness.postfix_rx import PostfixRx, available
from harness.smtp import make_message, send
from test_signing_relay import _dnsfunc, _publish

pytestmark = pytest.mark.skipif(not available(), reason="needs Postfix and root "
                                "(deploy/local/deps.sh)")

PF_DOMAIN = "postfix.test"


@pytest.fixture(scope="module")
def postfix_rx(module_stack):
    s = module_stack
    api = s.api("relay")
    for sel, alg in (("pfrsa", "rsa-sha256"), ("pfed", "ed25519-sha256")):
        r = api.post("/v1/dkim/keys", json={"domain": s.domain, "selector": sel,
                                            "algorithm": alg})
        assert r.status_code == 201, r.text
        _publish(s, r.json())
    tmp = tempfile.mkdtemp(prefix="delivery-postfix-")
    pf = PostfixRx(tmp, PF_DOMAIN, s.cert, s.key)
    try:
        pf.start()
        tmap = os.path.join(tmp, "transport-map")
        with open(tmap, "w") as f:
            f.write("%s smarthost:[127.0.0.1]:%d tls=encrypt\n" % (PF_DOMAIN, pf.port))
        s.config.extra_env["relay"] = {"MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap}
        s.stop("relay")
        s.start("relay")
        yield s, pf
    finally:
        pf.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _header_block(raw):
    return raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")


def test_relay_delivers_to_postfix_over_starttls_with_dkim(postfix_rx):
    s, pf = postfix_rx
    uid = unique("pf")
    alias = "%s@%s" % (uid, s.domain)
    target = "u-%s@%s" % (uid, PF_DOMAIN)
    s.add_alias(alias, [target])
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="to postfix " + uid,
                               body="delivered to a real Postfix %s\r\n" % uid)
    send(s.smtp_port, sender, [alias], data)
    try:
        got = pf.wait_for(lambda m: msgid.encode() in m, timeout=60)[0]
    except AssertionError:
        raise AssertionError("not delivered; postfix maillog:\n" + pf.log_tail())
    head = _header_block(got)
    assert re.search(r"(?m)^Delivered-To: %s$" % re.escape(target), head), head
    # Postfix's own Received field: from our relay, over TLS
    received = re.sub(r"\n[ \t]+", " ", head).split("\n")
    pf_rcvd = [h for h in received if h.startswith("Received:") and
               "mx.%s" % PF_DOMAIN in h]
    assert pf_rcvd, head
    assert "with ESMTPS" in pf_rcvd[0] and "using TLS" in pf_rcvd[0], pf_rcvd[0]
    # our signatures verify (virtual(8) writes LF line ends: back to CRLF)
    wire = got.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    sigs = re.findall(r"(?m)^DKIM-Signature:", head)
    assert len(sigs) == 2, head
    fn = _dnsfunc(s)
    for idx in range(len(sigs)):
        assert dkim.DKIM(wire).verify(idx=idx, dnsfunc=fn), "signature %d" % idx
    assert "d=%s" % s.domain in re.sub(r"\s", "", head)
    # the relay recorded the delivery with Postfix's reply
    rows = s.psql("SELECT e.detail::text FROM spool.events e JOIN spool.messages m "
                  "ON m.id = e.message_id WHERE m.message_id = '%s' AND e.event = 'delivered'"
                  % msgid.replace("'", ""))
    assert any("queued as" in r[0] for r in rows), rows

"""Our DKIM signatures and ARC seals, checked by a real rspamd (issue 4,
real peers): a forward and a list post, signed by the relay with an rsa and
an ed25519 key and sealed (as in test_signing_relay.py), are scanned by
rspamd with the keys published in the harness DNS. rspamd must say
R_DKIM_ALLOW for both of our signatures and ARC_ALLOW, and give no DKIM or
ARC failure symbol.

Runs on its own stack: once keys exist every message the relay sends is
signed."""
import pytest

from harness import unique
from harness.rspamd import Rspamd, available
from harness.smtp import make_message, send
from test_signing_relay import _forward, _publish

pytestmark = pytest.mark.skipif(not available(), reason="rspamd is not installed "
                                "(deploy/local/deps.sh)")

BAD_SYMBOLS = ("R_DKIM_REJECT", "R_DKIM_PERMFAIL", "R_DKIM_TEMPFAIL", "R_DKIM_NA",
               "ARC_REJECT", "ARC_INVALID", "ARC_DNSFAIL", "ARC_NA")


@pytest.fixture(scope="module")
def keyed_rspamd(module_stack):
    s = module_stack
    api = s.api("relay")
    for sel, alg in (("rsa1", "rsa-sha256"), ("ed1", "ed25519-sha256")):
        r = api.post("/v1/dkim/keys", json={"domain": s.domain, "selector": sel,
                                            "algorithm": alg})
        assert r.status_code == 201, r.text
        _publish(s, r.json())
    r = Rspamd(s.dns.port)
    try:
        r.start()
        yield s, r
    finally:
        r.close()


def _scan(r, msg, sender):
    reply = r.check(msg.data, ip="127.0.0.1", helo="mx.example.test",
                    mail_from=msg.mail_from or sender, rcpts=msg.rcpts)
    return reply, reply.get("symbols", {})


def _assert_ours_pass(s, reply, symbols):
    bad = [b for b in BAD_SYMBOLS if b in symbols]
    assert not bad, "rspamd failure symbols %s: %r" % (bad, symbols)
    assert "R_DKIM_ALLOW" in symbols, symbols
    opts = symbols["R_DKIM_ALLOW"].get("options", [])
    # one option per passing signature, "domain:s=selector" style or "domain:+"
    assert len([o for o in opts if o.startswith(s.domain)]) == 2, opts
    assert "ARC_ALLOW" in symbols, symbols
    assert any(o.startswith(s.domain) for o in symbols["ARC_ALLOW"].get("options", [])), \
        symbols["ARC_ALLOW"]


def test_forward_signed_and_sealed_passes_rspamd(keyed_rspamd):
    s, r = keyed_rspamd
    m = _forward(s, "rspamd forward")
    assert m.header("ARC-Seal") is not None and m.header("DKIM-Signature") is not None
    reply, symbols = _scan(r, m, None)
    _assert_ours_pass(s, reply, symbols)


def test_list_post_signed_and_sealed_passes_rspamd(keyed_rspamd):
    s, r = keyed_rspamd
    uid = unique("rsl")
    addr = "%s@%s" % (uid, s.domain)
    members = ["m%d-%s@remote.test" % (i, uid) for i in range(2)]
    s.add_list(addr, members)
    subject = "rspamd list " + uid
    _, data = make_message(members[0], addr, subject=subject, body="list body\r\n")
    send(s.smtp_port, members[0], [addr], data)
    got = s.sink.wait_for(members[1], pred=lambda m: subject in (m.header("Subject") or ""),
                          timeout=30)[0]
    reply, symbols = _scan(r, got, None)
    _assert_ours_pass(s, reply, symbols)


def test_tampered_forward_fails_in_rspamd(keyed_rspamd):
    """The check can fail: the same forward with a changed body is refused
    by rspamd's DKIM and ARC checks."""
    s, r = keyed_rspamd
    m = _forward(s, "rspamd tamper")
    head, body = m.data.split(b"\r\n\r\n", 1)
    m.data = head + b"\r\n\r\n" + body.replace(b"forwarded body", b"FORWARDED BODY")
    _, symbols = _scan(r, m, None)
    assert "R_DKIM_ALLOW" not in symbols, symbols
    assert "R_DKIM_REJECT" in symbols, symbols
    assert "ARC_ALLOW" not in symbols, symbols

"""DKIM signing and ARC sealing in the relay (services/relay/relay_sign.c,
relay_api_dkim.c): keys generated through the API and mailyardctl, their TXT
records published in the harness DNS, forwarded and list mail verified at
the sink with dkimpy (dkim.verify for the rsa and the ed25519 signature,
dkim.arc_verify for the seal), rotation and retirement.

Runs on its own stack (module_stack): once keys exist for the domain every
message the relay sends is signed, which other tests should not see."""
import re

import dkim
import pytest

from harness import unique
from harness.smtp import make_message, send


def _txt_chunks(txt):
    return " ".join('"%s"' % txt[i:i + 255] for i in range(0, len(txt), 255))


def _publish(stack, key):
    name = "%s._domainkey.%s" % (key["selector"], key["domain"])
    stack.dns.add(name, "TXT", _txt_chunks(key["public_txt"]))


def _dnsfunc(stack):
    """dkimpy's key lookup over the keys the API lists (retired ones too:
    a retired key's record stays published for a while)."""
    recs = {}
    for k in stack.api("relay").get("/v1/dkim/keys").json()["keys"]:
        recs["%s._domainkey.%s." % (k["selector"], k["domain"])] = k["public_txt"].encode()

    def lookup(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        if not n.endswith("."):
            n += "."
        return recs.get(n.lower())
    return lookup


def _signatures(data):
    """(d, s, a) of every DKIM-Signature field of the message."""
    out = []
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    unfolded = re.sub(r"\r\n[ \t]", " ", head)
    for line in unfolded.split("\r\n"):
        if line.lower().startswith("dkim-signature:"):
            tags = dict(t.strip().split("=", 1) for t in line.split(":", 1)[1].split(";")
                        if "=" in t)
            out.append((tags["d"].strip(), tags["s"].strip(), tags["a"].strip(),
                        re.sub(r"\s", "", tags["h"]).lower()))
    return out


def _verify_all(stack, data):
    """Verifies each DKIM-Signature separately (dkimpy checks one at a time)."""
    sigs = _signatures(data)
    fn = _dnsfunc(stack)
    for idx in range(len(sigs)):
        d = dkim.DKIM(data)
        assert d.verify(idx=idx, dnsfunc=fn), "signature %d %r does not verify" % (idx,
                                                                                   sigs[idx])
    return sigs


@pytest.fixture(scope="module")
def keyed(module_stack):
    s = module_stack
    api = s.api("relay")
    r = api.post("/v1/dkim/keys", json={"domain": s.domain, "selector": "rsa1"})
    assert r.status_code == 201, r.text
    rsa = r.json()
    r = api.post("/v1/dkim/keys", json={"domain": s.domain, "selector": "ed1",
                                        "algorithm": "ed25519-sha256"})
    assert r.status_code == 201, r.text
    ed = r.json()
    for k in (rsa, ed):
        _publish(s, k)
    return s, rsa, ed


def _forward(stack, subject_tag):
    uid = unique("sg")
    alias = "%s@%s" % (uid, stack.domain)
    target = "t-%s@remote.test" % uid
    sender = "s-%s@sender.test" % uid
    stack.add_alias(alias, [target])
    msgid, data = make_message(sender, alias, subject="%s %s" % (subject_tag, uid),
                               body="forwarded body %s\r\n" % uid)
    send(stack.smtp_port, sender, [alias], data)
    got = stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)
    return got[0]


def test_keys_listed_without_private_parts(keyed):
    s, rsa, ed = keyed
    assert rsa["dns_record"] == 'rsa1._domainkey.%s IN TXT "%s"' % (s.domain,
                                                                  rsa["public_txt"])
    assert rsa["public_txt"].startswith("v=DKIM1; k=rsa; p=")
    assert ed["public_txt"].startswith("v=DKIM1; k=ed25519; p=")
    r = s.api("relay").get("/v1/dkim/keys", params={"domain": s.domain})
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert {k["selector"] for k in keys} >= {"rsa1", "ed1"}
    assert "PRIVATE" not in r.text and "private" not in r.text
    out = s.ctl("dkim", "keys", s.domain).stdout
    assert "rsa1._domainkey.%s IN TXT" % s.domain in out
    assert "PRIVATE" not in out


def test_api_errors(keyed):
    s, _, _ = keyed
    api = s.api("relay")
    assert api.post("/v1/dkim/keys", json={"domain": "bad domain"}).status_code == 400
    assert api.post("/v1/dkim/keys", json={"domain": s.domain,
                                           "algorithm": "rsa-sha1"}).status_code == 400
    assert api.post("/v1/dkim/keys", json={"domain": s.domain, "x": 1}).status_code == 400
    r = api.post("/v1/dkim/keys", json={"domain": s.domain, "selector": "rsa1"})
    assert r.status_code == 409, r.text
    assert api.delete("/v1/dkim/keys/999999999").status_code == 404
    assert api.delete("/v1/dkim/keys/abc").status_code == 404


def test_forward_is_signed_twice_and_sealed(keyed):
    s, rsa, ed = keyed
    m = _forward(s, "signed forward")
    sigs = _verify_all(s, m.data)
    assert {(d, sel, a) for d, sel, a, _ in sigs} == {
        (s.domain, "rsa1", "rsa-sha256"), (s.domain, "ed1", "ed25519-sha256")}
    for _, _, _, h in sigs:
        assert "arc-" not in h
        assert h.count("from") == 2, "From is not over-signed: %s" % h
    cv, results, why = dkim.arc_verify(m.data, dnsfunc=_dnsfunc(s))
    assert cv == dkim.CV_Pass, "arc_verify: %s %s" % (cv, why)
    aar = m.header("ARC-Authentication-Results")
    assert aar and aar.startswith("i=1; mx.%s" % s.domain), aar
    assert "spf=" in aar, "the AAR does not carry mx's results: %r" % aar
    assert s.dns.query("rsa1._domainkey.%s" % s.domain, "TXT").rr, "TXT not published"
    mid = m.message_id.replace("'", "")
    rows = s.psql("SELECT e.event, e.detail->>'d', e.detail->>'s' FROM spool.events e "
                  "JOIN spool.messages m ON m.id = e.message_id WHERE m.message_id = '%s' "
                  "AND e.event IN ('dkim_signed', 'arc_sealed') ORDER BY e.id" % mid)
    assert sorted(tuple(r) for r in rows) == sorted([
        ("arc_sealed", s.domain, "rsa1"), ("dkim_signed", s.domain, "rsa1"),
        ("dkim_signed", s.domain, "ed1")]), rows
    assert "PRIVATE KEY" not in open(s.logfile("relay")).read()


def test_list_post_is_signed_and_sealed(keyed):
    s, _, _ = keyed
    uid = unique("sgl")
    addr = "%s@%s" % (uid, s.domain)
    members = ["m%d-%s@remote.test" % (i, uid) for i in range(2)]
    s.add_list(addr, members)
    subject = "signed list " + uid
    _, data = make_message(members[0], addr, subject=subject, body="list body\r\n")
    send(s.smtp_port, members[0], [addr], data)
    got = s.sink.wait_for(members[1], pred=lambda m: subject in (m.header("Subject") or ""),
                          timeout=30)[0]
    sigs = _verify_all(s, got.data)
    assert len(sigs) == 2
    assert "list-id" in sigs[0][3]
    cv, _, why = dkim.arc_verify(got.data, dnsfunc=_dnsfunc(s))
    assert cv == dkim.CV_Pass, why


def test_rotate_then_retire(keyed):
    s, rsa, ed = keyed
    out = s.ctl("dkim", "rotate", s.domain).stdout
    keys = s.api("relay").get("/v1/dkim/keys", params={"domain": s.domain}).json()["keys"]
    new = [k for k in keys if k["selector"] not in ("rsa1", "ed1")]
    assert len(new) == 2
    sel = [k for k in new if k["algorithm"] == "rsa-sha256"][0]["selector"]
    assert re.fullmatch(r"my\d{6}[a-z]", sel), sel
    assert {(k["algorithm"], k["selector"]) for k in new} == {
        ("rsa-sha256", sel), ("ed25519-sha256", sel + "-ed")}
    assert "%s._domainkey.%s IN TXT" % (sel, s.domain) in out
    assert "%s-ed._domainkey.%s IN TXT" % (sel, s.domain) in out
    for k in new:
        _publish(s, k)
    m = _forward(s, "after rotation")
    sigs = _verify_all(s, m.data)
    assert {x[1] for x in sigs} == {sel, sel + "-ed"}, "the newest keys sign: %r" % sigs
    # retire the new rsa key: the old rsa1 signs again, the new ed25519 stays
    new_rsa = [k for k in new if k["algorithm"] == "rsa-sha256"][0]
    r = s.ctl("dkim", "retire", str(new_rsa["id"]))
    assert "retired" in r.stdout
    got = s.api("relay").get("/v1/dkim/keys").json()["keys"]
    assert [k["state"] for k in got if k["id"] == new_rsa["id"]] == ["retired"]
    m = _forward(s, "after retire")
    sigs = _verify_all(s, m.data)
    assert {(x[1], x[2]) for x in sigs} == {("rsa1", "rsa-sha256"),
                                            (sel + "-ed", "ed25519-sha256")}
    assert not [x for x in sigs if x[1] == sel and x[2] == "rsa-sha256"]


def test_generate_via_ctl(keyed):
    s, _, _ = keyed
    other = "signed-%s.test" % unique("d").lower()
    out = s.ctl("dkim", "generate", other, "--algorithm", "ed25519-sha256").stdout
    assert re.search(r"my\d{6}a-ed\._domainkey\.%s IN TXT \"v=DKIM1; k=ed25519; p=" %
                     re.escape(other), out), out

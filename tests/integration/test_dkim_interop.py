"""Cross-checks of our DKIM and ARC code (mailyardctl dkim-sign, dkim-verify,
arc-seal, arc-verify) with dkimpy, offline: keys are generated per test and
published through a JSON DNS records file (libcommon/dns.h's file backend).

(1) dkimpy signs (rsa, ed25519; relaxed and simple) -> our dkim-verify passes,
    and fails after tampering; l= shorter than the body is flagged.
(2) our dkim-sign -> dkim.verify() passes.
(3) our arc-seal, twice -> dkim.arc_verify() says pass with cv=pass on hop 2.
(4) a dkimpy-sealed chain -> our arc-verify passes; our seal on top of it
    verifies in dkimpy.
"""
import base64
import json
import os
import subprocess

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MAILYARD_BUILD_DIR", os.path.join(ROOT, "build"))
CTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "mailyardctl")

MSG = (b"From: Joe <joe@example.test>\r\nTo: list@lists.example.test\r\n"
       b"Subject: dinner  plans\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
       b"Message-ID: <1@example.test>\r\n\r\nHi.\r\n\r\nbody   line \r\n\r\n\r\n")


class Keys:
    def __init__(self, tmp):
        self.tmp = tmp
        self.records = {}
        self.pem = {}
        self.raw = {}
        r = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        e = ed25519.Ed25519PrivateKey.generate()
        for sel, k in (("srsa", r), ("sed", e)):
            pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
            path = tmp / (sel + ".pem")
            path.write_bytes(pem)
            self.pem[sel] = str(path)
            if sel == "sed":
                pub = k.public_key().public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)
                rec = "v=DKIM1; k=ed25519; p=" + base64.b64encode(pub).decode()
                self.raw[sel] = base64.b64encode(k.private_bytes(
                    serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                    serialization.NoEncryption()))
            else:
                pub = k.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
                rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
                self.raw[sel] = pem
            self.records[sel + "._domainkey.example.test"] = rec
        self.dns_file = tmp / "dns.json"
        self.dns_file.write_text(json.dumps({
            name: [{"type": "TXT", "data": [rec[i:i + 255] for i in range(0, len(rec), 255)]}]
            for name, rec in self.records.items()}))

    def dnsfunc(self, name, timeout=5):
        rec = self.records.get(name.decode().rstrip("."))
        return rec.encode() if rec else None


def ctl(*args, data=None, check=True):
    p = subprocess.run([CTL, *[str(a) for a in args]], input=data, capture_output=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr.decode()
    return p


def verify_ours(keys, tmp, msg, name="m.eml"):
    path = tmp / name
    path.write_bytes(msg)
    return ctl("dkim-verify", "--dns-records", keys.dns_file, path).stdout.decode().splitlines()


def test_dkimpy_signed_verifies_with_ours(tmp_path):
    keys = Keys(tmp_path)
    for sel, algo in (("srsa", b"rsa-sha256"), ("sed", b"ed25519-sha256")):
        for canon in ((b"relaxed", b"relaxed"), (b"simple", b"simple"),
                      (b"relaxed", b"simple"), (b"simple", b"relaxed")):
            sig = dkim.sign(MSG, sel.encode(), b"example.test", keys.raw[sel],
                            canonicalize=canon, signature_algorithm=algo)
            lines = verify_ours(keys, tmp_path, sig + MSG)
            assert len(lines) == 1 and lines[0].startswith("dkim=pass d=example.test s=" + sel), \
                (sel, canon, lines)
            bad = sig + MSG.replace(b"dinner", b"Dinner")
            assert verify_ours(keys, tmp_path, bad)[0].startswith("dkim=fail"), (sel, canon)


def test_length_tag_is_flagged(tmp_path):
    keys = Keys(tmp_path)
    sig = dkim.sign(MSG, b"srsa", b"example.test", keys.raw["srsa"], length=True)
    lines = verify_ours(keys, tmp_path, sig + MSG + b"appended by someone else\r\n")
    assert lines[0].startswith("dkim=pass"), lines
    assert "l= covers only part of the body" in lines[0]
    assert "covers only part" not in verify_ours(keys, tmp_path, sig + MSG)[0]


def test_our_signature_verifies_with_dkimpy(tmp_path):
    keys = Keys(tmp_path)
    for name, msg in (("crlf.eml", MSG), ("lf.eml", MSG.replace(b"\r\n", b"\n"))):
        path = tmp_path / name
        path.write_bytes(msg)
        for sel in ("srsa", "sed"):
            out = ctl("dkim-sign", "--key", keys.pem[sel], "--selector", sel, "--domain",
                      "example.test", "--timestamp", "1700000000", path).stdout
            assert out.endswith(msg)
            header = out[:len(out) - len(msg)]
            assert b"h=from:from:to:subject:date:message-id;" in header.replace(b"\r\n\t", b"").replace(b"\n\t", b"")
            assert all(len(line) <= 78 for line in header.splitlines())
            assert dkim.verify(out, dnsfunc=keys.dnsfunc), (name, sel)
            assert verify_ours(keys, tmp_path, out, "o.eml")[0].startswith("dkim=pass")
            assert not dkim.verify(out.replace(b"dinner", b"lunch"), dnsfunc=keys.dnsfunc)


def test_our_arc_seal_verifies_with_dkimpy(tmp_path):
    keys = Keys(tmp_path)
    src = tmp_path / "in.eml"
    src.write_bytes(MSG)
    hop1 = ctl("arc-seal", "--key", keys.pem["srsa"], "--selector", "srsa", "--domain",
               "example.test", "--authserv-id", "mx.example.test", "--auth-results",
               "spf=pass smtp.mailfrom=example.test", "--dns-records", keys.dns_file, src).stdout
    cv, results, _ = dkim.arc_verify(hop1, dnsfunc=keys.dnsfunc)
    assert cv == b"pass" and results[0]["cv"] == b"none"
    (tmp_path / "hop1.eml").write_bytes(hop1)
    hop2 = ctl("arc-seal", "--key", keys.pem["srsa"], "--selector", "srsa", "--domain",
               "example.test", "--authserv-id", "lists.example.test", "--dns-records",
               keys.dns_file, tmp_path / "hop1.eml").stdout
    cv, results, _ = dkim.arc_verify(hop2, dnsfunc=keys.dnsfunc)
    assert cv == b"pass", results
    assert [r["instance"] for r in results] == [2, 1] and results[0]["cv"] == b"pass"
    (tmp_path / "hop2.eml").write_bytes(hop2)
    out = ctl("arc-verify", "--dns-records", keys.dns_file, tmp_path / "hop2.eml").stdout.decode()
    assert out.startswith("arc=pass instances=2 oldest-pass=1"), out
    # a modified body breaks the newest AMS: our verifier and dkimpy say fail
    broken = hop2.replace(b"\r\nHi.\r\n", b"\r\nHo.\r\n")
    (tmp_path / "broken.eml").write_bytes(broken)
    out = ctl("arc-verify", "--dns-records", keys.dns_file, tmp_path / "broken.eml").stdout.decode()
    assert out.startswith("arc=fail"), out
    assert dkim.arc_verify(broken, dnsfunc=keys.dnsfunc)[0] == b"fail"


def test_no_seal_after_cv_fail(tmp_path):
    keys = Keys(tmp_path)
    src = tmp_path / "in.eml"
    src.write_bytes(MSG)
    hop1 = ctl("arc-seal", "--key", keys.pem["srsa"], "--selector", "srsa", "--domain",
               "example.test", "--authserv-id", "mx.example.test", src).stdout
    failed = hop1.replace(b"cv=none", b"cv=fail", 1)
    (tmp_path / "f.eml").write_bytes(failed)
    p = ctl("arc-seal", "--key", keys.pem["srsa"], "--selector", "srsa", "--domain",
            "example.test", "--authserv-id", "mx.example.test", "--dns-records", keys.dns_file,
            tmp_path / "f.eml", check=False)
    assert p.returncode != 0 and b"cv=fail" in p.stderr and p.stdout == b""


def test_dkimpy_arc_chain_verifies_with_ours(tmp_path):
    keys = Keys(tmp_path)
    msg = b"Authentication-Results: lists.example.test; dkim=none\r\n" + MSG
    fields = dkim.arc_sign(msg, b"srsa", b"example.test", keys.raw["srsa"], b"lists.example.test")
    sealed = b"".join(fields) + msg
    (tmp_path / "py.eml").write_bytes(sealed)
    out = ctl("arc-verify", "--dns-records", keys.dns_file, tmp_path / "py.eml").stdout.decode()
    assert out.startswith("arc=pass instances=1"), out
    hop2 = ctl("arc-seal", "--key", keys.pem["srsa"], "--selector", "srsa", "--domain",
               "example.test", "--authserv-id", "mx2.example.test", "--dns-records",
               keys.dns_file, tmp_path / "py.eml").stdout
    cv, results, _ = dkim.arc_verify(hop2, dnsfunc=keys.dnsfunc)
    assert cv == b"pass" and results[0]["cv"] == b"pass", results

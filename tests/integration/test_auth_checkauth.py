"""`mailyardctl check-auth`: SPF, DKIM, DMARC and ARC of a message file.

DNS comes from a JSON records file (--dns-records) for most tests, and from
the harness's dnslib server through libunbound for the resolver tests. The
DKIM tests sign with dkimpy, an independent implementation, so dkim=pass is
a cross-check of libcommon's verifier.
"""
import json
import os
import shutil
import subprocess

import pytest

from harness.dns import DnsServer
from harness.util import build_dir, free_udp_tcp_port

CTL = os.path.join(build_dir(), "mailyardctl")

MSG = (b"From: Alice <alice@example.test>\r\n"
       b"To: bob@dest.test\r\n"
       b"Subject: check-auth test\r\n"
       b"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n"
       b"Message-ID: <check-auth-1@example.test>\r\n"
       b"\r\n"
       b"Hello Bob.\r\n")


def txt(s):
    return {"type": "TXT", "data": [s]}


def a(ip):
    return {"type": "A", "data": ip}


BASE = {
    "example.test": [txt("v=spf1 ip4:192.0.2.0/24 ~all"), a("192.0.2.1")],
    "bounce.example.test": [txt("v=spf1 ip4:192.0.2.0/24 -all")],
    "_dmarc.example.test": [txt("v=DMARC1; p=reject; sp=quarantine")],
    "soft.test": [txt("v=spf1 ip4:192.0.2.0/24 ~all")],
    "slow.test": [{"type": "TIMEOUT"}],
    "many.test": [txt("v=spf1 " + " ".join("a:h%d.many.test" % i for i in range(11))
                      + " -all")],
    "nodmarc.test": [txt("v=spf1 +all")],
}
for _i in range(11):
    BASE["h%d.many.test" % _i] = [a("198.51.100.1")]


def run(args, records=None, tmp_path=None, stdin=None, env=None):
    cmd = [CTL, "check-auth"]
    if records is not None:
        p = tmp_path / "dns.json"
        p.write_text(json.dumps(records))
        cmd += ["--dns-records", str(p)]
    cmd += args
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=120, env=e)


def results(proc):
    """{"spf": "pass", ...} from the method=result lines, and the AR value."""
    out = proc.stdout.decode()
    res, ar = {}, None
    for line in out.splitlines():
        if line.startswith("Authentication-Results: "):
            ar = line[len("Authentication-Results: "):]
        elif "=" in line:
            k, v = line.split("=", 1)
            res[k] = v
    return res, ar


@pytest.fixture
def msgfile(tmp_path):
    p = tmp_path / "msg.eml"
    p.write_bytes(MSG)
    return p


@pytest.mark.parametrize("ip,mail_from,want", [
    ("192.0.2.7", "alice@example.test", "pass"),
    ("203.0.113.9", "x@bounce.example.test", "fail"),
    ("203.0.113.9", "x@soft.test", "softfail"),
    ("203.0.113.9", "x@slow.test", "temperror"),
    ("203.0.113.9", "x@many.test", "permerror"),
    ("203.0.113.9", "x@nothing.test", "none"),
])
def test_spf_results(tmp_path, msgfile, ip, mail_from, want):
    p = run(["--only", "spf", "--ip", ip, "--mail-from", mail_from,
             "--authserv-id", "mx.ours.test", str(msgfile)], BASE, tmp_path)
    assert p.returncode == 0, p.stderr
    res, ar = results(p)
    assert res == {"spf": want}
    assert ar.startswith("mx.ours.test; spf=%s " % want)
    assert "smtp.mailfrom=%s" % mail_from in ar


def test_spf_helo_identity(tmp_path, msgfile):
    recs = dict(BASE, **{"mail.sender.test": [txt("v=spf1 a -all"), a("192.0.2.50")]})
    p = run(["--only", "spf", "--ip", "192.0.2.50", "--helo", "mail.sender.test",
             str(msgfile)], recs, tmp_path)
    res, ar = results(p)
    assert res == {"spf": "pass"}
    assert "smtp.helo=mail.sender.test" in ar


def test_all_methods_dmarc_pass_via_spf(tmp_path, msgfile):
    # relaxed SPF alignment: bounce.example.test vs From example.test
    p = run(["--ip", "192.0.2.7", "--mail-from", "x@bounce.example.test",
             "--authserv-id", "mx.ours.test", str(msgfile)], BASE, tmp_path)
    assert p.returncode == 0, p.stderr
    res, ar = results(p)
    assert res == {"spf": "pass", "dkim": "none", "dmarc": "pass", "arc": "none"}
    lines = p.stdout.decode().splitlines()
    assert [l.split("=")[0] for l in lines[:4]] == ["spf", "dkim", "dmarc", "arc"]
    assert lines[4].startswith("Authentication-Results: mx.ours.test; spf=pass")
    clauses = [c.strip() for c in ar.split(";")]
    assert [c.split("=")[0] for c in clauses[1:]] == ["spf", "dkim", "dmarc", "arc"]
    assert "header.from=example.test" in ar


def test_dmarc_fail_reject(tmp_path, msgfile):
    p = run(["--json", "--only", "dmarc", "--ip", "203.0.113.9",
             "--mail-from", "x@bounce.example.test", str(msgfile)], BASE, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["dmarc"] == "fail"
    assert out["dmarc_policy"] == "reject"
    assert "spf" not in out
    assert "dmarc=fail (p=reject" in out["authentication_results"]


def test_dmarc_tree_walk_to_org_domain(tmp_path):
    # From a deep subdomain: the record is found at the organizational
    # domain by the walk, sp= applies, and SPF of the org domain aligns.
    msg = MSG.replace(b"alice@example.test", b"alice@news.mail.example.test")
    m = tmp_path / "deep.eml"
    m.write_bytes(msg)
    recs = dict(BASE, **{"news.mail.example.test": [a("192.0.2.9")]})
    p = run(["--json", "--ip", "192.0.2.7", "--mail-from", "alice@example.test", str(m)],
            recs, tmp_path)
    out = json.loads(p.stdout)
    assert out["dmarc"] == "pass"
    p = run(["--json", "--ip", "203.0.113.9", "--mail-from", "alice@example.test", str(m)],
            recs, tmp_path)
    out = json.loads(p.stdout)
    assert (out["spf"], out["dmarc"], out["dmarc_policy"]) == ("softfail", "fail", "quarantine")


def test_dmarc_none_and_permerror(tmp_path):
    m = tmp_path / "m.eml"
    m.write_bytes(MSG.replace(b"alice@example.test", b"alice@nodmarc.test"))
    p = run(["--only", "dmarc", "--ip", "192.0.2.7", "--mail-from", "a@nodmarc.test", str(m)],
            BASE, tmp_path)
    assert results(p)[0] == {"dmarc": "none"}
    m.write_bytes(b"From: a@example.test\r\nFrom: b@other.test\r\n\r\nx\r\n")
    p = run(["--only", "dmarc", "--ip", "192.0.2.7", str(m)], BASE, tmp_path)
    assert p.returncode == 0
    assert results(p)[0] == {"dmarc": "permerror"}


def test_stdin_message(tmp_path):
    p = run(["--only", "spf", "--ip", "192.0.2.7", "--mail-from", "a@example.test", "-"],
            BASE, tmp_path, stdin=MSG)
    assert p.returncode == 0, p.stderr
    assert results(p)[0] == {"spf": "pass"}


def test_errors_and_usage(tmp_path, msgfile):
    p = run([str(tmp_path / "missing.eml")], BASE, tmp_path)
    assert p.returncode == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"x.test": [{"type": "A", "data": "not-an-ip"}]}')
    p = run(["--dns-records", str(bad), str(msgfile)])
    assert p.returncode == 1
    assert b"x.test" in p.stderr
    bad.write_text("{not json")
    assert run(["--dns-records", str(bad), str(msgfile)]).returncode == 1
    assert run([], BASE, tmp_path).returncode == 2
    assert run(["--only", "nope", str(msgfile)], BASE, tmp_path).returncode == 2
    assert run(["--bogus", str(msgfile)], BASE, tmp_path).returncode == 2
    assert run([str(msgfile), str(msgfile)], BASE, tmp_path).returncode == 2


# --- DKIM, cross-checked against dkimpy ---------------------------------

def _dkim_setup(tmp_path):
    dkim = pytest.importorskip("dkim", reason="dkimpy is not installed (deps.sh PY_PKGS)")
    if not os.path.exists(os.path.join(os.path.dirname(__file__), "..", "..",
                                       "libcommon", "dkim.h")):
        pytest.skip("libcommon/dkim.h is absent: the DKIM verifier has not landed")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test key")
    key = tmp_path / "dkim.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    import base64
    pub = base64.b64encode(der).decode()
    sig = dkim.sign(MSG, b"sel1", b"example.test", key.read_bytes(),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    rec = "v=DKIM1; k=rsa; p=" + pub
    # one TXT record of several strings of at most 255 bytes, as in DNS
    chunks = [rec[i:i + 255] for i in range(0, len(rec), 255)]
    recs = dict(BASE, **{"sel1._domainkey.example.test": [{"type": "TXT", "data": chunks}]})
    return sig + MSG, recs


def test_dkim_pass_dkimpy_signature(tmp_path):
    signed, recs = _dkim_setup(tmp_path)
    m = tmp_path / "signed.eml"
    m.write_bytes(signed)
    # SPF fails, so DMARC passes only through the aligned DKIM signature
    p = run(["--ip", "203.0.113.9", "--mail-from", "x@bounce.example.test",
             "--authserv-id", "mx.ours.test", str(m)], recs, tmp_path)
    assert p.returncode == 0, p.stderr
    res, ar = results(p)
    assert res["dkim"] == "pass", ar
    assert res["spf"] == "fail"
    assert res["dmarc"] == "pass"
    assert "header.d=example.test" in ar and "header.s=sel1" in ar


def test_dkim_fail_tampered_body(tmp_path):
    signed, recs = _dkim_setup(tmp_path)
    m = tmp_path / "tampered.eml"
    m.write_bytes(signed.replace(b"Hello Bob.", b"Hello Eve."))
    p = run(["--ip", "203.0.113.9", "--mail-from", "x@bounce.example.test", str(m)],
            recs, tmp_path)
    res, _ = results(p)
    assert res["dkim"] == "fail"
    assert res["dmarc"] == "fail"


# --- the libunbound backend against the harness's dnslib server -----------

@pytest.fixture
def dns_server():
    d = DnsServer()
    d.start()
    yield d
    d.stop()


def test_unbound_backend(dns_server, msgfile):
    dns_server.add("unbound.test", "TXT", '"v=spf1 ip4:192.0.2.0/24 -all"')
    dns_server.add("_dmarc.unbound.test", "TXT", '"v=DMARC1; p=reject"')
    m = msgfile.parent / "u.eml"
    m.write_bytes(MSG.replace(b"alice@example.test", b"alice@unbound.test"))
    env = {"MAILYARD_DNS_SERVERS": dns_server.server_spec, "MAILYARD_DNS_TIMEOUT_MS": "5000"}
    p = run(["--ip", "192.0.2.7", "--mail-from", "alice@unbound.test", str(m)], env=env)
    assert p.returncode == 0, p.stderr
    res, _ = results(p)
    assert (res["spf"], res["dmarc"]) == ("pass", "pass")
    assert ("unbound.test", "TXT") in dns_server.queries
    p = run(["--ip", "203.0.113.1", "--mail-from", "alice@unbound.test", str(m)], env=env)
    res, _ = results(p)
    assert (res["spf"], res["dmarc"]) == ("fail", "fail")


def test_unbound_timeout_is_temperror(msgfile):
    # a port where nothing answers: every query times out, nothing hangs
    port = free_udp_tcp_port()
    env = {"MAILYARD_DNS_SERVERS": "127.0.0.1@%d" % port, "MAILYARD_DNS_TIMEOUT_MS": "1000"}
    p = run(["--ip", "192.0.2.7", "--mail-from", "alice@example.test", str(msgfile)], env=env)
    assert p.returncode == 0, p.stderr
    res, _ = results(p)
    assert res["spf"] == "temperror"
    assert res["dmarc"] == "temperror"

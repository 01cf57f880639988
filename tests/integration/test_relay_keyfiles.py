"""DKIM private keys from files (MAILYARD_RELAY_DKIM_KEY_DIR): keys made by
`openssl genpkey` (RSA 2048 and Ed25519) named <domain>.<selector>.key are
listed by `mailyardctl dkim keys` with their DNS records, sign forwarded
mail (verified with dkimpy), lose to a PostgreSQL key of the same domain
and algorithm, and never appear in the logs."""
import os
import shutil
import subprocess
import tempfile

import pytest

from harness import unique
from test_delivery_tls import send_via_alias
from test_signing_relay import _verify_all


def _genkey(path, algo):
    if algo == "rsa":
        args = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    else:
        args = ["openssl", "genpkey", "-algorithm", "ed25519"]
    subprocess.run(args + ["-out", path], check=True, capture_output=True)
    os.chmod(path, 0o600)
    with open(path) as f:
        return f.read()


@pytest.fixture(scope="module")
def filekeyed():
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="relay-keyfiles-")
    kdir = os.path.join(tmp, "keys")
    os.makedirs(kdir)
    pems = [_genkey(os.path.join(kdir, "example.test.frsa.key"), "rsa"),
            _genkey(os.path.join(kdir, "example.test.fed.key"), "ed25519")]
    with open(os.path.join(kdir, "README"), "w") as f:      # skipped: not *.key
        f.write("not a key\n")
    s = _new_stack("keyfiles", extra_env={"relay": {"MAILYARD_RELAY_DKIM_KEY_DIR": kdir}})
    yield s, pems
    _close(s)
    shutil.rmtree(tmp, ignore_errors=True)


def _publish_all(stack):
    for k in stack.api("relay").get("/v1/dkim/keys").json()["keys"]:
        txt = k["public_txt"]
        stack.dns.add("%s._domainkey.%s" % (k["selector"], k["domain"]), "TXT",
                      " ".join('"%s"' % txt[i:i + 255] for i in range(0, len(txt), 255)))


def _forward(stack, tag):
    target = "kf-%s@remote.test" % unique(tag)
    sender, msgid = send_via_alias(stack, [target], tag)
    got = stack.sink.wait_for(target, timeout=60)
    return got[0].data


def test_file_keys_are_listed_with_their_dns_records(filekeyed):
    s, _ = filekeyed
    keys = s.api("relay").get("/v1/dkim/keys").json()["keys"]
    files = {k["selector"]: k for k in keys if k.get("source") == "file"}
    assert set(files) == {"frsa", "fed"}, keys
    assert files["frsa"]["algorithm"] == "rsa-sha256"
    assert files["fed"]["algorithm"] == "ed25519-sha256"
    assert files["fed"]["public_txt"].startswith("v=DKIM1; k=ed25519; p=")
    out = s.ctl("dkim", "keys").stdout
    assert "; file rsa-sha256 active" in out
    assert 'frsa._domainkey.example.test IN TXT "v=DKIM1; k=rsa; p=' in out
    assert 'fed._domainkey.example.test IN TXT "v=DKIM1; k=ed25519; p=' in out
    assert "PRIVATE KEY" not in out


def test_file_keys_sign_and_a_postgresql_key_wins_for_its_algorithm(filekeyed):
    s, pems = filekeyed
    _publish_all(s)
    sigs = _verify_all(s, _forward(s, "kf1"))
    assert sorted((d, sel, a) for d, sel, a, _ in sigs) == [
        ("example.test", "fed", "ed25519-sha256"), ("example.test", "frsa", "rsa-sha256")]

    r = s.api("relay").post("/v1/dkim/keys", json={"domain": s.domain, "selector": "db1"})
    assert r.status_code == 201, r.text
    _publish_all(s)
    sigs = _verify_all(s, _forward(s, "kf2"))
    assert sorted((d, sel, a) for d, sel, a, _ in sigs) == [
        ("example.test", "db1", "rsa-sha256"), ("example.test", "fed", "ed25519-sha256")]

    with open(s.logfile("relay"), errors="replace") as f:
        log = f.read()
    assert "PRIVATE KEY" not in log
    for pem in pems:
        body = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
        assert all(ln not in log for ln in body)

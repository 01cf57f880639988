"""The submission service of mx: port 587 style (STARTTLS) and 465
(implicit TLS, RFC 8314) with AUTH PLAIN/LOGIN only after TLS (RFC 4954),
credentials and grants managed through mx's API and mailyardctl, the
envelope sender and From: checked against the grants, relay to remote
domains after authentication, and client certificates (mutual TLS)
pinned by fingerprint. Real clients: Python smtplib, swaks, openssl."""
import base64
import os
import smtplib
import socket
import ssl
import subprocess

import pytest

from harness import free_port, unique
from harness.smtp import make_message
from harness.stack import quote_addr

SUB_PORT = free_port()
SMTPS_PORT = free_port()
STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SUBMISSION_LISTEN": "127.0.0.1:%d" % SUB_PORT,
    "MAILYARD_SMTPS_LISTEN": "127.0.0.1:%d" % SMTPS_PORT,
}}}


def _ctx(cert=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def _user(st, tag, grants=("@alice.test",)):
    """A fresh user with a password and the given grants."""
    name = unique(tag)
    pw = "pw-%s with space" % name
    r = st.api("mx").post("/v1/submission/users", json={"name": name, "password": pw})
    assert r.status_code == 201, r.text
    for g in grants:
        r = st.api("mx").post("/v1/submission/users/%s/grants" % quote_addr(name),
                              json={"address": g})
        assert r.status_code == 201, r.text
    return name, pw


def _submit(c, sender, rcpt, from_hdr=None, subject="sub"):
    msgid, data = make_message(from_hdr or sender, rcpt, subject=subject)
    refused = c.sendmail(sender, [rcpt], data)
    assert not refused
    return msgid


def _received(msg):
    return [v for k, v in msg.msg.items() if k.lower() == "received"]


def test_587_starttls_login_relays_to_remote(module_stack):
    st = module_stack
    name, pw = _user(st, "u587")
    rcpt = "t-%s@remote.test" % name
    with smtplib.SMTP("127.0.0.1", SUB_PORT, local_hostname="client.it.test", timeout=30) as c:
        c.ehlo()
        assert not c.has_extn("auth")                 # nothing before TLS
        c.starttls(context=_ctx())
        c.ehlo()
        assert c.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        c.user, c.password = name, pw
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235
        msgid = _submit(c, "me@alice.test", rcpt)
    got = st.sink.wait_for(rcpt, pred=lambda m: m.message_id == msgid)[0]
    rec = _received(got)
    assert any("with ESMTPSA" in r for r in rec), rec


def test_465_implicit_tls_plain_to_local_alias(module_stack):
    st = module_stack
    name, pw = _user(st, "u465")
    alias = "a-%s@%s" % (name, st.domain)
    target = "t-%s@remote.test" % name
    st.add_alias(alias, [target])
    with smtplib.SMTP_SSL("127.0.0.1", SMTPS_PORT, local_hostname="client.it.test",
                          timeout=30, context=_ctx()) as c:
        c.ehlo()
        c.user, c.password = name, pw
        code, _ = c.auth("PLAIN", c.auth_plain)
        assert code == 235
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:     # local: still rewrite's
            c.sendmail("me@alice.test", ["nobody-%s@%s" % (name, st.domain)],
                       make_message("me@alice.test", "x@" + st.domain)[1])
        assert list(e.value.recipients.values())[0][0] == 550
        msgid = _submit(c, "me@alice.test", alias)
    st.sink.wait_for(target, pred=lambda m: m.message_id == msgid)


def test_auth_refused_before_tls_and_mail_needs_auth(module_stack):
    with smtplib.SMTP("127.0.0.1", SUB_PORT, local_hostname="client.it.test", timeout=30) as c:
        c.ehlo()
        code, text = c.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0x\0y").decode())
        assert (code, text[:6]) == (538, b"5.7.11")
        code, text = c.docmd("MAIL", "FROM:<me@alice.test>")
        assert (code, text) == (530, b"5.7.0 Authentication required")
        c.starttls(context=_ctx())
        c.ehlo()
        code, text = c.docmd("MAIL", "FROM:<me@alice.test>")
        assert code == 530


def test_port_25_keeps_the_mx_policy(module_stack):
    st = module_stack
    with smtplib.SMTP("127.0.0.1", st.smtp_port, local_hostname="client.it.test",
                      timeout=30) as c:
        c.starttls(context=_ctx())
        c.ehlo()
        assert not c.has_extn("auth")
        code, _ = c.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0x\0y").decode())
        assert code == 503
        assert c.docmd("MAIL", "FROM:<me@alice.test>")[0] == 250
        code, _ = c.docmd("RCPT", "TO:<x@remote.test>")
        assert code == 554                            # no relaying on port 25


def test_wrong_password_cancel_and_failure_limit(module_stack):
    st = module_stack
    name, pw = _user(st, "uwrong")
    with smtplib.SMTP_SSL("127.0.0.1", SMTPS_PORT, local_hostname="client.it.test",
                          timeout=30, context=_ctx()) as c:
        c.ehlo()
        code, _ = c.docmd("AUTH", "LOGIN")
        assert code == 334
        assert c.docmd("*") == (501, b"5.0.0 Authentication cancelled")
        code, _ = c.docmd("AUTH", "PLAIN")
        assert code == 334
        assert c.docmd("%%%%")[0] == 501               # malformed base64
        bad = base64.b64encode(("\0%s\0nope" % name).encode()).decode()
        assert c.docmd("AUTH", "PLAIN " + bad)[0] == 535
        assert c.docmd("AUTH", "PLAIN " + bad)[0] == 535
        code, text = c.docmd("AUTH", "PLAIN " + bad)
        assert code == 535
        # the third failure ends the session
        with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)):
            r = c.getreply()
            assert r[0] == 421
            c.docmd("NOOP")
    assert pw not in open(st.logfile("mx")).read()    # never logged


def test_sender_and_from_must_be_granted(module_stack):
    st = module_stack
    name, pw = _user(st, "ugrant", grants=())
    api = st.api("mx")
    base = "/v1/submission/users/%s/grants" % quote_addr(name)
    assert api.post(base, json={"address": "Boss@Corp.test"}).status_code == 201
    assert api.post(base, json={"address": "@news.corp.test", "kind": "from"}).status_code == 201
    rcpt = "t-%s@remote.test" % name
    with smtplib.SMTP("127.0.0.1", SUB_PORT, local_hostname="client.it.test", timeout=30) as c:
        c.starttls(context=_ctx())
        c.ehlo()
        c.login(name, pw)
        code, text = c.docmd("MAIL", "FROM:<other@corp.test>")
        assert code == 553 and b"5.7.1" in text and b"not owned" in text, text
        # "from" grants do not cover the envelope
        assert c.docmd("MAIL", "FROM:<x@news.corp.test>")[0] == 553
        # From: not granted: refused after DATA
        with pytest.raises(smtplib.SMTPDataError) as e:
            _submit(c, "boss@corp.test", rcpt, from_hdr="ceo@corp.test")
        assert e.value.smtp_code == 550 and b"5.7.1" in e.value.smtp_error
        c.rset()
        msgid = _submit(c, "BOSS@corp.test", rcpt, from_hdr="letters@news.corp.test")
    st.sink.wait_for(rcpt, pred=lambda m: m.message_id == msgid)


def _swaks(*args):
    return subprocess.run(["swaks", "--hide-all", "--timeout", "30"] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=90)


@pytest.mark.parametrize("mode", ["587-plain", "465-login"])
def test_swaks(module_stack, mode):
    st = module_stack
    name, pw = _user(st, "uswaks")
    rcpt = "t-%s@remote.test" % name
    hdr = "X-Swaks-Id: %s" % name
    if mode == "587-plain":
        conn = ["--server", "127.0.0.1:%d" % SUB_PORT, "--tls", "--auth", "PLAIN"]
    else:
        conn = ["--server", "127.0.0.1:%d" % SMTPS_PORT, "--tlsc", "--auth", "LOGIN"]
    r = _swaks(*conn, "--auth-user", name, "--auth-password", pw, "--from", "me@alice.test",
               "--to", rcpt, "--header", "From: me@alice.test", "--add-header", hdr)
    assert r.returncode == 0, r.stdout
    st.sink.wait_for(rcpt, pred=lambda m: m.header("X-Swaks-Id") == name)
    r = _swaks(*conn, "--auth-user", name, "--auth-password", "wrong", "--from",
               "me@alice.test", "--to", rcpt)
    assert r.returncode != 0


def test_api_and_cli_round_trip(module_stack, tmp_path):
    st = module_stack
    api = st.api("mx")
    name = unique("ucli")
    pwfile = tmp_path / "pw"
    pwfile.write_text("first password\n")
    st.ctl("submission", "user", "add", name, "--password-file", pwfile)
    assert name in st.ctl("submission", "user", "list").stdout
    assert st.ctl("submission", "user", "add", name, "--password-file", pwfile,
                  check=False).returncode == 1                           # 409
    st.ctl("submission", "grant", "add", name, "@cli.test")
    st.ctl("submission", "grant", "add", name, "one@other.test", "--kind", "envelope")
    out = st.ctl("submission", "grant", "list", name).stdout
    assert "@cli.test" in out and "one@other.test" in out and "envelope" in out
    st.ctl("submission", "grant", "del", name, "one@other.test")
    assert "one@other.test" not in st.ctl("submission", "grant", "list", name).stdout
    pwfile.write_text("second password\n")
    st.ctl("submission", "user", "passwd", name, "--password-file", pwfile)
    with smtplib.SMTP_SSL("127.0.0.1", SMTPS_PORT, timeout=30, context=_ctx()) as c:
        c.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login(name, "first password")
        c.login(name, "second password")
    # API errors
    assert api.post("/v1/submission/users", json={"name": "a b", "password": "x"}).status_code == 400
    assert api.post("/v1/submission/users", json={"name": "n" + name, "password": ""}).status_code == 400
    assert api.post("/v1/submission/users", json={"name": name}).status_code == 400
    assert api.post("/v1/submission/users/nobody-%s/grants" % name,
                    json={"address": "@x.test"}).status_code == 404
    assert api.post("/v1/submission/users/%s/grants" % name,
                    json={"address": "not an address"}).status_code == 400
    assert api.post("/v1/submission/users/%s/grants" % name,
                    json={"address": "@x.test", "kind": "all"}).status_code == 400
    assert api.post("/v1/submission/certs", json={"name": "c", "user": name,
                                                   "fingerprint": "12ab"}).status_code == 400
    assert st.api("mx", token="wrong").get("/v1/submission/users").status_code == 401
    users = api.get("/v1/submission/users").json()["users"]
    assert all("password" not in str(u).lower() and "$y$" not in str(u) for u in users)
    st.ctl("submission", "user", "del", name)
    assert api.delete("/v1/submission/users/%s" % name).status_code == 404
    assert st.psql("SELECT count(*) FROM mx.submission_grants WHERE username = '%s'"
                   % name)[0][0] in (0, "0")


def _make_cert(d, cn):
    cert, key = os.path.join(d, cn + ".pem"), os.path.join(d, cn + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fp = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                        check=True, stdout=subprocess.PIPE, text=True).stdout
    return (cert, key), fp.strip().split("=", 1)[1]


def test_client_certificate_authenticates(module_stack, tmp_path):
    st = module_stack
    name, _ = _user(st, "ucert", grants=("@host.test",))
    known, fp = _make_cert(str(tmp_path), "known")
    unknown, _ = _make_cert(str(tmp_path), "unknown")
    by_pem, _ = _make_cert(str(tmp_path), "bypem")
    st.ctl("submission", "cert", "add", "k-" + name, name, "--fingerprint", fp)   # AB:CD:.. form
    st.ctl("submission", "cert", "add", "p-" + name, name, "--pem", by_pem[0])
    listed = st.api("mx").get("/v1/submission/certs").json()["certs"]
    assert fp.replace(":", "").lower() in [c["fingerprint"] for c in listed]
    rcpt = "t-%s@remote.test" % name
    # implicit TLS with the registered certificate: no AUTH needed
    with smtplib.SMTP_SSL("127.0.0.1", SMTPS_PORT, timeout=30, context=_ctx(known)) as c:
        c.ehlo()
        code, _ = c.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0x\0y").decode())
        assert code == 503                            # already authenticated
        msgid = _submit(c, "relay@host.test", rcpt)
    got = st.sink.wait_for(rcpt, pred=lambda m: m.message_id == msgid)[0]
    assert any("with ESMTPSA" in r for r in _received(got))
    # STARTTLS with the PEM-registered one: authenticated too
    with smtplib.SMTP("127.0.0.1", SUB_PORT, timeout=30) as c:
        c.starttls(context=_ctx(by_pem))
        c.ehlo()
        assert c.docmd("MAIL", "FROM:<relay@host.test>")[0] == 250
        assert c.docmd("MAIL", "FROM:<relay@host.test>")[0] == 503   # nested
    # an unknown certificate authenticates nothing
    with smtplib.SMTP("127.0.0.1", SUB_PORT, timeout=30) as c:
        c.starttls(context=_ctx(unknown))
        c.ehlo()
        assert c.docmd("MAIL", "FROM:<relay@host.test>")[0] == 530
    st.ctl("submission", "cert", "del", "k-" + name)
    with smtplib.SMTP_SSL("127.0.0.1", SMTPS_PORT, timeout=30, context=_ctx(known)) as c:
        c.ehlo()
        assert c.docmd("MAIL", "FROM:<relay@host.test>")[0] == 530

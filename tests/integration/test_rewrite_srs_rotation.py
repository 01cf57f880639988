"""SRS secret rotation through the API: secrets seeded from the file into
rewrite.srs_secrets, rotate (new signing secret, old ones keep verifying),
retire (addresses signed with a retired secret are refused; the last
secret cannot be retired), and mailyardctl srs ls/rotate/retire. A private
stack: rotation would change the session stack's signing secret."""
import smtplib

from harness import unique
from harness.smtp import make_message, send
from harness.srs import SRS0_RE, norm_hash, srs_hash
from harness.stack import SRS_SECRETS

STACK_CONFIG = {"extra_env": {"rewrite": {"MAILYARD_SRS_RELOAD_SECONDS": "1"}}}


def forward(s):
    uid = unique("rot")
    alias = "%s@%s" % (uid, s.domain)
    target = "t-%s@remote.test" % uid
    sender = "s-%s@sender.test" % uid
    s.add_alias(alias, [target])
    msgid, data = make_message(sender, alias)
    send(s.smtp_port, sender, [alias], data)
    m = s.sink.wait_for(target, pred=lambda x: x.message_id == msgid, timeout=30)[0]
    assert SRS0_RE.match(m.mail_from), m.mail_from
    return sender, m.mail_from


def signed_with(srs_addr, secret):
    h, tt, dom, local, _ = SRS0_RE.match(srs_addr).groups()
    return norm_hash(h) == norm_hash(srs_hash(secret, tt, dom, local))


def rcpt_code(s, addr):
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=30) as c:
        c.ehlo("client.it.test")
        assert c.mail("")[0] == 250
        return c.rcpt(addr)[0]


def test_rotation_and_retirement(module_stack):
    s = module_stack
    rw = s.api("rewrite")
    sender, old_addr = forward(s)
    assert signed_with(old_addr, SRS_SECRETS[0])
    r = rw.get("/v1/srs/secrets")
    assert r.status_code == 200, r.text
    secrets = r.json()["secrets"]
    assert len(secrets) == 2 and all("secret" not in x for x in secrets)
    assert [x["signing"] for x in secrets] == [True, False]
    file_ids = [x["id"] for x in secrets]

    out = s.ctl("srs", "rotate").stdout
    assert "id" in out
    new_id = max(x["id"] for x in rw.get("/v1/srs/secrets").json()["secrets"])
    assert new_id not in file_ids

    # within a few seconds every forward is signed with the new secret
    def new_signer():
        _, a = forward(s)
        return not signed_with(a, SRS_SECRETS[0]) and not signed_with(a, SRS_SECRETS[1])
    s.wait_until(new_signer, timeout=30, interval=0.5, what="forwards signed by the new secret")

    # the address made with the old secret still reverses
    r = rw.get("/v1/recipients/" + old_addr)
    assert r.status_code == 200 and r.json()["class"] == "srs", r.text
    msgid, data = make_message("", old_addr, subject="bounce " + unique("b"))
    send(s.smtp_port, "", [old_addr], data)
    s.sink.wait_for(sender, pred=lambda x: x.message_id == msgid, timeout=30)

    # retire both file secrets: the old address is refused
    for i in file_ids:
        r = s.ctl("srs", "retire", i)
    ls = s.ctl("srs", "ls").stdout
    assert str(new_id) in ls
    def refused():
        return rw.get("/v1/recipients/" + old_addr).status_code == 404
    s.wait_until(refused, timeout=30, interval=0.5, what="retired secret refused")
    assert rw.get("/v1/recipients/" + old_addr).json()["error"]["code"] == "srs_invalid"
    s.wait_until(lambda: rcpt_code(s, old_addr) == 550, timeout=30, interval=1,
                 what="mx refuses the retired secret's address")

    # the last active secret cannot be retired; unknown ids are 404
    r = rw.delete("/v1/srs/secrets/%d" % new_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_secret"
    assert rw.delete("/v1/srs/secrets/%d" % file_ids[0]).status_code == 404
    assert rw.delete("/v1/srs/secrets/abc").status_code == 404
    r = s.ctl("srs", "retire", str(new_id), check=False)
    assert r.returncode == 1


def test_rotation_survives_restart_without_reseeding(module_stack):
    s = module_stack
    rw = s.api("rewrite")
    before = rw.get("/v1/srs/secrets").json()["secrets"]
    s.stop("rewrite")
    s.start("rewrite")
    after = rw.get("/v1/srs/secrets").json()["secrets"]
    assert [x["id"] for x in after] == [x["id"] for x in before]

"""Per-user rate limits on the submission listener: after AUTH the
message and recipient limits count per user name in Redis (shared by all
mx replicas), independently of the client address, and refuse with
450 4.7.1 over the limit; another user on the same address is not
affected. Real client: Python smtplib over STARTTLS."""
import smtplib
import ssl

from harness import free_port, unique
from harness.smtp import make_message
from harness.stack import quote_addr

SUB_PORT = free_port()
STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SUBMISSION_LISTEN": "127.0.0.1:%d" % SUB_PORT,
    "MAILYARD_MX_RATE_USER_MESSAGES": "2",
    "MAILYARD_MX_RATE_USER_RECIPIENTS": "1000",
}}}


def _user(st, tag):
    name = unique(tag)
    pw = "pw-" + name
    r = st.api("mx").post("/v1/submission/users", json={"name": name, "password": pw})
    assert r.status_code == 201, r.text
    r = st.api("mx").post("/v1/submission/users/%s/grants" % quote_addr(name),
                          json={"address": "@alice.test"})
    assert r.status_code == 201, r.text
    return name, pw


def _session(name, pw):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = smtplib.SMTP("127.0.0.1", SUB_PORT, local_hostname="client.it.test", timeout=30)
    c.starttls(context=ctx)
    c.ehlo()
    c.login(name, pw)
    return c


def test_user_message_limit_counts_per_user(module_stack):
    st = module_stack
    a, apw = _user(st, "rla")
    b, bpw = _user(st, "rlb")
    rcpt = "t-%s@remote.test" % a
    with _session(a, apw) as c:
        for i in range(2):
            _, data = make_message("me@alice.test", rcpt, subject="n%d" % i)
            assert not c.sendmail("me@alice.test", [rcpt], data)
        code, text = c.mail("me@alice.test")
        assert code == 450, (code, text)
        assert b"4.7.1" in text
        c.rset()
    # the counter is the user's, in Redis, not the client address's
    assert st.redis("GET", "mailyard:mx:rate:messages:user:" + a).strip() == "3"
    assert st.redis("EXISTS", "mailyard:mx:rate:messages:user:" + b).strip() == "0"
    with _session(b, bpw) as c:            # same address, another user: fine
        _, data = make_message("me@alice.test", rcpt, subject="other user")
        assert not c.sendmail("me@alice.test", [rcpt], data)

"""Spam scanning in mx with a real rspamd (services/mx/smtp_rspamd.c,
docs/mx.md "Spam scanning"): a GTUBE message is refused with 550 5.7.1
(metrics reason "spam"), a clean one is delivered with the X-Spam-* fields
(incoming forged copies removed) and rspamd saw the envelope and client;
rspamd's "soft reject" gives 451 4.7.1; behind PROXY, rspamd gets the
proxied client address; MAILYARD_MX_RSPAMD_REJECT_SCORE
overrides rspamd's action; with rspamd stopped the message is accepted
unscanned (fail open) or refused with 451 4.7.1 when fail open is off.

Runs on its own stack: mx is restarted with the rspamd settings."""
import smtplib

import pytest
import requests

from harness import unique
from harness.rspamd import SOFT_REJECT_MARKER, Rspamd, available
from harness.smtp import make_message
from test_mx_dnsbl import Conn

pytestmark = pytest.mark.skipif(not available(), reason="rspamd is not installed "
                                "(deploy/local/deps.sh)")

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SPAM_FIELDS = ("X-Spam-Score", "X-Spam-Status", "X-Rspamd-Action", "X-Spamd-Result")


def metric(st, name, **labels):
    text = requests.get(st.url("mx") + "/metrics", timeout=10).text
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        lab, _, val = line.partition("} ")
        if ",".join(sorted(lab[len(name) + 1:].split(","))) == want:
            total += float(val)
    return total


def restart_mx(st, **env):
    st.config.extra_env["mx"] = dict(env)
    st.stop("mx")
    st.start("mx")


@pytest.fixture(scope="module")
def scanned(module_stack):
    st = module_stack
    r = Rspamd(st.dns.port)
    try:
        r.start()
        restart_mx(st, MAILYARD_MX_RSPAMD_URL=r.url, MAILYARD_MX_RSPAMD_TIMEOUT_MS="20000")
        yield st, r
    finally:
        r.close()


def transaction(st, sender, rcpt, data):
    """One SMTP session; returns the (code, text) of the reply to DATA."""
    with smtplib.SMTP("127.0.0.1", st.smtp_port, local_hostname="client.it.test",
                      timeout=60) as c:
        c.ehlo()
        code, _ = c.mail(sender)
        assert code == 250
        code, text = c.rcpt(rcpt)
        assert code == 250, text
        code, text = c.data(data)
        return code, text.decode()


def alias_pair(st, tag):
    uid = unique(tag)
    alias = "%s@%s" % (uid, st.domain)
    target = "t-%s@remote.test" % uid
    st.add_alias(alias, [target])
    return uid, alias, target


def test_gtube_is_refused(scanned):
    st, _ = scanned
    uid, alias, _ = alias_pair(st, "gtube")
    before = metric(st, "mailyard_smtp_rejections_total", reason="spam")
    scans = metric(st, "mailyard_smtp_rspamd_scans_total", result="spam")
    msgid, data = make_message("s-%s@sender.test" % uid, alias, subject="gtube " + uid,
                               body="spam follows\r\n%s\r\n" % GTUBE)
    code, text = transaction(st, "s-%s@sender.test" % uid, alias, data)
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    assert metric(st, "mailyard_smtp_rejections_total", reason="spam") == before + 1
    assert metric(st, "mailyard_smtp_rspamd_scans_total", result="spam") == scans + 1
    rows = st.psql("SELECT count(*) FROM spool.messages WHERE message_id = '%s'" % msgid)
    assert int(rows[0][0]) == 0, "a refused message was stored"


def test_clean_message_gets_the_verdict_fields(scanned):
    st, r = scanned
    uid, alias, target = alias_pair(st, "clean")
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="hello " + uid,
                               body="a perfectly ordinary message\r\n",
                               extra=("X-Spam-Status: No, forged by the sender",
                                      "X-Spamd-Result: forged"))
    code, text = transaction(st, sender, alias, data)
    assert code == 250, (code, text)
    qid = text.rsplit(" ", 1)[-1]
    got = st.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)[0]
    for f in SPAM_FIELDS:
        assert len(got.msg.get_all(f) or []) == 1, "%s: %r" % (f, got.msg.get_all(f))
    assert "forged" not in got.header("X-Spam-Status")
    assert "forged" not in got.header("X-Spamd-Result")
    status = got.header("X-Spam-Status")
    assert status.split(",")[0] in ("Yes", "No") and "score=" in status, status
    score = float(got.header("X-Spam-Score"))
    assert "score=%.2f" % score in status
    assert got.header("X-Rspamd-Action") in ("no action", "add header", "rewrite subject",
                                             "greylist"), got.header("X-Rspamd-Action")
    result = got.header("X-Spamd-Result")
    assert result.startswith("default: "), result
    assert "MIME_GOOD(" in result or "R_SPF_" in result or "DMARC_" in result, result
    # the fields sit under Received and above the message's own fields
    head = got.data.split(b"\r\n\r\n", 1)[0].decode()
    assert head.index("X-Spam-Score:") < head.index("Subject:")
    # rspamd saw the envelope, the client and our queue id
    log = open(r.logfile, encoding="utf-8", errors="replace").read()
    line = [ln for ln in log.splitlines() if "qid: <%s>" % qid in ln and "ip: " in ln]
    assert line, "no rspamd log line for queue id %s" % qid
    assert "ip: 127.0.0.1" in line[-1] and "from: <%s>" % sender in line[-1], line[-1]
    assert "rcpts: <%s>" % alias in line[-1], line[-1]


def test_soft_reject_is_a_temporary_failure(scanned):
    st, _ = scanned
    uid, alias, _ = alias_pair(st, "soft")
    _, data = make_message("s-%s@sender.test" % uid, alias,
                           subject="%s %s" % (SOFT_REJECT_MARKER, uid))
    before = metric(st, "mailyard_smtp_rspamd_scans_total", result="soft_reject")
    code, text = transaction(st, "s-%s@sender.test" % uid, alias, data)
    assert code == 451 and text.startswith("4.7.1"), (code, text)
    assert metric(st, "mailyard_smtp_rspamd_scans_total", result="soft_reject") == before + 1


def test_rspamd_gets_the_proxied_client(scanned):
    st, r = scanned
    restart_mx(st, MAILYARD_MX_RSPAMD_URL=r.url, MAILYARD_MX_RSPAMD_TIMEOUT_MS="20000",
               MAILYARD_SMTP_PROXY_PROTOCOL="v1",
               MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS="127.0.0.1/32")
    try:
        uid, alias, target = alias_pair(st, "proxy")
        sender = "s-%s@sender.test" % uid
        msgid, data = make_message(sender, alias, subject="proxied " + uid)
        c = Conn(st.smtp_port, "192.0.2.77")
        try:
            assert c.reply()[0] == 220
            assert c.cmd("EHLO proxied.client.test")[0] == 250
            assert c.cmd("MAIL FROM:<%s>" % sender)[0] == 250
            assert c.cmd("RCPT TO:<%s>" % alias)[0] == 250
            assert c.cmd("DATA")[0] == 354
            code, text = c.cmd(data.decode() + ".")
            assert code == 250, text
            c.cmd("QUIT")
        finally:
            c.close()
        qid = text.rsplit(" ", 1)[-1]
        got = st.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)[0]
        assert got.header("X-Spam-Score") is not None
        log = open(r.logfile, encoding="utf-8", errors="replace").read()
        line = [ln for ln in log.splitlines() if "qid: <%s>" % qid in ln and "ip: " in ln]
        assert line and "ip: 192.0.2.77" in line[-1], line
    finally:
        restart_mx(st, MAILYARD_MX_RSPAMD_URL=r.url, MAILYARD_MX_RSPAMD_TIMEOUT_MS="20000")


def test_reject_score_overrides_the_action(scanned):
    st, r = scanned
    restart_mx(st, MAILYARD_MX_RSPAMD_URL=r.url, MAILYARD_MX_RSPAMD_REJECT_SCORE="-100")
    try:
        uid, alias, _ = alias_pair(st, "thr")
        _, data = make_message("s-%s@sender.test" % uid, alias, subject="plain " + uid)
        code, text = transaction(st, "s-%s@sender.test" % uid, alias, data)
        assert code == 550 and text.startswith("5.7.1") and "score" in text, (code, text)
    finally:
        restart_mx(st, MAILYARD_MX_RSPAMD_URL=r.url, MAILYARD_MX_RSPAMD_TIMEOUT_MS="20000")


def test_rspamd_down_fails_open_or_closed(scanned):
    st, r = scanned
    r.stop()
    try:
        uid, alias, target = alias_pair(st, "down")
        sender = "s-%s@sender.test" % uid
        errors = metric(st, "mailyard_smtp_rspamd_scans_total", result="error")
        msgid, data = make_message(sender, alias, subject="unscanned " + uid)
        code, text = transaction(st, sender, alias, data)
        assert code == 250, (code, text)
        got = st.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)[0]
        for f in SPAM_FIELDS:
            assert got.header(f) is None, "%s on an unscanned message" % f
        assert metric(st, "mailyard_smtp_rspamd_scans_total", result="error") == errors + 1
        assert "fail open" in st.log_tail("mx", 200)

        restart_mx(st, MAILYARD_MX_RSPAMD_URL=r.url, MAILYARD_MX_RSPAMD_FAIL_OPEN="off")
        _, data = make_message(sender, alias, subject="closed " + uid)
        code, text = transaction(st, sender, alias, data)
        assert code == 451 and text.startswith("4.7.1"), (code, text)
    finally:
        restart_mx(st, MAILYARD_MX_RSPAMD_URL=r.url, MAILYARD_MX_RSPAMD_TIMEOUT_MS="20000")
        r.start()

"""relay transports other than mx (maildir, smarthost) and expiry of a
recipient that never stops answering 4xx. Each test starts its own stack."""
import glob
import os
import shutil
import tempfile

from harness import unique
from harness.sink import SmtpSink
from harness.smtp import make_message, send


def _send_via_alias(stack, targets, tag):
    uid = unique(tag)
    alias = "%s@%s" % (unique("rt"), stack.domain)
    stack.add_alias(alias, list(targets))
    sender = "s-%s@sender.test" % uid
    msgid, data = make_message(sender, alias, subject="%s %s" % (tag, uid))
    send(stack.smtp_port, sender, [alias], data)
    return sender, msgid


def test_maildir_transport_writes_one_file_per_recipient(stack_factory):
    tmp = tempfile.mkdtemp(prefix="relay-maildir-")
    md = os.path.join(tmp, "Maildir")
    try:
        s = stack_factory(extra_env={"relay": {"MAILYARD_RELAY_TRANSPORT": "maildir",
                                               "MAILYARD_RELAY_MAILDIR": md}})
        for sub in ("cur", "new", "tmp"):
            assert os.path.isdir(os.path.join(md, sub))
        t1 = "one-%s@anywhere.test" % unique("md")
        t2 = "two-%s@elsewhere.test" % unique("md")
        sender, msgid = _send_via_alias(s, [t1, t2], "md")

        def files():
            fs = sorted(glob.glob(os.path.join(md, "new", "*")))
            return fs if len(fs) >= 2 else None
        fs = s.wait_until(files, timeout=30, what="two maildir files")
        assert len(fs) == 2
        assert os.listdir(os.path.join(md, "tmp")) == []
        seen = set()
        for f in fs:
            data = open(f, "rb").read()
            lines = data.split(b"\r\n", 2)
            # the envelope sender of an alias expansion is our SRS address
            local = sender.split("@")[0].encode()
            assert lines[0].startswith(b"Return-Path: <SRS0=") and local in lines[0], lines[0]
            assert lines[1].startswith(b"Delivered-To: "), lines[1]
            assert lines[2].startswith(b"Received: ")
            assert msgid.encode() in data
            seen.add(lines[1].decode().split(": ", 1)[1])
            assert os.path.basename(f).endswith(".mx." + s.domain)
        assert seen == {t1, t2}
        r = s.api("relay").get("/v1/queue", params={"state": "delivered"})
        hosts = {d["rcpt"]: d["last_host"] for d in r.json()["deliveries"]}
        assert hosts[t1] == "maildir:" + md
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_smarthost_transport_sends_everything_to_one_host(stack_factory):
    hub = SmtpSink()
    hub.start()
    try:
        s = stack_factory(extra_env={"relay": {
            "MAILYARD_RELAY_TRANSPORT": "smarthost",
            "MAILYARD_RELAY_SMARTHOST": "127.0.0.1:%d" % hub.port}})
        # a domain nobody can resolve: only the smarthost can take it
        target = "u-%s@no-such-domain.invalid" % unique("sh")
        _, msgid = _send_via_alias(s, [target], "sh")
        got = hub.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)
        assert len(got) == 1
        assert s.sink.messages_to(target) == []
    finally:
        hub.stop()


def test_recipient_that_keeps_failing_expires_with_4_4_7(stack_factory):
    s = stack_factory(extra_env={"relay": {"MAILYARD_RELAY_MAX_AGE_SECONDS": "4"}})
    target = "slow-%s@remote.test" % unique("exp")
    s.sink.plan_rcpt(target, [451] * 1000, then=451)
    sender, _ = _send_via_alias(s, [target], "exp")
    got = s.sink.wait_for(sender, timeout=60,
                          pred=lambda m: m.mail_from == "" and target.encode() in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Status: 4.4.7" in text
    assert "Action: failed" in text
    assert s.sink.attempts(target) >= 2      # it was retried before expiring
    r = s.api("relay").get("/v1/queue", params={"state": "bounced"})
    rows = [d for d in r.json()["deliveries"] if d["rcpt"] == target]
    assert len(rows) == 1 and rows[0]["last_reply"].startswith("expired")


class _TlsHub:
    """A smarthost that offers STARTTLS and records each transaction."""

    def __init__(self, certdir):
        import ssl
        from aiosmtpd.controller import Controller
        from harness.tlscert import make_self_signed
        from harness.util import free_port
        cert, key = make_self_signed(certdir, cn="hub.remote.test")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.got = []
        hub = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                hub.got.append({"tls": session.ssl is not None,
                                "mail_options": list(envelope.mail_options),
                                "rcpts": list(envelope.rcpt_tos),
                                "data": envelope.original_content})
                return "250 2.0.0 OK: hub"
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     tls_context=ctx, require_starttls=False,
                                     decode_data=False, data_size_limit=10_000_000)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()


def test_starttls_is_used_when_offered_and_recorded(stack_factory):
    tmp = tempfile.mkdtemp(prefix="relay-tls-")
    hub = _TlsHub(tmp)
    hub.start()
    try:
        s = stack_factory(extra_env={"relay": {
            "MAILYARD_RELAY_TRANSPORT": "smarthost",
            "MAILYARD_RELAY_SMARTHOST": "127.0.0.1:%d" % hub.port}})
        target = "tls-%s@remote.test" % unique("tls")
        _, msgid = _send_via_alias(s, [target], "tls")
        s.wait_until(lambda: [g for g in hub.got if target in g["rcpts"]], timeout=30,
                     what="message at the TLS hub")
        g = [g for g in hub.got if target in g["rcpts"]][0]
        assert g["tls"] is True
        assert any(o.upper().startswith("SIZE=") for o in g["mail_options"]), g["mail_options"]
        assert msgid.encode() in g["data"]

        def tls_event():
            rows = s.psql("select detail->>'tls' from spool.events where service = 'relay' "
                          "and event = 'delivered' and detail->>'rcpt' = '%s'" % target)
            return rows or None
        rows = s.wait_until(tls_event, timeout=10, what="delivered event")
        assert rows[0][0].startswith("TLSv1."), rows
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)

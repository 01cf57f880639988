"""STARTTLS policies of the relay (MAILYARD_RELAY_TLS=may|encrypt|verify)
against aiosmtpd hubs on loopback: a verified delivery records the TLS
version, cipher and "verified"; a certificate for another name defers in
verify mode with a clear reply. Hub is reused by the other delivery tests."""
import os
import shutil
import ssl
import tempfile

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from harness import unique
from harness.smtp import make_message, send
from harness.tlscert import make_self_signed
from harness.util import free_port


class Hub:
    """An SMTP server on loopback that records each transaction, counts
    connections, optionally offers STARTTLS (certificate for cn) and AUTH
    (users: {name: password}, only after STARTTLS)."""

    def __init__(self, certdir=None, cn="hub.remote.test", users=None, exclude_auth=(),
                 cert_key=None):
        self.got = []
        self.connections = 0
        self.peers = set()
        self.active = 0
        self.max_active = 0
        self.rsets = 0
        self.auth_ok = []
        hub = self
        ctx = None
        if cert_key is not None:              # (chain, key) made elsewhere
            self.cert, self.key = cert_key
        elif certdir is not None:
            self.cert, self.key = make_self_signed(certdir, cn=cn)
        if self.__dict__.get("cert") is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert, self.key)

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                hub.got.append({"tls": session.ssl is not None,
                                "auth": session.auth_data if session.authenticated
                                else None,
                                "mail_from": envelope.mail_from,
                                "rcpts": list(envelope.rcpt_tos),
                                "data": envelope.original_content})
                return "250 2.0.0 OK: hub"

        def authenticator(server, session, envelope, mechanism, auth_data):
            if isinstance(auth_data, LoginPassword) and users and \
                    users.get(auth_data.login.decode()) == auth_data.password.decode():
                hub.auth_ok.append((mechanism, auth_data.login.decode()))
                return AuthResult(success=True, auth_data=auth_data.login.decode())
            return AuthResult(success=False, handled=False)

        class CountingSMTP(SMTP):
            def connection_made(self, transport):
                # STARTTLS calls this again for the same peer: count peers
                peer = transport.get_extra_info("peername")
                if peer not in hub.peers:
                    hub.peers.add(peer)
                    hub.connections += 1
                    hub.active += 1
                    hub.max_active = max(hub.max_active, hub.active)
                    self._hub_peer = peer
                super().connection_made(transport)

            def connection_lost(self, exc):
                if getattr(self, "_hub_peer", None) is not None:
                    hub.active -= 1
                    self._hub_peer = None
                super().connection_lost(exc)

            async def smtp_RSET(self, arg):
                hub.rsets += 1
                await super().smtp_RSET(arg)

        class HubController(Controller):
            def factory(self):
                return CountingSMTP(self.handler, **self.SMTP_kwargs)

        self.port = free_port()
        kw = {}
        if users is not None:
            kw = {"authenticator": authenticator, "auth_require_tls": True,
                  "auth_exclude_mechanism": list(exclude_auth)}
        self.controller = HubController(Handler(), hostname="127.0.0.1", port=self.port,
                                        tls_context=ctx, require_starttls=False,
                                        decode_data=False, data_size_limit=10_000_000, **kw)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def to(self, rcpt):
        return [g for g in self.got if rcpt in g["rcpts"]]


def send_via_alias(stack, targets, tag, sender=None):
    alias = "%s@%s" % (unique(tag), stack.domain)
    stack.add_alias(alias, list(targets))
    sender = sender or "s-%s@sender.test" % unique(tag)
    msgid, data = make_message(sender, alias, subject="%s %s" % (tag, unique(tag)))
    send(stack.smtp_port, sender, [alias], data)
    return sender, msgid


def relay_events(stack, rcpt, event):
    return stack.psql("select detail::text from spool.events where service = 'relay' "
                      "and event = '%s' and detail->>'rcpt' = '%s'" % (event, rcpt))


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix="delivery-tls-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_verify_mode_delivers_to_a_valid_certificate_and_defers_a_wrong_name(
        stack_factory, tmpdir_):
    hub = Hub(os.path.join(tmpdir_, "hub")).start()
    try:
        s = stack_factory(extra_env={"relay": {
            "MAILYARD_RELAY_TLS": "verify",
            "MAILYARD_RELAY_CA_FILE": hub.cert,
            "MAILYARD_RELAY_SMTP_PORT": str(hub.port)}})
        s.dns.add("hub.remote.test", "A", "127.0.0.1")
        s.dns.add("other.remote.test", "A", "127.0.0.1")
        s.dns.add_mail_domain("good-tls.test", mx="hub.remote.test")
        s.dns.add_mail_domain("bad-tls.test", mx="other.remote.test")
        good = "g-%s@good-tls.test" % unique("tls")
        bad = "b-%s@bad-tls.test" % unique("tls")
        send_via_alias(s, [good, bad], "tlsv")

        s.wait_until(lambda: hub.to(good), timeout=30, what="verified delivery")
        assert hub.to(good)[0]["tls"] is True
        ev = s.wait_until(lambda: relay_events(s, good, "delivered"), timeout=10,
                          what="delivered event")
        assert '"tls_verify": "verified"' in ev[0][0], ev
        assert '"tls": "TLSv1.' in ev[0][0], ev
        # the attempt log of queue control keeps the same details
        att = s.psql("select a.tls_version, a.tls_verify, a.result from relay.attempts a "
                     "join relay.deliveries d on d.id = a.delivery_id "
                     "where d.rcpt = '%s'" % good)
        assert att and att[0][0].startswith("TLSv1.") and att[0][1:] == ["verified",
                                                                          "delivered"], att

        ev = s.wait_until(lambda: relay_events(s, bad, "deferred"), timeout=30,
                          what="deferred event")
        assert "TLS is required with a verified certificate" in ev[0][0], ev
        assert "not verified" in ev[0][0], ev
        assert hub.to(bad) == []
    finally:
        hub.stop()


def test_may_mode_records_an_unverified_certificate(stack_factory, tmpdir_):
    hub = Hub(os.path.join(tmpdir_, "hub")).start()
    try:
        s = stack_factory(extra_env={"relay": {"MAILYARD_RELAY_SMTP_PORT": str(hub.port)}})
        s.dns.add("other.remote.test", "A", "127.0.0.1")
        s.dns.add_mail_domain("may-tls.test", mx="other.remote.test")
        rcpt = "m-%s@may-tls.test" % unique("tls")
        send_via_alias(s, [rcpt], "tlsm")
        s.wait_until(lambda: hub.to(rcpt), timeout=30, what="delivery")
        assert hub.to(rcpt)[0]["tls"] is True
        ev = s.wait_until(lambda: relay_events(s, rcpt, "delivered"), timeout=10,
                          what="delivered event")
        assert '"tls_verify": "not verified: ' in ev[0][0], ev
    finally:
        hub.stop()


def test_encrypt_mode_defers_when_starttls_is_not_offered(stack_factory):
    s = stack_factory(extra_env={"relay": {"MAILYARD_RELAY_TLS": "encrypt"}})
    rcpt = "e-%s@remote.test" % unique("tls")       # the harness sink: no STARTTLS
    send_via_alias(s, [rcpt], "tlse")
    ev = s.wait_until(lambda: relay_events(s, rcpt, "deferred"), timeout=30,
                      what="deferred event")
    assert "TLS is required (MAILYARD_RELAY_TLS=encrypt)" in ev[0][0], ev
    assert "does not offer STARTTLS" in ev[0][0], ev
    assert s.sink.messages_to(rcpt) == []


def test_tlsrpt_counts_every_address_tried(stack_factory, tmpdir_):
    """RFC 8460 counts sessions: the first MX's certificate does not carry
    its name (a failure session), the second MX takes the mail (a success
    session); both are in the day's TLS-RPT results of the domain."""
    hub = Hub(os.path.join(tmpdir_, "hub")).start()
    try:
        s = stack_factory(extra_env={"relay": {
            "MAILYARD_RELAY_TLS": "verify",
            "MAILYARD_RELAY_CA_FILE": hub.cert,
            "MAILYARD_RELAY_SMTP_PORT": str(hub.port)}})
        s.dns.add("hub.remote.test", "A", "127.0.0.1")
        s.dns.add("other.remote.test", "A", "127.0.0.1")
        s.dns.add("twomx.test", "MX", "10 other.remote.test.")
        s.dns.add("twomx.test", "MX", "20 hub.remote.test.")
        rcpt = "t-%s@twomx.test" % unique("tls")
        send_via_alias(s, [rcpt], "tls2")
        s.wait_until(lambda: hub.to(rcpt), timeout=30, what="delivery by the second MX")
        rows = s.wait_until(
            lambda: (lambda r: r if len(r) == 2 else None)(s.psql(
                "select policy_type, result_type, sessions, receiving_mx_hostname "
                "from relay.tlsrpt_results where policy_domain = 'twomx.test' "
                "order by result_type")), timeout=10, what="two TLS-RPT rows")
        assert rows[0][:3] == ["no-policy-found", "", "1"], rows
        assert rows[1][0] == "no-policy-found" and rows[1][2] == "1", rows
        assert rows[1][1] == "certificate-host-mismatch", rows
        assert rows[1][3] == "other.remote.test", rows
    finally:
        hub.stop()

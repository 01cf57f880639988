"""A real Postfix as a client of mx (issue 3, "Done when"): a private
Postfix (harness/postfix.py) whose relayhost is mx's port-25 listener
relays what it receives, the way a site's internal MTA or a remote MX
would talk to us: EHLO, PIPELINING, STARTTLS (smtp_tls_security_level =
encrypt, so a plaintext fallback would be an error), 8BITMIME, DSN. A
message to an alias arrives at the alias target through the whole
pipeline with both hops in its Received fields; a message to an unknown
local address is refused by mx with 550 5.1.1 and Postfix logs that
answer and bounces."""
import os
import smtplib

import pytest

from harness import unique
from harness import postfix as pfmod
from harness.smtp import make_message

pytestmark = pytest.mark.skipif(pfmod.available() is not None,
                                reason=str(pfmod.available()))


class ClientPostfix(pfmod.Postfix):
    """The harness Postfix, but with TLS required towards its relayhost."""

    def main_cf(self):
        cf = super().main_cf().replace("smtp_tls_security_level = none\n",
                                       "smtp_tls_security_level = encrypt\n")
        assert "smtp_tls_security_level = encrypt" in cf
        return cf + "smtp_tls_loglevel = 1\n"

    def master_cf(self):
        # the TLS session cache and entropy manager Postfix's smtp client needs
        return super().master_cf() + "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"


@pytest.fixture(scope="module")
def client(module_stack):
    st = module_stack
    pf = ClientPostfix(st.base, st.smtp_port, name="client", hostname="pf-client.it.test")
    port = pf.add_smtpd()
    pf.start()
    yield st, pf, port
    pf.stop()


def _send(port, sender, rcpt, subject):
    msgid, data = make_message(sender, rcpt, subject=subject)
    with smtplib.SMTP("127.0.0.1", port, local_hostname="origin.it.test", timeout=30) as c:
        assert not c.sendmail(sender, [rcpt], data)
    return msgid


def test_postfix_relays_into_mx_over_starttls(client):
    st, pf, port = client
    alias = "%s@%s" % (unique("pfc"), st.domain)
    target = "t-%s@remote.test" % unique("pfc")
    st.add_alias(alias, [target])
    msgid = _send(port, "someone@remote.test", alias, "via postfix")
    got = st.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=60)[0]
    received = [v for k, v in got.msg.items() if k.lower() == "received"]
    # mx's own hop: from Postfix's EHLO name, over TLS
    assert any("from pf-client.it.test" in r and "ESMTPS" in r for r in received), received
    # Postfix's hop is there too: the client really went through it
    assert any("by pf-client.it.test" in r for r in received), received
    log = pf.log_text()
    assert "Trusted TLS connection established" in log or \
        "Untrusted TLS connection established" in log or \
        "Anonymous TLS connection established" in log, pf.log_tail()
    assert "status=sent" in log, pf.log_tail()


def test_mx_refusal_reaches_postfix(client):
    st, pf, port = client
    rcpt = "%s@%s" % (unique("nobody"), st.domain)
    _send(port, "someone@remote.test", rcpt, "to nobody")
    st.wait_until(lambda: rcpt in pf.log_text() and "status=bounced" in pf.log_text(),
                  timeout=60, what="Postfix's bounce of %s" % rcpt)
    line = [l for l in pf.log_text().splitlines() if rcpt in l and "status=bounced" in l][0]
    assert "550 5.1.1" in line, line

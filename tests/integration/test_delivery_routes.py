"""The transport map (MAILYARD_RELAY_TRANSPORT_MAP_FILE): per-domain and
per-sender smarthosts with AUTH after STARTTLS, against aiosmtpd hubs with
an authenticator; a wrong password or a hub without TLS defers."""
import os
import shutil
import tempfile

import pytest

from harness import unique
from harness.srs import srs_forward
from harness.stack import SRS_SECRETS
from test_delivery_tls import Hub, relay_events, send_via_alias


@pytest.fixture(scope="module")
def routed(request):
    """(stack, hubs) with a transport map routing some test domains."""
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="delivery-routes-")
    users = {"app-user": "s3cret:with colon"}
    auth_hub = Hub(os.path.join(tmp, "auth"), users=users).start()
    plain_hub = Hub(users=users).start()
    sender_hub = Hub().start()
    login_hub = Hub(os.path.join(tmp, "login"), users=users, exclude_auth=["PLAIN"]).start()
    good = os.path.join(tmp, "good.cred")
    bad = os.path.join(tmp, "bad.cred")
    with open(good, "w") as f:
        f.write("app-user:s3cret:with colon\n")
    with open(bad, "w") as f:
        f.write("app-user:wrong\n")
    os.chmod(good, 0o600)
    sender = "app-%s@sender.test" % unique("rt")
    srs_sender = srs_forward(SRS_SECRETS[0], sender, "example.test")
    tmap = os.path.join(tmp, "transport-map")
    with open(tmap, "w") as f:
        f.write("# routes for test_delivery_routes.py\n"
                "auth.test       smarthost:127.0.0.1:%d auth=%s tls=encrypt\n"
                "badauth.test    smarthost:[127.0.0.1]:%d auth=%s tls=encrypt\n"
                "notls.test      smarthost:127.0.0.1:%d auth=%s\n"
                "login.test      smarthost:127.0.0.1:%d auth=%s tls=encrypt\n"
                "*.hub.test      smtp:127.0.0.1:%d\n"
                "sender:%s smarthost:127.0.0.1:%d\n"
                % (auth_hub.port, good, auth_hub.port, bad, plain_hub.port, good,
                   login_hub.port, good, sender_hub.port, srs_sender, sender_hub.port))
    s = _new_stack("routes", extra_env={"relay": {
        "MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap}})
    yield s, {"auth": auth_hub, "plain": plain_hub, "sender": sender_hub, "login": login_hub,
              "sender_addr": sender}
    _close(s)
    for h in (auth_hub, plain_hub, sender_hub, login_hub):
        h.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def test_smarthost_with_auth_after_starttls(routed):
    s, hubs = routed
    rcpt = "u-%s@auth.test" % unique("rt")
    send_via_alias(s, [rcpt], "rtauth")
    got = s.wait_until(lambda: hubs["auth"].to(rcpt), timeout=30, what="delivery at auth hub")
    assert got[0]["tls"] is True
    assert got[0]["auth"] == "app-user"
    assert ("PLAIN", "app-user") in hubs["auth"].auth_ok


def test_auth_login_when_plain_is_not_offered(routed):
    s, hubs = routed
    rcpt = "u-%s@login.test" % unique("rt")
    send_via_alias(s, [rcpt], "rtlogin")
    got = s.wait_until(lambda: hubs["login"].to(rcpt), timeout=30, what="delivery")
    assert got[0]["auth"] == "app-user"
    assert ("LOGIN", "app-user") in hubs["login"].auth_ok


def test_wrong_password_defers_with_the_servers_reply(routed):
    s, hubs = routed
    rcpt = "u-%s@badauth.test" % unique("rt")
    send_via_alias(s, [rcpt], "rtbad")
    ev = s.wait_until(lambda: relay_events(s, rcpt, "deferred"), timeout=30,
                      what="deferred event")
    assert "authentication failed: 535" in ev[0][0], ev
    assert hubs["auth"].to(rcpt) == []


def test_credentials_are_not_sent_without_tls(routed):
    s, hubs = routed
    rcpt = "u-%s@notls.test" % unique("rt")
    send_via_alias(s, [rcpt], "rtnotls")
    ev = s.wait_until(lambda: relay_events(s, rcpt, "deferred"), timeout=30,
                      what="deferred event")
    assert "not encrypted; not sending them" in ev[0][0], ev
    assert hubs["plain"].got == []


def test_wildcard_domain_and_sender_routes(routed):
    s, hubs = routed
    sub = "w-%s@a.hub.test" % unique("rt")
    send_via_alias(s, [sub], "rtwild")
    s.wait_until(lambda: hubs["sender"].to(sub), timeout=30, what="wildcard route")
    # the per-sender route wins over the recipient domain's MX (the sink)
    rcpt = "p-%s@remote.test" % unique("rt")
    send_via_alias(s, [rcpt], "rtsender", sender=hubs["sender_addr"])
    got = s.wait_until(lambda: hubs["sender"].to(rcpt), timeout=30, what="sender route")
    assert got[0]["mail_from"].lower().startswith("srs0=")
    assert s.sink.messages_to(rcpt) == []
    # other senders to the same domain still go to its MX
    other = "o-%s@remote.test" % unique("rt")
    send_via_alias(s, [other], "rtother")
    s.sink.wait_for(other, timeout=30)
    assert hubs["sender"].to(other) == []

"""Block rules of mx (docs/mx.md, "Block rules"): networks (IPv4 and IPv6
CIDR), addresses and sender domains added through mx's API and through
`mailyardctl block`, stored in mx.blocks, picked up by mx within its reload
interval; a blocked network gets 554 5.7.1 at connection, a blocked sender
(address or domain, subdomains included) 550 5.7.1 at MAIL FROM, a blocked
recipient 550 5.7.1 at RCPT. The rule's reason is logged and counted
(reason="block") but not shown to the client; deleting (or expiring) a rule
lifts it. Bad input gets JSON errors.

Clients speak through PROXY v1 with their own addresses (harness.smtp
.ProxySMTP), so a blocked network never touches the other tests."""
import random
import smtplib

import pytest
import requests

from harness import unique
from harness.smtp import ProxySMTP

STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SMTP_PROXY_PROTOCOL": "v1",
    "MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS": "127.0.0.1/32",
    "MAILYARD_MX_BLOCKS_REFRESH_SECONDS": "1",
}}}


def new_ip():
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255),
                            random.randint(1, 254))


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


def greeting(st, ip):
    """(code, text) of the greeting mx gives client ip."""
    try:
        s = ProxySMTP(st.smtp_port, ip)
    except smtplib.SMTPConnectError as e:
        return e.smtp_code, e.smtp_error.decode()
    s.quit()
    return 220, ""


def mail_rcpt(st, sender, rcpt=None, ip=None):
    """(MAIL reply, RCPT reply or None) of one session."""
    s = ProxySMTP(st.smtp_port, ip or new_ip())
    try:
        s.ehlo()
        m = s.mail(sender)
        r = s.rcpt(rcpt) if rcpt is not None and m[0] == 250 else None
        return (m[0], m[1].decode()), (r[0], r[1].decode()) if r else None
    finally:
        s.close()


def add(st, **body):
    r = st.api("mx").post("/v1/blocks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def new_alias(st):
    uid = unique("blk")
    a = "%s@%s" % (uid, st.domain)
    st.add_alias(a, ["t-%s@remote.test" % uid])
    return a


def test_network_block_from_api_then_deleted(module_stack):
    st = module_stack
    ip = new_ip()
    net = ip.rsplit(".", 1)[0] + ".77/24"          # host bits are cleared
    reason = "net-" + unique("r")
    assert greeting(st, ip)[0] == 220
    before = metric(st, "mailyard_smtp_rejections_total", reason="block")
    rule = add(st, kind="network", value=net, reason=reason)
    assert rule["value"] == ip.rsplit(".", 1)[0] + ".0/24"
    assert rule["kind"] == "network" and rule["reason"] == reason
    assert rule["expires_at"] is None and rule["active"] is True
    code, text = st.wait_until(lambda: (lambda g: g if g[0] != 220 else None)(greeting(st, ip)),
                               what="network blocked")
    assert code == 554 and text.startswith("5.7.1"), text
    assert reason not in text                       # the reason stays with us
    st.wait_until(lambda: reason in st.log_tail("mx", 200), what="reason logged")
    assert metric(st, "mailyard_smtp_rejections_total", reason="block") >= before + 1
    assert greeting(st, new_ip())[0] == 220         # other networks unaffected
    r = st.api("mx").delete("/v1/blocks/%d" % rule["id"])
    assert r.status_code == 204, r.text
    st.wait_until(lambda: greeting(st, ip)[0] == 220, what="block lifted")
    assert st.api("mx").delete("/v1/blocks/%d" % rule["id"]).status_code == 404


def test_ipv6_network_block_from_cli(module_stack):
    st = module_stack
    prefix = "2001:db8:%x:%x" % (random.randint(1, 0xffff), random.randint(1, 0xffff))
    ip = prefix + "::25"
    reason = "v6-" + unique("r")
    out = st.ctl("block", "add", "network", prefix + "::/64", "--reason", reason).stdout
    assert "network" in out and prefix + "::/64" in out
    rid = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("id:")][0]
    listed = st.ctl("block", "list", "--kind", "network").stdout
    assert reason in listed
    code, text = st.wait_until(lambda: (lambda g: g if g[0] != 220 else None)(greeting(st, ip)),
                               what="v6 network blocked")
    assert code == 554 and "5.7.1" in text, text
    st.wait_until(lambda: reason in st.log_tail("mx", 200), what="reason logged")
    assert greeting(st, "2001:db8::1")[0] == 220
    st.ctl("block", "del", rid)
    st.wait_until(lambda: greeting(st, ip)[0] == 220, what="v6 block lifted")
    assert reason not in st.ctl("block", "list").stdout


def test_sender_address_block(module_stack):
    st = module_stack
    sender = "%s@Sender.test" % unique("bad")
    reason = "spam run " + unique("r")
    before = metric(st, "mailyard_smtp_rejections_total", reason="block")
    rule = add(st, kind="address", value=sender.upper(), reason=reason)
    assert rule["value"] == sender.lower()
    (code, text), _ = st.wait_until(
        lambda: (lambda r: r if r[0][0] != 250 else None)(mail_rcpt(st, sender)),
        what="sender blocked")
    assert code == 550 and text.startswith("5.7.1"), text
    assert reason not in text
    assert mail_rcpt(st, "other-" + sender)[0][0] == 250
    st.wait_until(lambda: reason in st.log_tail("mx", 200), what="reason logged")
    assert metric(st, "mailyard_smtp_rejections_total", reason="block") >= before + 1
    assert st.api("mx").delete("/v1/blocks/%d" % rule["id"]).status_code == 204
    st.wait_until(lambda: mail_rcpt(st, sender)[0][0] == 250, what="sender block lifted")


def test_sender_domain_block_covers_subdomains_from_cli(module_stack):
    st = module_stack
    dom = "%s.test" % unique("spamdom")
    reason = "domain " + unique("r")
    out = st.ctl("block", "add", "domain", dom, "--reason", reason).stdout
    rid = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("id:")][0]
    (code, text), _ = st.wait_until(
        lambda: (lambda r: r if r[0][0] != 250 else None)(mail_rcpt(st, "a@" + dom)),
        what="domain blocked")
    assert code == 550 and "5.7.1" in text, text
    assert mail_rcpt(st, "b@mail." + dom)[0][0] == 550          # a subdomain
    assert mail_rcpt(st, "c@not" + dom)[0][0] == 250            # not a subdomain
    assert mail_rcpt(st, "")[0][0] == 250                       # the null sender
    st.ctl("block", "del", rid)
    st.wait_until(lambda: mail_rcpt(st, "a@" + dom)[0][0] == 250, what="domain block lifted")


def test_recipient_address_block(module_stack):
    st = module_stack
    blocked, other = new_alias(st), new_alias(st)
    reason = "rcpt " + unique("r")
    rule = add(st, kind="address", value=blocked, reason=reason)
    _, (code, text) = st.wait_until(
        lambda: (lambda r: r if r[1][0] != 250 else None)(mail_rcpt(st, "s@sender.test",
                                                                    blocked)),
        what="recipient blocked")
    assert code == 550 and text.startswith("5.7.1"), text
    assert reason not in text
    assert mail_rcpt(st, "s@sender.test", other)[1][0] == 250
    st.wait_until(lambda: reason in st.log_tail("mx", 200), what="reason logged")
    assert st.api("mx").delete("/v1/blocks/%d" % rule["id"]).status_code == 204
    st.wait_until(lambda: mail_rcpt(st, "s@sender.test", blocked)[1][0] == 250,
                  what="recipient block lifted")


def test_expired_rule_no_longer_applies(module_stack):
    st = module_stack
    sender = "%s@sender.test" % unique("exp")
    rule = add(st, kind="address", value=sender, reason="temporary", expires_in=3600)
    assert rule["expires_at"] is not None and rule["active"] is True
    st.wait_until(lambda: mail_rcpt(st, sender)[0][0] == 550, what="blocked")
    st.psql("UPDATE mx.blocks SET expires_at = now() - interval '1 second' WHERE id = %d"
            % rule["id"])
    st.wait_until(lambda: mail_rcpt(st, sender)[0][0] == 250, what="expired rule lifted")
    listed = [b for b in st.api("mx").get("/v1/blocks?kind=address").json()["blocks"]
              if b["id"] == rule["id"]]
    assert listed and listed[0]["active"] is False


@pytest.mark.parametrize("body,status,code", [
    ({"kind": "network", "value": "10.0.0.0/33", "reason": "x"}, 400, "invalid_cidr"),
    ({"kind": "network", "value": "10.0.0.300", "reason": "x"}, 400, "invalid_cidr"),
    ({"kind": "network", "value": "2001:db8::/129", "reason": "x"}, 400, "invalid_cidr"),
    ({"kind": "network", "value": "10.0.0.0/8x", "reason": "x"}, 400, "invalid_cidr"),
    ({"kind": "host", "value": "10.0.0.1", "reason": "x"}, 400, "invalid_kind"),
    ({"kind": "address", "value": "no-at-sign", "reason": "x"}, 400, "invalid_value"),
    ({"kind": "address", "value": "a b@example.test", "reason": "x"}, 400, "invalid_value"),
    ({"kind": "domain", "value": "bad..domain", "reason": "x"}, 400, "invalid_value"),
    ({"kind": "domain", "value": "ok.test", "reason": ""}, 400, "invalid_reason"),
    ({"kind": "domain", "value": "ok.test"}, 400, "missing_field"),
    ({"kind": "domain", "value": "ok.test", "reason": "x", "color": 1}, 400, "unknown_field"),
    ({"kind": "domain", "value": "ok.test", "reason": "x", "expires_in": 0}, 400,
     "invalid_expiry"),
    ({"kind": "domain", "value": "ok.test", "reason": "x",
      "expires_at": "2020-01-01T00:00:00Z"}, 400, "invalid_expiry"),
    ({"kind": "domain", "value": "ok.test", "reason": "x",
      "expires_at": "2031-02-30T00:00:00Z"}, 400, "invalid_expiry"),
    ({"kind": "domain", "value": "ok.test", "reason": "x", "expires_at": "tomorrow"}, 400,
     "invalid_expiry"),
])
def test_api_rejects_bad_input(module_stack, body, status, code):
    r = module_stack.api("mx").post("/v1/blocks", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_api_conflict_auth_and_unknown_ids(module_stack):
    st = module_stack
    dom = "%s.test" % unique("dup")
    rule = add(st, kind="domain", value=dom, reason="first",
               expires_at="2035-06-01T12:00:00+02:00")
    assert rule["expires_at"] == "2035-06-01T10:00:00Z"
    r = st.api("mx").post("/v1/blocks", json={"kind": "domain", "value": dom.upper(),
                                              "reason": "again"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert st.api("mx", token="wrong").get("/v1/blocks").status_code == 401
    assert st.api("mx").get("/v1/blocks?kind=nope").json()["error"]["code"] == "invalid_kind"
    for bad in ("0", "abc", "99999999999", "-1"):
        assert st.api("mx").delete("/v1/blocks/" + bad).status_code == 404
    r = st.ctl("block", "add", "network", "300.1.1.1/8", "--reason", "x", check=False)
    assert r.returncode == 1 and "invalid_cidr" in r.stderr
    r = st.ctl("block", "add", "network", "10.0.0.0/8", check=False)   # no --reason
    assert r.returncode == 2
    assert st.api("mx").delete("/v1/blocks/%d" % rule["id"]).status_code == 204

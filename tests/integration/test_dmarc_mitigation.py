"""DMARC From mitigation (libcommon/dmarc_mitigate.c, services/lists/lists_dmarc.c,
services/rewrite/rewrite_dmarc.c): per list and per alias, munge-from, wrap
and encode-address are applied only when the author's domain publishes
p=quarantine/reject in the harness DNS (or always when configured); the
message at the sink carries our DKIM signature, verified with dkimpy, whose
d= is the (new) From domain; a reply to an encoded address reaches the
author while the author was seen, and is refused with 550 at RCPT when the
address is unknown or the author was seen too long ago; the API and
mailyardctl set the modes.

Runs on its own stack (module_stack): DKIM keys for the domain sign every
message, which other tests should not see."""
import email
import email.policy
import email.utils
import smtplib
import uuid

import dkim
import pytest

from harness import unique
from harness.smtp import send
from harness.stack import quote_addr

ENCODE_DOMAIN = "dmarc.example.test"
STACK_CONFIG = {"extra_env": {"*": {"MAILYARD_DMARC_ENCODE_DOMAIN": ENCODE_DOMAIN}}}


def _txt_chunks(txt):
    return " ".join('"%s"' % txt[i:i + 255] for i in range(0, len(txt), 255))


def _dnsfunc(stack):
    recs = {}
    for k in stack.api("relay").get("/v1/dkim/keys").json()["keys"]:
        recs["%s._domainkey.%s." % (k["selector"], k["domain"])] = k["public_txt"].encode()

    def lookup(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        if not n.endswith("."):
            n += "."
        return recs.get(n.lower())
    return lookup


@pytest.fixture(scope="module")
def s(module_stack):
    st = module_stack
    st.seed_domain(ENCODE_DOMAIN)
    for dom, sel in ((st.domain, "mit1"), (ENCODE_DOMAIN, "enc1")):
        r = st.api("relay").post("/v1/dkim/keys", json={"domain": dom, "selector": sel})
        assert r.status_code == 201, r.text
        k = r.json()
        st.dns.add("%s._domainkey.%s" % (sel, dom), "TXT", _txt_chunks(k["public_txt"]))
    st.dns.add("_dmarc.author.test", "TXT", '"v=DMARC1; p=reject"')
    st.dns.add("_dmarc.relaxed.test", "TXT", '"v=DMARC1; p=none"')
    st.dns.add_mail_domain("author.test")
    st.dns.add_mail_domain("relaxed.test")
    return st


def _message(author, name, to, subject, body="mitigated body\r\n", extra=()):
    msgid = "<%s@it.test>" % uuid.uuid4().hex
    headers = [
        'From: "%s" <%s>' % (name, author),
        "To: <%s>" % to,
        "Subject: %s" % subject,
        "Date: %s" % email.utils.formatdate(localtime=False),
        "Message-ID: %s" % msgid,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ] + list(extra)
    return msgid, ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def _addr_domain(value):
    return email.utils.parseaddr(value)[1].rsplit("@", 1)[1].lower()


def _assert_signed_aligned(stack, data):
    """Every DKIM signature verifies with dkimpy and one is by the From domain."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    from_dom = _addr_domain(msg["From"])
    sigs = msg.get_all("DKIM-Signature") or []
    assert sigs, "no DKIM signature:\n%s" % data[:2000]
    ds = []
    fn = _dnsfunc(stack)
    for idx in range(len(sigs)):
        tags = dict(t.strip().split("=", 1) for t in "".join(sigs[idx].split()).split(";")
                    if "=" in t)
        if tags.get("d", "").lower() in (stack.domain, ENCODE_DOMAIN):
            assert dkim.DKIM(data).verify(idx=idx, dnsfunc=fn), \
                "signature %d (d=%s) does not verify" % (idx, tags.get("d"))
            ds.append(tags["d"].lower())
    assert from_dom in ds, "no verifying signature aligned with From %s: %r" % (from_dom, ds)
    cv, _, why = dkim.arc_verify(data, dnsfunc=fn)
    assert cv == dkim.CV_Pass, "arc_verify: %s %s" % (cv, why)


def _list(stack, mode, always=False, name=None):
    uid = unique("dl")
    addr = "%s@%s" % (uid, stack.domain)
    body = {"address": addr, "policy": "open", "dmarc_mitigation": mode,
            "dmarc_mitigation_always": always}
    if name:
        body["name"] = name
    r = stack.api("lists").post("/v1/lists", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["dmarc_mitigation"] == mode
    member = "m-%s@remote.test" % uid
    r = stack.api("lists").post("/v1/lists/%s/members" % quote_addr(addr),
                                json={"address": member})
    assert r.status_code in (200, 201), r.text
    return addr, member


def _post(stack, addr, member, author, name="Alice Author"):
    subject = "post " + unique("s")
    _, data = _message(author, name, addr, subject)
    send(stack.smtp_port, author, [addr], data)
    got = stack.sink.wait_for(member, pred=lambda m: subject in (m.header("Subject") or ""),
                              timeout=30)
    return got[0]


def test_list_munge_from_on_reject(s):
    addr, member = _list(s, "munge-from", name="Dev List")
    author = "alice-%s@author.test" % unique("a").lower()
    m = _post(s, addr, member, author)
    assert m.header("From") == "Alice Author via Dev List <%s>" % addr
    assert author in m.header("Reply-To")
    assert "Alice Author" in m.header("Reply-To")
    assert m.header("List-Id") is not None
    _assert_signed_aligned(s, m.data)
    rows = s.psql("SELECT detail->>'mode', detail->>'policy', detail->>'author' "
                  "FROM spool.events WHERE event = 'dmarc_mitigated' "
                  "AND detail->>'author' = '%s'" % author)
    assert [tuple(r) for r in rows] == [("munge-from", "reject", author)], rows


def test_list_p_none_untouched_unless_always(s):
    addr, member = _list(s, "munge-from")
    author = "bob-%s@relaxed.test" % unique("b").lower()
    m = _post(s, addr, member, author, name="Bob")
    assert email.utils.parseaddr(m.header("From"))[1] == author
    assert m.header("Reply-To") is None
    # no domain at all in DNS: no policy, untouched too
    other = "carol@nowhere-%s.test" % unique("n").lower()
    m = _post(s, addr, member, other, name="Carol")
    assert email.utils.parseaddr(m.header("From"))[1] == other

    addr2, member2 = _list(s, "munge-from", always=True)
    m = _post(s, addr2, member2, author, name="Bob")
    assert email.utils.parseaddr(m.header("From"))[1] == addr2
    assert author in m.header("Reply-To")
    _assert_signed_aligned(s, m.data)


def test_list_wrap(s):
    addr, member = _list(s, "wrap", name="Wrapped")
    author = "dave-%s@author.test" % unique("d").lower()
    m = _post(s, addr, member, author, name="Dave")
    msg = m.msg
    assert msg.get_content_type() == "multipart/mixed"
    assert email.utils.parseaddr(m.header("From"))[1] == addr
    assert "[%s]" % addr.split("@")[0] in m.header("Subject")
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/rfc822"]
    inner = parts[1].get_content()
    assert email.utils.parseaddr(str(inner["From"]))[1] == author
    assert "mitigated body" in inner.get_content()
    assert author in m.header("Reply-To")
    aar = m.header("ARC-Authentication-Results")
    assert aar and "dmarc=fail" in aar, "the AAR lost mx's results: %r" % aar
    _assert_signed_aligned(s, m.data)


def test_list_encode_address_and_replies(s):
    addr, member = _list(s, "encode-address")
    local = "erin-%s" % unique("e").lower()
    author = "%s@author.test" % local
    m = _post(s, addr, member, author, name="Erin")
    encoded = "%s=40author.test@%s" % (local, ENCODE_DOMAIN)
    assert m.header("From") == "Erin <%s>" % encoded
    assert author in m.header("X-Original-From")
    _assert_signed_aligned(s, m.data)

    # a reply to the encoded address reaches the author
    subject = "reply " + unique("r")
    _, data = _message(member, "Member", encoded, subject)
    send(s.smtp_port, member, [encoded], data)
    got = s.sink.wait_for(author, pred=lambda x: subject in (x.header("Subject") or ""),
                          timeout=30)
    assert got[0].rcpts == [author]

    # never seen, or not decodable: refused at RCPT
    for rcpt in ("nobody-%s=40author.test@%s" % (unique("x").lower(), ENCODE_DOMAIN),
                 "bad=4Gx=40author.test@%s" % ENCODE_DOMAIN):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            send(s.smtp_port, member, [rcpt], data)
        code, text = ei.value.recipients[rcpt]
        assert code == 550 and b"5.1.1" in text, (code, text)


def test_encoded_reply_refused_after_the_window(s):
    addr, member = _list(s, "encode-address")
    local = "frank-%s" % unique("f").lower()
    author = "%s@author.test" % local
    _post(s, addr, member, author, name="Frank")
    s.psql("UPDATE spool.dmarc_encoded SET last_seen = now() - interval '31 days' "
           "WHERE author = '%s'" % author)
    encoded = "%s=40author.test@%s" % (local, ENCODE_DOMAIN)
    _, data = _message(member, "Member", encoded, "late reply")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
        send(s.smtp_port, member, [encoded], data)
    assert ei.value.recipients[encoded][0] == 550


def _alias(stack, mode, always=False):
    uid = unique("da")
    alias = "%s@%s" % (uid, stack.domain)
    target = "t-%s@remote.test" % uid
    stack.add_alias(alias, [target])
    args = ["alias", "dmarc", alias, mode] + (["--always"] if always else [])
    out = stack.ctl(*args).stdout
    assert mode in out
    return alias, target


def _forward(stack, alias, target, author, name="Gina"):
    subject = "fwd " + unique("s")
    _, data = _message(author, name, alias, subject)
    send(stack.smtp_port, author, [alias], data)
    return stack.sink.wait_for(target, pred=lambda m: subject in (m.header("Subject") or ""),
                               timeout=30)[0]


def test_alias_munge_from(s):
    alias, target = _alias(s, "munge-from")
    author = "gina-%s@author.test" % unique("g").lower()
    m = _forward(s, alias, target, author)
    assert m.header("From") == "Gina via %s <%s>" % (alias.split("@")[0], alias)
    assert author in m.header("Reply-To")
    assert m.mail_from.upper().startswith("SRS0=")
    _assert_signed_aligned(s, m.data)
    rows = s.psql("SELECT c.origin, c.parent_id IS NOT NULL FROM spool.events e "
                  "JOIN spool.messages c ON c.id = (e.detail->>'message')::bigint "
                  "WHERE e.event = 'dmarc_mitigated' AND e.detail->>'alias' = '%s'" % alias)
    assert [tuple(r) for r in rows] == [("rewrite", "t")], rows
    # p=none: the forward is untouched
    other = "hank-%s@relaxed.test" % unique("h").lower()
    m = _forward(s, alias, target, other, name="Hank")
    assert email.utils.parseaddr(m.header("From"))[1] == other
    assert m.header("Reply-To") is None


def test_alias_encode_address_always(s):
    alias, target = _alias(s, "encode-address", always=True)
    local = "ivy-%s" % unique("i").lower()
    author = "%s@relaxed.test" % local
    m = _forward(s, alias, target, author, name="Ivy")
    assert m.header("From") == "Ivy <%s=40relaxed.test@%s>" % (local, ENCODE_DOMAIN)
    _assert_signed_aligned(s, m.data)
    rows = s.psql("SELECT encoded FROM spool.dmarc_encoded WHERE author = '%s'" % author)
    assert [r[0] for r in rows] == ["%s=40relaxed.test@%s" % (local, ENCODE_DOMAIN)]


def test_api_and_cli(s):
    addr, _ = _list(s, "none")
    lists = s.api("lists")
    q = quote_addr(addr)
    r = lists.patch("/v1/lists/%s" % q, json={"dmarc_mitigation": "wrap"})
    assert r.status_code == 200 and r.json()["dmarc_mitigation"] == "wrap", r.text
    assert r.json()["dmarc_mitigation_always"] is False
    assert lists.patch("/v1/lists/%s" % q, json={"dmarc_mitigation": "bogus"}).status_code == 400
    assert lists.patch("/v1/lists/%s" % q, json={"dmarc_mitigation_always": "yes"}) \
        .status_code == 400
    assert lists.patch("/v1/lists/%s" % q, json={"other": 1}).status_code == 400
    assert lists.patch("/v1/lists/nolist-%s@%s" % (unique("n"), s.domain),
                       json={"dmarc_mitigation": "wrap"}).status_code == 404
    assert lists.post("/v1/lists", json={"address": "x-%s@%s" % (unique("x"), s.domain),
                                         "dmarc_mitigation": 3}).status_code == 400
    s.ctl("list", "dmarc", addr, "encode-address", "--always")
    got = lists.get("/v1/lists/%s" % q).json()
    assert (got["dmarc_mitigation"], got["dmarc_mitigation_always"]) == ("encode-address", True)
    assert "dmarc_mitigation: encode-address" in s.ctl("list", "show", addr).stdout
    r = s.ctl("list", "dmarc", addr, "sideways", check=False)
    assert r.returncode != 0

    alias, _ = _alias(s, "wrap")
    rw = s.api("rewrite")
    got = rw.get("/v1/aliases/%s" % quote_addr(alias)).json()
    assert (got["dmarc_mitigation"], got["dmarc_mitigation_always"]) == ("wrap", False)
    r = rw.patch("/v1/aliases/%s" % quote_addr(alias), json={"dmarc_mitigation_always": True})
    assert r.status_code == 200 and r.json()["dmarc_mitigation"] == "wrap", r.text
    assert r.json()["dmarc_mitigation_always"] is True
    assert rw.patch("/v1/aliases/%s" % quote_addr(alias),
                    json={"dmarc_mitigation": "nope"}).status_code == 400
    assert rw.patch("/v1/aliases/missing-%s@%s" % (unique("m"), s.domain),
                    json={"dmarc_mitigation": "wrap"}).status_code == 404

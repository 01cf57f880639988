"""LMTP delivery (RFC 2033) to a real Dovecot: a transport-map route
"lmtp.test lmtp:127.0.0.1:<port>", several recipients in one transaction
(one reply per recipient after DATA), the mail lands in each user's
Maildir, an unknown user bounces. Dovecot runs from a config written here,
on a loopback port, with a passwd-file and Maildirs under a temp dir."""
import glob
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from harness import unique
from harness.util import free_port
from test_delivery_tls import relay_events, send_via_alias

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USERS = ("alice", "bob")


def _mail_ids():
    """The uid/gid Dovecot delivers as: ours, or the dovecot user's when we
    are root (Dovecot refuses to deliver mail as root)."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid(), pwd.getpwuid(os.getuid()).pw_name, \
            grp.getgrgid(os.getgid()).gr_name
    pw = pwd.getpwnam("dovecot")
    return pw.pw_uid, pw.pw_gid, "dovecot", grp.getgrgid(pw.pw_gid).gr_name


class Dovecot:
    def __init__(self, base):
        self.base = base
        self.port = free_port()
        self.proc = None
        uid, gid, user, group = _mail_ids()
        for d in ("run", "state", "mail"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        os.chmod(base, 0o755)
        os.chown(os.path.join(base, "mail"), uid, gid)
        with open(os.path.join(base, "users"), "w") as f:
            for u in USERS:
                f.write("%s@lmtp.test:{PLAIN}unused:%d:%d::%s/mail/%s::\n"
                        % (u, uid, gid, base, u))
        self.conf = os.path.join(base, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""
base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{b}/mail/%n
passdb {{
  driver = passwd-file
  args = {b}/users
}}
userdb {{
  driver = passwd-file
  args = {b}/users
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
""".format(b=base, user=user, group=group, uid=uid, gid=gid, port=self.port))

    def start(self):
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s\n%s" % (
                    self.proc.stderr.read().decode(), self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as c:
                    if c.recv(100).startswith(b"220"):
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not listen on %d:\n%s" % (self.port, self.log()))

    def log(self):
        try:
            return open(os.path.join(self.base, "dovecot.log")).read()[-4000:]
        except OSError:
            return "(no log)"

    def maildir_files(self, user):
        return sorted(glob.glob(os.path.join(self.base, "mail", user, "new", "*")))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class LmtpSink:
    """aiosmtpd's LMTP server answering each recipient separately after
    DATA: 452 for local parts starting with "full-", else 250."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        from aiosmtpd.lmtp import LMTP
        self.got = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.got.append(list(envelope.rcpt_tos))
                return "\r\n".join(
                    "452 4.2.2 <%s> mailbox full" % r if r.startswith("full-")
                    else "250 2.0.0 <%s> saved" % r for r in envelope.rcpt_tos)

        class LmtpController(Controller):
            def factory(self):
                return LMTP(self.handler, **self.SMTP_kwargs)
        self.port = free_port()
        self.controller = LmtpController(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


@pytest.fixture(scope="module")
def lmtp_stack():
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip("dovecot is not installed (apt-get install dovecot-core dovecot-lmtpd)")
    from conftest import _close, _new_stack
    tmp = tempfile.mkdtemp(prefix="delivery-lmtp-")
    dc = Dovecot(tmp).start()
    ls = LmtpSink().start()
    tmap = os.path.join(tmp, "transport-map")
    with open(tmap, "w") as f:
        f.write("lmtp.test lmtp:127.0.0.1:%d\n" % dc.port)
        f.write("lmtpsink.test lmtp:127.0.0.1:%d\n" % ls.port)
    s = None
    try:
        s = _new_stack("lmtp", extra_env={"relay": {
            "MAILYARD_RELAY_TRANSPORT_MAP_FILE": tmap}})
        s.lmtp_sink = ls
        yield s, dc
    finally:
        if s is not None:
            _close(s)
        dc.stop()
        ls.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_lmtp_delivers_into_each_users_maildir(lmtp_stack):
    s, dc = lmtp_stack
    sender, msgid = send_via_alias(s, ["alice@lmtp.test", "bob@lmtp.test"], "lmtp")
    for user in USERS:
        def landed(user=user):
            return [f for f in dc.maildir_files(user) if msgid.encode() in open(f, "rb").read()]
        files = s.wait_until(landed, timeout=30, what="mail in %s's maildir\n%s"
                             % (user, dc.log()))
        data = open(files[0], "rb").read()
        assert data.startswith(b"Return-Path: <SRS0="), data[:200]   # MAIL FROM kept
    for user in USERS:
        ev = s.wait_until(lambda user=user: relay_events(s, "%s@lmtp.test" % user, "delivered"),
                          timeout=10, what="delivered event")
        # Dovecot's own per-recipient reply after DATA
        assert "<%s@lmtp.test>" % user in ev[-1][0], ev
    rows = s.psql("select last_reply, last_host from relay.deliveries where rcpt in "
                  "('alice@lmtp.test', 'bob@lmtp.test') and state = 'delivered'")
    assert len(rows) >= 2, rows
    assert all(r[0].startswith("250 2.0.0 <") for r in rows), rows


def test_lmtp_unknown_user_bounces(lmtp_stack):
    s, dc = lmtp_stack
    rcpt = "nobody-%s@lmtp.test" % unique("lmtp")
    sender, msgid = send_via_alias(s, [rcpt, "alice@lmtp.test"], "lmtpbad")
    got = s.sink.wait_for(sender, timeout=30,
                          pred=lambda m: m.mail_from == "" and rcpt.encode() in m.data)
    text = got[0].data.decode("utf-8", "replace")
    assert "Action: failed" in text and "Status: 5.1.1" in text, text
    s.wait_until(lambda: [f for f in dc.maildir_files("alice")
                          if msgid.encode() in open(f, "rb").read()],
                 timeout=30, what="the known user still gets it")


def test_lmtp_replies_are_read_per_recipient(lmtp_stack):
    s, _ = lmtp_stack
    ok = "ok-%s@lmtpsink.test" % unique("lmtp")
    full = "full-%s@lmtpsink.test" % unique("lmtp")
    ok2 = "ok2-%s@lmtpsink.test" % unique("lmtp")
    send_via_alias(s, [ok, full, ok2], "lmtpper")
    s.wait_until(lambda: relay_events(s, full, "deferred"), timeout=30, what="deferral")
    for r in (ok, ok2):
        ev = s.wait_until(lambda r=r: relay_events(s, r, "delivered"), timeout=30,
                          what="delivered " + r)
        assert "<%s> saved" % r in ev[0][0], ev
    assert "4.2.2" in relay_events(s, full, "deferred")[0][0]
    # one transaction carried all three
    assert any(set(g) == {ok, full, ok2} for g in s.lmtp_sink.got), s.lmtp_sink.got

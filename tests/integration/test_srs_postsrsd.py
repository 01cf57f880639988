"""SRS compatibility with a real postsrsd (Debian's postsrsd 1.x), so a site
can switch from Postfix + postsrsd to Mailyard without breaking bounces in
flight: with the same secret and domain, postsrsd and our rewrite produce
the same SRS0 address (postsrsd writes the hash in the standard base64
alphabet, '+' and '/', where we write base64url, '-' and '_'), and bounces
to postsrsd's addresses, including ones with '+' or '/' in the hash, reach
the original sender through our mx."""
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from harness import unique
from harness.smtp import make_message, send
from harness.stack import SRS_SECRETS
from harness.util import free_port, wait_until

POSTSRSD = shutil.which("postsrsd") or "/usr/sbin/postsrsd"


def _tcp_table(port, key):
    """One lookup in postsrsd's Postfix tcp_table protocol."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"get " + key.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    code, _, value = reply.decode().strip().partition(" ")
    return code, value


@pytest.fixture(scope="module")
def postsrsd(stack):
    if not os.path.exists(POSTSRSD):
        pytest.fail("postsrsd is not installed (make deps installs it)")
    tmp = tempfile.mkdtemp(prefix="postsrsd-")
    secrets = os.path.join(tmp, "secrets")
    with open(secrets, "w") as f:
        # postsrsd signs with the first line and accepts every line, as we do.
        f.write("\n".join(SRS_SECRETS) + "\n")
    fwd, rev = free_port(), free_port()
    proc = subprocess.Popen(
        [POSTSRSD, "-s" + secrets, "-d" + stack.srs_domain, "-l127.0.0.1",
         "-f%d" % fwd, "-r%d" % rev, "-4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def up():
        try:
            socket.create_connection(("127.0.0.1", fwd), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(up, timeout=10, what="postsrsd listening")
    yield fwd, rev
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)


def _forwarded_sender(stack, sender):
    uid = unique("psrs")
    alias = "%s@%s" % (uid, stack.domain)
    target = "t-%s@remote.test" % uid
    stack.add_alias(alias, [target])
    msgid, data = make_message(sender, alias, subject="postsrsd " + uid)
    send(stack.smtp_port, sender, [alias], data)
    got = stack.sink.wait_for(target, pred=lambda m: m.message_id == msgid, timeout=30)
    return got[0].mail_from


def _b64url(addr):
    """The SRS0 address with its hash in the base64url alphabet."""
    tag, h, rest = addr.split("=", 2)
    return "%s=%s=%s" % (tag, h.replace("+", "-").replace("/", "_"), rest)


def test_same_srs_address_as_postsrsd(stack, postsrsd):
    fwd, _ = postsrsd
    sender = "%s@sender.test" % unique("orig")
    ours = _forwarded_sender(stack, sender)
    code, theirs = _tcp_table(fwd, sender)
    assert code == "200", (code, theirs)
    assert ours.lower() == _b64url(theirs).lower(), "ours %r, postsrsd %r" % (ours, theirs)


def _postsrsd_address_with_plus_or_slash(fwd):
    """A postsrsd SRS0 address whose hash holds '+' or '/' (about one in
    eight does), with the sender it stands for."""
    for _ in range(200):
        sender = "%s@sender.test" % unique("pb")
        code, theirs = _tcp_table(fwd, sender)
        assert code == "200", (code, theirs)
        if "+" in theirs.split("=")[1] or "/" in theirs.split("=")[1]:
            return sender, theirs
    pytest.fail("postsrsd produced no hash with '+' or '/' in 200 tries")


def test_bounce_to_postsrsd_address_reaches_original_sender(stack, postsrsd):
    fwd, _ = postsrsd
    sender, theirs = _postsrsd_address_with_plus_or_slash(fwd)
    uid = unique("pb")
    msgid, data = make_message("", theirs, subject="Undelivered " + uid)
    send(stack.smtp_port, "", [theirs], data)
    got = stack.sink.wait_for(sender, pred=lambda m: m.message_id == msgid, timeout=30)
    assert got[0].mail_from == ""

"""A private Postfix as a receiving MTA, for delivery tests of the relay.

    pf = PostfixRx(base, domain="postfix.test", cert=stack.cert, key=stack.key).start()
    pf.port                      # its smtpd on 127.0.0.1 (STARTTLS offered)
    pf.wait_for(lambda m: ...)   # -> [bytes of delivered messages]
    pf.stop()

Everything lives under <base>/postfix-rx (base is made mode 0755): config_directory, queue, data,
maillog (postlogd) and the maildir. smtpd listens on a free loopback port
and offers STARTTLS with the given certificate; every recipient of `domain`
is delivered by Postfix's virtual(8) agent into one maildir
(<base>/postfix-rx/mail/Maildir/new), as user nobody. Nothing else is
accepted (no relaying). Postfix must be started as root; the tests skip
when we are not root or Postfix is not installed.

(tests/bench/common/postfix.py runs Postfix as a benchmark peer, and
harness/postfix.py, if present, as a milter host; this one only receives.)
"""
import os
import pwd
import subprocess
import time

from .util import free_port, wait_until

SBIN = "/usr/sbin"

_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available():
    """True when Postfix is installed and we can start it (root)."""
    return os.access(SBIN + "/postfix", os.X_OK) and os.geteuid() == 0


class PostfixRx:
    def __init__(self, base, domain, cert, key):
        self.dir = os.path.join(base, "postfix-rx")
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.mail = os.path.join(self.dir, "mail")
        self.maillog = os.path.join(self.dir, "maillog")
        self.domain = domain
        self.cert, self.key = cert, key
        self.port = free_port()
        self.running = False

    @property
    def maildir_new(self):
        return os.path.join(self.mail, "Maildir", "new")

    def _main_cf(self):
        nobody = pwd.getpwnam("nobody")
        return "\n".join([
            "compatibility_level = 3.6",
            "queue_directory = " + self.queue,
            "data_directory = " + self.data,
            "maillog_file = " + self.maillog,
            "maillog_file_prefixes = " + self.dir,
            "myhostname = mx." + self.domain,
            "mydomain = " + self.domain,
            "myorigin = $myhostname",
            "mydestination =",
            "relay_domains =",
            "alias_maps =",
            "alias_database =",
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = reject_unauth_destination",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "smtp_bind_address = 127.0.0.1",
            "virtual_mailbox_domains = " + self.domain,
            "virtual_mailbox_base = " + self.mail,
            "virtual_mailbox_maps = static:Maildir/",
            "virtual_uid_maps = static:%d" % nobody.pw_uid,
            "virtual_gid_maps = static:%d" % nobody.pw_gid,
            "smtpd_tls_security_level = may",
            "smtpd_tls_cert_file = " + self.cert,
            "smtpd_tls_key_file = " + self.key,
            "smtpd_tls_received_header = yes",
            "smtpd_tls_loglevel = 1",
            "smtp_tls_security_level = none",
            "smtputf8_enable = no",
            "biff = no",
        ]) + "\n"

    def _run(self, argv, check=True):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError("%s exited %d:\n%s" % (" ".join(argv), r.returncode,
                                                       r.stdout.decode("utf-8", "replace")))
        return r

    def start(self):
        for d in (self.conf, self.queue, self.data, self.mail):
            os.makedirs(d, exist_ok=True)
        # Postfix wants root-owned, not group/world-writable parents, and
        # its unprivileged processes must reach data/ and the maildir
        os.chmod(os.path.dirname(self.dir), 0o755)
        os.chmod(self.dir, 0o755)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self._main_cf())
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(_MASTER_CF.format(port=self.port))
        open(self.maillog, "a").close()
        pf = pwd.getpwnam("postfix")
        nobody = pwd.getpwnam("nobody")
        os.chown(self.data, pf.pw_uid, pf.pw_gid)
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        self._run([SBIN + "/postfix", "-c", self.conf, "set-permissions"])
        self._run([SBIN + "/postfix", "-c", self.conf, "start"])
        self.running = True
        try:
            wait_until(lambda: self.master_pid() is not None, timeout=30,
                       what="the Postfix master")
        except AssertionError:
            raise RuntimeError("postfix did not start:\n" + self.log_tail())
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if os.path.exists("/proc/%d" % pid) else None

    def messages(self):
        """The delivered messages (bytes, LF line ends as virtual(8) writes
        them), oldest first."""
        try:
            names = sorted(os.listdir(self.maildir_new))
        except OSError:
            return []
        out = []
        for n in names:
            with open(os.path.join(self.maildir_new, n), "rb") as f:
                out.append(f.read())
        return out

    def wait_for(self, pred, timeout=60):
        def found():
            return [m for m in self.messages() if pred(m)]
        return wait_until(found, timeout=timeout, what="delivery into the Postfix maildir")

    def log_tail(self, n=40):
        try:
            with open(self.maillog, "rb") as f:
                data = f.read()
        except OSError:
            return "(no maillog)"
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-n:])

    def stop(self):
        if not self.running:
            return
        self.running = False
        pid = self.master_pid()
        self._run([SBIN + "/postfix", "-c", self.conf, "stop"], check=False)
        deadline = time.monotonic() + 30
        while pid is not None and os.path.exists("/proc/%d" % pid):
            if time.monotonic() > deadline:
                self._run([SBIN + "/postfix", "-c", self.conf, "abort"], check=False)
                break
            time.sleep(0.1)

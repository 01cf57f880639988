"""A private Postfix instance for the tests (and, later, the benchmarks):
its own config_directory, queue_directory and data_directory under
<base>/postfix-<name>, smtpd listeners on free loopback ports, mynetworks
127.0.0.0/8 (the tests relay), and every message relayed to
relayhost [127.0.0.1]:SINK (the harness's SMTP sink) by Postfix's smtp
client. Modelled on tests/bench/common/postfix.py.

    pf = Postfix(base, sink_port, name="milter")
    port = pf.add_smtpd(milters="inet:127.0.0.1:8891")   # one smtpd per call
    pf.start()              # needs root (Postfix drops to the postfix user)
    ... smtplib against port ...; pf.log_text() ...
    pf.stop()

Each add_smtpd() adds a master.cf smtpd line with its own -o overrides
(smtpd_milters, milter_default_action=tempfail by default). Logs go to
<dir>/maillog (postlogd). Nothing listens outside loopback.
"""
import os
import pwd
import shutil
import subprocess
import time

from .util import free_port

SBIN = "/usr/sbin"

MASTER_CF_TAIL = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
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
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available():
    """None when a private Postfix can run here, else the reason."""
    if not os.access(SBIN + "/postfix", os.X_OK):
        return "postfix is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "a private Postfix needs root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    return None


class Postfix:
    def __init__(self, base, sink_port, name="it", hostname="postfix.it.test"):
        self.dir = os.path.join(base, "postfix-" + name)
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.sink_port = sink_port
        self.hostname = hostname
        self.smtpds = []          # (port, {param: value})
        self.running = False

    def add_smtpd(self, milters=None, default_action="tempfail", **params):
        """Adds an smtpd on a free loopback port; returns the port."""
        port = free_port()
        o = dict(params)
        if milters is not None:
            o["smtpd_milters"] = milters
            o["milter_default_action"] = default_action
        self.smtpds.append((port, o))
        return port

    def main_cf(self):
        lines = [
            "compatibility_level = 3.6",
            "queue_directory = " + self.queue,
            "data_directory = " + self.data,
            "maillog_file = " + self.maillog,
            "maillog_file_prefixes = " + self.dir,
            "myhostname = " + self.hostname,
            "mydomain = it.test",
            "myorigin = $myhostname",
            "mydestination =",
            "relay_domains =",
            "local_recipient_maps =",
            "alias_maps =",
            "alias_database =",
            "mynetworks = 127.0.0.0/8",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "smtp_bind_address = 127.0.0.1",
            "smtpd_peername_lookup = no",
            "smtpd_tls_security_level = none",
            "smtp_tls_security_level = none",
            "default_transport = smtp",
            "relayhost = [127.0.0.1]:%d" % self.sink_port,
            "message_size_limit = 26214400",
            "biff = no",
            "smtputf8_enable = no",
            "milter_protocol = 6",
            "milter_connect_timeout = 10s",
            "milter_command_timeout = 30s",
            "milter_content_timeout = 60s",
        ]
        return "\n".join(lines) + "\n"

    def master_cf(self):
        head = "# service type  private unpriv  chroot  wakeup  maxproc command\n"
        for port, o in self.smtpds:
            head += "127.0.0.1:%d inet n - n - - smtpd\n" % port
            for k, v in o.items():
                head += "  -o %s=%s\n" % (k, v)
        return head + MASTER_CF_TAIL

    def _run(self, argv, check=True):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError("%s exited %d:\n%s" % (" ".join(argv), r.returncode,
                                                       r.stdout.decode("utf-8", "replace")))
        return r

    def start(self):
        reason = available()
        if reason is not None:
            raise RuntimeError(reason)
        for d in (self.conf, self.queue, self.data):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.dir, 0o755)           # Postfix wants root-owned, not writable parents
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(self.master_cf())
        open(self.maillog, "a").close()
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        self._run([SBIN + "/postfix", "-c", self.conf, "set-permissions"])
        self._run([SBIN + "/postfix", "-c", self.conf, "start"])
        self.running = True
        deadline = time.monotonic() + 30
        while self.master_pid() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("postfix master did not start:\n" + self.log_tail())
            time.sleep(0.1)

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if os.path.exists("/proc/%d" % pid) else None

    def log_text(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def queued(self):
        """Queue files in the incoming, active, deferred and hold queues."""
        return sum(len(files) for q in ("incoming", "active", "deferred", "hold")
                   for _, _, files in os.walk(os.path.join(self.queue, q)))

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

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

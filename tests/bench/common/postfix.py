"""A private Postfix instance for the benchmarks: its own config_directory,
queue_directory and data_directory under <base>/postfix, an smtpd on a free
loopback port, mynetworks 127.0.0.0/8, and one of two delivery modes:

  discard  default_transport = discard: what is measured is smtpd + cleanup
           + the fsynced queue write (+ qmgr handing the file to discard)
  relay    everything goes to relayhost [127.0.0.1]:SINK (Postfix's smtp
           client); with hold=True smtpd puts every message on hold so the
           queue can be pre-filled and then released with release_all()

Logs go to <base>/postfix/maillog (postlogd). Nothing listens outside
loopback; stop() runs `postfix stop` and waits for the master to exit.
"""
import glob
import os
import pwd
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration"))
from harness.util import free_port  # noqa: E402

from .procmem import children  # noqa: E402

SBIN = "/usr/sbin"

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:{port} inet n - n - - smtpd
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


class PostfixInstance:
    def __init__(self, base, mode="discard", sink_port=None, hold=False, process_limit=1200):
        self.dir = os.path.join(base, "postfix")
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.port = free_port()
        self.mode = mode
        self.sink_port = sink_port
        self.hold = hold
        self.process_limit = process_limit
        self.running = False

    def main_cf(self):
        lines = [
            "compatibility_level = 3.6",
            "queue_directory = " + self.queue,
            "data_directory = " + self.data,
            "maillog_file = " + self.maillog,
            "maillog_file_prefixes = " + self.dir,
            "myhostname = postfix.bench.test",
            "mydomain = bench.test",
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
            "default_process_limit = %d" % self.process_limit,
            "smtpd_client_connection_count_limit = 0",
            "smtpd_client_connection_rate_limit = 0",
            "smtpd_client_message_rate_limit = 0",
            "smtpd_tls_security_level = none",
            "smtp_tls_security_level = none",
            "message_size_limit = 26214400",
            "biff = no",
            "smtputf8_enable = no",
        ]
        if self.mode == "discard":
            lines.append("default_transport = discard")
        else:
            lines += ["default_transport = smtp",
                      "relayhost = [127.0.0.1]:%d" % self.sink_port]
        if self.hold:
            lines.append("smtpd_data_restrictions = check_client_access static:HOLD")
        return "\n".join(lines) + "\n"

    def _run(self, argv, check=True):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError("%s exited %d:\n%s" % (" ".join(argv), r.returncode,
                                                       r.stdout.decode("utf-8", "replace")))
        return r

    def start(self):
        if os.geteuid() != 0:
            raise RuntimeError("the Postfix side of the benchmark must run as root")
        for d in (self.conf, self.queue, self.data):
            os.makedirs(d, exist_ok=True)
        # Postfix wants root-owned, not group/world-writable parents
        os.chmod(self.dir, 0o755)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        open(self.maillog, "a").close()
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        # creates the queue subdirectories with their owners and modes
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

    def queue_files(self, queue):
        """Number of queue files in one of Postfix's queues (hold, deferred...)."""
        return sum(len(files) for _, _, files in os.walk(os.path.join(self.queue, queue)))

    def queued_total(self):
        return sum(self.queue_files(q) for q in ("maildrop", "incoming", "active",
                                                  "deferred", "hold"))

    def release_all(self):
        """Moves every held message to the deferred queue and asks qmgr to
        deliver the whole queue now (postsuper -H ALL; postqueue -f)."""
        self._run([SBIN + "/postsuper", "-c", self.conf, "-H", "ALL"])
        self._run([SBIN + "/postqueue", "-c", self.conf, "-f"])

    def log_tail(self, n=30):
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


def smtpd_pids(instance):
    """Pids of the smtpd processes of this instance (children of its master)."""
    pid = instance.master_pid()
    return children(pid, "smtpd") if pid else []


def maillog_errors(instance):
    """Lines of the maillog that say error/fatal/panic (for the report)."""
    out = []
    for path in glob.glob(instance.maillog):
        with open(path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                if " fatal: " in line or " panic: " in line or " error: " in line:
                    out.append(line)
    return out

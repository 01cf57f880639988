"""A private rspamd (Debian's package) on loopback ports, for the tests.

    r = Rspamd(dns_port=stack.dns.port).start()
    r.url                    # "http://127.0.0.1:<port>" (normal worker: /checkv2)
    r.check(raw_bytes, ip="192.0.2.1", helo=..., mail_from=..., rcpts=[...])
                             # -> the /checkv2 JSON reply (dict)
    r.stop()                 # SIGTERM, waits; r.start() again works

It runs /etc/rspamd/rspamd.conf with every directory (local config, data,
run, log) moved into a temp dir through --var, so nothing under /etc or
/var is used or changed:
  - the normal worker and the controller bind free 127.0.0.1 ports; the
    proxy worker is off;
  - DNS goes only to the given server (the harness DNS server, stack.dns),
    so SPF/DKIM/DMARC/ARC look-ups hit the test zones;
  - no Redis (the modules that need it stay off), no network modules
    (RBL/SURBL, fuzzy, ASN, ...), hyperscan off (a quick start);
  - a test-only rule gives "soft reject" to a Subject containing
    SOFT_REJECT_MARKER;
  - SPF/DKIM/DMARC/ARC also check loopback clients (check_local), because
    every test client is 127.0.0.1.
rspamd refuses to run as root unless told which user to become: when we
are root it gets -u/-g _rspamd (the package's user), who must read the
config and write the data dirs (they are chowned to it).
"""
import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

import requests

from .util import free_port, wait_until

RSPAMD = "/usr/bin/rspamd"
RSPAMD_USER = "_rspamd"

# modules that would ask the network (or need Redis) and that no test needs
_DISABLED = ("rbl", "surbl", "fuzzy_check", "asn", "neural", "ratelimit", "greylist",
             "replies", "reputation", "url_redirector", "history_redis", "mx_check",
             "phishing", "emails", "rspamd_update", "dcc", "antivirus",
             "external_services", "clickhouse", "elastic", "metric_exporter",
             "bimi", "p0f", "spamtrap", "dkim_signing")

# A test-only rule: a Subject with this marker gets rspamd's "soft reject"
# action (nothing else in a stock rspamd gives it on demand).
SOFT_REJECT_MARKER = "MAILYARD-TEST-SOFT-REJECT"
_SOFT_REJECT_LUA = """
rspamd_config:register_symbol({
  name = 'MAILYARD_TEST_SOFT_REJECT',
  type = 'prefilter',
  priority = 10,
  callback = function(task)
    local subject = task:get_subject() or ''
    if subject:find('%s', 1, true) then
      task:set_pre_result('soft reject', 'test soft reject')
      return true
    end
    return false
  end,
})
""" % SOFT_REJECT_MARKER


_TLDS = ("test", "example", "invalid", "localhost", "com", "net", "org", "de", "uk",
         "co.uk", "fr", "nl", "io")


def available():
    """True when the rspamd binary is installed (deploy/local/deps.sh)."""
    return os.access(RSPAMD, os.X_OK)


class Rspamd:
    def __init__(self, dns_port, base=None, task_timeout_s=8):
        self.dns_port = dns_port
        self.task_timeout_s = task_timeout_s
        self._own_base = base is None
        self.base = base or tempfile.mkdtemp(prefix="mailyard-rspamd-")
        os.chmod(self.base, 0o755)
        self.port = free_port()
        self.controller_port = free_port()
        self.proc = None
        self.logfile = os.path.join(self.base, "log", "rspamd.log")
        self._write_config()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    # ------------------------------------------------------------ config
    def _dir(self, name):
        d = os.path.join(self.base, name)
        os.makedirs(d, exist_ok=True)
        return d

    def _put(self, rel, text):
        path = os.path.join(self.base, "conf", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def _write_config(self):
        for d in ("conf", "db", "run", "log"):
            self._dir(d)
        self._put("override.d/worker-normal.inc",
                  'bind_socket = "127.0.0.1:%d";\ncount = 1;\n' % self.port)
        self._put("override.d/worker-controller.inc",
                  'bind_socket = "127.0.0.1:%d";\ncount = 1;\n'
                  'secure_ip = "127.0.0.1";\n' % self.controller_port)
        self._put("override.d/worker-proxy.inc", "enabled = false;\ncount = 0;\n")
        self._put("override.d/worker-fuzzy.inc", "enabled = false;\ncount = -1;\n")
        self._put("local.d/options.inc",
                  'dns {\n  nameserver = ["127.0.0.1:%d"];\n  timeout = 1s;\n'
                  '  retransmits = 2;\n  enable_dnssec = false;\n}\n'
                  'local_addrs = [];\n'
                  'disable_hyperscan = true;\n'
                  'url_tld = "%s";\n'
                  'task_timeout = %ds;\n'
                  'control_socket = "%s/rspamd.sock mode=0600";\n'
                  % (self.dns_port, os.path.join(self.base, "conf", "tld.dat"),
                     self.task_timeout_s, os.path.join(self.base, "db")))
        # a short public-suffix list: compiling the full one takes rspamd
        # most of its start-up (half a minute on a busy machine)
        self._put("tld.dat", "\n".join(_TLDS) + "\n")
        self._put("override.d/logging.inc",
                  'type = "file";\nfilename = "%s";\nlevel = "info";\n' % self.logfile)
        self._put("rspamd.local.lua", _SOFT_REJECT_LUA)
        for m in ("spf", "dkim", "dmarc", "arc"):
            self._put("local.d/%s.conf" % m, "check_local = true;\ncheck_authed = true;\n")
        for m in _DISABLED:
            self._put("local.d/%s.conf" % m, "enabled = false;\n")
        if os.getuid() == 0:
            uid = pwd.getpwnam(RSPAMD_USER).pw_uid
            gid = grp.getgrnam(RSPAMD_USER).gr_gid
            for root, dirs, files in os.walk(self.base):
                os.chown(root, uid, gid)
                for n in files:
                    os.chown(os.path.join(root, n), uid, gid)

    def _cmd(self):
        cmd = [RSPAMD, "-f", "-c", "/etc/rspamd/rspamd.conf",
               "--var=LOCAL_CONFDIR=%s" % os.path.join(self.base, "conf"),
               "--var=DBDIR=%s" % os.path.join(self.base, "db"),
               "--var=RUNDIR=%s" % os.path.join(self.base, "run"),
               "--var=LOGDIR=%s" % os.path.join(self.base, "log"),
               "--pid=%s" % os.path.join(self.base, "run", "rspamd.pid")]
        if os.getuid() == 0:
            cmd += ["-u", RSPAMD_USER, "-g", RSPAMD_USER]
        return cmd

    # ----------------------------------------------------------- control
    def start(self, timeout=90):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("rspamd is already running")
        out = open(os.path.join(self.base, "stdout.log"), "ab")
        try:
            self.proc = subprocess.Popen(self._cmd(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.base,
                                         start_new_session=True)
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("rspamd exited with %s:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                return requests.get(self.url + "/ping", timeout=2).status_code == 200
            except requests.RequestException:
                return False
        try:
            wait_until(ready, timeout=timeout, interval=0.2, what="rspamd /ping")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=20):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)      # the main process stops its workers
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)   # our own session: rspamd and its workers
            p.wait()

    def close(self):
        self.stop()
        if self._own_base and not os.environ.get("MAILYARD_IT_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines=40):
        text = ""
        for path in (os.path.join(self.base, "stdout.log"), self.logfile):
            try:
                with open(path, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------- tools
    def check(self, raw, ip="127.0.0.1", helo=None, mail_from=None, rcpts=(),
              hostname=None, timeout=30):
        """Scans raw (bytes) with /checkv2 as a client at ip would send it;
        returns the JSON reply (dict)."""
        headers = {"IP": ip}
        if helo:
            headers["Helo"] = helo
        if hostname:
            headers["Hostname"] = hostname
        if mail_from is not None:
            headers["From"] = mail_from
        if rcpts:
            headers["Rcpt"] = ",".join(rcpts)   # rspamd splits a list
        r = requests.post(self.url + "/checkv2", data=raw, headers=headers, timeout=timeout)
        r.raise_for_status()
        return r.json()

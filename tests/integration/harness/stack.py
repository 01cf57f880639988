"""The whole Mailyard stack for one test session (or module, or test).

Stack.start() brings up, under one temp dir and on free loopback ports:
PostgreSQL, Redis, the test DNS server, the SMTP sink, a self-signed TLS
certificate, the admin-token and SRS-secrets files, runs `mailyardctl
migrate`, starts mx, rewrite, lists, archive and relay, waits for every
/readyz and adds the local domain. Services log to <tmp>/<service>.log.

What the tests use:
    stack.smtp_port, stack.domain, stack.srs_domain, stack.sink, stack.dns
    stack.api("rewrite").post("/v1/aliases", json={...})
    stack.ctl("list", "create", addr)        -> CompletedProcess (text)
    stack.kill("relay", signal.SIGKILL); stack.start("relay")
    stack.redis("FLUSHALL"); stack.psql("select ...")
    stack.wait_until(fn, timeout)
Binaries come from MAILYARD_BUILD_DIR or <repo>/build.
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time

import requests

from .dns import DnsServer
from .pg import Postgres
from .redisd import Redis
from .sink import SmtpSink
from .tlscert import make_self_signed
from .util import build_dir, free_port, repo_root, wait_until

SERVICES = ("rewrite", "lists", "archive", "relay", "mx")
TOKEN = "it-admin-token-0123456789abcdef"
SRS_SECRETS = ("it-srs-secret-one", "it-srs-secret-old")


class StackConfig:
    """Knobs a test module may change before the stack starts."""

    def __init__(self, **kw):
        self.domain = kw.pop("domain", "example.test")
        self.srs_domain = kw.pop("srs_domain", self.domain)
        self.smtp_max_message_size = kw.pop("smtp_max_message_size", 524288)
        self.worker_threads = kw.pop("worker_threads", 2)
        self.log_level = kw.pop("log_level", os.environ.get("MAILYARD_IT_LOG_LEVEL", "info"))
        self.ready_timeout = kw.pop("ready_timeout",
                                    float(os.environ.get("MAILYARD_IT_READY_TIMEOUT", "60")))
        # extra environment: {"*": {...}, "mx": {...}}
        self.extra_env = kw.pop("extra_env", {})
        if kw:
            raise TypeError("unknown StackConfig options: %s" % ", ".join(kw))


class ApiClient(requests.Session):
    """A requests session bound to one service's base URL and the bearer token."""

    def __init__(self, base_url, token):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        if token is not None:
            self.headers["Authorization"] = "Bearer " + token

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 15)
        return super().request(method, url, *args, **kwargs)


def quote_addr(addr):
    return requests.utils.quote(addr, safe="")


class Stack:
    def __init__(self, config=None, name="stack"):
        self.config = config or StackConfig()
        self.name = name
        self.bindir = build_dir()
        self.root = repo_root()
        self.base = None
        self.pg = self.redis_server = self.dns = self.sink = None
        self.procs = {}
        self.http_ports = {}
        self.smtp_port = None
        self.log_marks = {}
        self._closed = False
        self.sanitizer_findings = []

    # ---------------------------------------------------------------- set-up
    @property
    def domain(self):
        return self.config.domain

    @property
    def srs_domain(self):
        return self.config.srs_domain

    def binary(self, name):
        return os.path.join(self.bindir, name)

    def check_binaries(self):
        missing = [b for b in ["mailyard-%s" % s for s in SERVICES] + ["mailyardctl"]
                   if not os.access(self.binary(b), os.X_OK)]
        return missing

    def start_all(self):
        missing = self.check_binaries()
        if missing:
            raise RuntimeError("missing binaries in %s: %s (run `make all`)"
                               % (self.bindir, ", ".join(missing)))
        self.base = tempfile.mkdtemp(prefix="mailyard-it-%s-" % self.name)
        os.chmod(self.base, 0o755)  # the postgres user must reach its data dir
        atexit.register(self.close)
        self.pg = Postgres(self.base)
        self.pg.start()
        self.redis_server = Redis(self.base)
        self.redis_server.start()
        self.dns = DnsServer()
        self.dns.start()
        self.sink = SmtpSink()
        self.sink.start()
        self.cert, self.key = make_self_signed(os.path.join(self.base, "tls"))
        self.token_file = self._write_secret("admin-token", TOKEN + "\n")
        self.srs_file = self._write_secret("srs-secrets", "\n".join(SRS_SECRETS) + "\n")
        self.smtp_port = free_port()
        for s in SERVICES:
            self.http_ports[s] = free_port()
        r = self.ctl("migrate", check=False, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("mailyardctl migrate failed (%d):\n%s\n%s"
                               % (r.returncode, r.stdout, r.stderr))
        for s in SERVICES:
            self.start(s, wait=False)
        for s in SERVICES:
            self.wait_ready(s)
        self.seed_domain(self.domain)
        if self.srs_domain != self.domain:
            self.seed_domain(self.srs_domain)
        return self

    def _write_secret(self, name, content):
        path = os.path.join(self.base, name)
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, 0o600)
        return path

    def url(self, service):
        return "http://127.0.0.1:%d" % self.http_ports[service]

    def common_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILYARD_")}
        env.update({
            "MAILYARD_PG_DSN": self.pg.dsn,
            "MAILYARD_REDIS_URL": self.redis_server.url,
            "MAILYARD_ADMIN_TOKEN_FILE": self.token_file,
            "MAILYARD_LOG_LEVEL": self.config.log_level,
            "MAILYARD_HOSTNAME": "mx." + self.domain,
            "MAILYARD_SQL_ROOT": self.root,
            "MAILYARD_REWRITE_URL": self.url("rewrite"),
            "MAILYARD_LISTS_URL": self.url("lists"),
            "MAILYARD_ARCHIVE_URL": self.url("archive"),
            "MAILYARD_RELAY_URL": self.url("relay"),
            "MAILYARD_MX_URL": self.url("mx"),
        })
        return env

    def service_env(self, service):
        env = self.common_env()
        env.update({
            "MAILYARD_HTTP_LISTEN": "127.0.0.1:%d" % self.http_ports[service],
            "MAILYARD_WORKER_THREADS": str(self.config.worker_threads),
            "MAILYARD_JOB_BLOCK_MS": "1000",
            "MAILYARD_JOB_CLAIM_IDLE_MS": "3000",
            "MAILYARD_SWEEP_MS": "500",
            "MAILYARD_JOB_STUCK_SECONDS": "5",
        })
        if service == "mx":
            env.update({
                "MAILYARD_SMTP_LISTEN": "127.0.0.1:%d" % self.smtp_port,
                "MAILYARD_TLS_CERT_FILE": self.cert,
                "MAILYARD_TLS_KEY_FILE": self.key,
                "MAILYARD_SMTP_MAX_MESSAGE_SIZE": str(self.config.smtp_max_message_size),
                "MAILYARD_SMTP_MAX_RECIPIENTS": "100",
                "MAILYARD_SMTP_MAX_ERRORS": "20",
                "MAILYARD_SMTP_TIMEOUT_SECONDS": "60",
                "MAILYARD_MX_RCPT_CACHE_SECONDS": "5",
                # no 1 s wait before the banner in tests (test_mx_smuggling.py
                # turns pregreet detection on for itself)
                "MAILYARD_SMTP_PREGREET_MS": "0",
                # every test client is 127.0.0.1: no per-IP cap unless a test sets one
                "MAILYARD_SMTP_MAX_CONN_PER_IP": "100000",
                # nor rate limits (tests share 127.0.0.1; test_mx_ratelimit.py
                # sets low ones), and block rules reloaded every second
                "MAILYARD_MX_RATE_IP_CONNECTIONS": "100000000",
                "MAILYARD_MX_RATE_IP_MESSAGES": "100000000",
                "MAILYARD_MX_RATE_IP_RECIPIENTS": "100000000",
                "MAILYARD_MX_RATE_USER_MESSAGES": "100000000",
                "MAILYARD_MX_RATE_USER_RECIPIENTS": "100000000",
                "MAILYARD_MX_BLOCKS_REFRESH_SECONDS": "1",
                # sender authentication asks the test DNS server (no SPF or
                # DMARC records unless a test adds them: results are none)
                "MAILYARD_DNS_SERVERS": self.dns.server_spec,
            })
        elif service == "rewrite":
            env.update({
                "MAILYARD_SRS_SECRETS_FILE": self.srs_file,
                "MAILYARD_SRS_DOMAIN": self.srs_domain,
                "MAILYARD_SRS_MAX_AGE_DAYS": "21",
                # DMARC policies for From mitigation come from the test DNS
                "MAILYARD_DNS_SERVERS": self.dns.server_spec,
            })
        elif service == "lists":
            env.update({"MAILYARD_ARCHIVE_PUBLIC_URL": "http://archive.%s/" % self.domain,
                        "MAILYARD_DNS_SERVERS": self.dns.server_spec})
        elif service == "relay":
            env.update({
                "MAILYARD_RELAY_TRANSPORT": "mx",
                "MAILYARD_DNS_SERVERS": self.dns.server_spec,
                "MAILYARD_RELAY_SMTP_PORT": str(self.sink.port),
                "MAILYARD_RELAY_RETRY_BASE_SECONDS": "1",
                "MAILYARD_RELAY_RETRY_MAX_SECONDS": "2",
                "MAILYARD_RELAY_MAX_AGE_SECONDS": "432000",
                "MAILYARD_RELAY_HELO": "mx." + self.domain,
                "MAILYARD_RELAY_TIMEOUT_SECONDS": "30",
            })
        env.update(self.config.extra_env.get("*", {}))
        env.update(self.config.extra_env.get(service, {}))
        # None in extra_env removes a variable: the service's own default
        for k in [k for k, v in env.items() if v is None]:
            del env[k]
        return env

    def logfile(self, service):
        return os.path.join(self.base, "%s.log" % service)

    # ------------------------------------------------------- service control
    def start(self, service, wait=True):
        """(Re)starts a service; with wait, until its /readyz answers 200."""
        p = self.procs.get(service)
        if p is not None and p.poll() is None:
            raise RuntimeError("%s is already running" % service)
        with open(self.logfile(service), "ab") as log:
            log.write(("=== start %s at %s\n" % (service, time.strftime("%H:%M:%S"))).encode())
            log.flush()
            self.procs[service] = subprocess.Popen(
                [self.binary("mailyard-%s" % service)], env=self.service_env(service),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.base)
        if wait:
            self.wait_ready(service)

    def wait_ready(self, service, timeout=None):
        timeout = timeout or self.config.ready_timeout
        proc = self.procs[service]
        url = self.url(service) + "/readyz"

        def ready():
            if proc.poll() is not None:
                raise RuntimeError("%s exited with %s before ready:\n%s"
                                   % (service, proc.returncode, self.log_tail(service, 40)))
            try:
                return requests.get(url, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return
            if time.monotonic() > deadline:
                raise AssertionError("%s not ready after %ss:\n%s"
                                     % (service, timeout, self.log_tail(service, 40)))
            time.sleep(0.1)

    def kill(self, service, sig=signal.SIGKILL, timeout=30):
        """Sends sig to a service and waits for it to exit."""
        p = self.procs.get(service)
        if p is None or p.poll() is not None:
            return None
        p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def stop(self, service):
        """SIGTERM (graceful), SIGKILL after 20 s; returns the exit code."""
        return self.kill(service, signal.SIGTERM, timeout=20)

    def running(self, service):
        p = self.procs.get(service)
        return p is not None and p.poll() is None

    # ------------------------------------------------------------ test tools
    def api(self, service, token=TOKEN):
        return ApiClient(self.url(service), token)

    def ctl(self, *args, check=True, timeout=60):
        env = self.common_env()
        r = subprocess.run([self.binary("mailyardctl")] + [str(a) for a in args],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("mailyardctl %s exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r

    def redis(self, *args):
        return self.redis_server.cmd(*args)

    def psql(self, sql):
        return self.pg.psql(sql)

    @staticmethod
    def wait_until(fn, timeout=30.0, interval=0.1, what=None):
        return wait_until(fn, timeout=timeout, interval=interval, what=what)

    # ----------------------------------------------------------------- seeds
    def seed_domain(self, name):
        r = self.api("rewrite").post("/v1/domains", json={"name": name})
        if r.status_code not in (200, 201, 409):
            raise RuntimeError("POST /v1/domains %s -> %d %s" % (name, r.status_code, r.text))

    def add_alias(self, address, targets):
        r = self.api("rewrite").post("/v1/aliases", json={"address": address,
                                                          "targets": list(targets)})
        assert r.status_code in (200, 201), "POST /v1/aliases -> %d %s" % (r.status_code, r.text)
        return r

    def add_list(self, address, members=()):
        lists = self.api("lists")
        r = lists.post("/v1/lists", json={"address": address})
        assert r.status_code in (200, 201), "POST /v1/lists -> %d %s" % (r.status_code, r.text)
        for m in members:
            r = lists.post("/v1/lists/%s/members" % quote_addr(address), json={"address": m})
            assert r.status_code in (200, 201), \
                "POST /v1/lists/%s/members -> %d %s" % (address, r.status_code, r.text)

    # ------------------------------------------------------------------ logs
    def mark_logs(self):
        """Remembers the current end of every log (see logs_since_mark)."""
        self.log_marks = {}
        for s in SERVICES:
            try:
                self.log_marks[s] = os.path.getsize(self.logfile(s))
            except OSError:
                self.log_marks[s] = 0

    def logs_since_mark(self, max_bytes=16000):
        out = {}
        for s in SERVICES:
            try:
                with open(self.logfile(s), "rb") as f:
                    f.seek(self.log_marks.get(s, 0))
                    data = f.read()
            except OSError:
                continue
            if len(data) > max_bytes:
                data = b"[... %d bytes cut ...]\n" % (len(data) - max_bytes) + data[-max_bytes:]
            out[s] = data.decode("utf-8", "replace")
        return out

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "ERROR: ThreadSanitizer")

    def sanitizer_reports(self, since_mark=True):
        """Lines of sanitizer reports (ASan, LSan, UBSan) in the service logs,
        since the last mark_logs() or in the whole logs."""
        found = []
        for s in SERVICES:
            try:
                with open(self.logfile(s), "rb") as f:
                    if since_mark:
                        f.seek(self.log_marks.get(s, 0))
                    data = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for line in data.splitlines():
                if any(m in line for m in self.SANITIZER_MARKS):
                    found.append("%s: %s" % (s, line.strip()))
        return found

    def log_tail(self, service, lines=40):
        try:
            with open(self.logfile(service), "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    # --------------------------------------------------------------- closing
    def close(self):
        if self._closed:
            return
        self._closed = True
        for s in reversed(SERVICES):
            try:
                self.stop(s)
            except Exception:  # noqa: BLE001
                pass
        for part in (self.sink, self.dns, self.redis_server, self.pg):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # noqa: BLE001
                    pass
        if self.base:
            # leak reports appear only when a service exits (SIGTERM above)
            self.sanitizer_findings = self.sanitizer_reports(since_mark=False)
        if self.base and not os.environ.get("MAILYARD_IT_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

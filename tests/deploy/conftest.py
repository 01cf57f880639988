"""Fixtures of the deploy tests (tests/deploy).

  repo          the repository root
  helm          path of the pinned helm (deploy/tools.sh installs it)
  docker_engine skips with a clear message when no Docker engine can start
  images        builds the six images once per session (deploy/images.sh)
  infra         PostgreSQL, Redis, DNS and SMTP sink from the integration
                harness (tests/integration/harness), no Mailyard processes

Tools are installed by tests/deploy/run.sh before pytest starts.
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))

IMAGE_PREFIX = os.environ.get("MAILYARD_IMAGE_PREFIX", "mailyard")


def run(argv, check=True, timeout=600, **kw):
    """Runs argv and returns the CompletedProcess (text); on failure with
    check, the assertion message carries stdout and stderr."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(argv), r.returncode, r.stdout[-6000:], r.stderr[-6000:]))
    return r


def chart_version():
    with open(os.path.join(ROOT, "helm", "mailyard", "Chart.yaml")) as f:
        for line in f:
            if line.startswith("appVersion:"):
                return line.split(":", 1)[1].strip().strip('"')
    raise AssertionError("no appVersion in Chart.yaml")


@pytest.fixture(scope="session")
def repo():
    return ROOT


@pytest.fixture(scope="session")
def helm():
    cands = [os.environ.get("HELM", ""),
             os.path.join(os.path.expanduser("~"), "go", "bin", "helm"),
             shutil.which("helm") or ""]
    try:
        gopath = subprocess.run(["go", "env", "GOPATH"], stdout=subprocess.PIPE,
                                text=True).stdout.strip()
        cands.insert(1, os.path.join(gopath, "bin", "helm"))
    except OSError:
        pass
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail("helm not found: run deploy/tools.sh (tests/deploy/run.sh does)")


@pytest.fixture(scope="session")
def docker_engine():
    r = subprocess.run(["bash", os.path.join(ROOT, "deploy", "docker-engine.sh")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        pytest.skip("no Docker engine can start on this machine:\n" + r.stdout[-2000:])
    return True


@pytest.fixture(scope="session")
def images(docker_engine):
    """The image tag after `deploy/images.sh` (cached layers make it quick)."""
    tag = chart_version()
    if not os.environ.get("MAILYARD_DEPLOY_SKIP_BUILD"):
        run(["bash", os.path.join(ROOT, "deploy", "images.sh")], timeout=1800, cwd=ROOT)
    return tag


class Infra:
    """PostgreSQL, Redis, DNS and the SMTP sink of the integration harness."""

    def __init__(self, base):
        from harness.dns import DnsServer
        from harness.pg import Postgres
        from harness.redisd import Redis
        from harness.sink import SmtpSink
        self.base = base
        self.pg = Postgres(base)
        self.redis = Redis(base)
        self.dns = DnsServer()
        self.sink = SmtpSink()

    def start(self):
        self.pg.start()
        self.redis.start()
        self.dns.start()
        self.sink.start()
        return self

    def stop(self):
        for part in (self.sink, self.dns, self.redis, self.pg):
            try:
                part.stop()
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture(scope="module")
def infra(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("infra"))
    os.chmod(base, 0o755)  # the postgres user must reach its data dir
    for p in (os.path.dirname(base), os.path.dirname(os.path.dirname(base))):
        os.chmod(p, os.stat(p).st_mode | 0o755)
    i = Infra(base)
    try:
        i.start()
        yield i
    finally:
        i.stop()

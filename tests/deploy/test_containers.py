"""Container test: the images are built, the migration and the five services
run as containers (host network, read-only root filesystem, the images' own
non-root user) against the harness's PostgreSQL and Redis; mail sent to mx
is delivered to the SMTP sink; every container answers /readyz, runs as a
non-root uid with a read-only root and stops cleanly on SIGTERM."""
import os

import pytest

from conftest import IMAGE_PREFIX
from dockerutil import SERVICES, docker, inspect, logs, remove, wait_ready
from harness.smtp import make_message, send
from harness.stack import ApiClient
from harness.util import free_port, unique

pytestmark = pytest.mark.docker
TOKEN = "ct-admin-token-0123456789abcdef"


@pytest.fixture(scope="module")
def suite(images, infra, tmp_path_factory):
    tag = images
    prefix = unique("myct") + "-"
    secrets = str(tmp_path_factory.mktemp("ct-secrets"))
    os.chmod(secrets, 0o755)
    for name, content in (("admin-token", TOKEN + "\n"), ("srs-secrets", "ct-srs-secret\n")):
        path = os.path.join(secrets, name)
        with open(path, "w") as f:
            f.write(content)
        os.chown(path, 10001, 10001)
        os.chmod(path, 0o400)
    http = {s: free_port() for s in SERVICES}
    smtp_port = free_port()
    names = [prefix + s for s in SERVICES]
    common = {
        "MAILYARD_PG_DSN": infra.pg.dsn,
        "MAILYARD_REDIS_URL": infra.redis.url,
        "MAILYARD_ADMIN_TOKEN_FILE": "/run/secrets/mailyard/admin-token",
        "MAILYARD_HOSTNAME": "mx.example.test",
        "MAILYARD_LOG_LEVEL": "info",
        "MAILYARD_JOB_BLOCK_MS": "1000",
        "MAILYARD_SWEEP_MS": "500",
        "MAILYARD_JOB_STUCK_SECONDS": "5",
    }
    for s in SERVICES:
        common["MAILYARD_%s_URL" % s.upper()] = "http://127.0.0.1:%d" % http[s]
    extra = {
        "mx": {"MAILYARD_SMTP_LISTEN": "127.0.0.1:%d" % smtp_port},
        "rewrite": {"MAILYARD_SRS_SECRETS_FILE": "/run/secrets/mailyard/srs-secrets",
                    "MAILYARD_SRS_DOMAIN": "example.test"},
        "relay": {"MAILYARD_RELAY_TRANSPORT": "mx",
                  "MAILYARD_DNS_SERVERS": infra.dns.server_spec,
                  "MAILYARD_RELAY_SMTP_PORT": str(infra.sink.port),
                  "MAILYARD_RELAY_RETRY_BASE_SECONDS": "1"},
    }
    try:
        r = docker("run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp",
                   "-e", "MAILYARD_PG_DSN=" + infra.pg.dsn,
                   "%s/mailyardctl:%s" % (IMAGE_PREFIX, tag), "migrate")
        assert "migrations:" in r.stdout, r.stdout
        for s in SERVICES:
            env = dict(common, MAILYARD_HTTP_LISTEN="127.0.0.1:%d" % http[s], **extra.get(s, {}))
            args = ["run", "-d", "--name", prefix + s, "--network", "host", "--read-only",
                    "--tmpfs", "/tmp", "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges:true",
                    "-v", "%s:/run/secrets/mailyard:ro" % secrets]
            for k, v in env.items():
                args += ["-e", "%s=%s" % (k, v)]
            docker(*(args + ["%s/%s:%s" % (IMAGE_PREFIX, s, tag)]))
        for s in SERVICES:
            try:
                wait_ready(http[s], what=s)
            except AssertionError as e:
                raise AssertionError("%s\n%s" % (e, logs(prefix + s)))
        yield {"prefix": prefix, "http": http, "smtp": smtp_port, "tag": tag}
    finally:
        remove(names)


def test_migration_is_idempotent(images, infra, suite):
    r = docker("run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp",
               "-e", "MAILYARD_PG_DSN=" + infra.pg.dsn,
               "%s/mailyardctl:%s" % (IMAGE_PREFIX, images), "migrate")
    assert "up to date" in r.stdout


def test_image_metadata(images):
    for comp in SERVICES + ("mailyardctl",):
        cfg = inspect("%s/%s:%s" % (IMAGE_PREFIX, comp, images))["Config"]
        assert cfg["User"] == "10001:10001", comp
        assert cfg["Entrypoint"][0].startswith("/usr/local/bin/"), comp
        labels = cfg["Labels"]
        for key in ("source", "revision", "version", "licenses"):
            assert labels.get("org.opencontainers.image." + key), (comp, key)
        assert labels["org.opencontainers.image.version"] == images


def test_containers_are_non_root_and_read_only(suite):
    for s in SERVICES:
        name = suite["prefix"] + s
        info = inspect(name)
        assert info["State"]["Running"], logs(name)
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        assert info["HostConfig"]["NetworkMode"] == "host"
        status = docker("exec", name, "cat", "/proc/1/status").stdout
        uids = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")][0]
        assert all(u == "10001" for u in uids), (s, uids)
        mounts = docker("exec", name, "cat", "/proc/1/mounts").stdout
        root = [m.split() for m in mounts.splitlines() if m.split()[1] == "/"][0]
        assert root[3].split(",")[0] == "ro", (s, root)
        r = docker("exec", name, "touch", "/usr/local/bin/x", check=False)
        assert r.returncode != 0
        docker("exec", name, "touch", "/tmp/writable")


def test_mail_goes_through_the_containers(suite, infra):
    rewrite = ApiClient("http://127.0.0.1:%d" % suite["http"]["rewrite"], TOKEN)
    r = rewrite.post("/v1/domains", json={"name": "example.test"})
    assert r.status_code in (200, 201, 409), r.text
    alias = unique("ct") + "@example.test"
    target = unique("alice") + "@remote.test"
    r = rewrite.post("/v1/aliases", json={"address": alias, "targets": [target]})
    assert r.status_code in (200, 201), r.text
    msgid, data = make_message("someone@sender.test", alias, subject="container test")
    send(suite["smtp"], "someone@sender.test", [alias], data)
    got = infra.sink.wait_for(target, timeout=60)
    assert got[0].message_id == msgid
    assert got[0].mail_from.startswith("SRS0=")


def test_containers_stop_cleanly_on_sigterm(suite):
    # the last test of the module: stop every service with SIGTERM
    for s in ("mx", "relay", "archive", "lists", "rewrite"):
        name = suite["prefix"] + s
        docker("stop", "-t", "60", name, timeout=120)
        code = inspect(name)["State"]["ExitCode"]
        assert code == 0, "%s exited %d on SIGTERM\n%s" % (s, code, logs(name))

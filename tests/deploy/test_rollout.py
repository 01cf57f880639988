"""The real rollout: ansible/docker-hosts.yml applied to this machine with
the CI inventory (connection local) brings the suite up as containers
against the harness's PostgreSQL, Redis, DNS and SMTP sink; a message goes
through; a second apply changes nothing; a third apply with a new image tag
rolls every service while a sender keeps sending, and every message mx
accepted (250 after DATA) is delivered."""
import json
import os
import re
import smtplib
import threading
import time

import pytest

from conftest import IMAGE_PREFIX, ROOT, run
from dockerutil import SERVICES, docker, inspect, logs, remove
from harness.smtp import make_message, send
from harness.stack import ApiClient
from harness.util import free_port, unique

pytestmark = pytest.mark.docker
TOKEN = "ro-admin-token-0123456789abcdef"


class Rollout:
    def __init__(self, infra, base, tag):
        self.infra = infra
        self.prefix = unique("myro") + "-"
        self.http = {s: free_port() for s in SERVICES}
        self.smtp = free_port()
        self.config_dir = os.path.join(base, "etc-mailyard")
        self.tag = tag
        self.extra_tags = []

    def env(self, tag):
        e = dict(os.environ)
        e.update({
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible", "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "MAILYARD_CI_IMAGE_PREFIX": IMAGE_PREFIX,
            "MAILYARD_CI_IMAGE_TAG": tag,
            "MAILYARD_CI_PG_DSN": self.infra.pg.dsn,
            "MAILYARD_CI_REDIS_URL": self.infra.redis.url,
            "MAILYARD_CI_DNS_SERVERS": self.infra.dns.server_spec,
            "MAILYARD_CI_SINK_PORT": str(self.infra.sink.port),
            "MAILYARD_CI_SMTP_PORT": str(self.smtp),
            "MAILYARD_CI_HTTP_PORTS": json.dumps(self.http),
            "MAILYARD_CI_CONFIG_DIR": self.config_dir,
            "MAILYARD_CI_CONTAINER_PREFIX": self.prefix,
            "MAILYARD_CI_ADMIN_TOKEN": TOKEN,
            "MAILYARD_CI_SRS_SECRET": "ro-srs-secret",
        })
        return e

    def apply(self, tag):
        """Runs the playbook; returns the recap counters of localhost."""
        r = run(["ansible-playbook", "-i", "inventories/ci", "docker-hosts.yml"],
                cwd=os.path.join(ROOT, "ansible"), env=self.env(tag), check=False, timeout=900)
        if r.returncode != 0:
            raise AssertionError("docker-hosts.yml failed (%d):\n%s\n%s\n%s" % (
                r.returncode, r.stdout[-8000:], r.stderr[-3000:],
                "\n".join(logs(self.prefix + s, 15) for s in SERVICES)))
        m = re.search(r"^localhost\s*:\s*(.*)$", r.stdout, re.M)
        assert m, r.stdout[-3000:]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}, r.stdout

    def names(self):
        return [self.prefix + s for s in SERVICES] + [self.prefix + "migrate"]


@pytest.fixture(scope="module")
def rollout(images, infra, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("rollout"))
    os.chmod(base, 0o755)
    ro = Rollout(infra, base, images)
    try:
        yield ro
    finally:
        remove(ro.names())
        for t in ro.extra_tags:
            docker("rmi", t, check=False)


def send_alias_mail(ro, alias, subject):
    msgid, data = make_message("someone@sender.test", alias, subject=subject)
    send(ro.smtp, "someone@sender.test", [alias], data, timeout=20)
    return msgid


def test_first_apply_brings_the_suite_up(rollout, infra):
    recap, _ = rollout.apply(rollout.tag)
    assert recap["failed"] == 0 and recap["unreachable"] == 0
    assert recap["changed"] > 0
    for s in SERVICES:
        info = inspect(rollout.prefix + s)
        assert info["State"]["Running"]
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        assert info["Config"]["User"] == "10001:10001"
    env = {s: dict(e.split("=", 1) for e in inspect(rollout.prefix + s)["Config"]["Env"])
           for s in SERVICES}
    assert env["mx"]["MAILYARD_MX_RATE_IP_CONNECTIONS"] == "300"
    assert env["mx"]["MAILYARD_MX_BLOCKS_REFRESH_SECONDS"] == "5"
    assert "MAILYARD_SUBMISSION_LISTEN" not in env["mx"], "no certificate in CI: no submission"
    assert "MAILYARD_DNS_TRUST_ANCHOR_FILE" not in env["relay"], "CI DNS is unsigned"
    assert env["relay"]["MAILYARD_RELAY_TLSRPT_ORG"] == "Mailyard CI"
    assert env["relay"]["MAILYARD_RELAY_DOMAIN_POLICY"].startswith("remote.test=")
    assert env["rewrite"]["MAILYARD_DMARC_ENCODE_DOMAIN"] == "lists.example.test"
    assert env["lists"]["MAILYARD_DMARC_ENCODE_DOMAIN"] == "lists.example.test"
    rewrite = ApiClient("http://127.0.0.1:%d" % rollout.http["rewrite"], TOKEN)
    r = rewrite.post("/v1/domains", json={"name": "example.test"})
    assert r.status_code in (200, 201, 409), r.text
    rollout.alias = unique("ro") + "@example.test"
    rollout.target = unique("bob") + "@remote.test"
    r = rewrite.post("/v1/aliases", json={"address": rollout.alias, "targets": [rollout.target]})
    assert r.status_code in (200, 201), r.text
    msgid = send_alias_mail(rollout, rollout.alias, "first apply")
    got = infra.sink.wait_for(rollout.target, timeout=60)
    assert got[0].message_id == msgid


def test_second_apply_changes_nothing(rollout):
    before = {s: inspect(rollout.prefix + s)["Id"] for s in SERVICES}
    recap, out = rollout.apply(rollout.tag)
    assert recap["changed"] == 0, "not idempotent:\n" + "\n".join(
        line for line in out.splitlines() if line.startswith("changed:") or "TASK" in line)
    after = {s: inspect(rollout.prefix + s)["Id"] for s in SERVICES}
    assert before == after


def test_new_tag_rolls_every_service_without_losing_mail(rollout, infra):
    new_tag = rollout.tag + "-roll" + str(int(time.time()))
    for comp in SERVICES + ("mailyardctl",):
        t = "%s/%s:%s" % (IMAGE_PREFIX, comp, new_tag)
        docker("tag", "%s/%s:%s" % (IMAGE_PREFIX, comp, rollout.tag), t)
        rollout.extra_tags.append(t)
    before = {s: inspect(rollout.prefix + s)["Id"] for s in SERVICES}

    accepted, refused = [], []
    stop = threading.Event()

    def sender():
        n = 0
        while not stop.is_set():
            n += 1
            try:
                accepted.append(send_alias_mail(rollout, rollout.alias, "roll %d" % n))
            except (smtplib.SMTPException, OSError) as e:
                refused.append(repr(e))
                time.sleep(0.2)
            time.sleep(0.05)

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    try:
        time.sleep(2)
        during_start = len(accepted)
        recap, _ = rollout.apply(new_tag)
        time.sleep(2)
    finally:
        stop.set()
        th.join(60)
    assert recap["failed"] == 0 and recap["changed"] > 0
    after = {s: inspect(rollout.prefix + s) for s in SERVICES}
    for s in SERVICES:
        assert after[s]["Id"] != before[s], "%s was not replaced" % s
        assert after[s]["Config"]["Image"].endswith(":" + new_tag), s
        assert after[s]["State"]["Running"]
    assert len(accepted) > during_start + 5, "the sender made no progress during the roll"

    want = set(accepted)

    def all_delivered():
        got = {m.message_id for m in infra.sink.messages_to(rollout.target)}
        return want <= got
    try:
        infra.sink.wait_for(rollout.target, count=len(want), timeout=180)
        from harness.util import wait_until
        wait_until(all_delivered, timeout=180, what="every accepted message delivered")
    except AssertionError:
        got = {m.message_id for m in infra.sink.messages_to(rollout.target)}
        raise AssertionError("%d of %d accepted messages lost (refused attempts: %d)"
                             % (len(want - got), len(want), len(refused)))

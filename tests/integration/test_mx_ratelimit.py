"""Rate limits of mx kept in Redis (docs/mx.md, "Rate limits"): connections,
messages and recipients per client IP trip with 421 4.7.0 / 450 4.7.1, the
counters live in Redis under the shared keys with the window as their time
to live (and counting starts afresh once a key is gone), two mx processes
on one Redis count together, and with Redis stopped mail is still accepted
(fail open, counted in a metric).

Each test speaks through PROXY v1 with its own client address, so the
per-IP counters of one test never see another's traffic. The per-user
limits have no SMTP path until AUTH lands; tests/unit/test_smtp_ratelimit.c
drives them through smtp_ratelimit_hit() against a real Redis."""
import os
import random
import smtplib
import socket
import subprocess

import pytest
import requests

from harness import free_port, unique
from harness.smtp import ProxySMTP

STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SMTP_PROXY_PROTOCOL": "v1",
    "MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS": "127.0.0.1/32",
    "MAILYARD_MX_RATE_IP_CONNECTIONS": "3",
    "MAILYARD_MX_RATE_IP_MESSAGES": "2",
    "MAILYARD_MX_RATE_IP_RECIPIENTS": "3",
    "MAILYARD_MX_RATE_REDIS_RETRY_SECONDS": "1",
}}}


def new_ip():
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255),
                            random.randint(1, 254))


def metric(url, name, **labels):
    text = requests.get(url + "/metrics", timeout=10).text
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") and not labels:
            total += float(line.split()[-1])
        if not line.startswith(name + "{"):
            continue
        lab, _, val = line.partition("} ")
        if ",".join(sorted(lab[len(name) + 1:].split(","))) == want:
            total += float(val)
    return total


def ttl(st, key):
    return int(st.redis("TTL", key).strip())


def test_connections_per_ip_refused_with_421(module_stack):
    st = module_stack
    ip = new_ip()
    before = metric(st.url("mx"), "mailyard_smtp_rejections_total", reason="ratelimit")
    for _ in range(3):
        s = ProxySMTP(st.smtp_port, ip)          # greeted with 220, or it raises
        s.quit()
    with pytest.raises(smtplib.SMTPConnectError) as e:
        ProxySMTP(st.smtp_port, ip)
    assert e.value.smtp_code == 421
    assert b"4.7.0" in e.value.smtp_error and b"rate limit exceeded" in e.value.smtp_error
    assert metric(st.url("mx"), "mailyard_smtp_rejections_total",
                  reason="ratelimit") == before + 1
    assert metric(st.url("mx"), "mailyard_mx_ratelimit_exceeded_total",
                  kind="ip", what="connections") >= 1
    key = "mailyard:mx:rate:connections:ip:" + ip
    assert st.redis("GET", key).strip() == "4"
    assert 0 < ttl(st, key) <= 60                 # the default 60 s window
    # another client is not affected
    ProxySMTP(st.smtp_port, new_ip()).quit()


def test_messages_per_ip_refused_with_450_then_reset(module_stack):
    st = module_stack
    ip = new_ip()
    s = ProxySMTP(st.smtp_port, ip)
    try:
        s.ehlo()
        for _ in range(2):
            assert s.mail("s-%s@sender.test" % unique("m"))[0] == 250
            assert s.rset()[0] == 250
        code, text = s.mail("s-%s@sender.test" % unique("m"))
        assert code == 450, text
        assert text.startswith(b"4.7.1") and b"rate limit exceeded" in text
        key = "mailyard:mx:rate:messages:ip:" + ip
        assert 3000 < ttl(st, key) <= 3600       # the default one-hour window
        # the window ends when Redis drops the counter: counting restarts
        assert st.redis("DEL", key).strip() == "1"
        assert s.mail("s-%s@sender.test" % unique("m"))[0] == 250
        assert st.redis("GET", key).strip() == "1"
    finally:
        s.close()


def test_recipients_per_ip_refused_with_450(module_stack):
    st = module_stack
    ip = new_ip()
    aliases = []
    for _ in range(4):
        uid = unique("rl")
        a = "%s@%s" % (uid, st.domain)
        st.add_alias(a, ["t-%s@remote.test" % uid])
        aliases.append(a)
    s = ProxySMTP(st.smtp_port, ip)
    try:
        s.ehlo()
        assert s.mail("s@sender.test")[0] == 250
        for a in aliases[:3]:
            assert s.rcpt(a)[0] == 250
        code, text = s.rcpt(aliases[3])
        assert code == 450, text
        assert text.startswith(b"4.7.1") and b"recipient rate limit exceeded" in text
        # the accepted three still make a message
        code, text = s.data(b"Subject: rate\r\n\r\nthree recipients\r\n")
        assert code == 250, text
    finally:
        s.close()


def test_two_mx_processes_share_the_counters(module_stack):
    st = module_stack
    env = st.service_env("mx")
    port2 = free_port()
    env["MAILYARD_SMTP_LISTEN"] = "127.0.0.1:%d" % port2
    env["MAILYARD_HTTP_LISTEN"] = "127.0.0.1:%d" % free_port()
    log = open(os.path.join(st.base, "mx2.log"), "ab")
    mx2 = subprocess.Popen([st.binary("mailyard-mx")], env=env, stdout=log,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=st.base)
    log.close()
    try:
        def up():
            with socket.create_connection(("127.0.0.1", port2), timeout=2):
                return True
        st.wait_until(up, what="second mx listening")
        ip = new_ip()
        a = ProxySMTP(st.smtp_port, ip)
        b = ProxySMTP(port2, ip)
        try:
            a.ehlo()
            b.ehlo()
            assert a.mail("s@sender.test")[0] == 250          # 1 (first mx)
            assert b.mail("s@sender.test")[0] == 250          # 2 (second mx)
            assert a.rset()[0] == 250
            code, text = a.mail("s@sender.test")             # 3: over, on the first
            assert code == 450, text
            assert b.rset()[0] == 250
            code, text = b.mail("s@sender.test")             # 4: over, on the second
            assert code == 450, text
        finally:
            a.close()
            b.close()
        assert st.redis("GET", "mailyard:mx:rate:messages:ip:" + ip).strip() == "4"
    finally:
        mx2.terminate()
        try:
            mx2.wait(20)
        except subprocess.TimeoutExpired:
            mx2.kill()
            mx2.wait()


def test_redis_down_fails_open(module_stack):
    """Last in the module: it stops and restarts Redis."""
    st = module_stack
    uid = unique("rd")
    alias = "%s@%s" % (uid, st.domain)
    st.add_alias(alias, ["t-%s@remote.test" % uid])
    before = metric(st.url("mx"), "mailyard_mx_ratelimit_failopen_total")
    st.redis_server.stop()
    try:
        ip = new_ip()
        for _ in range(4):                        # over every limit, were it counted
            s = ProxySMTP(st.smtp_port, ip)
            try:
                s.ehlo()
                assert s.mail("s@sender.test")[0] == 250
                assert s.rcpt(alias)[0] == 250
                code, text = s.data(b"Subject: redis down\r\n\r\nstill accepted\r\n")
                assert code == 250, text
            finally:
                s.close()
        assert metric(st.url("mx"), "mailyard_mx_ratelimit_failopen_total") > before
        st.wait_until(lambda: "redis unavailable (fail open)" in st.log_tail("mx", 200),
                      what="fail-open logged")
    finally:
        st.redis_server.start()
    # counting resumes once Redis is back (after the retry interval)

    def counted():
        ip2 = new_ip()
        ProxySMTP(st.smtp_port, ip2).quit()
        return st.redis("GET", "mailyard:mx:rate:connections:ip:" + ip2).strip() == "1"
    st.wait_until(counted, timeout=30, interval=0.5, what="counting resumed")

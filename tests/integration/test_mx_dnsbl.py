"""DNSBL checks in mx (docs/mx.md, "DNS blocklists"): the client address
(proxied through PROXY v1 so each test has its own, uncached address) is
looked up in weighted zones served by the harness DNS server; a sum of
weights at the threshold refuses every RCPT with 554 5.7.1, below it the
mail is accepted, and a zone that times out counts nothing (fail open)."""
import random
import socket
import time

import requests

from harness import unique

ZONES = "w2.bl.test=2, w1.bl.test, slow.bl.test=2"
STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SMTP_PROXY_PROTOCOL": "v1",
    "MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS": "127.0.0.1/32",
    "MAILYARD_MX_DNSBL_ZONES": ZONES,
    "MAILYARD_MX_DNSBL_THRESHOLD": "2",
    "MAILYARD_DNS_TIMEOUT_MS": "1000",
}}}


def metric(st, name, **labels):
    text = requests.get(st.url("mx") + "/metrics", timeout=10).text
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        lab, _, val = line.partition("} ")
        if ",".join(sorted(lab[len(name) + 1:].split(","))) == want:
            total += float(val)
    return total


def new_ip():
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255), random.randint(1, 254))


def reversed_v4(ip):
    return ".".join(reversed(ip.split(".")))


class Conn:
    def __init__(self, port, client_ip):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        fam = "TCP6" if ":" in client_ip else "TCP4"
        dst = "::1" if fam == "TCP6" else "127.0.0.1"
        self.sock.sendall(("PROXY %s %s %s 40000 25\r\n" % (fam, client_ip, dst)).encode())

    def reply(self):
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed; got %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), line

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def rcpt(st, client_ip):
    """(code, text) of the first RCPT from client_ip to a known alias."""
    uid = unique("bl")
    alias = "%s@%s" % (uid, st.domain)
    st.add_alias(alias, ["t-%s@remote.test" % uid])
    c = Conn(st.smtp_port, client_ip)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.it.test")[0] == 250
        assert c.cmd("MAIL FROM:<s-%s@sender.test>" % uid)[0] == 250
        res = c.cmd("RCPT TO:<%s>" % alias)
        c.cmd("QUIT")
        return res
    finally:
        c.close()


def test_listed_with_enough_weight_refused_at_rcpt(module_stack):
    st = module_stack
    ip = new_ip()
    st.dns.add("%s.w2.bl.test" % reversed_v4(ip), "A", "127.0.0.2")
    before = metric(st, "mailyard_smtp_rejections_total", reason="dnsbl")
    code, text = rcpt(st, ip)
    assert code == 554, text
    assert "5.7.1 Service unavailable; client [%s] listed by w2.bl.test" % ip in text
    assert metric(st, "mailyard_smtp_rejections_total", reason="dnsbl") == before + 1
    st.wait_until(lambda: "127.0.0.2" in st.log_tail("mx", 80), what="listing logged")


def test_listed_below_threshold_accepted(module_stack):
    st = module_stack
    ip = new_ip()
    st.dns.add("%s.w1.bl.test" % reversed_v4(ip), "A", "127.0.0.2")
    code, text = rcpt(st, ip)
    assert code == 250, text


def test_two_zones_add_up(module_stack):
    st = module_stack
    ip = new_ip()
    st.dns.add("%s.w1.bl.test" % reversed_v4(ip), "A", "127.0.0.4")
    st.dns.add("%s.w2.bl.test" % reversed_v4(ip), "A", "127.0.0.10")
    code, text = rcpt(st, ip)
    assert code == 554, text
    assert "listed by w2.bl.test,w1.bl.test" in text


def test_not_listed_accepted(module_stack):
    code, text = rcpt(module_stack, new_ip())
    assert code == 250, text


def test_answer_outside_127_not_counted(module_stack):
    st = module_stack
    ip = new_ip()
    st.dns.add("%s.w2.bl.test" % reversed_v4(ip), "A", "192.0.2.1")
    code, text = rcpt(st, ip)
    assert code == 250, text


def test_ipv6_nibble_name(module_stack):
    st = module_stack
    last = random.randint(1, 0xfffe)
    ip = "2001:db8::%x" % last
    nibbles = ".".join(reversed("20010db8" + "0" * 20 + "%04x" % last))
    st.dns.add("%s.w2.bl.test" % nibbles, "A", "127.0.0.2")
    code, text = rcpt(st, ip)
    assert code == 554, text
    assert "client [%s] listed by w2.bl.test" % ip in text


def test_zone_timeout_fails_open(module_stack):
    st = module_stack
    ip = new_ip()
    name = "%s.slow.bl.test" % reversed_v4(ip)
    st.dns.add(name, "A", "127.0.0.2")      # would reach the threshold if answered
    for srv in st.dns.servers:               # answers for slow.bl.test come too late
        inner = srv.server.resolver
        if getattr(inner, "dnsbl_slow", False):
            continue

        class Slow:
            dnsbl_slow = True

            def __init__(self, inner):
                self.inner = inner

            def resolve(self, request, handler):
                if str(request.q.qname).rstrip(".").lower().endswith("slow.bl.test"):
                    time.sleep(4)
                return self.inner.resolve(request, handler)
        srv.server.resolver = Slow(inner)
    code, text = rcpt(st, ip)
    assert code == 250, text
    st.wait_until(lambda: "fail open" in st.log_tail("mx", 80), what="timeout logged")

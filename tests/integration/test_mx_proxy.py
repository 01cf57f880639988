"""PROXY protocol v1/v2 and implicit TLS (RFC 8314) on mx: a trusted
source's PROXY header changes the client IP in Received, the spool and the
trace; an untrusted source or a missing/garbage header closes the
connection; the implicit-TLS listener takes PROXY v2 before the handshake
and delivers; the certificate is reloaded when its file changes or on
SIGHUP."""
import os
import shutil
import signal
import socket
import ssl
import struct
import time

import pytest

from harness import free_port, unique
from harness.smtp import make_message
from harness.tlscert import make_self_signed

SMTPS_PORT = free_port()
STACK_CONFIG = {"extra_env": {"mx": {
    "MAILYARD_SMTP_PROXY_PROTOCOL": "any",
    "MAILYARD_SMTPS_LISTEN": "127.0.0.1:%d" % SMTPS_PORT,
    "MAILYARD_SMTPS_PROXY_PROTOCOL": "v2",
    # MX-style mail on the implicit-TLS listener: its default policy is submission
    "MAILYARD_SMTPS_POLICY": "mx",
    "MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS": "127.0.0.1/32, ::1",
}}}

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst="127.0.0.1", sport=40000, dport=25, tlvs=b""):
    if ":" in src:
        addr = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        fam = 0x21
    else:
        addr = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
        fam = 0x11
    body = addr + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


class Conn:
    """A line-oriented SMTP client over a plain or TLS socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

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
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def _tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _deliver(st, conn, tag):
    uid = unique(tag)
    alias = "%s@%s" % (uid, st.domain)
    st.add_alias(alias, ["t-%s@remote.test" % uid])
    msgid, data = make_message("p-%s@sender.test" % uid, alias, subject=tag)
    assert conn.reply()[0] == 220
    code, ehlo = conn.cmd("EHLO client.it.test")
    assert code == 250
    assert conn.cmd("MAIL FROM:<p-%s@sender.test>" % uid)[0] == 250
    assert conn.cmd("RCPT TO:<%s>" % alias)[0] == 250
    assert conn.cmd("DATA")[0] == 354
    conn.sock.sendall(data + b"\r\n.\r\n")
    code, text = conn.reply()
    assert code == 250, text
    conn.cmd("QUIT")
    rows = st.psql("SELECT client_ip, encode(raw, 'hex') FROM spool.messages"
                   " WHERE message_id = '%s'" % msgid)
    assert len(rows) == 1
    return rows[0][0], bytes.fromhex(rows[0][1]).decode(), ehlo, uid


def test_proxy_v1_trusted_sets_client_ip(module_stack):
    st = module_stack
    s = socket.create_connection(("127.0.0.1", st.smtp_port), timeout=30)
    s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n")
    ip, raw, _, _ = _deliver(st, Conn(s), "pv1")
    assert ip == "203.0.113.7"
    assert "Received: from client.it.test ([203.0.113.7]) by mx." in raw, raw[:300]


def test_proxy_v2_trusted_ipv6(module_stack):
    st = module_stack
    s = socket.create_connection(("127.0.0.1", st.smtp_port), timeout=30)
    s.sendall(v2_header("2001:db8::7", "2001:db8::1", tlvs=b"\x04\x00\x02ab"))
    ip, raw, _, _ = _deliver(st, Conn(s), "pv2")
    assert ip == "2001:db8::7"
    assert "([IPv6:2001:db8::7])" in raw, raw[:300]


def _refused(sock, send):
    sock.sendall(send)
    sock.settimeout(20)
    try:
        data = sock.recv(1000)
    except ConnectionResetError:
        data = b""
    sock.close()
    return data


def test_proxy_from_untrusted_source_refused(module_stack):
    st = module_stack
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.2", 0))                 # not in the trusted networks
    s.connect(("127.0.0.1", st.smtp_port))
    assert _refused(s, b"PROXY TCP4 198.51.100.1 127.0.0.1 1 25\r\n") == b""
    st.wait_until(lambda: "PROXY protocol from an untrusted address" in st.log_tail("mx", 50),
                  timeout=10, what="the refusal log line")


@pytest.mark.parametrize("junk", [b"EHLO client.it.test\r\n", b"PROXY TCP4 1.2.3 x\r\n",
                                  V2_SIG + b"\x21\x11\xff\xff", b"\x16\x03\x01\x00\x05hello"])
def test_proxy_missing_or_garbage_refused(module_stack, junk):
    st = module_stack
    s = socket.create_connection(("127.0.0.1", st.smtp_port), timeout=30)
    assert _refused(s, junk) == b""


def test_implicit_tls_with_proxy_v2_delivers(module_stack):
    st = module_stack
    raw_sock = socket.create_connection(("127.0.0.1", SMTPS_PORT), timeout=30)
    raw_sock.sendall(v2_header("192.0.2.55", dport=465))
    t = _tls_ctx().wrap_socket(raw_sock, server_hostname="mx.example.test")
    assert t.version() in ("TLSv1.2", "TLSv1.3")
    ip, raw, ehlo, _ = _deliver(st, Conn(t), "smtps")
    assert ip == "192.0.2.55"
    assert "with ESMTPS id" in raw
    assert "STARTTLS" not in ehlo


def _peer_cert():
    raw_sock = socket.create_connection(("127.0.0.1", SMTPS_PORT), timeout=30)
    raw_sock.sendall(v2_header("192.0.2.56", dport=465))
    t = _tls_ctx().wrap_socket(raw_sock, server_hostname="mx.example.test")
    der = t.getpeercert(binary_form=True)
    t.close()
    return der


def _der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_certificate_reload_on_change_and_sighup(module_stack):
    st = module_stack
    assert _peer_cert() == _der(st.cert)
    # 1. the files change: the next connections get the new certificate
    tmp = os.path.join(st.base, "tls-new")
    cert, key = make_self_signed(tmp, cn="mx-new.example.test")
    shutil.copyfile(key, st.key)
    shutil.copyfile(cert, st.cert)
    st.wait_until(lambda: _peer_cert() == _der(cert), timeout=20, what="the new certificate")
    # 2. same mtimes, new content: only SIGHUP makes mx read them
    before = (os.stat(st.cert).st_mtime_ns, os.stat(st.key).st_mtime_ns)
    tmp2 = os.path.join(st.base, "tls-hup")
    cert2, key2 = make_self_signed(tmp2, cn="mx-hup.example.test")
    shutil.copyfile(key2, st.key)
    shutil.copyfile(cert2, st.cert)
    os.utime(st.cert, ns=(before[0], before[0]))
    os.utime(st.key, ns=(before[1], before[1]))
    time.sleep(1.5)
    assert _peer_cert() == _der(cert)        # not noticed yet
    st.procs["mx"].send_signal(signal.SIGHUP)
    st.wait_until(lambda: _peer_cert() == _der(cert2), timeout=20, what="reload on SIGHUP")

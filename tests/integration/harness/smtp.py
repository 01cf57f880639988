"""SMTP client helpers for the tests: a message builder, a send with
retries (as a real client would retry a failed session), and a raw
line-oriented session for malformed-input tests."""
import email.utils
import smtplib
import socket
import ssl
import time
import uuid


def make_message(mail_from, to, subject="test", body="hello\r\n", msgid=None, extra=()):
    """Returns (message_id, bytes) for a small RFC 5322 message."""
    msgid = msgid or "<%s@it.test>" % uuid.uuid4().hex
    headers = [
        "From: <%s>" % mail_from if mail_from else "From: <mailer-daemon@it.test>",
        "To: <%s>" % to,
        "Subject: %s" % subject,
        "Date: %s" % email.utils.formatdate(localtime=False),
        "Message-ID: %s" % msgid,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ] + list(extra)
    data = ("\r\n".join(headers) + "\r\n\r\n" + body).encode()
    return msgid, data


def send(port, mail_from, rcpts, data, starttls=False, timeout=30, helo="client.it.test"):
    """One SMTP session; raises smtplib exceptions on any refusal."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=timeout) as c:
        c.ehlo()
        if starttls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c.starttls(context=ctx)
            c.ehlo()
        refused = c.sendmail(mail_from, rcpts, data)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)


def send_with_retry(port, mail_from, rcpts, data, deadline, on_error=None):
    """Retries the whole transaction until the final 250 or the deadline
    (time.monotonic() value). Returns the number of attempts."""
    attempt = 0
    delay = 0.2
    while True:
        attempt += 1
        try:
            send(port, mail_from, rcpts, data, timeout=20)
            return attempt
        except (smtplib.SMTPException, OSError) as e:
            if on_error:
                on_error(e)
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


class RawSession:
    """A raw SMTP connection: send exact bytes, read exact replies."""

    def __init__(self, port, timeout=15):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def read_reply(self):
        """Returns (code, text) for one (possibly multi-line) reply."""
        lines = []
        while True:
            while b"\r\n" not in self.buf and b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection; got %r" % lines)
                self.buf += chunk
            idx = self.buf.find(b"\n")
            line, self.buf = self.buf[:idx + 1], self.buf[idx + 1:]
            line = line.rstrip(b"\r\n").decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        return int(lines[-1][:3]), "\n".join(lines)

    def send_raw(self, data):
        self.sock.sendall(data)

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + b"\r\n")
        return self.read_reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class ProxySMTP(smtplib.SMTP):
    """smtplib's client that first sends a PROXY v1 header, so that mx sees
    client_ip as the client (for listeners with MAILYARD_SMTP_PROXY_PROTOCOL
    and 127.0.0.1 trusted). Raises SMTPConnectError when not greeted 220."""

    def __init__(self, port, client_ip, timeout=30):
        self.client_ip = client_ip
        super().__init__("127.0.0.1", port, local_hostname="client.it.test", timeout=timeout)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout)
        fam, dst = ("TCP6", "::1") if ":" in self.client_ip else ("TCP4", "127.0.0.1")
        sock.sendall(("PROXY %s %s %s 40000 25\r\n" % (fam, self.client_ip, dst)).encode())
        return sock

"""The SMTP sink: plays every remote MX the relay talks to.

An aiosmtpd Controller on 127.0.0.1:<free port> that stores every message
it accepts as a SinkMessage (mail_from, rcpts, data bytes) and counts every
RCPT/DATA attempt. Replies can be planned per recipient address:

    sink.plan_rcpt("x@remote.test", [451, 451], then=250)  # 2 deferrals, then ok
    sink.plan_rcpt("y@remote.test", [], then=550)          # always 550
    sink.plan_data("z@remote.test", [452], then=250)       # DATA answered 452 once

A DATA plan applies when any accepted recipient of the transaction has one.
"""
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller

from .util import free_port, wait_until

_TEXT = {
    250: "2.0.0 OK",
    421: "4.3.0 sink closing",
    450: "4.2.0 mailbox busy (sink)",
    451: "4.3.0 try again later (sink)",
    452: "4.3.1 insufficient storage (sink)",
    550: "5.1.1 no such user (sink)",
    552: "5.3.4 too big (sink)",
    554: "5.7.1 rejected (sink)",
}


def _reply(code):
    if isinstance(code, str):
        return code
    return "%d %s" % (code, _TEXT.get(code, "sink reply"))


class SinkMessage:
    def __init__(self, mail_from, rcpts, data, peer):
        self.mail_from = mail_from
        self.rcpts = list(rcpts)
        self.data = data  # bytes as received (dot-unstuffed, CRLF line ends)
        self.peer = peer
        self.received_at = time.time()
        self._msg = None

    @property
    def msg(self):
        """The parsed email.message.EmailMessage."""
        if self._msg is None:
            self._msg = email.message_from_bytes(self.data, policy=email.policy.default)
        return self._msg

    def header(self, name):
        v = self.msg.get(name)
        return None if v is None else str(v)

    @property
    def message_id(self):
        return self.header("Message-ID")

    def __repr__(self):
        return "<SinkMessage from=%r rcpts=%r subject=%r>" % (
            self.mail_from, self.rcpts, self.header("Subject"))


class _Plan:
    def __init__(self, codes, then):
        self.codes = list(codes)
        self.then = then
        self.used = 0

    def next(self):
        code = self.codes[self.used] if self.used < len(self.codes) else self.then
        self.used += 1
        return code


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        s = self.sink
        key = address.lower()
        with s.lock:
            s.rcpt_attempts[key] = s.rcpt_attempts.get(key, 0) + 1
            plan = s.rcpt_plans.get(key)
            code = plan.next() if plan else 250
        if code != 250:
            return _reply(code)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        s = self.sink
        code = 250
        with s.lock:
            for r in envelope.rcpt_tos:
                key = r.lower()
                s.data_attempts[key] = s.data_attempts.get(key, 0) + 1
            for r in envelope.rcpt_tos:
                plan = s.data_plans.get(r.lower())
                if plan:
                    c = plan.next()
                    if c != 250:
                        code = c
            if code == 250:
                data = envelope.original_content or envelope.content
                if isinstance(data, str):
                    data = data.encode("utf-8", "surrogateescape")
                mail_from = envelope.mail_from or ""
                if mail_from == "<>":
                    mail_from = ""  # the null sender
                s.messages.append(SinkMessage(mail_from, envelope.rcpt_tos,
                                              data, session.peer))
                s.cond.notify_all()
        if code != 250:
            return _reply(code)
        return "250 2.0.0 OK: stored by sink"


class SmtpSink:
    def __init__(self, max_size=64 * 1024 * 1024):
        self.port = free_port()
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.messages = []
        self.rcpt_plans = {}
        self.data_plans = {}
        self.rcpt_attempts = {}
        self.data_attempts = {}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     data_size_limit=max_size, decode_data=False,
                                     enable_SMTPUTF8=True, ready_timeout=10,
                                     server_hostname="mx.remote.test")

    def start(self):
        self.controller.start()

    def stop(self):
        try:
            self.controller.stop()
        except Exception:  # noqa: BLE001
            pass

    def reset(self):
        """Forgets every stored message, plan and counter."""
        with self.lock:
            self.messages.clear()
            self.rcpt_plans.clear()
            self.data_plans.clear()
            self.rcpt_attempts.clear()
            self.data_attempts.clear()

    def plan_rcpt(self, address, codes, then=250):
        with self.lock:
            self.rcpt_plans[address.lower()] = _Plan(codes, then)

    def plan_data(self, address, codes, then=250):
        with self.lock:
            self.data_plans[address.lower()] = _Plan(codes, then)

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def messages_to(self, rcpt):
        rcpt = rcpt.lower()
        return [m for m in self.snapshot() if rcpt in (r.lower() for r in m.rcpts)]

    def attempts(self, rcpt):
        with self.lock:
            return self.rcpt_attempts.get(rcpt.lower(), 0)

    def wait_for(self, rcpt, count=1, timeout=30, pred=None):
        """Waits until rcpt received at least count messages (matching pred)
        and returns them."""
        def check():
            ms = [m for m in self.messages_to(rcpt) if pred is None or pred(m)]
            return ms if len(ms) >= count else None
        return wait_until(check, timeout=timeout,
                          what="%d message(s) to %s at the sink" % (count, rcpt))

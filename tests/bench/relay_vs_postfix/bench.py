#!/usr/bin/env python3
"""relay_vs_postfix - issue 4 item 10: the same N messages delivered to
Postfix's smtp-sink by mailyard-relay and by Postfix, one after the other
in the same run.

Each side first gets its queue filled through its own SMTP ingress (not
timed): Postfix puts every message on hold (smtpd_data_restrictions =
check_client_access static:HOLD); on the Mailyard side the relay is stopped
while mx and rewrite turn every message into a pending relay job. Then the
clock starts: Postfix `postsuper -H ALL; postqueue -f`, Mailyard starts
mailyard-relay (its start-up is inside the measured time), and the clock
stops when the sink has counted all N messages. Both deliver to the same
kind of sink on loopback: Postfix through relayhost = [127.0.0.1]:port,
Mailyard through MAILYARD_RELAY_TRANSPORT=smarthost. Each side keeps its
default concurrency (Postfix: 20 per destination; Mailyard:
MAILYARD_WORKER_THREADS, BENCH_RELAY_THREADS overrides it).

Prints messages per second and the ratio; asserts nothing on time.
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import mailyard  # noqa: E402
from common.deps import ensure_postfix  # noqa: E402
from common.load import run_smtp_source  # noqa: E402
from common.postfix import PostfixInstance, maillog_errors  # noqa: E402
from common.report import header, line, ratio  # noqa: E402
from common.settings import exit_on_sigterm, settings  # noqa: E402
from common.sink import PostfixSink  # noqa: E402

SENDER = "sender@source.bench.test"


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(0.2)


def run_postfix(base, s):
    sink = PostfixSink(base)
    sink.start()
    pf = PostfixInstance(base, mode="relay", sink_port=sink.port, hold=True)
    pf.start()
    try:
        run_smtp_source(pf.port, s.messages, s.sessions, s.size, SENDER,
                        "rcpt@remote.bench.test", s.timeout)
        wait_for(lambda: pf.queue_files("hold") >= s.messages, s.timeout,
                 "%d held messages" % s.messages)
        if sink.count() != 0:
            raise RuntimeError("the sink got mail before the release")
        t0 = time.monotonic()
        pf.release_all()
        t1 = sink.wait_count(s.messages, s.timeout)
        wait_for(lambda: pf.queued_total() == 0, 60, "an empty Postfix queue")
        return {"name": "postfix", "elapsed_s": t1 - t0, "delivered": sink.count(),
                "errors": maillog_errors(pf)}
    finally:
        pf.stop()
        sink.stop()


def run_mailyard(base, s):
    sink = PostfixSink(base)
    sink.start()
    stack = None
    try:
        stack = mailyard.start_stack(sink.port,
                                     relay_threads=int(os.environ.get("BENCH_RELAY_THREADS",
                                                                      "0")) or None)
        stack.stop("relay")
        run_smtp_source(stack.smtp_port, s.messages, s.sessions, s.size, SENDER,
                        mailyard.rcpt(stack), s.timeout)
        wait_for(lambda: (mailyard.pending_jobs(stack, "rewrite") == 0
                          and mailyard.pending_jobs(stack, "relay") >= s.messages),
                 s.timeout, "%d pending relay jobs" % s.messages)
        if sink.count() != 0:
            raise RuntimeError("the sink got mail before the relay started")
        t0 = time.monotonic()
        stack.start("relay", wait=False)
        t1 = sink.wait_count(s.messages, s.timeout)
        return {"name": "mailyard", "elapsed_s": t1 - t0, "delivered": sink.count(),
                "pending_after": mailyard.pending_jobs(stack, "relay")}
    finally:
        if stack is not None:
            stack.close()
        sink.stop()


def main():
    exit_on_sigterm()
    s = settings()
    ensure_postfix()
    base = tempfile.mkdtemp(prefix="mailyard-bench-relay-")
    os.chmod(base, 0o755)
    try:
        print("relay_vs_postfix: %d messages of %d bytes, %d cores, %s"
              % (s.messages, s.size, os.cpu_count(),
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())), flush=True)
        for side in ("pf", "my"):
            os.mkdir(os.path.join(base, side), 0o755)
        pf = run_postfix(os.path.join(base, "pf"), s)
        my = run_mailyard(os.path.join(base, "my"), s)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(base, ignore_errors=True)

    header("relay_vs_postfix: pre-filled queue of %d messages to smtp-sink" % s.messages)
    for r in (pf, my):
        rate = s.messages / r["elapsed_s"]
        r["rate"] = rate
        line("%s messages/second" % r["name"], "%.1f  (%.1f s)" % (rate, r["elapsed_s"]))
    line("ratio mailyard/postfix", "%.2fx  (target >= 1.5x)" % ratio(my["rate"], pf["rate"]))
    header("relay_vs_postfix: checks")
    line("sink counted", "postfix %d, mailyard %d (of %d)"
         % (pf["delivered"], my["delivered"], s.messages))
    line("postfix maillog errors", str(len(pf["errors"])))
    for e in pf["errors"][:5]:
        print("  " + e)
    return 0


if __name__ == "__main__":
    sys.exit(main())

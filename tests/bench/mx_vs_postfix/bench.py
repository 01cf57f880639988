#!/usr/bin/env python3
"""mx_vs_postfix - issue 3 item 11: the same load against mailyard-mx and a
Postfix smtpd on this machine, one after the other in the same run, both
committing every message durably before the 250 (Postfix: cleanup fsyncs the
queue file; Mailyard: the PostgreSQL commit with fsync=on).

For each side:
  1. memory per idle connection: BENCH_IDLE (1000) connections that each got
     the banner and did EHLO, then idle; resident memory before and after
     (mx: VmRSS of the one process; Postfix: the sum over its smtpd
     processes, RSS and PSS), divided by the number of connections;
  2. a short warm-up (not counted);
  3. smtp-source -s 50 -m N -l 5120 (N from BENCH_FULL / BENCH_SCALE), timed
     as a whole -> messages per second, while a small client on one more
     connection measures the time from <CRLF>.<CRLF> to the 250 -> p50/p99.

Postfix delivers to discard (the measured part is smtpd + cleanup + queue
write); on the Mailyard side the relay is stopped, so the measured part is mx
+ the rewrite lookup at RCPT + the commit (rewrite still consumes the jobs,
as Postfix's qmgr does). Prints numbers and ratios; asserts nothing on time.
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import mailyard  # noqa: E402
from common.deps import ensure_postfix  # noqa: E402
from common.load import IdleConnections, LatencySampler, run_smtp_source  # noqa: E402
from common.postfix import PostfixInstance, maillog_errors, smtpd_pids  # noqa: E402
from common.procmem import total_kb  # noqa: E402
from common.report import header, line, ms, percentile, ratio  # noqa: E402
from common.settings import exit_on_sigterm, settings  # noqa: E402

SENDER = "sender@source.bench.test"


def measure(name, port, rcpt, mem, s):
    """Runs the idle-memory and the load phase against one server."""
    res = {"name": name}
    before = mem()
    idle = IdleConnections(port, s.idle)
    try:
        res["idle_open_s"] = idle.open()
        time.sleep(1.0)
        after = mem()
    finally:
        idle.close()
    res["rss_per_conn_kb"] = (after[0] - before[0]) / float(s.idle)
    res["pss_per_conn_kb"] = (after[1] - before[1]) / float(s.idle)
    time.sleep(2.0)

    warm = max(1, min(200, s.messages // 10))
    run_smtp_source(port, warm, min(10, s.sessions), s.size, SENDER, rcpt, s.timeout)

    sampler = LatencySampler(port, rcpt, s.size)
    sampler.start()
    try:
        res["elapsed_s"] = run_smtp_source(port, s.messages, s.sessions, s.size,
                                           SENDER, rcpt, s.timeout)
    finally:
        sampler.stop()
    if sampler.error is not None:
        raise RuntimeError("%s latency sampler: %s" % (name, sampler.error))
    res["rate"] = s.messages / res["elapsed_s"]
    res["samples"] = len(sampler.samples)
    res["p50"] = percentile(sampler.samples, 50)
    res["p99"] = percentile(sampler.samples, 99)
    res["extra_accepted"] = warm + len(sampler.samples)
    return res


def run_postfix(base, s):
    pf = PostfixInstance(base, mode="discard", process_limit=s.idle + 200)
    pf.start()
    try:
        res = measure("postfix", pf.port, "rcpt@remote.bench.test",
                      lambda: total_kb(smtpd_pids(pf)), s)
        res["errors"] = maillog_errors(pf)
        return res
    finally:
        pf.stop()


def run_mailyard(base, s):
    from common.sink import PostfixSink
    sink = PostfixSink(base)
    sink.start()
    stack = None
    try:
        stack = mailyard.start_stack(sink.port, max_connections=s.idle + 100)
        stack.stop("relay")
        pid = mailyard.mx_pid(stack)
        res = measure("mailyard", stack.smtp_port, mailyard.rcpt(stack),
                      lambda: total_kb([pid]), s)
        res["stored"] = mailyard.spool_count(stack)
        res["want_stored"] = s.messages + res["extra_accepted"]
        return res
    finally:
        if stack is not None:
            stack.close()
        sink.stop()


def main():
    exit_on_sigterm()
    s = settings()
    ensure_postfix()
    base = tempfile.mkdtemp(prefix="mailyard-bench-mx-")
    os.chmod(base, 0o755)
    try:
        print("mx_vs_postfix: %s, %d cores, %s" % (s.describe(), os.cpu_count(),
                                                    time.strftime("%Y-%m-%d %H:%M UTC",
                                                                  time.gmtime())), flush=True)
        pf = run_postfix(base, s)
        my = run_mailyard(base, s)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(base, ignore_errors=True)

    header("mx_vs_postfix: throughput (smtp-source -s %d -m %d -l %d)"
           % (s.sessions, s.messages, s.size))
    for r in (pf, my):
        line("%s messages/second" % r["name"], "%.1f  (%.1f s)" % (r["rate"], r["elapsed_s"]))
    line("ratio mailyard/postfix", "%.2fx  (target >= 2x)" % ratio(my["rate"], pf["rate"]))
    header("mx_vs_postfix: time from <CRLF>.<CRLF> to 250 under that load")
    for r in (pf, my):
        line("%s p50 / p99 (%d samples)" % (r["name"], r["samples"]),
             "%s / %s" % (ms(r["p50"]), ms(r["p99"])))
    header("mx_vs_postfix: memory per idle connection (%d connections after EHLO)" % s.idle)
    line("postfix smtpd processes, RSS per conn", "%.1f KiB (PSS %.1f KiB)"
         % (pf["rss_per_conn_kb"], pf["pss_per_conn_kb"]))
    line("mailyard mx, RSS per conn", "%.1f KiB (PSS %.1f KiB)  (target < 64 KiB)"
         % (my["rss_per_conn_kb"], my["pss_per_conn_kb"]))
    line("open %d idle connections took" % s.idle,
         "postfix %.1f s, mailyard %.1f s" % (pf["idle_open_s"], my["idle_open_s"]))
    header("mx_vs_postfix: checks")
    line("mailyard messages in spool", "%d (sent %d)" % (my["stored"], my["want_stored"]))
    line("postfix maillog errors", str(len(pf["errors"])))
    for e in pf["errors"][:5]:
        print("  " + e)
    return 0 if my["stored"] >= my["want_stored"] else 1


if __name__ == "__main__":
    sys.exit(main())

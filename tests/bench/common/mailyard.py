"""The Mailyard side of the benchmarks: the whole stack started by the
integration harness (tests/integration/harness, imported, not changed) with
benchmark settings: a connection limit above the idle-connection count, the
relay sending everything to a smarthost (the benchmark's smtp-sink), and one
alias bench@<domain> -> sink@remote.bench.test so RCPT is accepted and every
message is relayed. Binaries come from MAILYARD_BUILD_DIR or build/.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration"))
from harness.stack import Stack, StackConfig  # noqa: E402

ALIAS_LOCAL = "bench"
REMOTE_RCPT = "sink@remote.bench.test"


def start_stack(sink_port, max_connections=1100, relay_threads=None):
    mx_env = {"MAILYARD_SMTP_MAX_CONNECTIONS": str(max_connections),
              "MAILYARD_SMTP_TIMEOUT_SECONDS": "300"}
    # The relay runs with its own defaults (the harness sets 2 worker threads
    # and short claim/sweep intervals for every service to keep tests fast):
    # each side of relay_vs_postfix keeps its default concurrency.
    relay_env = {"MAILYARD_RELAY_TRANSPORT": "smarthost",
                 "MAILYARD_RELAY_SMARTHOST": "127.0.0.1:%d" % sink_port,
                 "MAILYARD_WORKER_THREADS": None, "MAILYARD_JOB_CLAIM_IDLE_MS": None,
                 "MAILYARD_SWEEP_MS": None, "MAILYARD_JOB_STUCK_SECONDS": None}
    if relay_threads:
        relay_env["MAILYARD_WORKER_THREADS"] = str(relay_threads)
    cfg = StackConfig(log_level=os.environ.get("BENCH_LOG_LEVEL", "info"),
                      smtp_max_message_size=26214400,
                      extra_env={"mx": mx_env, "relay": relay_env})
    stack = Stack(cfg, name="bench").start_all()
    stack.add_alias("%s@%s" % (ALIAS_LOCAL, stack.domain), [REMOTE_RCPT])
    return stack


def rcpt(stack):
    return "%s@%s" % (ALIAS_LOCAL, stack.domain)


def mx_pid(stack):
    return stack.procs["mx"].pid


def spool_count(stack, sql_where="true"):
    rows = stack.psql("select count(*) from spool.messages where origin = 'mx' and %s"
                      % sql_where)
    return int(rows[0][0])


def pending_jobs(stack, stage):
    rows = stack.psql("select count(*) from spool.jobs where stage = '%s' and state = 'pending'"
                      % stage)
    return int(rows[0][0])

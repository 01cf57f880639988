"""Benchmark sizes and knobs, read once from the environment.

BENCH_FULL=1     the sizes of issues 3 and 4 (20,000 messages, 1,000 idle
                 connections)
BENCH_SCALE=F    multiplies the message counts of the default quick run
                 (2,000 messages; e.g. 0.25 for a smoke run, 10 for the
                 full count)
BENCH_SESSIONS   parallel smtp-source sessions (default 50)
BENCH_SIZE       message payload bytes (default 5120)
BENCH_IDLE       idle connections for the memory run (default 1000)
BENCH_TIMEOUT    seconds any single waiting step may take (default 900)
"""
import os

QUICK_MESSAGES = 2000
FULL_MESSAGES = 20000


def _int(name, default):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    return int(v)


class Settings:
    def __init__(self):
        self.full = os.environ.get("BENCH_FULL", "") not in ("", "0")
        scale = float(os.environ.get("BENCH_SCALE", "1") or "1")
        base = FULL_MESSAGES if self.full else QUICK_MESSAGES
        self.messages = _int("BENCH_MESSAGES", max(1, int(base * scale)))
        self.sessions = _int("BENCH_SESSIONS", 50)
        self.size = _int("BENCH_SIZE", 5120)
        self.idle = _int("BENCH_IDLE", 1000)
        self.timeout = _int("BENCH_TIMEOUT", 900)
        self.scale = scale

    def describe(self):
        return ("%d messages of %d bytes over %d sessions, %d idle connections%s"
                % (self.messages, self.size, self.sessions, self.idle,
                   " (BENCH_FULL)" if self.full else ""))


def settings():
    return Settings()


def exit_on_sigterm():
    """Turns SIGTERM (e.g. from `timeout`) into SystemExit so that the
    finally blocks stop Postfix, the sink and the Mailyard stack."""
    import signal

    def _raise(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, _raise)

"""Small helpers shared by the harness: free ports, polling, unique names."""
import os
import socket
import time
import uuid


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (for DNS)."""
    for _ in range(50):
        port = free_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free UDP+TCP port")


def unique(prefix):
    """A short unique lowercase name, e.g. unique('alias') -> 'alias-3f9a1c2b'."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def wait_until(fn, timeout=30.0, interval=0.1, what=None):
    """Polls fn() until it returns a truthy value, which is returned.

    Raises AssertionError after timeout seconds (every wait is bounded).
    Exceptions raised by fn count as "not yet"; the last one is reported.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last_exc = None
        except Exception as e:  # noqa: BLE001 - polling: report the last one
            last_exc = e
        if time.monotonic() >= deadline:
            msg = "timed out after %.1fs waiting for %s" % (
                timeout, what or getattr(fn, "__name__", "condition"))
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise AssertionError(msg)
        time.sleep(interval)


def repo_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.abspath(os.path.join(here, "..", "..", ".."))


def build_dir():
    """MAILYARD_BUILD_DIR or <repo>/build."""
    d = os.environ.get("MAILYARD_BUILD_DIR")
    if d:
        return os.path.abspath(d)
    return os.path.join(repo_root(), "build")

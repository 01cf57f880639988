"""A throwaway redis-server on a free loopback port, without persistence."""
import os
import shutil
import subprocess

from .util import free_port, wait_until


class Redis:
    def __init__(self, base):
        self.base = base
        self.port = free_port()
        self.dir = os.path.join(base, "redis")
        self.logfile = os.path.join(base, "redis.log")
        self.proc = None
        self.cli = shutil.which("redis-cli")

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir,
             "--daemonize", "no", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_until(lambda: self.cmd("PING").strip() == "PONG", timeout=20,
                   what="redis ready")

    def cmd(self, *args):
        """Runs one command with redis-cli and returns its raw output."""
        r = subprocess.run([self.cli, "-h", "127.0.0.1", "-p", str(self.port)]
                           + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError("redis-cli %s: %s" % (args, r.stderr))
        return r.stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()
        self.proc = None

"""A throwaway PostgreSQL server on a free loopback port.

initdb runs as user postgres (via runuser) when we are root, because
PostgreSQL refuses to run as root; the data directory is owned by that user.
fsync stays on (the default): the tests exercise the real commit path.
"""
import glob
import os
import pwd
import shutil
import subprocess

from .util import free_port, wait_until


def pg_bindir():
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(cand, "initdb")):
            return cand
    p = shutil.which("initdb")
    if p:
        return os.path.dirname(p)
    raise RuntimeError("PostgreSQL binaries not found (run `make deps`)")


class Postgres:
    """PostgreSQL in <base>/pg with its log at <base>/pg.log."""

    def __init__(self, base, dbname="mailyard"):
        self.base = base
        self.datadir = os.path.join(base, "pg")
        self.logfile = os.path.join(base, "pg.log")
        self.port = free_port()
        self.dbname = dbname
        self.bindir = pg_bindir()
        self.as_root = os.geteuid() == 0
        self.running = False

    @property
    def dsn(self):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, self.dbname)

    def _as_pg(self, argv):
        if self.as_root:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def start(self):
        os.makedirs(self.datadir, exist_ok=True)
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
            # the log file is written by pg_ctl running as postgres
            open(self.logfile, "a").close()
            os.chown(self.logfile, pw.pw_uid, pw.pw_gid)
        os.chmod(self.datadir, 0o700)
        subprocess.run(
            self._as_pg([os.path.join(self.bindir, "initdb"), "-D", self.datadir,
                         "-A", "trust", "-U", "postgres", "-E", "UTF8",
                         "--no-sync", "--no-instructions"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        opts = ("-p %d -c listen_addresses=127.0.0.1 -k %s -c max_connections=200 "
                "-c fsync=on" % (self.port, self.datadir))
        subprocess.run(
            self._as_pg([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                         "-l", self.logfile, "-o", opts, "-w", "-t", "60", "start"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.running = True
        wait_until(lambda: self._isready(), timeout=30, what="postgres ready")
        self.psql("CREATE DATABASE %s" % self.dbname, db="postgres")

    def _isready(self):
        r = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-h", "127.0.0.1",
                            "-p", str(self.port)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def psql(self, sql, db=None):
        """Runs sql and returns rows as lists of strings (unaligned, tab separated)."""
        dsn = "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db or self.dbname)
        r = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-v", "ON_ERROR_STOP=1",
                            "-At", "-F", "\t", "-d", dsn, "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, r.stderr))
        return [line.split("\t") for line in r.stdout.splitlines() if line != ""]

    def stop(self):
        if not self.running:
            return
        self.running = False
        subprocess.run(
            self._as_pg([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                         "-m", "fast", "-w", "-t", "30", "stop"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

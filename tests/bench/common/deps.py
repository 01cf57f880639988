"""Installs what the benchmarks need and the tests do not: Debian's postfix
(postfix, postsuper, postqueue, smtp-source, smtp-sink). Idempotent: apt runs
only when a tool is missing; debconf gets "No configuration" so the package
neither configures nor starts a system Postfix. Not part of deploy/local/deps.sh
because no test needs Postfix for this."""
import os
import shutil
import subprocess
import sys

TOOLS = ("/usr/sbin/postfix", "/usr/sbin/postsuper", "/usr/sbin/postqueue",
         "/usr/sbin/smtp-source", "/usr/sbin/smtp-sink")


def postfix_missing():
    return [t for t in TOOLS if not os.access(t, os.X_OK)]


def ensure_postfix():
    if not postfix_missing():
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("bench: installing postfix from Debian (No configuration)", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["debconf-set-selections"], check=True, env=env,
                   input=b"postfix postfix/main_mailer_type select No configuration\n")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env,
                   stdin=subprocess.DEVNULL)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           "postfix"], check=True, env=env, stdin=subprocess.DEVNULL)
    missing = postfix_missing()
    if missing:
        raise RuntimeError("postfix installed but missing: %s" % ", ".join(missing))


def have(tool):
    return shutil.which(tool) is not None

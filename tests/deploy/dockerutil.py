"""Helpers of the container tests: run and inspect containers (host network
only), wait for /readyz, clean up only the containers a test created."""
import json
import subprocess

import requests

from conftest import run
from harness.util import wait_until

SERVICES = ("rewrite", "lists", "archive", "relay", "mx")


def docker(*args, check=True, timeout=300):
    return run(["docker"] + [str(a) for a in args], check=check, timeout=timeout)


def inspect(name):
    return json.loads(docker("inspect", name).stdout)[0]


def remove(names):
    """Removes exactly these containers (ours), ignoring missing ones."""
    for n in names:
        subprocess.run(["docker", "rm", "-f", n], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def wait_ready(port, timeout=90, what="service"):
    def ready():
        return requests.get("http://127.0.0.1:%d/readyz" % port, timeout=2).status_code == 200
    wait_until(ready, timeout=timeout, what="%s /readyz on %d" % (what, port))


def logs(name, lines=40):
    r = subprocess.run(["docker", "logs", "--tail", str(lines), name],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.stdout

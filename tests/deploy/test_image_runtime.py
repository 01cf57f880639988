"""Image runtime checks: every binary of every image finds all the shared
libraries it links (ldd inside the image: the runtime stage must follow the
link line, e.g. mx's libmilter and libcrypt, zlib), the event-loop TLS
library is present, and the relay image ships the DNSSEC root key that the
chart's relay.dnsTrustAnchorFile points at."""
import pytest

from conftest import IMAGE_PREFIX
from dockerutil import docker

pytestmark = pytest.mark.docker
BINARIES = {"mx": "mailyard-mx", "rewrite": "mailyard-rewrite", "lists": "mailyard-lists",
            "archive": "mailyard-archive", "relay": "mailyard-relay",
            "mailyardctl": "mailyardctl"}


def in_image(tag, comp, script):
    return docker("run", "--rm", "--network", "none", "--read-only", "--entrypoint", "/bin/sh",
                  "%s/%s:%s" % (IMAGE_PREFIX, comp, tag), "-c", script, check=False)


@pytest.mark.parametrize("comp", sorted(BINARIES))
def test_every_shared_library_resolves(images, comp):
    r = in_image(images, comp, "ldd /usr/local/bin/%s" % BINARIES[comp])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "=>" in r.stdout, "ldd printed no libraries: %s" % r.stdout
    assert "not found" not in r.stdout, r.stdout


def test_mx_links_what_the_runtime_stage_installs(images):
    r = in_image(images, "mx", "ldd /usr/local/bin/mailyard-mx")
    for lib in ("libmilter.so", "libcrypt.so", "libz.so"):
        assert lib in r.stdout, "%s not linked any more? %s" % (lib, r.stdout)


def test_libevent_openssl_is_installed(images):
    r = in_image(images, "mx", "ls /usr/lib/*/libevent_openssl-2.1.so.7")
    assert r.returncode == 0, r.stdout + r.stderr


def test_relay_image_has_the_dnssec_root_key(images):
    r = in_image(images, "relay", "grep -E 'IN[[:space:]]+(DS|DNSKEY)' /usr/share/dns/root.key")
    assert r.returncode == 0 and r.stdout.strip(), r.stdout + r.stderr

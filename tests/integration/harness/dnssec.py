"""DNSSEC-signed test zones served by NSD on a loopback port (for DANE).

Zones are written as plain zone files, signed with ldns-keygen and
ldns-signzone (ldnsutils; one ECDSA P-256 key per zone, used as KSK and ZSK,
NSEC) and served, signed or not, by an NSD started in the foreground with a
private configuration under `base`. The relay's resolver forwards to this
server (MAILYARD_DNS_SERVERS = `server_spec`) and trusts the signed zones'
keys (MAILYARD_DNS_TRUST_ANCHOR_FILE = `trust_anchor_file`), so its answers
for those zones are really validated by libunbound.

    z = SignedZones(tmpdir)
    z.add_zone("dane.test", ["@ MX 10 mx.dane.test.", "mx A 127.0.0.1",
                             "_25._tcp.mx TLSA 3 1 1 <hex>"])
    z.add_zone("plain.test", [...], sign=False)
    z.corrupt("dane.test", "_25._tcp.mx-bogus.dane.test", "TLSA")  # bogus RRSIG
    z.start(); ...; z.stop()

tlsa_3_1_1(cert_pem_path) gives the "3 1 1" data of a certificate (SHA-256
of its SubjectPublicKeyInfo).
"""
import base64
import hashlib
import os
import shutil
import socket
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .util import free_udp_tcp_port


def tlsa_3_1_1(cert_path):
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "3 1 1 " + hashlib.sha256(spki).hexdigest()


def tlsa_2_0_1(ca_cert_path):
    """DANE-TA(2), full certificate, SHA-256: the record of a trust anchor."""
    with open(ca_cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return "2 0 1 " + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class SignedZones:
    def __init__(self, base):
        self.base = os.path.join(base, "nsd")
        os.makedirs(self.base, exist_ok=True)
        self.port = free_udp_tcp_port()
        self.zones = {}          # origin -> (records, sign)
        self.corruptions = []    # (origin, owner, rtype)
        self.proc = None
        self.trust_anchor_file = os.path.join(self.base, "trust-anchors")

    @property
    def server_spec(self):
        return "127.0.0.1@%d" % self.port

    def add_zone(self, origin, records, sign=True):
        """records: zone-file lines relative to origin (TTL and class may be
        left out; "@" is the apex). SOA and NS are added."""
        self.zones[origin.rstrip(".").lower()] = (list(records), sign)

    def corrupt(self, origin, owner, rtype):
        """After signing, flips bits in the signature of owner's rtype RRset
        so that a validating resolver finds it bogus."""
        self.corruptions.append((origin.rstrip(".").lower(), owner.rstrip(".").lower() + ".",
                                 rtype.upper()))

    def _write_zone(self, origin):
        records, sign = self.zones[origin]
        path = os.path.join(self.base, origin + ".zone")
        lines = ["$ORIGIN %s." % origin, "$TTL 60",
                 "@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60" % (origin, origin),
                 "@ IN NS ns.%s." % origin, "ns IN A 127.0.0.1"]
        lines += records
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if not sign:
            return path
        key = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", origin],
                             cwd=self.base, check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True).stdout.strip()
        keybase = os.path.join(self.base, key)
        # a far expiration so a slow run never sees expired signatures
        subprocess.run(["ldns-signzone", "-n", "-e", "20361231000000", "-f", path + ".signed",
                        path, keybase], cwd=self.base, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(keybase + ".key") as f, open(self.trust_anchor_file, "a") as ta:
            ta.write(f.read().strip() + "\n")
        path += ".signed"
        for zo, owner, rtype in self.corruptions:
            if zo == origin:
                self._corrupt_file(path, owner, rtype)
        return path

    @staticmethod
    def _corrupt_file(path, owner, rtype):
        out, done = [], False
        with open(path) as f:
            for line in f:
                fields = line.split()
                if (not done and len(fields) > 12 and fields[0].lower() == owner and
                        fields[3] == "RRSIG" and fields[4] == rtype):
                    sig = bytearray(base64.b64decode("".join(fields[12:])))
                    sig[10] ^= 0xFF
                    line = "\t".join(fields[:12] + [base64.b64encode(bytes(sig)).decode()]) \
                        + "\n"
                    done = True
                out.append(line)
        if not done:
            raise RuntimeError("no RRSIG %s for %s in %s" % (rtype, owner, path))
        with open(path, "w") as f:
            f.writelines(out)

    def start(self):
        if os.path.exists(self.trust_anchor_file):
            os.unlink(self.trust_anchor_file)
        conf = ["server:", "  ip-address: 127.0.0.1", "  port: %d" % self.port,
                "  username: \"\"", "  chroot: \"\"", "  zonesdir: \"%s\"" % self.base,
                "  database: \"\"", "  zonelistfile: \"%s/zone.list\"" % self.base,
                "  xfrdfile: \"%s/xfrd.state\"" % self.base,
                "  xfrdir: \"%s\"" % self.base,
                "  pidfile: \"%s/nsd.pid\"" % self.base,
                "  logfile: \"%s/nsd.log\"" % self.base,
                "  server-count: 1", "  verbosity: 1", "  hide-version: yes",
                "remote-control:", "  control-enable: no"]
        for origin in self.zones:
            path = self._write_zone(origin)
            conf += ["zone:", "  name: %s" % origin, "  zonefile: \"%s\"" % path]
        cpath = os.path.join(self.base, "nsd.conf")
        with open(cpath, "w") as f:
            f.write("\n".join(conf) + "\n")
        subprocess.run(["nsd-checkconf", cpath], check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
        self.proc = subprocess.Popen(["nsd", "-d", "-c", cpath], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = open(os.path.join(self.base, "nsd.log")).read() \
                    if os.path.exists(os.path.join(self.base, "nsd.log")) else ""
                self.stop()
                raise RuntimeError("nsd did not start:\n" + log[-2000:])
            time.sleep(0.1)
        return self

    def _answers(self):
        """One SOA query for the first zone over UDP."""
        origin = next(iter(self.zones))
        q = b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        for label in origin.split("."):
            q += bytes([len(label)]) + label.encode()
        q += b"\x00\x00\x06\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                data = s.recv(4096)
            except OSError:
                return False
        return len(data) > 12 and data[:2] == b"\x12\x34" and (data[3] & 0x0F) == 0

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

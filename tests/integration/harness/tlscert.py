"""Test certificates (openssl): a self-signed one for the mx's STARTTLS, and
a leaf issued by a small CA (DANE-TA tests)."""
import os
import subprocess


def make_self_signed(dirpath, cn="mx.example.test"):
    """Writes cert.pem and key.pem into dirpath and returns their paths."""
    os.makedirs(dirpath, exist_ok=True)
    cert = os.path.join(dirpath, "cert.pem")
    key = os.path.join(dirpath, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % cn],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.chmod(key, 0o600)
    return cert, key


def make_ca_issued(dirpath, cn):
    """A CA and a leaf for cn issued by it. Returns (chain, key, ca): chain
    is the leaf followed by the CA certificate (what a server presents)."""
    os.makedirs(dirpath, exist_ok=True)
    p = lambda n: os.path.join(dirpath, n)  # noqa: E731

    def run(*argv):
        subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"),
        "-out", p("ca.pem"), "-days", "30", "-subj", "/CN=Mailyard test DANE CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("key.pem"),
        "-out", p("leaf.csr"), "-subj", "/CN=" + cn)
    with open(p("ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % cn)
    run("openssl", "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"),
        "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("leaf.pem"), "-days", "30",
        "-extfile", p("ext.cnf"))
    with open(p("chain.pem"), "w") as out:
        for n in ("leaf.pem", "ca.pem"):
            with open(p(n)) as f:
                out.write(f.read())
    os.chmod(p("key.pem"), 0o600)
    return p("chain.pem"), p("key.pem"), p("ca.pem")

"""A self-signed certificate for the mx's STARTTLS (openssl req)."""
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

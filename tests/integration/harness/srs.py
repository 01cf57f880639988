"""The SRS contract of libcommon/srs.h, in Python, to check what rewrite
produces (the tests know the secrets) and to forge addresses."""
import base64
import hashlib
import hmac
import re
import time

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SRS0_RE = re.compile(r"^SRS0=([A-Za-z0-9+/_-]{4})=([A-Za-z2-7]{2})=([^=@]+)=([^@]+)@(.+)$",
                     re.IGNORECASE)


def srs_tt(now=None):
    days = int((now if now is not None else time.time()) // 86400) % 1024
    return _B32[days >> 5] + _B32[days & 31]


def srs_hash(secret, tt, domain, local):
    mac = hmac.new(secret.encode(), (tt.lower() + domain.lower() + local.lower()).encode(),
                   hashlib.sha1).digest()
    return base64.urlsafe_b64encode(mac).decode()[:4]


def norm_hash(h):
    return h.lower().replace("+", "-").replace("/", "_")


def srs_forward(secret, sender, srs_domain, now=None):
    local, domain = sender.rsplit("@", 1)
    tt = srs_tt(now)
    return "SRS0=%s=%s=%s=%s@%s" % (srs_hash(secret, tt, domain, local), tt, domain, local,
                                    srs_domain)

"""A tiny authoritative DNS server (dnslib) for the relay's MX look-ups.

Records are kept in a dict the tests change at run time:
    dns.add("remote.test", "MX", "10 mx.remote.test")
    dns.add("mx.remote.test", "A", "127.0.0.1")
    dns.add_mail_domain("elsewhere.test")   # MX -> mx.remote.test
Names not in the zone get NXDOMAIN; a known name without the asked type gets
an empty NOERROR answer (with an SOA so resolvers can cache the negative).
Serves UDP and TCP on the same loopback port.
"""
import threading

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from .util import free_udp_tcp_port


class _Resolver(BaseResolver):
    def __init__(self, owner):
        self.owner = owner

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.owner.lock:
            self.owner.queries.append((qname, qtype))
            recs = self.owner.records.get(qname)
            if recs is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            for rtype, rdata in recs:
                if rtype == qtype or (rtype == "CNAME" and qtype != "CNAME"):
                    reply.add_answer(*RR.fromZone("%s. 60 IN %s %s" % (qname, rtype, rdata)))
        if not reply.rr:
            reply.add_auth(*RR.fromZone(
                "%s. 60 IN SOA ns.test. hostmaster.test. 1 60 60 60 60" % qname))
        return reply


class DnsServer:
    def __init__(self):
        self.port = free_udp_tcp_port()
        self.records = {}
        self.queries = []
        self.lock = threading.Lock()
        self.servers = []
        self.add("mx.remote.test", "A", "127.0.0.1")
        for d in ("remote.test", "sender.test", "origin.test"):
            self.add_mail_domain(d)

    def add(self, name, rtype, rdata):
        with self.lock:
            self.records.setdefault(name.lower().rstrip("."), []).append(
                (rtype.upper(), rdata))

    def add_mail_domain(self, domain, mx="mx.remote.test"):
        """A remote domain whose MX is the test SMTP sink (via mx.remote.test)."""
        self.add(domain, "MX", "10 %s." % mx.rstrip("."))

    @property
    def server_spec(self):
        """The MAILYARD_DNS_SERVERS value ("127.0.0.1@port")."""
        return "127.0.0.1@%d" % self.port

    def start(self):
        logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        resolver = _Resolver(self)
        for tcp in (False, True):
            s = DNSServer(resolver, port=self.port, address="127.0.0.1", tcp=tcp, logger=logger)
            s.start_thread()
            self.servers.append(s)

    def query(self, name, rtype="A"):
        """Asks our own server (a self-check for the tests)."""
        q = DNSRecord.question(name, rtype)
        return DNSRecord.parse(q.send("127.0.0.1", self.port, timeout=2))

    def stop(self):
        for s in self.servers:
            try:
                s.server.shutdown()
                s.server.server_close()
            except Exception:  # noqa: BLE001
                pass
        self.servers = []

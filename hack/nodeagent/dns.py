"""The local cluster's DNS server: answers for cluster names over UDP and TCP.

Keeps Services, EndpointSlices and Pods live through list-and-watch and answers from a
`dnsrecords.Zone` snapshot, rebuilt lazily after any change. Names outside the cluster domain
(and outside the pod network's reverse zone) get REFUSED at once: nothing is forwarded, so
nothing ever leaves the machine. Until the first list of all three kinds arrived, cluster
names get SERVFAIL (clients retry) rather than a wrong NXDOMAIN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from controller.clients.kube import PODS, SERVICES, KubeClient, Obj, Resource
from nodeagent.dnsrecords import Answer, Zone, build_zone
from nodeagent.kinds import ENDPOINT_SLICES
from nodeagent.watch import list_and_watch

log = logging.getLogger(__name__)

TTL = 5  # seconds; pods come and go, and resolvers must notice quickly
UDP_PLAIN_LIMIT = 512
TCP_IDLE_TIMEOUT = 30.0


class ClusterDNS:
    """Serves cluster DNS on `listen`:`port` (UDP and TCP) until cancelled.

    port=0 picks a free port (UDP first, TCP then on the same number); `bound_port` and the
    `serving` event tell callers (tests) where and when it listens.
    """

    def __init__(
        self,
        kube: KubeClient,
        listen: str = "10.213.0.1",
        port: int = 53,
        domain: str = "cluster.local",
        pod_network: str = "10.213.0.0/16",
    ):
        self.kube = kube
        self.listen = listen
        self.port = port
        self.domain = domain
        self.pod_network = pod_network
        self.bound_port: int | None = None
        self.serving = asyncio.Event()
        self.synced = asyncio.Event()
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._zone: Zone | None = None
        self._empty = build_zone([], [], [], domain, pod_network)

    async def run(self) -> None:
        watchers = [
            asyncio.create_task(self._watch(res), name=f"dns-watch-{res.plural}")
            for res in (SERVICES, ENDPOINT_SLICES, PODS)
        ]
        transport, tcp = await self._bind()
        self.serving.set()
        log.info("cluster DNS serving on %s:%s", self.listen, self.bound_port)
        try:
            await asyncio.gather(*watchers)
        finally:
            for task in watchers:
                task.cancel()
            transport.close()
            tcp.close()
            with contextlib.suppress(Exception):
                await tcp.wait_closed()

    async def _bind(self) -> tuple[asyncio.DatagramTransport, asyncio.Server]:
        """Binds both sockets, retrying while the address is not there yet (bridge missing)."""
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self), local_addr=(self.listen, self.port)
                )
                port = transport.get_extra_info("sockname")[1]
                try:
                    tcp = await asyncio.start_server(self._serve_tcp, self.listen, port)
                except OSError:
                    transport.close()
                    raise
                self.bound_port = port
                return transport, tcp
            except OSError as exc:
                log.warning("cluster DNS cannot bind %s:%s yet: %s", self.listen, self.port, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _watch(self, res: Resource) -> None:
        store: dict[tuple[str, str], Obj] = {}
        async for change in list_and_watch(self.kube, res):
            store = change.apply(store, _key)
            self._objects[res.plural] = store
            self._zone = None
            if len(self._objects) == 3:
                self.synced.set()

    def zone(self) -> Zone | None:
        """The current snapshot, rebuilt if anything changed since; None before the first sync."""
        if not self.synced.is_set():
            return None
        if self._zone is None:
            objs = self._objects
            self._zone = build_zone(
                objs[SERVICES.plural].values(),
                objs[ENDPOINT_SLICES.plural].values(),
                objs[PODS.plural].values(),
                self.domain,
                self.pod_network,
            )
        return self._zone

    def answer(self, wire: bytes, max_size: int | None) -> bytes | None:
        zone = self.zone()
        return respond(wire, zone or self._empty, synced=zone is not None, max_size=max_size)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                wire = await asyncio.wait_for(
                    reader.readexactly(struct.unpack("!H", header)[0]), TCP_IDLE_TIMEOUT
                )
                reply = self.answer(wire, None)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: ClusterDNS):
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            reply = self.server.answer(data, UDP_PLAIN_LIMIT)
        except Exception:  # one bad packet must not stop the server
            log.exception("cluster DNS failed to answer a query from %s", addr)
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def respond(wire: bytes, zone: Zone, *, synced: bool, max_size: int | None) -> bytes | None:
    """The reply to one query message (pure); None when not even the header is parsable.

    `max_size` is the UDP limit without EDNS (None over TCP); not `synced` means the data
    is not there yet, so cluster names get SERVFAIL.
    """
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return _formerr(wire)
    response = dns.message.make_response(query)
    response.flags &= ~dns.flags.RA
    if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
        response.set_rcode(dns.rcode.NOTIMP if len(query.question) == 1 else dns.rcode.FORMERR)
        return response.to_wire()
    question = query.question[0]
    qname = question.name.to_text()
    if not synced:
        rcode = dns.rcode.SERVFAIL if zone.in_zone(qname) else dns.rcode.REFUSED
        response.set_rcode(rcode)
        return response.to_wire()
    _fill(response, zone.lookup(qname, dns.rdatatype.to_text(question.rdtype)), zone, qname)
    limit = max_size or 65535
    if query.edns >= 0 and max_size:
        limit = max(max_size, min(query.payload, 65535))
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer, response.additional = [], []
        response.flags |= dns.flags.TC
        return response.to_wire()


def _fill(response: dns.message.Message, answer: Answer, zone: Zone, qname: str) -> None:
    response.set_rcode(dns.rcode.from_text(answer.rcode))
    if not answer.authoritative:
        return
    response.flags |= dns.flags.AA
    response.answer += _rrsets(answer.records)
    response.additional += _rrsets(answer.additional)
    if not answer.records:
        # Negative answers carry the SOA, whose minimum bounds how long they are cached.
        apex = zone.reverse_origin if qname.lower().endswith(".in-addr.arpa.") else zone.origin
        soa = f"ns.dns.{zone.origin} hostmaster.{zone.origin} 1 {TTL} {TTL} 86400 {TTL}"
        response.authority.append(dns.rrset.from_text(apex, TTL, dns.rdataclass.IN, "SOA", soa))


def _rrsets(records: list[Any]) -> list[dns.rrset.RRset]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for rec in records:
        grouped.setdefault((rec.name, rec.rtype), []).append(rec.data)
    return [
        dns.rrset.from_text_list(name, TTL, dns.rdataclass.IN, rtype, data)
        for (name, rtype), data in grouped.items()
    ]


def _formerr(wire: bytes) -> bytes | None:
    """A FORMERR echoing the query id, when at least the 12-byte header is there."""
    if len(wire) < 12:
        return None
    (qid,) = struct.unpack("!H", wire[:2])
    flags = int(dns.flags.QR) | int(dns.rcode.FORMERR)
    return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))

"""Cluster DNS: record computation (nodeagent.dnsrecords) and replies, table-driven."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest
from nodeagent.dns import respond
from nodeagent.dnsrecords import NOERROR, NXDOMAIN, REFUSED, Record, Zone, build_zone

Obj = dict[str, Any]


def service(name: str, ns: str = "ns1", *, headless: bool = False, pna: bool = False) -> Obj:
    spec: Obj = {"clusterIP": "None" if headless else "10.0.0.10", "ports": [{"port": 2379}]}
    if pna:
        spec["publishNotReadyAddresses"] = True
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def external(name: str, target: str, ns: str = "ns1") -> Obj:
    spec = {"type": "ExternalName", "externalName": target}
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoint(ip: str, ready: bool | None = True, hostname: str | None = None) -> Obj:
    ep: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname:
        ep["hostname"] = hostname
    return ep


def slice_(svc: str, *endpoints: Obj, ns: str = "ns1", ports: list[Obj] | None = None) -> Obj:
    return {
        "metadata": {
            "name": f"{svc}-abc",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": "IPv4",
        "endpoints": list(endpoints),
        "ports": ports if ports is not None else [{"name": "client", "port": 2379}],
    }


def pod(
    name: str,
    ip: str | None,
    *,
    ns: str = "ns1",
    hostname: str | None = None,
    subdomain: str | None = None,
    ready: bool = True,
    deleting: bool = False,
    phase: str = "Running",
) -> Obj:
    meta: Obj = {"name": name, "namespace": ns}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: Obj = {}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"metadata": meta, "spec": spec, "status": status}


WORLD = build_zone(
    services=[
        service("web"),
        service("empty"),
        service("etcd", headless=True, pna=True),
        service("quorum", headless=True),
        service("peers", headless=True, pna=True),
        external("ext", "example.org"),
        service("web", ns="ns2"),
    ],
    endpoint_slices=[
        slice_("web", endpoint("10.213.1.2"), endpoint("10.213.1.3", ready=False)),
        slice_("web", endpoint("10.213.1.4", ready=None)),
        slice_(
            "etcd",
            endpoint("10.213.2.2", hostname="etcd-0"),
            endpoint("10.213.2.3", ready=False, hostname="etcd-1"),
            ports=[{"name": "client", "port": 2379}, {"name": "peer", "port": 2380}, {"port": 9}],
        ),
        slice_("quorum", endpoint("10.213.3.2"), endpoint("10.213.3.3", ready=False)),
        slice_("web", endpoint("10.213.9.9"), ns="ns2"),
        slice_("orphan", endpoint("10.213.9.8")),
    ],
    pods=[
        pod("etcd-0", "10.213.2.2", hostname="etcd-0", subdomain="etcd"),
        pod("m-1", "10.213.4.2", hostname="m-1", subdomain="quorum"),
        pod("m-2", "10.213.4.3", hostname="m-2", subdomain="quorum", ready=False),
        pod("m-3", "10.213.4.4", hostname="m-3", subdomain="quorum", deleting=True),
        pod("p-1", "10.213.4.5", hostname="p-1", subdomain="peers", ready=False),
        pod("x-1", "10.213.4.6", hostname="x-1", subdomain="web"),  # web is not headless
        pod("y-1", "10.213.4.7", hostname="y-1", subdomain="nosuch"),
        pod("done", "10.213.4.8", hostname="done", subdomain="peers", phase="Succeeded"),
        pod("pending", None, hostname="pending", subdomain="peers"),
    ],
)

D = "cluster.local."


@pytest.mark.parametrize(
    ("qname", "qtype", "rcode", "data"),
    [
        # ClusterIP service: its ready endpoints (ready missing counts as ready), all slices.
        (f"web.ns1.svc.{D}", "A", NOERROR, ["10.213.1.2", "10.213.1.4"]),
        ("web.ns1.svc.", "A", NOERROR, ["10.213.1.2", "10.213.1.4"]),
        (f"WEB.NS1.svc.{D}", "A", NOERROR, ["10.213.1.2", "10.213.1.4"]),
        (f"web.ns2.svc.{D}", "A", NOERROR, ["10.213.9.9"]),
        (f"web.ns1.svc.{D}", "AAAA", NOERROR, []),
        (f"empty.ns1.svc.{D}", "A", NOERROR, []),
        (f"nosuch.ns1.svc.{D}", "A", NXDOMAIN, []),
        (f"orphan.ns1.svc.{D}", "A", NXDOMAIN, []),  # a slice without its Service
        # ClusterIP services have no per-endpoint names.
        (f"10-213-1-2.web.ns1.svc.{D}", "A", NXDOMAIN, []),
        # Headless with publishNotReadyAddresses: every endpoint, by hostname.
        (f"etcd.ns1.svc.{D}", "A", NOERROR, ["10.213.2.2", "10.213.2.3"]),
        (f"etcd-1.etcd.ns1.svc.{D}", "A", NOERROR, ["10.213.2.3"]),
        ("etcd-0.etcd.ns1.svc.", "A", NOERROR, ["10.213.2.2"]),
        (
            f"_client._tcp.etcd.ns1.svc.{D}",
            "SRV",
            NOERROR,
            [f"0 100 2379 etcd-0.etcd.ns1.svc.{D}", f"0 100 2379 etcd-1.etcd.ns1.svc.{D}"],
        ),
        (
            f"_peer._tcp.etcd.ns1.svc.{D}",
            "SRV",
            NOERROR,
            [f"0 100 2380 etcd-0.etcd.ns1.svc.{D}", f"0 100 2380 etcd-1.etcd.ns1.svc.{D}"],
        ),
        (f"_peer._udp.etcd.ns1.svc.{D}", "SRV", NXDOMAIN, []),
        (f"_client._tcp.web.ns1.svc.{D}", "SRV", NOERROR, [f"0 100 2379 web.ns1.svc.{D}"] * 1),
        # Headless without it: ready ones only; unnamed endpoints get their dashed IP.
        (f"quorum.ns1.svc.{D}", "A", NOERROR, ["10.213.3.2"]),
        (f"10-213-3-2.quorum.ns1.svc.{D}", "A", NOERROR, ["10.213.3.2"]),
        (f"10-213-3-3.quorum.ns1.svc.{D}", "A", NXDOMAIN, []),
        # Pod hostname.subdomain records straight from Pods.
        (f"m-1.quorum.ns1.svc.{D}", "A", NOERROR, ["10.213.4.2"]),
        (f"m-2.quorum.ns1.svc.{D}", "A", NXDOMAIN, []),  # not ready
        (f"m-3.quorum.ns1.svc.{D}", "A", NXDOMAIN, []),  # terminating
        (f"p-1.peers.ns1.svc.{D}", "A", NOERROR, ["10.213.4.5"]),  # not ready, but published
        (f"x-1.web.ns1.svc.{D}", "A", NXDOMAIN, []),  # subdomain service is not headless
        (f"y-1.nosuch.ns1.svc.{D}", "A", NXDOMAIN, []),
        (f"done.peers.ns1.svc.{D}", "A", NXDOMAIN, []),
        (f"pending.peers.ns1.svc.{D}", "A", NXDOMAIN, []),
        # Pod IP names, only for IPs that exist in that namespace.
        (f"10-213-4-2.ns1.pod.{D}", "A", NOERROR, ["10.213.4.2"]),
        (f"10-213-4-2.ns2.pod.{D}", "A", NXDOMAIN, []),
        # ExternalName: a CNAME, never chased.
        (f"ext.ns1.svc.{D}", "A", NOERROR, ["example.org."]),
        # Empty non-terminals and the apex exist; other names in the zone do not.
        (f"ns1.svc.{D}", "A", NOERROR, []),
        (f"svc.{D}", "A", NOERROR, []),
        (D, "A", NOERROR, []),
        (f"web.ns1.svc.ns1.svc.{D}", "A", NXDOMAIN, []),
        (f"nosuch.{D}", "A", NXDOMAIN, []),
        # Outside the cluster: refused, never forwarded.
        ("example.org.", "A", REFUSED, []),
        ("cluster.local.example.org.", "A", REFUSED, []),
        ("localcluster.local.", "A", REFUSED, []),
        # Reverse lookups inside the pod network.
        ("2.2.213.10.in-addr.arpa.", "PTR", NOERROR, [f"etcd-0.etcd.ns1.svc.{D}"]),
        ("2.4.213.10.in-addr.arpa.", "PTR", NOERROR, [f"m-1.quorum.ns1.svc.{D}"]),
        ("3.4.213.10.in-addr.arpa.", "PTR", NOERROR, [f"10-213-4-3.ns1.pod.{D}"]),
        ("9.9.9.10.in-addr.arpa.", "PTR", REFUSED, []),
        ("99.99.213.10.in-addr.arpa.", "PTR", NXDOMAIN, []),
    ],
)
def test_lookup(qname: str, qtype: str, rcode: str, data: list[str]) -> None:
    answer = WORLD.lookup(qname, qtype)
    assert answer.rcode == rcode
    assert [r.data for r in answer.records] == data
    owner = qname if qname.endswith(".") else qname + "."
    assert all(r.name == owner for r in answer.records)


def test_srv_answer_carries_the_targets_addresses() -> None:
    answer = WORLD.lookup(f"_client._tcp.etcd.ns1.svc.{D}", "SRV")
    assert set(answer.additional) == {
        Record(f"etcd-0.etcd.ns1.svc.{D}", "A", "10.213.2.2"),
        Record(f"etcd-1.etcd.ns1.svc.{D}", "A", "10.213.2.3"),
    }


def test_external_name_is_a_cname_record() -> None:
    answer = WORLD.lookup(f"ext.ns1.svc.{D}", "A")
    assert answer.records == [Record(f"ext.ns1.svc.{D}", "CNAME", "example.org.")]


@pytest.mark.parametrize(
    ("qname", "authoritative"),
    [(f"web.ns1.svc.{D}", True), ("example.org.", False), ("4.3.2.1.in-addr.arpa.", False)],
)
def test_authority(qname: str, authoritative: bool) -> None:
    assert WORLD.lookup(qname, "A").authoritative is authoritative
    assert WORLD.in_zone(qname) is authoritative


def test_other_cluster_domain() -> None:
    zone: Zone = build_zone([service("a")], [slice_("a", endpoint("10.213.1.9"))], [], "k8s.test")
    assert [r.data for r in zone.lookup("a.ns1.svc.k8s.test.", "A").records] == ["10.213.1.9"]
    assert zone.lookup("a.ns1.svc.cluster.local.", "A").rcode == REFUSED
    assert [r.data for r in zone.lookup("a.ns1.svc.", "A").records] == ["10.213.1.9"]


# Wire level: nodeagent.dns.respond turns a query message into the reply message.


def ask(name: str, rdtype: str = "A", *, synced: bool = True, **kw: Any) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)
    reply = respond(query.to_wire(), WORLD, synced=synced, max_size=512)
    assert reply is not None
    return dns.message.from_wire(reply)


def test_wire_answer_is_authoritative_with_short_ttl() -> None:
    reply = ask(f"web.ns1.svc.{D}")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA and not reply.flags & dns.flags.RA
    (rrset,) = reply.answer
    assert sorted(rd.to_text() for rd in rrset) == ["10.213.1.2", "10.213.1.4"]
    assert rrset.ttl == 5


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode", "soa_owner"),
    [
        (f"nosuch.ns1.svc.{D}", "A", dns.rcode.NXDOMAIN, D),
        (f"web.ns1.svc.{D}", "AAAA", dns.rcode.NOERROR, D),
        ("99.99.213.10.in-addr.arpa.", "PTR", dns.rcode.NXDOMAIN, "213.10.in-addr.arpa."),
    ],
)
def test_wire_negative_answers_carry_the_soa(
    name: str, rdtype: str, rcode: dns.rcode.Rcode, soa_owner: str
) -> None:
    reply = ask(name, rdtype)
    assert reply.rcode() == rcode and not reply.answer
    (soa,) = reply.authority
    assert soa.name.to_text() == soa_owner and soa[0].minimum == 5


def test_wire_outside_names_are_refused_without_authority() -> None:
    reply = ask("example.org.")
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.answer and not reply.authority and not reply.flags & dns.flags.AA


@pytest.mark.parametrize(
    ("name", "rcode"),
    [(f"web.ns1.svc.{D}", dns.rcode.SERVFAIL), ("example.org.", dns.rcode.REFUSED)],
)
def test_wire_before_the_first_sync(name: str, rcode: dns.rcode.Rcode) -> None:
    assert ask(name, synced=False).rcode() == rcode


def test_wire_srv_carries_addresses_in_additional() -> None:
    reply = ask(f"_client._tcp.etcd.ns1.svc.{D}", "SRV")
    assert len(reply.answer[0]) == 2
    names = sorted(rrset.name.to_text() for rrset in reply.additional)
    assert names == [f"etcd-0.etcd.ns1.svc.{D}", f"etcd-1.etcd.ns1.svc.{D}"]


BIG = build_zone(
    [service("big", headless=True)],
    [slice_("big", *(endpoint(f"10.213.7.{i}") for i in range(1, 61)))],
    [],
)


@pytest.mark.parametrize(
    ("edns", "max_size", "truncated"),
    [(False, 512, True), (True, 512, False), (False, None, False)],
)
def test_wire_truncation(edns: bool, max_size: int | None, truncated: bool) -> None:
    query = dns.message.make_query(f"big.ns1.svc.{D}", "A", use_edns=0 if edns else None)
    wire = respond(query.to_wire(), BIG, synced=True, max_size=max_size)
    assert wire is not None
    reply = dns.message.from_wire(wire)
    assert bool(reply.flags & dns.flags.TC) is truncated
    assert sum(len(r) for r in reply.answer) == (0 if truncated else 60)


def test_wire_garbage() -> None:
    assert respond(b"\x01", WORLD, synced=True, max_size=512) is None
    reply = respond(b"\x12\x34" + b"\xff" * 20, WORLD, synced=True, max_size=512)
    assert reply is not None and reply[:2] == b"\x12\x34"
    assert reply[3] & 0x0F == dns.rcode.FORMERR

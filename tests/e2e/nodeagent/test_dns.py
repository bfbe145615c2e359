"""Cluster DNS against the real API: answers follow Services and EndpointSlices live.

The server runs inside the test on 127.0.0.1 and a free port (not the agent's 10.213.0.1:53),
fed by the real API server; the Services are selector-less, so the EndpointSlices are the
test's own and the controller-manager leaves them alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from nodeagent.dns import ClusterDNS
from nodeagent.kinds import ENDPOINT_SLICES

from controller.clients.kube import SERVICES, KubeClient

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]


@pytest.fixture
async def cluster_dns(kube: KubeClient) -> AsyncIterator[ClusterDNS]:
    server = ClusterDNS(kube, listen="127.0.0.1", port=0)
    task = asyncio.create_task(server.run())
    await asyncio.wait_for(server.serving.wait(), 60)
    await asyncio.wait_for(server.synced.wait(), 60)
    try:
        yield server
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def query(server: ClusterDNS, name: str, rdtype: str = "A", tcp: bool = False) -> Obj:
    msg = dns.message.make_query(name, rdtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    reply = await send(msg, "127.0.0.1", port=server.bound_port or 0, timeout=10)
    values = sorted(rd.to_text() for rrset in reply.answer for rd in rrset)
    return {"rcode": dns.rcode.to_text(reply.rcode()), "values": values}


async def eventually(check: Callable[[], Any], expected: Any, timeout: float = 60) -> None:
    """Polls until `await check()` equals `expected` (watch events take a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got == expected or time.monotonic() > deadline:
            assert got == expected
            return
        await asyncio.sleep(0.5)


def service(name: str, *, headless: bool, pna: bool = False) -> Obj:
    spec: Obj = {"ports": [{"name": "client", "port": 2379}], "publishNotReadyAddresses": pna}
    if headless:
        spec["clusterIP"] = "None"
    return {"metadata": {"name": name}, "spec": spec}


def endpoint_slice(svc: str, endpoints: list[tuple[str, str, bool]]) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{svc}-test", "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "client", "port": 2379, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "hostname": host, "conditions": {"ready": ready}}
            for ip, host, ready in endpoints
        ],
    }


TWO = [("10.213.200.2", "a", True), ("10.213.200.3", "b", False)]


async def test_answers_follow_services_and_endpoint_slices(
    kube: KubeClient, namespace: str, cluster_dns: ClusterDNS
) -> None:
    for name, headless, pna in [("plain", False, False), ("hl", True, False), ("hlp", True, True)]:
        await kube.create(SERVICES, service(name, headless=headless, pna=pna), namespace)
        await kube.create(ENDPOINT_SLICES, endpoint_slice(name, TWO), namespace)

    def a(name: str, **kw: Any) -> Callable[[], Any]:
        return lambda: query(cluster_dns, f"{name}.{namespace}.svc.cluster.local.", **kw)

    ok = "NOERROR"
    # ClusterIP (no kube-proxy here): ready endpoints only; headless likewise; publishNotReady:
    # every endpoint.
    await eventually(a("plain"), {"rcode": ok, "values": ["10.213.200.2"]})
    await eventually(a("hl"), {"rcode": ok, "values": ["10.213.200.2"]})
    await eventually(a("hlp"), {"rcode": ok, "values": ["10.213.200.2", "10.213.200.3"]})
    await eventually(a("hlp", tcp=True), {"rcode": ok, "values": ["10.213.200.2", "10.213.200.3"]})
    await eventually(a("b.hlp"), {"rcode": ok, "values": ["10.213.200.3"]})
    await eventually(a("b.hl"), {"rcode": "NXDOMAIN", "values": []})
    await eventually(a("a.hl"), {"rcode": ok, "values": ["10.213.200.2"]})
    await eventually(a("hl", rdtype="AAAA"), {"rcode": ok, "values": []})
    await eventually(
        a("_client._tcp.hlp", rdtype="SRV"),
        {
            "rcode": ok,
            "values": [
                f"0 100 2379 a.hlp.{namespace}.svc.cluster.local.",
                f"0 100 2379 b.hlp.{namespace}.svc.cluster.local.",
            ],
        },
    )

    # The ready endpoint turns not ready: gone from the ClusterIP and headless answers.
    flipped = [("10.213.200.2", "a", False), ("10.213.200.3", "b", False)]
    for name in ("plain", "hl"):
        await kube.patch(
            ENDPOINT_SLICES,
            f"{name}-test",
            {"endpoints": endpoint_slice(name, flipped)["endpoints"]},
            namespace,
        )
    await eventually(a("plain"), {"rcode": ok, "values": []})
    await eventually(a("a.hl"), {"rcode": "NXDOMAIN", "values": []})

    # A slice deleted: the Service name remains (NODATA); the Service deleted: NXDOMAIN.
    await kube.delete(ENDPOINT_SLICES, "hlp-test", namespace)
    await eventually(a("hlp"), {"rcode": ok, "values": []})
    await kube.delete(SERVICES, "hlp", namespace)
    await eventually(a("hlp"), {"rcode": "NXDOMAIN", "values": []})


async def test_names_outside_the_cluster_are_refused(cluster_dns: ClusterDNS) -> None:
    reply = await query(cluster_dns, "example.org.")
    assert reply == {"rcode": "REFUSED", "values": []}
    reply = await query(cluster_dns, "kubernetes.default.svc.cluster.local.")
    assert reply["rcode"] == "NOERROR"  # the API server's own Service

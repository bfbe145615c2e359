"""Benchmark (not a test): the manager's informers and queue on 1000 EtcdClusters + 3000 Pods.

Creates the objects in a fresh namespace (the pods target no node, so they stay Pending),
runs a Manager with one controller watching both kinds, and prints:
  - memory: process RSS before the informers start and once every object is cached;
  - event→reconcile latency (p50/p99): from an API write returning to the reconcile of the
    key it maps to, for paced updates of clusters and of their pods;
  - API requests while idle: every request the client makes during a quiet period, by kind
    (it should be nothing but the long-running watches).
Then deletes the namespace. Run with `make bench` (needs `make cluster-up` and the CRDs).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections import Counter
from typing import Any

from nodeagent.kinds import NAMESPACES, SERVICE_ACCOUNTS

from controller.clients.kube import ApiError, KubeClient
from controller.common.ownership import (
    BY_CLUSTER,
    CLUSTER_LABEL,
    by_owning_cluster,
    to_owning_cluster,
)
from controller.common.resources import ETCD_CLUSTERS, PODS
from controller.runtime.cache import Cache
from controller.runtime.handler import to_self
from controller.runtime.manager import Manager
from controller.runtime.reconcile import Result
from controller.runtime.store import Obj


class CountingKubeClient(KubeClient):
    """Counts every request it sends, as (method, 'watch' or 'request')."""

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.counts: Counter[tuple[str, str]] = Counter()

    async def _send(self, method: str, path: str, **kw: Any) -> Any:
        kind = "watch" if (kw.get("params") or {}).get("watch") == "true" else "request"
        self.counts[(method, kind)] += 1
        return await super()._send(method, path, **kw)


class LatencyReconciler:
    """Reads the cluster and its pods from the cache; times the keys a bench write touched."""

    name = "bench"

    def __init__(self, cache: Cache):
        self.cache = cache
        self.reconciled = 0
        self.written: dict[str, float] = {}  # key -> when the write mapping to it was sent
        self.received: dict[str, float] = {}  # key -> when the informer got that write's event
        self.from_write: list[float] = []
        self.from_event: list[float] = []

    def on_event(self, event_type: str, old: Obj | None, new: Obj | None) -> None:
        for key in to_self(event_type, old, new) | to_owning_cluster(event_type, old, new):
            if key in self.written:
                self.received.setdefault(key, time.monotonic())

    async def reconcile(self, key: str) -> Result:
        started = time.monotonic()
        self.cache.get(ETCD_CLUSTERS, key)
        self.cache.by_index(PODS, BY_CLUSTER, key)
        self.reconciled += 1
        if key in self.received:
            self.from_event.append(started - self.received.pop(key))
            self.from_write.append(started - self.written.pop(key))
        return Result()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def gather_limited(n: int, coros: list[Any]) -> None:
    sem = asyncio.Semaphore(n)

    async def run(coro: Any) -> None:
        async with sem:
            await coro

    await asyncio.gather(*(run(c) for c in coros))


async def create_objects(kube: KubeClient, ns: str, clusters: int, pods: int) -> None:
    def cluster(i: int) -> dict[str, Any]:
        meta = {"name": f"c{i}", "namespace": ns}
        kind = {"apiVersion": ETCD_CLUSTERS.api_version, "kind": ETCD_CLUSTERS.kind}
        return {**kind, "metadata": meta, "spec": {"size": 3}}

    def pod(i: int) -> dict[str, Any]:
        owner = f"c{i % clusters}"
        return {
            "metadata": {
                "name": f"{owner}-p{i}",
                "namespace": ns,
                "labels": {CLUSTER_LABEL: owner, "app": "etcd"},
            },
            "spec": {
                "nodeSelector": {"bench.etcd-operator/none": "true"},  # never scheduled
                "automountServiceAccountToken": False,
                "containers": [{"name": "etcd", "image": "etcd"}],
            },
        }

    await gather_limited(16, [kube.create(ETCD_CLUSTERS, cluster(i), ns) for i in range(clusters)])
    await gather_limited(16, [kube.create(PODS, pod(i), ns) for i in range(pods)])


async def wait_for_default_service_account(kube: KubeClient, ns: str) -> None:
    for _ in range(120):
        try:
            await kube.get(SERVICE_ACCOUNTS, "default", ns)
            return
        except ApiError:
            await asyncio.sleep(0.5)


async def measure_latency(
    kube: KubeClient, rec: LatencyReconciler, ns: str, clusters: int, count: int
) -> None:
    """`count` writes at ~20/s, alternately a cluster's annotation and one of its pods'."""
    for i in range(count):
        c = i % clusters
        rec.written[f"{ns}/c{c}"] = time.monotonic()
        patch = {"metadata": {"annotations": {"bench/seq": str(i)}}}
        if i % 2:
            await kube.patch(PODS, f"c{c}-p{c}", patch, ns)
        else:
            await kube.patch(ETCD_CLUSTERS, f"c{c}", patch, ns)
        await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while rec.written and time.monotonic() < deadline:  # noqa: ASYNC110 (bounded polling)
        await asyncio.sleep(0.2)


def report(what: str, seconds: list[float]) -> None:
    ms = [x * 1000 for x in seconds]
    print(
        f"  {what}: p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
        f"max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--updates", type=int, default=400)
    ap.add_argument("--idle", type=float, default=90.0, help="quiet period, seconds")
    args = ap.parse_args()

    kube = await CountingKubeClient.connect()
    assert isinstance(kube, CountingKubeClient)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    await kube.create(NAMESPACES, {"metadata": {"name": ns}})
    try:
        await wait_for_default_service_account(kube, ns)
        t0 = time.monotonic()
        await create_objects(kube, ns, args.clusters, args.pods)
        took = time.monotonic() - t0
        print(f"created {args.clusters} EtcdClusters + {args.pods} Pods in {ns}: {took:.1f}s")

        rss_before = rss_mib()
        mgr = Manager(kube, namespace=ns)
        mgr.informer_for(PODS, label_selector=CLUSTER_LABEL)
        mgr.add_index(PODS, BY_CLUSTER, by_owning_cluster)
        rec = LatencyReconciler(mgr.cache)
        controller = mgr.add_controller(rec, workers=2)
        controller.watch(ETCD_CLUSTERS, to_self).watch(PODS, to_owning_cluster)
        for res in (ETCD_CLUSTERS, PODS):
            mgr.informer_for(res).add_handler(rec.on_event)
        running = asyncio.create_task(mgr.run())
        t0 = time.monotonic()
        await asyncio.gather(*(inf.wait_synced() for inf in mgr.informers))
        synced = time.monotonic() - t0
        while rec.reconciled < args.clusters:  # noqa: ASYNC110 (polling a counter)
            await asyncio.sleep(0.05)
        first_pass = time.monotonic() - t0
        print(f"informers synced in {synced:.1f}s; every cluster reconciled by {first_pass:.1f}s")
        sizes = {inf.resource.plural: len(inf.store) for inf in mgr.informers}
        print(f"cached: {sizes}")
        rss_cached = rss_mib()
        print(
            f"RSS: {rss_before:.0f} MiB before the informers, {rss_cached:.0f} MiB with all "
            f"cached (+{rss_cached - rss_before:.0f} MiB)"
        )

        await asyncio.sleep(3)  # let the scheduler's status updates on the pods die down
        await measure_latency(kube, rec, ns, args.clusters, args.updates)
        print(f"latency over {len(rec.from_event)} writes (of {args.updates}):")
        report("watch event received → reconcile starts", rec.from_event)
        report("API write sent → reconcile starts", rec.from_write)

        await asyncio.sleep(5)
        before: Counter[tuple[str, str]] = Counter(kube.counts)
        await asyncio.sleep(args.idle)
        idle = kube.counts - before
        watches = sum(n for (_, kind), n in idle.items() if kind == "watch")
        others = sum(n for (_, kind), n in idle.items() if kind != "watch")
        total = sum(idle.values())
        print(
            f"idle {args.idle:.0f}s: {total} API requests ({watches} watch (re)connects, "
            f"{others} other) = {total / args.idle:.3f} req/s"
        )
        stats = {inf.resource.plural: inf.stats for inf in mgr.informers}
        print(f"informer stats: {stats}")
        print(f"RSS at the end: {rss_mib():.0f} MiB")
        mgr.stop()
        await running
    finally:
        await kube.delete(NAMESPACES, ns)
        for _ in range(240):  # leave the environment as we found it
            try:
                await kube.get(NAMESPACES, ns)
            except ApiError:
                break
            await asyncio.sleep(1)
        await kube.close()


if __name__ == "__main__":
    asyncio.run(main())

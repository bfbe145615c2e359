"""Every fault point of the EtcdCluster executor, fired once end to end on a PVC-backed
cluster: the operator crashes there (os._exit, as a SIGKILL would), a new one converges —
with no extra, missing or duplicated member, one pod and one PVC per member, no data lost.

One cluster walks the whole story: bootstrap (crash after the seed pod), growth 1 → 3 (crash
before MemberAdd, after it, after the pod's creation, after the promotion), shrink 3 → 2
(crash after MemberRemove) and 2 → 1 (crash after the pod's deletion, before its PVC's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from controller.clients.kube import PVCS, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from tests.e2e.operator import (
    Etcdctl,
    Operator,
    apply_cluster,
    eventually,
    member_pods,
    plain_cluster,
    running_with,
)

pytestmark = pytest.mark.e2e
NAME = "faulty"


def pvc_cluster(namespace: str, size: int) -> dict[str, Any]:
    doc = plain_cluster(NAME, namespace, size)
    doc["spec"]["pod"] = {
        "persistentVolumeClaimSpec": {
            "storageClassName": "standard",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        }
    }
    return doc


async def crash_at(
    operators: Callable[..., Operator], point: str, args: tuple[str, ...] = ()
) -> None:
    """Runs an operator that dies at `point`; returns once it did."""
    await operators(faults=f"{point}:crash", args=args).crash(point)


async def converged(
    kube: KubeClient,
    namespace: str,
    operators: Callable[..., Operator],
    etcdctl: Etcdctl,
    size: int,
) -> None:
    """A normal operator brings the cluster to `size`: members = pods = PVCs, no learner."""
    op = operators()
    await eventually(running_with(kube, namespace, NAME, size), f"{size} ready members")

    async def settled() -> tuple[set[str], set[str]] | None:
        pods = {p["metadata"]["name"] for p in await member_pods(kube, namespace, NAME)}
        claims = (await kube.list(PVCS, namespace, label_selector=f"etcd_cluster={NAME}"))["items"]
        live = {c["metadata"]["name"] for c in claims if not c["metadata"].get("deletionTimestamp")}
        return (pods, live) if len(pods) == size and pods == live else None

    pods, _ = await eventually(settled, f"{size} pods, each with its PVC and no other PVC")
    # Running counts the members etcd answers for; the client Service serves a member only
    # once its pod's readiness probe passed, a moment later (a new cluster's first member).
    members = await etcdctl.members_once_served()
    assert sorted(m["name"] for m in members) == sorted(pods)
    assert not any(m.get("isLearner") for m in members)
    op.stop()


@pytest.mark.timeout(900)  # eleven operators, each waiting out the Lease the last one left
async def test_a_crash_at_every_fault_point_converges(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    etcdctl = Etcdctl(local_env, namespace, NAME)
    apply_cluster(kubectl, pvc_cluster(namespace, 1))
    await crash_at(operators, "after-seed-pod-create")
    await converged(kube, namespace, operators, etcdctl, 1)
    await asyncio.to_thread(etcdctl, "put", "written-at", "size 1")

    async def resize(size: int) -> None:
        await kube.patch(ETCD_CLUSTERS, NAME, {"spec": {"size": size}}, namespace)

    await resize(3)
    for point in ("before-member-add", "after-member-add", "after-pod-create"):
        await crash_at(operators, point)
    await crash_at(operators, "after-member-promote")
    await converged(kube, namespace, operators, etcdctl, 3)

    await resize(2)
    await crash_at(operators, "after-member-remove")
    await converged(kube, namespace, operators, etcdctl, 2)
    await resize(1)
    await crash_at(operators, "after-pod-delete")
    await converged(kube, namespace, operators, etcdctl, 1)
    value = await asyncio.to_thread(etcdctl, "get", "written-at", "--print-value-only")
    assert value.strip() == "size 1"

"""The operator dying in the middle of an upgrade and of a quorum-loss recovery (at the
fault points of those steps: os._exit, as a SIGKILL would): a new operator continues —
the upgrade finishes with the same members, the recovery uses the survivor recorded before
the crash, and no data is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from controller.clients.kube import PODS, PVCS, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    cluster_status,
    eventually,
    running_with,
)
from tests.e2e.test_fault_points import NAME, crash_at, pvc_cluster
from tests.e2e.test_heal import members_by_name

pytestmark = pytest.mark.e2e
GRACE = ("--quorum-loss-grace-period", "3")


async def running_cluster(
    kube: KubeClient, ns: str, kubectl: Callable[..., Any], env: dict[str, str], ops: Any
) -> tuple[Etcdctl, dict[str, str]]:
    apply_cluster(kubectl, pvc_cluster(ns, 3))
    op = ops()
    await eventually(running_with(kube, ns, NAME, 3), "3 ready members")
    op.stop()
    etcdctl = Etcdctl(env, ns, NAME)
    await etcdctl.members_once_served()
    await asyncio.to_thread(etcdctl, "put", "kept", "through crashes")
    return etcdctl, await asyncio.to_thread(members_by_name, etcdctl)


async def test_an_upgrade_survives_operator_crashes(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    etcdctl, ids = await running_cluster(kube, namespace, kubectl, local_env, operators)
    await kube.patch(ETCD_CLUSTERS, NAME, {"spec": {"version": "3.7.3"}}, namespace)
    for point in ("after-member-stop", "after-member-restart", "after-leader-move"):
        await crash_at(operators, point)
    operators()

    async def upgraded() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and status.get("currentVersion") == "3.7.3" else None

    await eventually(upgraded, "every member on 3.7.3 after the crashes")
    await etcdctl.members_once_served()
    assert await asyncio.to_thread(members_by_name, etcdctl) == ids
    got = await asyncio.to_thread(etcdctl, "get", "kept", "--print-value-only")
    assert got.strip() == "through crashes"


async def test_a_recovery_continues_from_its_record_after_operator_crashes(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    etcdctl, ids = await running_cluster(kube, namespace, kubectl, local_env, operators)
    survivor, *lost = sorted(ids)
    for name in lost:
        await kube.delete(PVCS, name, namespace)
    for name in lost:
        await kube.delete(PODS, name, namespace)

    # Dies right after recording "Detected", then right after recording the survivor.
    await crash_at(operators, "after-operation-record", args=GRACE)
    await crash_at(operators, "after-operation-record", args=GRACE)
    operation = (await cluster_status(kube, namespace, NAME)).get("operation") or {}
    assert operation.get("phase") == "ForceNewCluster", operation
    assert operation["inputs"]["survivor"] == survivor
    await crash_at(operators, "after-member-restart", args=GRACE)  # forced pod created
    operators(args=GRACE)

    async def recovered() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and not status.get("operation") else None

    await eventually(recovered, "recovered and back to 3 after the crashes")
    await etcdctl.members_once_served()
    now = await asyncio.to_thread(members_by_name, etcdctl)
    assert now[survivor] == ids[survivor] and len(now) == 3
    got = await asyncio.to_thread(etcdctl, "get", "kept", "--print-value-only")
    assert got.strip() == "through crashes"

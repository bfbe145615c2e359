"""The operator dying in the middle of an upgrade and of a quorum-loss recovery (at the
fault points of those steps: os._exit, as a SIGKILL would): a new operator continues —
the upgrade finishes with the same members, the recovery uses the survivor recorded before
the crash, and no data is lost.

The cluster serves TLS and a write load runs through its client Service: through the upgrade
and its crashes; for the recovery, one until the loss (then stopped and the members let sync,
so the survivor holds every write) and one from the loss through the crashes and the
recovery. After each: every acknowledged write reads back, no read went back in time, one KV
hash on every member (tests/e2e/consistency.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import PODS, PVCS, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from tests.e2e.consistency import (
    counts,
    every_acknowledged_write_readable,
    hashkv_equal,
    reads_never_went_back,
    scenario_consistent,
)
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    cluster_status,
    eventually,
    running_with,
)
from tests.e2e.test_fault_points import NAME, crash_at
from tests.e2e.test_heal import members_by_name, running_tls_cluster
from tests.e2e.writeload import WriteLoad

pytestmark = pytest.mark.e2e
GRACE = ("--quorum-loss-grace-period", "3")


async def running_cluster(
    kube: KubeClient,
    ns: str,
    kubectl: Callable[..., Any],
    env: dict[str, str],
    ops: Any,
    tmp_path: Path,
) -> tuple[Etcdctl, dict[str, str], Path]:
    """A TLS PVC cluster of 3 with a key written, no operator running: its etcdctl, members
    and client certificates."""
    etcdctl, op = await running_tls_cluster(kube, ns, kubectl, env, ops, tmp_path)
    op.stop()
    await asyncio.to_thread(etcdctl, "put", "kept", "through crashes")
    assert etcdctl.certs is not None
    return etcdctl, await asyncio.to_thread(members_by_name, etcdctl), etcdctl.certs


async def test_an_upgrade_survives_operator_crashes(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    etcdctl, ids, certs = await running_cluster(
        kube, namespace, kubectl, local_env, operators, tmp_path
    )

    async def upgraded() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and status.get("currentVersion") == "3.7.3" else None

    async with WriteLoad(local_env, namespace, NAME, certs) as load:
        await load.acknowledges(what="writes before the upgrade")
        await kube.patch(ETCD_CLUSTERS, NAME, {"spec": {"version": "3.7.3"}}, namespace)
        for point in ("after-member-stop", "after-member-restart", "after-leader-move"):
            await crash_at(operators, point)
        operators()
        await eventually(upgraded, "every member on 3.7.3 after the crashes")
        await load.acknowledges(what="writes after the upgrade")
    print(f"upgrade with crashes: {await scenario_consistent(etcdctl, load.journal())}")
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
    tmp_path: Path,
) -> None:
    etcdctl, ids, certs = await running_cluster(
        kube, namespace, kubectl, local_env, operators, tmp_path
    )
    async with WriteLoad(local_env, namespace, NAME, certs) as before_loss:
        await before_loss.acknowledges(more=100, what="writes before the loss")
    synced, _ = await hashkv_equal(etcdctl)  # so the survivor holds every write
    survivor, *lost = sorted(ids)
    for name in lost:
        await kube.delete(PVCS, name, namespace)
    for name in lost:
        await kube.delete(PODS, name, namespace)

    async def recovered() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and not status.get("operation") else None

    async with WriteLoad(local_env, namespace, NAME, certs) as through_recovery:
        # Dies right after recording "Detected", then right after recording the survivor.
        await crash_at(operators, "after-operation-record", args=GRACE)
        await crash_at(operators, "after-operation-record", args=GRACE)
        operation = (await cluster_status(kube, namespace, NAME)).get("operation") or {}
        assert operation.get("phase") == "ForceNewCluster", operation
        assert operation["inputs"]["survivor"] == survivor
        await crash_at(operators, "after-member-restart", args=GRACE)  # forced pod created
        operators(args=GRACE)
        await eventually(recovered, "recovered and back to 3 after the crashes")
        await through_recovery.acknowledges(what="writes after the recovery")
    await etcdctl.members_once_served()
    before = before_loss.journal()
    reads_never_went_back(before)
    await asyncio.to_thread(every_acknowledged_write_readable, etcdctl, before)
    print(f"before the loss: {counts(before)}, synced at {synced} ({before_loss.path})")
    after = await scenario_consistent(etcdctl, through_recovery.journal())
    assert after.revision >= synced, "the survivor lost revisions"
    print(f"from the loss through the recovery: {after} ({through_recovery.path})")
    now = await asyncio.to_thread(members_by_name, etcdctl)
    assert now[survivor] == ids[survivor] and len(now) == 3
    got = await asyncio.to_thread(etcdctl, "get", "kept", "--print-value-only")
    assert got.strip() == "through crashes"

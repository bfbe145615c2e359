"""Quorum loss on the real environment: two of three PVC members lose their pods and their
volumes. The operator reports it at once (Available=False QuorumLost, a Warning naming the
lost members), waits out the grace period, recovers from the survivor with
--force-new-cluster and grows back to three — with every key written before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from controller.clients.kube import EVENTS, PODS, PVCS, KubeClient
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    cluster_status,
    eventually,
    running_with,
)
from tests.e2e.test_fault_points import NAME, pvc_cluster
from tests.e2e.test_heal import PhaseLog, members_by_name

pytestmark = pytest.mark.e2e
GRACE = "5"  # seconds: the test does not need to wait out a production grace period


async def test_two_of_three_members_lost_with_their_data_recover_from_the_survivor(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    apply_cluster(kubectl, pvc_cluster(namespace, 3))
    operators(args=("--quorum-loss-grace-period", GRACE))
    await eventually(running_with(kube, namespace, NAME, 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, NAME)
    await etcdctl.members_once_served()
    written = {f"key-{i}": f"value-{i}" for i in range(50)}
    for key, value in written.items():
        await asyncio.to_thread(etcdctl, "put", key, value)
    members = await asyncio.to_thread(members_by_name, etcdctl)
    survivor, *lost = sorted(members)

    phases = PhaseLog(kube, namespace, NAME)
    for name in lost:  # the volumes first (held until their pods go), then the pods
        await kube.delete(PVCS, name, namespace)
    for name in lost:
        await kube.delete(PODS, name, namespace)

    async def quorum_lost_event() -> Obj | None:
        events = (await kube.list(EVENTS, namespace))["items"]
        return next((e for e in events if e["reason"] == "QuorumLost"), None)

    event = await eventually(quorum_lost_event, "a QuorumLost Warning")
    assert event["type"] == "Warning" and all(name in event["message"] for name in lost)

    async def recovered() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and not status.get("operation") else None

    await eventually(recovered, "3 ready members again, recovered from the survivor")
    seen = await phases.stop()
    print(f"phases: {' → '.join(seen)}")
    assert "Recovering" in seen and not {"Scaling", "Creating"} & set(seen[1:]), seen
    await etcdctl.members_once_served()
    now = await asyncio.to_thread(members_by_name, etcdctl)
    assert survivor in now and now[survivor] == members[survivor] and len(now) == 3
    for key, value in written.items():
        got = await asyncio.to_thread(etcdctl, "get", key, "--print-value-only")
        assert got.strip() == value, key
    reasons = {e["reason"] for e in (await kube.list(EVENTS, namespace))["items"]}
    assert {"QuorumRecoveryForceNewCluster", "QuorumRecoveryFinished"} <= reasons, reasons
    status = await cluster_status(kube, namespace, NAME)
    assert status["phase"] == "Running"

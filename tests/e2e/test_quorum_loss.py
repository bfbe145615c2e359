"""Quorum loss on the real environment: two of three PVC members lose their pods and their
volumes. The operator reports it at once (Available=False QuorumLost, a Warning naming the
lost members), waits out the grace period, recovers from the survivor with
--force-new-cluster and grows back to three — with every key written before.

A write load over TLS runs until the loss, then stops and the members are let sync (so the
survivor holds everything: all of it must come back); a second load runs from the loss
through the recovery. After it: every acknowledged write of both readable, no read back in
time, one KV hash on every member (tests/e2e/consistency.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import EVENTS, PODS, PVCS, KubeClient
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
    apply_cluster,
    cluster_status,
    eventually,
    running_with,
)
from tests.e2e.test_backup import events_with
from tests.e2e.test_fault_points import NAME, pvc_cluster
from tests.e2e.test_heal import PhaseLog, members_by_name, with_tls
from tests.e2e.writeload import WriteLoad

pytestmark = pytest.mark.e2e
GRACE = "5"  # seconds: the test does not need to wait out a production grace period


async def test_two_of_three_members_lost_with_their_data_recover_from_the_survivor(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    doc = pvc_cluster(namespace, 3)
    certs = await with_tls(doc, local_env, kube, namespace, tmp_path)
    apply_cluster(kubectl, doc)
    operators(args=("--quorum-loss-grace-period", GRACE))
    await eventually(running_with(kube, namespace, NAME, 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, NAME, certs)
    await etcdctl.members_once_served()
    written = {f"key-{i}": f"value-{i}" for i in range(50)}
    async with WriteLoad(local_env, namespace, NAME, certs) as before_loss:
        for key, value in written.items():
            await asyncio.to_thread(etcdctl, "put", key, value)
        await before_loss.acknowledges(more=200, what="writes before the loss")
    synced, _ = await hashkv_equal(etcdctl)  # so any survivor holds every write
    members = await asyncio.to_thread(members_by_name, etcdctl)
    survivor, *lost = sorted(members)

    phases = PhaseLog(kube, namespace, NAME)
    for name in lost:  # the volumes first (held until their pods go), then the pods
        await kube.delete(PVCS, name, namespace)
    for name in lost:
        await kube.delete(PODS, name, namespace)

    async def quorum_lost_event() -> Obj | None:
        # The one naming the lost members: an earlier QuorumLost Warning may tell of the
        # Degraded condition ("no quorum; members not answering: all") before the decision.
        events = (await kube.list(EVENTS, namespace))["items"]
        lost_ones = (e for e in events if e["reason"] == "QuorumLost")
        return next((e for e in lost_ones if all(n in e["message"] for n in lost)), None)

    async def recovered() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and not status.get("operation") else None

    async with WriteLoad(local_env, namespace, NAME, certs) as through_recovery:
        event = await eventually(quorum_lost_event, "a QuorumLost Warning naming the lost")
        await eventually(recovered, "3 ready members again, recovered from the survivor")
        await through_recovery.acknowledges(what="writes after the recovery")
    seen = await phases.stop()
    print(f"phases: {' → '.join(seen)}")
    await etcdctl.members_once_served()
    # the data first: it says the most when something else is off too
    before = before_loss.journal()
    reads_never_went_back(before)
    await asyncio.to_thread(every_acknowledged_write_readable, etcdctl, before)
    print(f"before the loss: {counts(before)}, synced at {synced} ({before_loss.path})")
    after = await scenario_consistent(etcdctl, through_recovery.journal())
    assert after.revision >= synced, "the survivor lost revisions"
    print(f"from the loss through the recovery: {after} ({through_recovery.path})")
    assert event["type"] == "Warning", event
    assert "Recovering" in seen and not {"Scaling", "Creating"} & set(seen[1:]), seen
    now = await asyncio.to_thread(members_by_name, etcdctl)
    assert survivor in now and now[survivor] == members[survivor] and len(now) == 3
    for key, value in written.items():
        got = await asyncio.to_thread(etcdctl, "get", key, "--print-value-only")
        assert got.strip() == value, key
    # Posted right after the status write that ended the recovery: waited for.
    finished = ("QuorumRecoveryForceNewCluster", "QuorumRecoveryFinished")
    await events_with(kube, namespace, NAME, *finished)
    status = await cluster_status(kube, namespace, NAME)
    assert status["phase"] == "Running"

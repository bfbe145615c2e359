"""Rolling on the real environment: a TLS PVC cluster upgraded 3.6 → 3.7 one member at a time
(followers first, the leader last), then a pod-policy change rolled to every pod — the same
members (IDs) with their data throughout; a version that skips a minor is refused.

A write load runs through the client Service during the upgrade, and another during the
pod-policy roll: after each, every acknowledged write reads back, no read went back in time
and every member hashes its KV history alike (tests/e2e/consistency.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import EVENTS, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from tests.e2e.consistency import scenario_consistent
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    cluster_status,
    eventually,
    member_pods,
    running_with,
)
from tests.e2e.test_fault_points import NAME
from tests.e2e.test_heal import PhaseLog, members_by_name, running_tls_cluster
from tests.e2e.writeload import WriteLoad

pytestmark = pytest.mark.e2e


def versions(etcdctl: Etcdctl) -> set[str]:
    """The server version every member reports (`endpoint status --cluster`)."""
    out = etcdctl("endpoint", "status", "--cluster", "-w", "json")
    return {e["Status"]["version"] for e in json.loads(out)}


async def test_upgrade_then_pod_policy_roll_keeps_members_and_data(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    etcdctl, _ = await running_tls_cluster(kube, namespace, kubectl, local_env, operators, tmp_path)
    certs = etcdctl.certs
    await asyncio.to_thread(etcdctl, "put", "before", "the upgrade")
    ids = await asyncio.to_thread(members_by_name, etcdctl)
    assert await asyncio.to_thread(versions, etcdctl) == {"3.6.16"}

    async def upgraded() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and status.get("currentVersion") == "3.7.3" else None

    async with WriteLoad(local_env, namespace, NAME, certs) as upgrade_load:
        await upgrade_load.acknowledges(what="writes before the upgrade")
        phases = PhaseLog(kube, namespace, NAME)
        await kube.patch(ETCD_CLUSTERS, NAME, {"spec": {"version": "3.7.3"}}, namespace)
        status = await eventually(upgraded, "every member on 3.7.3")
        seen = await phases.stop()
        await upgrade_load.acknowledges(what="writes after the upgrade")
    print(f"upgrade phases: {' → '.join(seen)}")
    consistent = await scenario_consistent(etcdctl, upgrade_load.journal())
    print(f"upgrade: {consistent} ({upgrade_load.path})")
    assert "Upgrading" in seen and not {"Creating", "Degraded"} & set(seen), seen
    assert status.get("targetVersion") is None
    await etcdctl.members_once_served()
    assert await asyncio.to_thread(versions, etcdctl) == {"3.7.3"}
    assert await asyncio.to_thread(members_by_name, etcdctl) == ids
    events = [e for e in (await kube.list(EVENTS, namespace))["items"]]
    rolled = [e["message"] for e in events if e["reason"] == "MemberRolling"]
    # Each member rolled (a pass that still saw a rolled member's old pod, or a crash right
    # after the deletion, changes the count, not the set).
    assert all(any(name in m for m in rolled) for name in ids), rolled
    assert all("3.6.16 → 3.7.3" in m for m in rolled), rolled
    # The leader is rolled last, after MoveLeader, unless an election under load had
    # already moved leadership to a rolled member.
    print(f"leadership moved by the operator: {any(e['reason'] == 'LeaderMoved' for e in events)}")

    async def relabelled() -> bool:
        pods = await member_pods(kube, namespace, NAME)
        labelled = [p for p in pods if p["metadata"]["labels"].get("team") == "storage"]
        return len(labelled) == 3 and bool(await running_with(kube, namespace, NAME, 3)())

    async with WriteLoad(local_env, namespace, NAME, certs) as roll_load:
        await roll_load.acknowledges(what="writes before the pod-policy change")
        phases = PhaseLog(kube, namespace, NAME)
        labels = {"spec": {"pod": {"labels": {"team": "storage"}}}}
        await kube.patch(ETCD_CLUSTERS, NAME, labels, namespace)
        await eventually(relabelled, "every pod rolled to the new labels")
        roll_seen = await phases.stop()
        await roll_load.acknowledges(what="writes after the pod-policy roll")
    print(f"pod-policy roll phases: {' → '.join(roll_seen)}")
    assert "Upgrading" in roll_seen and not {"Creating", "Scaling"} & set(roll_seen), roll_seen
    print(f"pod-policy roll: {await scenario_consistent(etcdctl, roll_load.journal())}")
    await etcdctl.members_once_served()
    assert await asyncio.to_thread(members_by_name, etcdctl) == ids
    got = await asyncio.to_thread(etcdctl, "get", "before", "--print-value-only")
    assert got.strip() == "the upgrade"

    await kube.patch(ETCD_CLUSTERS, NAME, {"spec": {"version": "3.9.0"}}, namespace)

    async def refused() -> Obj | None:
        status = await cluster_status(kube, namespace, NAME)
        return status if status.get("phase") == "Failed" else None

    status = await eventually(refused, "a refused version to fail the spec")
    assert "skips a minor" in status["reason"]
    assert await asyncio.to_thread(versions, etcdctl) == {"3.7.3"}  # nothing was touched
    # The last member rolled is current once its new pod exists; while it starts the
    # rollout is still going (Upgrading), not a fault (Degraded).
    assert "Degraded" not in roll_seen, roll_seen

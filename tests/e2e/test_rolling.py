"""Rolling on the real environment: a PVC cluster upgraded 3.6 → 3.7 one member at a time
(followers first, the leader last), then a pod-policy change rolled to every pod — the same
members (IDs) with their data throughout; a version that skips a minor is refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from controller.clients.kube import EVENTS, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    cluster_status,
    eventually,
    member_pods,
    running_with,
)
from tests.e2e.test_fault_points import NAME, pvc_cluster
from tests.e2e.test_heal import PhaseLog, members_by_name

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
) -> None:
    apply_cluster(kubectl, pvc_cluster(namespace, 3))
    operators()
    await eventually(running_with(kube, namespace, NAME, 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, NAME)
    await etcdctl.members_once_served()
    await asyncio.to_thread(etcdctl, "put", "before", "the upgrade")
    ids = await asyncio.to_thread(members_by_name, etcdctl)
    assert await asyncio.to_thread(versions, etcdctl) == {"3.6.16"}

    phases = PhaseLog(kube, namespace, NAME)
    await kube.patch(ETCD_CLUSTERS, NAME, {"spec": {"version": "3.7.3"}}, namespace)

    async def upgraded() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and status.get("currentVersion") == "3.7.3" else None

    status = await eventually(upgraded, "every member on 3.7.3")
    seen = await phases.stop()
    print(f"upgrade phases: {' → '.join(seen)}")
    assert "Upgrading" in seen and not {"Creating", "Degraded"} & set(seen), seen
    assert status.get("targetVersion") is None
    await etcdctl.members_once_served()
    assert await asyncio.to_thread(versions, etcdctl) == {"3.7.3"}
    assert await asyncio.to_thread(members_by_name, etcdctl) == ids
    events = [e for e in (await kube.list(EVENTS, namespace))["items"]]
    rolled = [e["message"] for e in events if e["reason"] == "MemberRolling"]
    assert len(rolled) == 3 and all("3.6.16 → 3.7.3" in m for m in rolled), rolled
    assert any(e["reason"] == "LeaderMoved" for e in events)

    await kube.patch(
        ETCD_CLUSTERS, NAME, {"spec": {"pod": {"labels": {"team": "storage"}}}}, namespace
    )

    async def relabelled() -> bool:
        pods = await member_pods(kube, namespace, NAME)
        labelled = [p for p in pods if p["metadata"]["labels"].get("team") == "storage"]
        return len(labelled) == 3 and bool(await running_with(kube, namespace, NAME, 3)())

    await eventually(relabelled, "every pod rolled to the new labels")
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

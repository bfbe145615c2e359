"""Scaling 3 → 5 → 3 on the real environment, under a write load: a TLS PVC cluster grows
through learners to five members and shrinks back to three, one member at a time, while a
client writes and reads through the client Service. Afterwards: three voting members, each
with its pod and PVC; the cluster said Scaling, never Degraded; every acknowledged write
reads back, no read went back in time, one KV hash on every member
(tests/e2e/consistency.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import PVCS, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from tests.e2e.consistency import scenario_consistent
from tests.e2e.operator import (
    Operator,
    eventually,
    member_pods,
    running_with,
)
from tests.e2e.test_fault_points import NAME
from tests.e2e.test_heal import PhaseLog, members_by_name, running_tls_cluster
from tests.e2e.writeload import WriteLoad

pytestmark = pytest.mark.e2e


async def test_scale_3_to_5_to_3_under_load(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    etcdctl, _ = await running_tls_cluster(kube, namespace, kubectl, local_env, operators, tmp_path)
    certs = etcdctl.certs

    async def resize(size: int) -> None:
        await kube.patch(ETCD_CLUSTERS, NAME, {"spec": {"size": size}}, namespace)
        await eventually(running_with(kube, namespace, NAME, size), f"{size} ready members")

    async with WriteLoad(local_env, namespace, NAME, certs) as load:
        await load.acknowledges(what="writes before the scaling")
        phases = PhaseLog(kube, namespace, NAME)
        await resize(5)
        await load.acknowledges(what="writes at size 5")
        await resize(3)
        seen = await phases.stop()
        await load.acknowledges(what="writes back at size 3")
    print(f"phases: {' → '.join(seen)}")
    print(f"3 → 5 → 3: {await scenario_consistent(etcdctl, load.journal())} ({load.path})")

    assert "Scaling" in seen and not {"Creating", "Degraded"} & set(seen), seen
    members = await asyncio.to_thread(etcdctl.members)
    assert len(members) == 3 and not any(m.get("isLearner") for m in members), members

    async def settled() -> set[str] | None:
        # the removed members' PVCs go with them (their deletion may still be under way)
        pods = {p["metadata"]["name"] for p in await member_pods(kube, namespace, NAME)}
        claims = await kube.list(PVCS, namespace, label_selector=f"etcd_cluster={NAME}")
        meta = [c["metadata"] for c in claims["items"]]
        live = {m["name"] for m in meta if not m.get("deletionTimestamp")}
        return pods if pods == live else None

    pods = await eventually(settled, "one pod and one PVC per member, no other PVC")
    assert set(await asyncio.to_thread(members_by_name, etcdctl)) == pods

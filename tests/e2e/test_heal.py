"""Healing on the real environment: members come back on their own volumes as the same
members (name, ID, data) when their pods are deleted — one, two of three, or all at once —
and an emptyDir member that lost its pod (and so its data) is replaced through a learner.
While it heals, a cluster that ran reads Degraded, never Scaling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from controller.clients.kube import PODS, KubeClient
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    cluster_status,
    eventually,
    member_pods,
    plain_cluster,
    running_with,
)
from tests.e2e.test_fault_points import pvc_cluster

pytestmark = pytest.mark.e2e


def members_by_name(etcdctl: Etcdctl) -> dict[str, str]:
    """name → member ID (hex) of the started members."""
    return {m["name"]: f"{m['ID']:x}" for m in etcdctl.members() if m.get("name")}


class PhaseLog:
    """Polls the cluster's phase in the background: every phase it showed."""

    def __init__(self, kube: KubeClient, namespace: str, name: str):
        self.seen: list[str] = []
        self._task = asyncio.create_task(self._poll(kube, namespace, name))

    async def _poll(self, kube: KubeClient, namespace: str, name: str) -> None:
        while True:
            phase = (await cluster_status(kube, namespace, name)).get("phase", "")
            if not self.seen or self.seen[-1] != phase:
                self.seen.append(phase)
            await asyncio.sleep(0.5)

    async def stop(self) -> list[str]:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.seen


async def delete_pods(kube: KubeClient, namespace: str, names: list[str]) -> None:
    for name in names:
        await kube.delete(PODS, name, namespace)


async def test_pvc_members_come_back_as_themselves(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    name = "faulty"  # pvc_cluster's name
    apply_cluster(kubectl, pvc_cluster(namespace, 3))
    operators()
    await eventually(running_with(kube, namespace, name, 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, name)
    await etcdctl.members_once_served()
    before = await asyncio.to_thread(members_by_name, etcdctl)
    pods = sorted(before)

    scenarios = {"one pod": pods[:1], "two of three pods": pods[1:], "every pod": pods}
    for step, (scenario, victims) in enumerate(scenarios.items()):
        await asyncio.to_thread(etcdctl, "put", f"before-{step}", scenario)
        phases = PhaseLog(kube, namespace, name)
        await delete_pods(kube, namespace, victims)

        async def healed(gone: list[str] = victims) -> Obj | None:
            # the deleted pods are back (new uid) and the cluster is Running at size again
            live = {p["metadata"]["name"]: p for p in await member_pods(kube, namespace, name)}
            back = all(live.get(v, {}).get("status", {}).get("podIP") for v in gone)
            return await running_with(kube, namespace, name, 3)() if back else None

        await eventually(healed, f"{scenario}: the same members Running again")
        seen = await phases.stop()
        await etcdctl.members_once_served()
        assert await asyncio.to_thread(members_by_name, etcdctl) == before, scenario
        assert "Scaling" not in seen, f"{scenario}: phases {seen}"
        assert "Degraded" in seen or scenario == "one pod", f"{scenario}: phases {seen}"
        for earlier in range(step + 1):
            got = await asyncio.to_thread(etcdctl, "get", f"before-{earlier}", "--print-value-only")
            assert got.strip() == list(scenarios)[earlier], scenario
        print(f"{scenario}: phases {' → '.join(seen)}")


async def test_emptydir_member_without_its_pod_is_replaced_through_a_learner(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    apply_cluster(kubectl, plain_cluster("ephemeral", namespace, 3))
    operators()
    await eventually(running_with(kube, namespace, "ephemeral", 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, "ephemeral")
    await etcdctl.members_once_served()
    await asyncio.to_thread(etcdctl, "put", "kept", "by the other two")
    before = await asyncio.to_thread(members_by_name, etcdctl)
    victim = sorted(before)[0]
    await delete_pods(kube, namespace, [victim])

    async def replaced() -> dict[str, str] | None:
        if not await running_with(kube, namespace, "ephemeral", 3)():
            return None
        now = await asyncio.to_thread(members_by_name, etcdctl)
        return now if victim not in now and len(now) == 3 else None

    after = await eventually(replaced, "the lost member replaced by a new one")
    assert set(after) - set(before) and set(before) - {victim} <= set(after)
    got = await asyncio.to_thread(etcdctl, "get", "kept", "--print-value-only")
    assert got.strip() == "by the other two"

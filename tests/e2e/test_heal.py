"""Healing on the real environment: members come back on their own volumes as the same
members (name, ID, data) when their pods are deleted — one, two of three, or all at once —
and an emptyDir member that lost its pod (and so its data) is replaced through a learner.
While it heals, a cluster that ran reads Degraded, never Scaling.

The clusters serve TLS and a write load runs through their client Service during each
scenario: afterwards every acknowledged write reads back, no read went back in time and every
member hashes its KV history alike (tests/e2e/consistency.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import PODS, KubeClient
from tests.e2e.consistency import scenario_consistent
from tests.e2e.operator import (
    ROOT,
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    client_certs,
    cluster_status,
    eventually,
    member_pods,
    plain_cluster,
    running_with,
)
from tests.e2e.test_fault_points import NAME, pvc_cluster
from tests.e2e.writeload import WriteLoad

pytestmark = pytest.mark.e2e


async def with_tls(
    doc: Obj, env: dict[str, str], kube: KubeClient, namespace: str, into: Path
) -> Path:
    """Serves `doc`'s cluster over TLS (the seed's Secrets, made for its name): the directory
    of the client certificates."""
    name = doc["metadata"]["name"]
    script = str(ROOT / "hack" / "seed-tls.sh")
    run_env = {**os.environ, **env}
    await asyncio.to_thread(
        subprocess.run, [script, name, namespace], env=run_env, check=True, capture_output=True
    )
    doc["spec"]["TLS"] = {
        "static": {
            "member": {
                "peerSecret": "etcd-addops-peer-tls",
                "serverSecret": "etcd-addops-server-tls",
            },
            "operatorSecret": "etcd-addops-client-tls",
        }
    }
    return await client_certs(kube, namespace, into)


async def running_tls_cluster(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> tuple[Etcdctl, Operator]:
    """pvc_cluster (3 members on PVCs, named NAME) with static TLS, Running under a new
    operator: an etcdctl with client certificates (`.certs`) that reached a member, and the
    operator."""
    doc = pvc_cluster(namespace, 3)
    certs = await with_tls(doc, env, kube, namespace, tmp_path)
    apply_cluster(kubectl, doc)
    operator = operators()
    await eventually(running_with(kube, namespace, NAME, 3), "3 ready members")
    etcdctl = Etcdctl(env, namespace, NAME, certs)
    await etcdctl.members_once_served()
    return etcdctl, operator


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
    tmp_path: Path,
) -> None:
    name = NAME
    etcdctl, _ = await running_tls_cluster(kube, namespace, kubectl, local_env, operators, tmp_path)
    certs = etcdctl.certs
    before = await asyncio.to_thread(members_by_name, etcdctl)
    pods = sorted(before)

    scenarios = {"one pod": pods[:1], "two of three pods": pods[1:], "every pod": pods}
    for step, (scenario, victims) in enumerate(scenarios.items()):
        await asyncio.to_thread(etcdctl, "put", f"before-{step}", scenario)
        async with WriteLoad(local_env, namespace, name, certs) as load:
            await load.acknowledges(what="writes before the pods go")
            phases = PhaseLog(kube, namespace, name)
            await delete_pods(kube, namespace, victims)

            async def healed(gone: list[str] = victims) -> Obj | None:
                # the deleted pods are back (new uid) and the cluster is Running at size again
                live = {p["metadata"]["name"]: p for p in await member_pods(kube, namespace, name)}
                back = all(live.get(v, {}).get("status", {}).get("podIP") for v in gone)
                return await running_with(kube, namespace, name, 3)() if back else None

            await eventually(healed, f"{scenario}: the same members Running again")
            seen = await phases.stop()
            await load.acknowledges(what=f"writes after {scenario}")
        await etcdctl.members_once_served()
        assert await asyncio.to_thread(members_by_name, etcdctl) == before, scenario
        assert "Scaling" not in seen, f"{scenario}: phases {seen}"
        assert "Degraded" in seen or scenario == "one pod", f"{scenario}: phases {seen}"
        for earlier in range(step + 1):
            got = await asyncio.to_thread(etcdctl, "get", f"before-{earlier}", "--print-value-only")
            assert got.strip() == list(scenarios)[earlier], scenario
        print(f"{scenario}: phases {' → '.join(seen)}")
        print(f"{scenario}: {await scenario_consistent(etcdctl, load.journal())} ({load.path})")


async def test_emptydir_member_without_its_pod_is_replaced_through_a_learner(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    doc = plain_cluster("ephemeral", namespace, 3)
    certs = await with_tls(doc, local_env, kube, namespace, tmp_path)
    apply_cluster(kubectl, doc)
    operators()
    await eventually(running_with(kube, namespace, "ephemeral", 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, "ephemeral", certs)
    await etcdctl.members_once_served()
    await asyncio.to_thread(etcdctl, "put", "kept", "by the other two")
    before = await asyncio.to_thread(members_by_name, etcdctl)
    victim = sorted(before)[0]

    async def replaced() -> dict[str, str] | None:
        if not await running_with(kube, namespace, "ephemeral", 3)():
            return None
        now = await asyncio.to_thread(members_by_name, etcdctl)
        return now if victim not in now and len(now) == 3 else None

    async with WriteLoad(local_env, namespace, "ephemeral", certs) as load:
        await load.acknowledges(what="writes before the pod goes")
        await delete_pods(kube, namespace, [victim])
        after = await eventually(replaced, "the lost member replaced by a new one")
        await load.acknowledges(what="writes after the replacement")
    assert set(after) - set(before) and set(before) - {victim} <= set(after)
    got = await asyncio.to_thread(etcdctl, "get", "kept", "--print-value-only")
    assert got.strip() == "by the other two"
    print(f"replaced {victim}: {await scenario_consistent(etcdctl, load.journal())} ({load.path})")

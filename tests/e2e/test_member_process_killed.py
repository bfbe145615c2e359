"""A member's etcd process killed (SIGKILL of the container's process, the pod left alone) on
the real environment, under a write load: the node agent restarts the container as a kubelet
would, and the same member comes back in the same pod with its data — no membership change,
the cluster never says Scaling. The leader is the one killed (the harder case for the
clients: an election, writes in flight lost).

Afterwards every acknowledged write reads back, no read went back in time and every member
hashes its KV history alike (tests/e2e/consistency.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import PODS, KubeClient
from tests.e2e.consistency import scenario_consistent
from tests.e2e.nodeagent.pods import nodeagent_cli
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    eventually,
    running_with,
)
from tests.e2e.test_fault_points import NAME
from tests.e2e.test_heal import PhaseLog, members_by_name, running_tls_cluster
from tests.e2e.writeload import WriteLoad

pytestmark = pytest.mark.e2e


def leader_name(etcdctl: Etcdctl) -> str | None:
    """The name of the member that leads, as the members report it; None while they
    disagree (an election under way)."""
    statuses = json.loads(etcdctl("endpoint", "status", "--cluster", "-w", "json"))
    leaders = {s["Status"]["leader"] for s in statuses}
    if len(leaders) != 1:
        return None
    leader = f"{leaders.pop():x}"
    return next(name for name, member in members_by_name(etcdctl).items() if member == leader)


def etcd_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return int(next(s.get("restartCount", 0) for s in statuses if s["name"] == "etcd"))


async def test_killed_etcd_process_comes_back_as_the_same_member(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    etcdctl, _ = await running_tls_cluster(kube, namespace, kubectl, local_env, operators, tmp_path)
    certs = etcdctl.certs
    before = await asyncio.to_thread(members_by_name, etcdctl)
    victim = await eventually(
        lambda: asyncio.to_thread(leader_name, etcdctl), "the members to agree on a leader"
    )
    pod = await kube.get(PODS, victim, namespace)
    uid, restarts = pod["metadata"]["uid"], etcd_restarts(pod)

    async def back() -> Obj | None:
        # the same pod, its etcd container restarted and ready, the cluster Running at 3
        now = await kube.get(PODS, victim, namespace)
        assert now["metadata"]["uid"] == uid, "the pod was replaced, not its process restarted"
        ready = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (now.get("status") or {}).get("conditions") or []
        )
        restarted = etcd_restarts(now) > restarts and ready
        return await running_with(kube, namespace, NAME, 3)() if restarted else None

    async with WriteLoad(local_env, namespace, NAME, certs) as load:
        await load.acknowledges(what="writes before the kill")
        phases = PhaseLog(kube, namespace, NAME)
        killed = await asyncio.to_thread(
            nodeagent_cli, "kill", f"{namespace}/{victim}", "-c", "etcd", "--signal", "KILL"
        )
        assert killed.returncode == 0, killed.stderr
        await eventually(back, f"{victim}'s etcd restarted in its pod, 3 members Running")
        seen = await phases.stop()
        await load.acknowledges(what="writes after the restart")
    print(f"killed the leader {victim}: {killed.stdout.strip()}; phases {' → '.join(seen)}")
    print(f"{await scenario_consistent(etcdctl, load.journal())} ({load.path})")
    assert await asyncio.to_thread(members_by_name, etcdctl) == before
    assert "Scaling" not in seen, f"phases {seen}"

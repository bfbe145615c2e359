"""A Node lost with a member on it: a second, throwaway node agent hosts one member of a PVC
cluster (the main node-3 is cordoned while the cluster is made, and members keep one per
node), then dies with its pods. Once the Node has been NotReady for the operator's grace
period, the member's pod is deleted at once and the same member (name, ID, data) comes back
on another node from its PVC — the network-style volumes here can follow it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import EVENTS, NODES, PODS, KubeClient
from tests.e2e.nodeagent.throwaway import running_agent, wait_node_ready
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    eventually,
    member_pods,
    running_with,
)
from tests.e2e.test_fault_points import NAME, pvc_cluster
from tests.e2e.test_heal import members_by_name

pytestmark = pytest.mark.e2e
NODE_NUMBER = 203  # subnet 10.213.203.0/24, kubelet port 10453
SPARE = "node-3"


async def cordon(kube: KubeClient, node: str, unschedulable: bool) -> None:
    await kube.patch(NODES, node, {"spec": {"unschedulable": unschedulable}})


@pytest.mark.timeout(900)  # the controller-manager notices a silent Node after ~50 s
async def test_a_member_on_a_lost_node_comes_back_elsewhere_as_itself(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    async with running_agent(kube, tmp_path, NODE_NUMBER) as agent:
        await wait_node_ready(kube, agent.node)
        doc = pvc_cluster(namespace, 3)
        taint = f"nodeagent.test/{agent.node.split('-')[0][1:]}"
        doc["spec"]["pod"]["antiAffinity"] = True
        doc["spec"]["pod"]["tolerations"] = [{"key": taint, "operator": "Exists"}]
        await cordon(kube, SPARE, True)
        try:
            apply_cluster(kubectl, doc)
            operators(args=("--node-lost-grace-period", "5"))
            await eventually(running_with(kube, namespace, NAME, 3), "3 ready members")
        finally:
            await cordon(kube, SPARE, False)
        pods = {p["metadata"]["name"]: p for p in await member_pods(kube, namespace, NAME)}
        (victim,) = [n for n, p in pods.items() if p["spec"]["nodeName"] == agent.node]
        etcdctl = Etcdctl(local_env, namespace, NAME)
        await etcdctl.members_once_served()
        await asyncio.to_thread(etcdctl, "put", "before", "the node was lost")
        ids = await asyncio.to_thread(members_by_name, etcdctl)

        agent.cleanup()  # the agent and every process of its pods die: heartbeats stop

        async def moved() -> Obj | None:
            try:
                pod = await kube.get(PODS, victim, namespace)
            except Exception:
                return None
            placed = pod["spec"].get("nodeName")
            ready = await running_with(kube, namespace, NAME, 3)()
            return ready if placed not in (None, agent.node) else None

        await eventually(moved, f"{victim} running again on another node", timeout=600)
        await etcdctl.members_once_served()
        assert await asyncio.to_thread(members_by_name, etcdctl) == ids  # same members, IDs
        got = await asyncio.to_thread(etcdctl, "get", "before", "--print-value-only")
        assert got.strip() == "the node was lost"
        events = (await kube.list(EVENTS, namespace))["items"]
        lost = [e["message"] for e in events if e["reason"] == "MemberNodeLost"]
        assert lost and victim in lost[0] and agent.node in lost[0], lost

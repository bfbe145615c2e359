"""The agent itself dying and coming back: no pod runs unsupervised, pods come back with data.

A second, throwaway agent (tests/e2e/nodeagent/throwaway.py) is killed and restarted here, so
the shared agent is left alone.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nodeagent import netns

from controller.clients.kube import PODS, KubeClient
from tests.e2e.nodeagent.pods import (
    busybox,
    container,
    container_pid,
    is_ready,
    pod,
    process_alive,
    wait_gone,
    wait_log,
    wait_pod,
)
from tests.e2e.nodeagent.throwaway import ThrowawayAgent, running_agent, wait_node_ready

pytestmark = pytest.mark.e2e

NODE_NUMBER = 201  # subnet 10.213.201.0/24, kubelet port 10451


@pytest.fixture
async def agent(kube: KubeClient, tmp_path: Path) -> AsyncIterator[ThrowawayAgent]:
    async with running_agent(kube, tmp_path, NODE_NUMBER) as handle:
        yield handle


async def test_killed_agent_restarts_its_pods_and_a_terminated_one_stops_them(
    kube: KubeClient, namespace: str, kubectl, agent: ThrowawayAgent
) -> None:
    await wait_node_ready(kube, agent.node)
    script = "date >> /data/starts; echo starts=$(wc -l < /data/starts); sleep 3600"
    main = busybox(script, volumeMounts=[{"name": "data", "mountPath": "/data"}])
    manifest = pod(
        "survivor", [main], nodeName=agent.node, volumes=[{"name": "data", "emptyDir": {}}]
    )
    await kube.create(PODS, manifest, namespace)
    first = await wait_pod(kube, namespace, "survivor", is_ready, "Ready")
    first_pid = container_pid(agent.state, first, "main")
    assert first["status"]["podIP"].startswith(f"10.213.{NODE_NUMBER}.")

    agent.signal(signal.SIGKILL)
    await agent.wait_exit()
    assert process_alive(first_pid)  # nobody supervises it now ...
    agent.start()  # ... until the agent is back: it stops the leftover and starts the pod again

    def restarted(p: dict) -> bool:
        return container(p, "main").get("restartCount", 0) >= 1 and is_ready(p)

    second = await wait_pod(kube, namespace, "survivor", restarted, "restarted by the new agent")
    assert not process_alive(first_pid)
    assert second["status"]["podIP"] == first["status"]["podIP"]
    logged = await wait_log(kubectl, namespace, "survivor", lambda log: log.strip() != "")
    assert logged.strip() == "starts=2"
    assert "agent restarted" in container(second, "main")["lastState"]["terminated"]["message"]

    second_pid = container_pid(agent.state, second, "main")
    agent.signal(signal.SIGTERM)
    assert await agent.wait_exit() == 0
    assert not process_alive(second_pid)
    assert await netns.list_netns(agent.prefix) == []

    agent.start()  # the pod is still bound: it runs again, and is deleted properly
    await wait_pod(
        kube,
        namespace,
        "survivor",
        lambda p: container(p, "main").get("restartCount", 0) >= 2 and is_ready(p),
        "running again",
    )
    await kube.delete(PODS, "survivor", namespace)
    await wait_gone(kube, namespace, "survivor")
    assert list((agent.state / "procs").glob("*.json")) == []

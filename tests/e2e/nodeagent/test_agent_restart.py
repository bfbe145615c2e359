"""The agent itself dying and coming back: no pod runs unsupervised, pods come back with data.

A second, throwaway agent (one tainted Node of its own, its own state dir, namespace prefix,
subnet and kubelet port) is killed and restarted here, so the shared agent is left alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nodeagent import netns
from nodeagent.kinds import NODES

from controller.clients.kube import LEASES, PODS, ApiError, KubeClient
from tests.e2e.nodeagent.pods import (
    ROOT,
    busybox,
    container,
    container_pid,
    is_ready,
    pod,
    process_alive,
    wait_gone,
    wait_pod,
)

pytestmark = pytest.mark.e2e

NODE_NUMBER = 201  # subnet 10.213.201.0/24, kubelet port 10451


class ThrowawayAgent:
    def __init__(self, state: Path, log: Path):
        tag = uuid.uuid4().hex[:4]
        self.state, self.log = state, log
        self.prefix = f"eot{tag}-"
        self.node = f"t{tag}-{NODE_NUMBER}"
        self.args = [
            "--root",
            str(ROOT),
            "--nodes",
            "1",
            "--first-node",
            str(NODE_NUMBER),
            "--node-prefix",
            f"t{tag}-",
            "--netns-prefix",
            self.prefix,
            "--state-dir",
            str(state),
            "--no-dns",
            "--no-provisioner",
            "--taint",
            f"nodeagent.test/{tag}=x:NoSchedule",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nodeagent", "run", *self.args],
                env={**os.environ, "PYTHONPATH": str(ROOT / "hack")},
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float = 90) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "the agent did not exit"
            await asyncio.sleep(0.5)
        return self.proc.returncode

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(
            [sys.executable, "-m", "nodeagent", "cleanup", *self.args],
            env={**os.environ, "PYTHONPATH": str(ROOT / "hack")},
            capture_output=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
async def agent(kube: KubeClient, tmp_path: Path) -> AsyncIterator[ThrowawayAgent]:
    handle = ThrowawayAgent(tmp_path / "state", tmp_path / "agent.log")
    handle.start()
    try:
        yield handle
    finally:
        handle.cleanup()
        for res, ns in ((NODES, None), (LEASES, "kube-node-lease")):
            try:
                await kube.delete(res, handle.node, ns)
            except ApiError as exc:
                if not exc.not_found:
                    raise


async def wait_node_ready(kube: KubeClient, name: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            node = await kube.get(NODES, name)
        except ApiError:
            node = {}
        conds = node.get("status", {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
            return
        await asyncio.sleep(1)
    raise AssertionError(f"node {name} never became Ready")


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
    assert kubectl("logs", "-n", namespace, "survivor").stdout.strip() == "starts=2"
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

"""A second, throwaway node agent for tests that need one of their own (agent flags, restarts).

It has one tainted Node (pods reach it only through spec.nodeName), its own state dir, network
namespace prefix, subnet 10.213.<number>.0/24 and kubelet port 10250+<number>, so the shared
agent and its pods are left alone. Give each test module its own node number: two agents on
one number would share a subnet.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from nodeagent.kinds import NODES

from controller.clients.kube import LEASES, ApiError, KubeClient
from tests.e2e.nodeagent.pods import ROOT


class ThrowawayAgent:
    def __init__(self, state: Path, log: Path, node_number: int, *extra_args: str):
        tag = uuid.uuid4().hex[:4]
        self.state, self.log = state, log
        self.prefix = f"eot{tag}-"
        self.node = f"t{tag}-{node_number}"
        self.args = [
            "--root",
            str(ROOT),
            "--nodes",
            "1",
            "--first-node",
            str(node_number),
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
            *extra_args,
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
        """Stops the agent and removes what it made; its Node and Lease are the caller's."""
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


@asynccontextmanager
async def running_agent(
    kube: KubeClient, tmp_path: Path, node_number: int, *extra_args: str
) -> AsyncIterator[ThrowawayAgent]:
    """A started throwaway agent; afterwards stopped, cleaned up, its Node and Lease deleted."""
    handle = ThrowawayAgent(tmp_path / "state", tmp_path / "agent.log", node_number, *extra_args)
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

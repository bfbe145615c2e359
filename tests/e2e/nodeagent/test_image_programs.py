"""An image's programs are looked up at each pull, not once at agent start.

A throwaway agent gets an `--images` rule whose multi-call binary (busybox-style: `--list`
names its applets) lives in the test's tmp dir and is missing at first — as busybox is on a
machine where `apt-get install busybox` comes after `make cluster-up`. The pod fails with
ErrImagePull; once the binary appears it runs at the next pull back-off, with no restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.clients.kube import PODS, KubeClient
from tests.conftest import Kubectl
from tests.e2e.nodeagent.pods import container, phase, pod, wait_pod
from tests.e2e.nodeagent.throwaway import ThrowawayAgent, running_agent

pytestmark = pytest.mark.e2e

NODE_NUMBER = 202  # subnet 10.213.202.0/24, kubelet port 10452
REPOSITORY = "example.com/late-tools"
# A multi-call program as a shell script: invoked through its `greet` link, it greets.
MULTICALL = """#!/bin/sh
[ "$1" = --list ] && { echo greet; exit 0; }
[ "${0##*/}" = greet ] && { echo "greeted by $0"; exit 0; }
exit 127
"""


@pytest.fixture
async def agent(kube: KubeClient, tmp_path: Path) -> AsyncIterator[ThrowawayAgent]:
    rule = {"name": "late", "repositories": [REPOSITORY], "multicall": str(tools(tmp_path))}
    (tmp_path / "images.json").write_text(json.dumps({"images": [rule]}))
    images = str(tmp_path / "images.json")
    async with running_agent(kube, tmp_path, NODE_NUMBER, "--images", images) as handle:
        yield handle


def tools(tmp_path: Path) -> Path:
    """The multi-call binary's path: nothing there until the test installs it."""
    return tmp_path / "opt" / "tools"


def install(program: Path, text: str) -> None:
    """Appears at once, complete and executable (as a package manager's rename does)."""
    program.parent.mkdir(parents=True, exist_ok=True)
    staged = program.with_name(program.name + ".new")
    staged.write_text(text)
    staged.chmod(0o755)
    staged.replace(program)


def pull_failed(p: dict) -> bool:
    """ErrImagePull (shown 5 s per attempt; ImagePullBackOff's message says less)."""
    return container(p, "main").get("state", {}).get("waiting", {}).get("reason") == "ErrImagePull"


async def test_program_installed_after_agent_start_runs_at_next_pull(
    kube: KubeClient, namespace: str, kubectl: Kubectl, agent: ThrowawayAgent, tmp_path: Path
) -> None:
    manifest = pod(
        "late",
        [{"name": "main", "image": f"{REPOSITORY}:1", "command": ["greet"]}],
        nodeName=agent.node,
        restartPolicy="Never",
    )
    await kube.create(PODS, manifest, namespace)
    failing = await wait_pod(kube, namespace, "late", pull_failed, "ErrImagePull")
    message = container(failing, "main")["state"]["waiting"].get("message", "")
    assert str(tools(tmp_path)) in message  # the pull error names what is missing
    assert not container(failing, "main").get("containerID")

    installed_at = time.monotonic()
    install(tools(tmp_path), MULTICALL)
    done = await wait_pod(kube, namespace, "late", lambda p: phase(p) == "Succeeded", "Succeeded")
    assert time.monotonic() - installed_at < 60  # the pull back-off is 10 s, then 20 s
    assert agent.proc is not None and agent.proc.poll() is None  # the same agent throughout
    assert container(done, "main")["state"]["terminated"]["exitCode"] == 0
    logs = kubectl("logs", "-n", namespace, "late").stdout
    assert logs.startswith("greeted by ") and logs.rstrip().endswith("/images/late/bin/greet")

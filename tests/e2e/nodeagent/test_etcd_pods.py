"""etcd images run the locally built etcd: a member, a 3-member cluster on DNS names, logs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from controller.clients.kube import PODS, SERVICES, KubeClient
from tests.e2e.nodeagent.pods import (
    container,
    container_pid,
    etcd_member,
    etcdctl_pod,
    headless_service,
    is_ready,
    phase,
    wait_pod,
)

pytestmark = pytest.mark.e2e


async def run_etcdctl(kube: KubeClient, kubectl, ns: str, name: str, script: str) -> str:
    """Runs a client pod to completion and returns its output."""
    await kube.create(PODS, etcdctl_pod(name, script), ns)
    done = await wait_pod(kube, ns, name, lambda p: phase(p) in ("Succeeded", "Failed"), "finished")
    out = kubectl("logs", "-n", ns, name).stdout
    assert phase(done) == "Succeeded", out
    return out


async def test_a_member_is_ready_and_answers_on_its_dns_name(
    kube: KubeClient, namespace: str, kubectl
) -> None:
    await kube.create(SERVICES, headless_service("solo", {"app": "solo"}), namespace)
    await kube.create(PODS, etcd_member("m0", namespace, "solo", ["m0"], "solo"), namespace)
    await wait_pod(kube, namespace, "m0", is_ready, "Ready")
    endpoint = f"http://m0.solo.{namespace}.svc:2379"
    out = await run_etcdctl(
        kube,
        kubectl,
        namespace,
        "client",
        f"etcdctl --endpoints={endpoint} put greeting hello && "
        f"etcdctl --endpoints={endpoint} get greeting --print-value-only",
    )
    assert out.strip().splitlines()[-1] == "hello"


async def test_three_members_with_static_peer_urls_form_a_cluster(
    kube: KubeClient, namespace: str, kubectl
) -> None:
    members = ["m0", "m1", "m2"]
    await kube.create(SERVICES, headless_service("peers", {"app": "trio"}), namespace)
    for name in members:
        await kube.create(PODS, etcd_member(name, namespace, "peers", members, "trio"), namespace)
    for name in members:
        await wait_pod(kube, namespace, name, is_ready, "Ready")
    endpoint = f"http://m1.peers.{namespace}.svc:2379"
    out = await run_etcdctl(
        kube, kubectl, namespace, "lister", f"etcdctl --endpoints={endpoint} member list -w json"
    )
    listed = json.loads(out[out.index("{") :])["members"]
    assert sorted(m["name"] for m in listed) == members  # a name means: started
    for m in listed:
        assert m["peerURLs"] == [f"http://{m['name']}.peers.{namespace}.svc:2380"]
        assert not m.get("isLearner")


async def test_kubectl_logs_shows_the_member_log_and_the_previous_one_after_a_restart(
    kube: KubeClient, namespace: str, kubectl, agent_state: Path
) -> None:
    await kube.create(SERVICES, headless_service("logs", {"app": "logs"}), namespace)
    await kube.create(PODS, etcd_member("m0", namespace, "logs", ["m0"], "logs"), namespace)
    running = await wait_pod(kube, namespace, "m0", is_ready, "Ready")
    current = kubectl("logs", "-n", namespace, "m0").stdout
    assert "serving client traffic" in current and '"name":"m0"' in current.replace(" ", "")
    tail = kubectl("logs", "-n", namespace, "m0", "--tail=2", "--timestamps").stdout
    lines = tail.strip().split("\n")
    assert len(lines) == 2 and all(line[:4].isdigit() and "Z {" in line for line in lines)

    os.kill(container_pid(agent_state, running, "etcd"), signal.SIGKILL)
    await wait_pod(
        kube,
        namespace,
        "m0",
        lambda p: container(p, "etcd").get("restartCount", 0) >= 1 and is_ready(p),
        "restarted and Ready",
    )
    previous = kubectl("logs", "-n", namespace, "m0", "--previous").stdout
    assert "serving client traffic" in previous
    assert previous.splitlines()[0] == current.splitlines()[0]  # the first run's log
    again = kubectl("logs", "-n", namespace, "m0").stdout
    assert again.splitlines()[0] != current.splitlines()[0]  # a new run, a new log

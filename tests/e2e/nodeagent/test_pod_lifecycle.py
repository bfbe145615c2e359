"""Pods as processes: restart policies, unknown images, readiness, deletion."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from controller.clients.kube import PODS, KubeClient
from tests.e2e.nodeagent.pods import (
    busybox,
    container,
    container_pid,
    is_ready,
    nodeagent_cli,
    phase,
    pod,
    process_alive,
    wait_gone,
    wait_pod,
)

pytestmark = pytest.mark.e2e


async def test_killed_container_is_restarted_under_restart_policy_always(
    kube: KubeClient, namespace: str, agent_state: Path
) -> None:
    await kube.create(PODS, pod("always", [busybox("echo started; sleep 3600")]), namespace)
    running = await wait_pod(kube, namespace, "always", is_ready, "Ready")
    os.kill(container_pid(agent_state, running, "main"), signal.SIGKILL)

    def restarted(p: dict) -> bool:
        status = container(p, "main")
        return status.get("restartCount", 0) >= 1 and "running" in status.get("state", {})

    after = await wait_pod(kube, namespace, "always", restarted, "restarted")
    last = container(after, "main")["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"
    assert phase(after) == "Running"


async def test_killed_container_leaves_the_pod_failed_under_restart_policy_never(
    kube: KubeClient, namespace: str, agent_state: Path
) -> None:
    manifest = pod("never", [busybox("sleep 3600")], restartPolicy="Never")
    await kube.create(PODS, manifest, namespace)
    running = await wait_pod(kube, namespace, "never", is_ready, "Ready")
    os.kill(container_pid(agent_state, running, "main"), signal.SIGKILL)
    failed = await wait_pod(kube, namespace, "never", lambda p: phase(p) == "Failed", "Failed")
    status = container(failed, "main")
    assert status["restartCount"] == 0
    assert status["state"]["terminated"]["exitCode"] == 137
    assert not is_ready(failed)


async def test_completed_pod_succeeds_and_init_containers_run_first(
    kube: KubeClient, namespace: str, kubectl
) -> None:
    manifest = pod(
        "job",
        [
            busybox(
                "cat /scratch/init-was-here && echo done",
                volumeMounts=[{"name": "work", "mountPath": "/scratch"}],
            )
        ],
        initContainers=[
            busybox(
                "echo hi > /scratch/init-was-here",
                name="init",
                volumeMounts=[{"name": "work", "mountPath": "/scratch"}],
            )
        ],
        volumes=[{"name": "work", "emptyDir": {}}],
        restartPolicy="Never",
    )
    await kube.create(PODS, manifest, namespace)
    done = await wait_pod(kube, namespace, "job", lambda p: phase(p) == "Succeeded", "Succeeded")
    assert done["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == (
        "Completed"
    )
    assert kubectl("logs", "-n", namespace, "job").stdout == "hi\ndone\n"


async def test_unknown_image_is_an_image_pull_error_and_never_runs(
    kube: KubeClient, namespace: str
) -> None:
    manifest = pod("unknown", [{"name": "web", "image": "nginx:1.25"}])
    await kube.create(PODS, manifest, namespace)

    def pull_error(p: dict) -> bool:
        waiting = container(p, "web").get("state", {}).get("waiting", {})
        return waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff")

    failing = await wait_pod(kube, namespace, "unknown", pull_error, "ErrImagePull")
    assert phase(failing) == "Pending"
    status = container(failing, "web")
    assert "nginx:1.25" in status["state"]["waiting"].get("message", "")
    assert "running" not in status["state"] and not status.get("containerID")


async def test_failing_readiness_probe_flips_the_pod_not_ready(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    flag = tmp_path / "ready"
    flag.write_text("yes")
    probe = {
        "exec": {"command": ["cat", "/flags/ready"]},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    main = busybox(
        "sleep 3600", readinessProbe=probe, volumeMounts=[{"name": "flags", "mountPath": "/flags"}]
    )
    manifest = pod(
        "probed",
        [main],
        volumes=[{"name": "flags", "hostPath": {"path": str(tmp_path), "type": "Directory"}}],
    )
    await kube.create(PODS, manifest, namespace)
    await wait_pod(kube, namespace, "probed", is_ready, "Ready")
    flag.unlink()
    not_ready = await wait_pod(kube, namespace, "probed", lambda p: not is_ready(p), "NotReady")
    assert container(not_ready, "main")["ready"] is False
    assert phase(not_ready) == "Running"
    flag.write_text("again")
    await wait_pod(kube, namespace, "probed", is_ready, "Ready again")


async def test_deleted_pod_is_stopped_and_finalised(
    kube: KubeClient, namespace: str, agent_state: Path
) -> None:
    # The shell ignores SIGTERM: the agent must SIGKILL it after the grace period.
    manifest = pod(
        "stubborn",
        [busybox("trap '' TERM; while true; do sleep 1; done")],
        terminationGracePeriodSeconds=3,
    )
    await kube.create(PODS, manifest, namespace)
    running = await wait_pod(kube, namespace, "stubborn", is_ready, "Ready")
    pid = container_pid(agent_state, running, "main")
    await kube.delete(PODS, "stubborn", namespace)
    await wait_gone(kube, namespace, "stubborn")
    assert not process_alive(pid)


async def test_host_exec_and_kill_commands_reach_the_container(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create(PODS, pod("target", [busybox("sleep 3600")]), namespace)
    await wait_pod(kube, namespace, "target", is_ready, "Ready")
    out = nodeagent_cli("exec", f"{namespace}/target", "--", "sh", "-c", "hostname; echo $HOME")
    assert out.stdout.split() == ["target", "/root"], out.stderr
    assert nodeagent_cli("kill", f"{namespace}/target", "-c", "main").returncode == 0
    await wait_pod(
        kube,
        namespace,
        "target",
        lambda p: container(p, "main").get("restartCount", 0) >= 1 and is_ready(p),
        "restarted",
    )


async def test_kubectl_exec_runs_inside_the_container(
    kube: KubeClient, namespace: str, kubectl
) -> None:
    await kube.create(PODS, pod("shell", [busybox("sleep 3600")]), namespace)
    await wait_pod(kube, namespace, "shell", is_ready, "Ready")
    out = kubectl(
        "exec",
        "-n",
        namespace,
        "shell",
        "--",
        "sh",
        "-c",
        "hostname; cat /etc/resolv.conf | head -1",
    )
    assert out.stdout.splitlines() == ["shell", "nameserver 10.213.0.1"]
    piped = kubectl("exec", "-i", "-n", namespace, "shell", "--", "wc", "-c", stdin="12345")
    assert piped.stdout.strip() == "5"
    failed = kubectl(
        "exec", "-n", namespace, "shell", "--", "sh", "-c", "echo oops >&2; exit 7", check=False
    )
    assert failed.returncode == 7 and "oops" in failed.stderr


async def test_kubectl_logs_follow_streams_new_lines(
    kube: KubeClient, namespace: str, local_env: dict[str, str]
) -> None:
    script = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done"
    await kube.create(PODS, pod("ticker", [busybox(script)]), namespace)
    await wait_pod(kube, namespace, "ticker", is_ready, "Ready")
    follow = await asyncio.create_subprocess_exec(
        "kubectl", "logs", "-f", "-n", namespace, "ticker",
        stdout=asyncio.subprocess.PIPE, env={**os.environ, **local_env},
    )  # fmt: skip
    assert follow.stdout is not None
    try:
        seen: list[int] = []
        async with asyncio.timeout(120):
            while len(seen) < 20:
                line = (await follow.stdout.readline()).decode().strip()
                assert line, "kubectl logs -f ended while the container was still running"
                seen.append(int(line.removeprefix("tick-")))
        # One unbroken stream: every line once, in order, including those written after
        # kubectl attached (20 lines take ~6 s of the container's life).
        assert seen == list(range(seen[0], seen[0] + 20))
    finally:
        follow.kill()
        await follow.wait()

"""Helpers for the node agent's e2e tests: pod manifests, polling, logs, container pids."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.clients.kube import PODS, ApiError, KubeClient
from tests.conftest import Kubectl

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parents[3]
ETCD_IMAGE = "gcr.io/etcd-development/etcd:v3.6.16"
TIMEOUT = 240.0  # a loaded 2-core machine: be patient, poll


async def wait_pod(
    kube: KubeClient,
    ns: str,
    name: str,
    ok: Callable[[Obj], bool],
    what: str,
    timeout: float = TIMEOUT,
) -> Obj:
    """Polls the pod until `ok(pod)`; fails with the last status seen."""
    deadline = time.monotonic() + timeout
    pod: Obj = {}
    while time.monotonic() < deadline:
        try:
            pod = await kube.get(PODS, name, ns)
        except ApiError as exc:
            if not exc.not_found:
                raise
            pod = {}
        if pod and ok(pod):
            return pod
        await asyncio.sleep(1.0)
    raise AssertionError(
        f"pod {ns}/{name} never became {what}; last status:\n"
        f"{json.dumps(pod.get('status'), indent=1)}"
    )


async def wait_gone(kube: KubeClient, ns: str, name: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await kube.get(PODS, name, ns)
        except ApiError as exc:
            if exc.not_found:
                return
            raise
        await asyncio.sleep(1.0)
    raise AssertionError(f"pod {ns}/{name} was never deleted")


async def wait_log(
    kubectl: Kubectl,
    ns: str,
    name: str,
    written: Callable[[str], bool],
    timeout: float = 60.0,
) -> str:
    """The pod's log once `written(log)` holds, or as it is at the timeout (the caller asserts):
    a container is Ready or Running before its script has written anything."""
    deadline = time.monotonic() + timeout
    while True:
        logged = kubectl("logs", "-n", ns, name).stdout
        if written(logged) or time.monotonic() > deadline:
            return logged
        await asyncio.sleep(1.0)


def is_ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def phase(pod: Obj) -> str:
    return str(pod.get("status", {}).get("phase", ""))


def container(pod: Obj, name: str) -> Obj:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status["name"] == name:
            return dict(status)
    return {}


def container_pid(state_dir: Path, pod: Obj, name: str) -> int:
    """The running container's main process, from the agent's process-group records."""
    uid = pod["metadata"]["uid"]
    for record in state_dir.joinpath("procs").glob("*.json"):
        data = json.loads(record.read_text())
        if data["pod_uid"] == uid and data["container"] == name:
            return int(data["pid"])
    raise AssertionError(f"no process recorded for {name} of pod {uid}")


def process_alive(pid: int) -> bool:
    """Exists and is not a zombie (its parent may be slow to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pod(name: str, containers: list[Obj], **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": spec.pop("labels", {"app": name})},
        "spec": {"containers": containers, "terminationGracePeriodSeconds": 5, **spec},
    }


def busybox(script: str, name: str = "main", **extra: Any) -> Obj:
    return {"name": name, "image": "busybox:1.36", "command": ["sh", "-c", script], **extra}


def headless_service(name: str, selector: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector,
            "ports": [{"name": "client", "port": 2379}, {"name": "peer", "port": 2380}],
        },
    }


def etcd_member(name: str, ns: str, subdomain: str, cluster: list[str], app: str) -> Obj:
    """A member pod with static peer URLs on DNS names `<name>.<subdomain>.<ns>.svc`."""

    def url(member: str, port: int) -> str:
        return f"http://{member}.{subdomain}.{ns}.svc:{port}"

    initial = ",".join(f"{m}={url(m, 2380)}" for m in cluster)
    etcd = {
        "name": "etcd",
        "image": ETCD_IMAGE,
        "command": [
            "/usr/local/bin/etcd",
            "--name=$(POD_NAME)",
            "--data-dir=/var/etcd/data",
            "--listen-client-urls=http://0.0.0.0:2379",
            "--listen-peer-urls=http://0.0.0.0:2380",
            f"--advertise-client-urls={url(name, 2379)}",
            f"--initial-advertise-peer-urls={url(name, 2380)}",
            f"--initial-cluster={initial}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={ns}",
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"name": "client", "containerPort": 2379}],
        "volumeMounts": [{"name": "data", "mountPath": "/var/etcd"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "client"},
            "periodSeconds": 2,
            "timeoutSeconds": 3,
        },
    }
    return pod(
        name,
        [etcd],
        hostname=name,
        subdomain=subdomain,
        labels={"app": app},
        volumes=[{"name": "data", "emptyDir": {}}],
    )


def etcdctl_pod(name: str, script: str) -> Obj:
    """A one-shot client pod (etcd image, so etcdctl is on PATH; the host's /bin/sh)."""
    return pod(
        name,
        [{"name": "etcdctl", "image": ETCD_IMAGE, "command": ["/bin/sh", "-c", script]}],
        restartPolicy="Never",
    )


def nodeagent_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m nodeagent <args> --root <checkout>` against the running agent's state."""
    cut = args.index("--") if "--" in args else len(args)
    argv = [sys.executable, "-m", "nodeagent", *args[:cut], "--root", str(ROOT), *args[cut:]]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "hack")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)

"""`hack/in-cluster`: host commands inside the pod network, resolving through the cluster DNS.

Needs the full environment (`make cluster-up` with the node agent, whose DNS listens on
10.213.0.1:53); the last test also needs the agent to run Pods.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from nodeagent.kinds import ENDPOINT_SLICES

from controller.clients.kube import PODS, PVCS, SERVICES, KubeClient
from tests.e2e.nodeagent.pods import ROOT, wait_gone

pytestmark = pytest.mark.e2e

IN_CLUSTER = ROOT / "hack" / "in-cluster"

Obj = dict[str, Any]


async def in_cluster(
    *argv: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [str(IN_CLUSTER), *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


async def until_success(*argv: str, env: dict[str, str] | None = None) -> str:
    """Retries the command (DNS and pods need a moment to catch up); its stdout + stderr."""
    deadline = time.monotonic() + 180
    while True:
        proc = await in_cluster(*argv, env=env)
        if proc.returncode == 0:
            return proc.stdout + proc.stderr
        assert time.monotonic() < deadline, f"{argv} kept failing: {proc.stderr}"
        await asyncio.sleep(1)


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


async def test_passes_io_and_exit_code_and_cleans_up(local_env: dict[str, str]) -> None:
    proc = await in_cluster("sh", "-c", "cat; ip netns identify; exit 7", stdin="hello\n")
    assert proc.returncode == 7
    lines = proc.stdout.splitlines()
    assert lines[0] == "hello"
    netns = lines[1]
    assert netns.startswith("eo-ic-")
    assert not netns_exists(netns)


async def test_reaches_the_api_server(local_env: dict[str, str], namespace: str) -> None:
    proc = await in_cluster("kubectl", "get", "namespace", namespace, "-o", "name", env=local_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"namespace/{namespace}"


async def test_resolves_services_through_the_cluster_dns(
    local_env: dict[str, str], kube: KubeClient, namespace: str
) -> None:
    spec = {"clusterIP": "None", "ports": [{"name": "client", "port": 2379}]}
    await kube.create(SERVICES, {"metadata": {"name": "db"}, "spec": spec}, namespace)
    endpoint_slice = {
        "metadata": {"name": "db-test", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.213.249.7"], "hostname": "db-0"}],
    }
    await kube.create(ENDPOINT_SLICES, endpoint_slice, namespace)

    out = await until_success("getent", "hosts", f"db.{namespace}.svc.cluster.local")
    assert out.split()[0] == "10.213.249.7"
    # Through the search path, like a pod in that namespace.
    out = await until_success("getent", "hosts", "db-0.db", env={"IN_CLUSTER_NAMESPACE": namespace})
    assert out.split()[0] == "10.213.249.7"
    out = await until_success("getent", "hosts", f"db-0.db.{namespace}.svc")
    assert out.split()[0] == "10.213.249.7"


def etcd_pod(namespace: str) -> Obj:
    host = f"etcd-0.etcd.{namespace}.svc"
    return {
        "metadata": {"name": "etcd-0", "labels": {"app": "dns-test-etcd"}},
        "spec": {
            "hostname": "etcd-0",
            "subdomain": "etcd",
            "containers": [
                {
                    "name": "etcd",
                    "image": "gcr.io/etcd-development/etcd:v3.6.16",
                    "command": [
                        "etcd",
                        "--name=etcd-0",
                        "--data-dir=/var/lib/etcd/data",
                        "--listen-client-urls=http://0.0.0.0:2379",
                        f"--advertise-client-urls=http://{host}:2379",
                        "--listen-peer-urls=http://0.0.0.0:2380",
                        f"--initial-advertise-peer-urls=http://{host}:2380",
                        f"--initial-cluster=etcd-0=http://{host}:2380",
                    ],
                    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }


async def test_etcdctl_reaches_an_etcd_pod_by_its_dns_name(
    local_env: dict[str, str], kube: KubeClient, namespace: str
) -> None:
    """The acceptance check: needs the node agent's pod runtime, not only its DNS."""
    spec = {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "selector": {"app": "dns-test-etcd"},
        "ports": [{"name": "client", "port": 2379}, {"name": "peer", "port": 2380}],
    }
    await kube.create(SERVICES, {"metadata": {"name": "etcd"}, "spec": spec}, namespace)
    await kube.create(PODS, etcd_pod(namespace), namespace)
    endpoint = f"etcd-0.etcd.{namespace}.svc:2379"
    out = await until_success(
        "etcdctl", "--endpoints", endpoint, "endpoint", "health", env=local_env
    )
    assert "is healthy" in out


async def test_etcd_data_on_a_provisioned_volume_outlives_the_pod(
    local_env: dict[str, str], kube: KubeClient, namespace: str
) -> None:
    """A pod recreated on the same claim (class rbd) finds the data the previous one wrote."""
    spec = {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "selector": {"app": "dns-test-etcd"},
        "ports": [{"name": "client", "port": 2379}],
    }
    await kube.create(SERVICES, {"metadata": {"name": "etcd"}, "spec": spec}, namespace)
    claim = {
        "metadata": {"name": "etcd-0"},
        "spec": {
            "storageClassName": "rbd",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    await kube.create(PVCS, claim, namespace)
    pod = etcd_pod(namespace)
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "etcd-0"}}]
    endpoint = ["--endpoints", f"etcd-0.etcd.{namespace}.svc:2379"]

    await kube.create(PODS, pod, namespace)
    await until_success("etcdctl", *endpoint, "put", "greeting", "kept", env=local_env)
    await kube.delete(PODS, "etcd-0", namespace, grace_period_seconds=5)
    await wait_gone(kube, namespace, "etcd-0", timeout=180)

    await kube.create(PODS, pod, namespace)
    out = await until_success(
        "etcdctl", *endpoint, "get", "greeting", "--print-value-only", env=local_env
    )
    assert out.splitlines()[0] == "kept"

"""Volumes: Secret-mounted TLS files, the ServiceAccount token, data on a PVC across pods."""

from __future__ import annotations

import base64
import uuid

import pytest

from controller.clients.kube import PODS, PVCS, SECRETS, KubeClient
from tests.e2e.nodeagent.pods import (
    busybox,
    is_ready,
    phase,
    pod,
    wait_gone,
    wait_log,
    wait_pod,
)

pytestmark = pytest.mark.e2e

TLS_FILES = {"peer-ca.crt": "CA PEM\n", "peer.crt": "CERT PEM\n", "peer.key": "KEY PEM\n"}


async def test_secret_tls_files_appear_read_only_at_the_mount_path(
    kube: KubeClient, namespace: str, kubectl
) -> None:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in TLS_FILES.items()}
    await kube.create(
        SECRETS, {"metadata": {"name": "etcd-addops-peer-tls"}, "data": data}, namespace
    )
    script = (
        "cd /etc/etcdtls/member/peer-tls && ls && cat peer.crt && "
        "(touch x 2>/dev/null && echo writable || echo read-only) && "
        "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace && echo && "
        "test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token && "
        "test -s /var/run/secrets/kubernetes.io/serviceaccount/ca.crt && echo ca && sleep 3600"
    )
    main = busybox(
        script, volumeMounts=[{"name": "peer-tls", "mountPath": "/etc/etcdtls/member/peer-tls"}]
    )
    manifest = pod(
        "tls",
        [main],
        volumes=[{"name": "peer-tls", "secret": {"secretName": "etcd-addops-peer-tls"}}],
    )
    await kube.create(PODS, manifest, namespace)
    await wait_pod(kube, namespace, "tls", is_ready, "Ready")

    logged = await wait_log(kubectl, namespace, "tls", lambda log: "ca" in log.splitlines())
    lines = logged.splitlines()
    assert lines[:3] == sorted(TLS_FILES)
    assert lines[3:] == ["CERT PEM", "read-only", namespace, "token", "ca"]


async def test_data_on_a_pvc_survives_the_pod(kube: KubeClient, namespace: str, kubectl) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "standard",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    await kube.create(PVCS, claim, namespace)
    marker = uuid.uuid4().hex
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mounts = [{"name": "data", "mountPath": "/var/etcd"}]
    writer = pod(
        "writer",
        [busybox(f"echo {marker} > /var/etcd/marker", volumeMounts=mounts)],
        volumes=volumes,
        restartPolicy="Never",
    )
    await kube.create(PODS, writer, namespace)
    await wait_pod(kube, namespace, "writer", lambda p: phase(p) == "Succeeded", "Succeeded")
    await kube.delete(PODS, "writer", namespace)
    await wait_gone(kube, namespace, "writer")

    reader = pod(
        "reader",
        [busybox("cat /var/etcd/marker", volumeMounts=mounts)],
        volumes=volumes,
        restartPolicy="Never",
    )
    await kube.create(PODS, reader, namespace)
    await wait_pod(kube, namespace, "reader", lambda p: phase(p) == "Succeeded", "Succeeded")
    assert kubectl("logs", "-n", namespace, "reader").stdout.strip() == marker

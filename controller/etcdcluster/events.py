"""Kubernetes Events about a cluster (what `kubectl describe etcd` shows). Best effort."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

from api import API_VERSION, EtcdCluster
from controller.clients.kube import ApiError, KubeClient
from controller.resources import EVENTS

log = logging.getLogger(__name__)
COMPONENT = "etcd-operator"
NORMAL, WARNING = "Normal", "Warning"


class EventRecorder:
    def __init__(self, kube: KubeClient):
        self.kube = kube
        self.instance = os.environ.get("MY_POD_NAME") or socket.gethostname()

    async def record(self, cluster: EtcdCluster, type_: str, reason: str, message: str) -> None:
        """Posts a core/v1 Event about the cluster; a failure is logged, never raised."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{cluster.name}.", "namespace": cluster.namespace},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": "EtcdCluster",
                "name": cluster.name,
                "namespace": cluster.namespace,
                "uid": cluster.metadata.uid,
                "resourceVersion": cluster.metadata.resource_version,
            },
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.create(EVENTS, event, cluster.namespace)
        except ApiError as exc:
            log.warning("could not record event %s: %s", reason, exc)

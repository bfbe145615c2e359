"""Kubernetes Events about the objects a controller manages (what `kubectl describe` shows).

Best effort, as in client-go's recorder: a failure to post is logged, never raised, so an
event can never fail a reconcile. Messages must not carry secrets.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from controller.clients.kube import EVENTS, ApiError, KubeClient
from controller.runtime.store import Obj

log = logging.getLogger(__name__)
NORMAL, WARNING = "Normal", "Warning"
MAX_MESSAGE = 1024  # the API rejects longer event messages


@dataclass(frozen=True)
class ObjectRef:
    """The involvedObject of an Event."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str | None = None
    resource_version: str | None = None

    @classmethod
    def of(cls, obj: Obj) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            uid=meta.get("uid"),
            resource_version=meta.get("resourceVersion"),
        )


class EventRecorder:
    def __init__(self, kube: KubeClient, component: str):
        self.kube = kube
        self.component = component
        self.instance = os.environ.get("MY_POD_NAME") or socket.gethostname()

    async def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Posts a core/v1 Event about `ref`; a failure is logged, never raised."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        involved = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "name": ref.name,
            "namespace": ref.namespace,
        }
        if ref.uid:
            involved["uid"] = ref.uid
        if ref.resource_version:
            involved["resourceVersion"] = ref.resource_version
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
            "involvedObject": involved,
            "type": type_,
            "reason": reason,
            "message": message[:MAX_MESSAGE],
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.create(EVENTS, event, ref.namespace)
        except ApiError as exc:
            log.warning("could not record event %s: %s", reason, exc)

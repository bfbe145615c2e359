"""Kubelet-style Events about pods (Started, Killing, Unhealthy, BackOff, ...).

Best effort: an Event that cannot be written is dropped. The same message about the same pod
is written at most once per `REPEAT_INTERVAL`, so a failing probe does not flood the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from controller.clients.kube import EVENTS, KubeClient
from nodeagent.status import rfc3339

log = logging.getLogger(__name__)
REPEAT_INTERVAL = 30.0


class EventRecorder:
    def __init__(self, kube: KubeClient, node: str):
        self.kube = kube
        self.node = node
        self._last: dict[tuple[str, str, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def pod_event(
        self, pod: dict[str, Any], kind: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        meta = pod.get("metadata", {})
        key = (meta.get("uid", ""), reason, message)
        now = time.monotonic()
        if now - self._last.get(key, -REPEAT_INTERVAL) < REPEAT_INTERVAL:
            return
        self._last[key] = now
        if len(self._last) > 5000:
            self._last.clear()
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        }
        if field_path:
            involved["fieldPath"] = field_path
        stamp = rfc3339()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}",
                "namespace": meta.get("namespace"),
            },
            "involvedObject": involved,
            "type": kind,
            "reason": reason,
            "message": message,
            "source": {"component": "kubelet", "host": self.node},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        task = asyncio.get_running_loop().create_task(self._send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: dict[str, Any]) -> None:
        try:
            await self.kube.create(EVENTS, event)
        except Exception as exc:  # events are best effort
            log.debug("event dropped: %s", exc)

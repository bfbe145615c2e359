"""Writing a pod's status: recompute on every change, write only what differs.

Writes go to the status subresource as a strategic merge patch, so conditions merge by type
and conditions others own (PodScheduled, readiness gates, DisruptionTarget) are never
overwritten with a stale copy. Also `seed_record`: a container's record continued from the
status an earlier agent run wrote.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from controller.clients.kube import PODS, STRATEGIC_PATCH, ApiError
from nodeagent.status import OWN_CONDITIONS, ContainerRecord, pod_status, rfc3339

if TYPE_CHECKING:
    from nodeagent.podworker import PodWorker

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class StatusSync:
    def __init__(self, worker: PodWorker):
        self.worker = worker
        self._dirty = asyncio.Event()
        self._last: Obj | None = None

    def notify(self) -> None:
        self._dirty.set()

    async def run(self) -> None:
        w = self.worker
        pause = 1.0
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.2)  # coalesce bursts of changes into one write
            self._dirty.clear()
            try:
                await self.write()
                pause = 1.0
            except Exception as exc:  # e.g. the API server restarting: retried, backing off
                log.info("pod %s: writing status: %s", w.key, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 15.0)
                self._dirty.set()

    def _pod_with_our_conditions(self) -> Obj:
        """The pod with our own conditions as last written (the watch may lag behind)."""
        w = self.worker
        status = dict(w.pod.get("status") or {})
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        for c in (self._last or {}).get("conditions", []):
            if c["type"] in OWN_CONDITIONS:
                conditions[c["type"]] = c
        status["conditions"] = list(conditions.values())
        return {**w.pod, "status": status}

    async def write(self) -> None:
        w = self.worker
        status = pod_status(self._pod_with_our_conditions(), w.inits, w.mains, w.view)
        if status == self._last:
            return
        meta = w.pod["metadata"]
        # Strategic merge: conditions merge by type, so others' conditions (readiness gates,
        # DisruptionTarget, PodScheduled) are never overwritten with a stale copy.
        body = {
            **status,
            "conditions": [c for c in status["conditions"] if c["type"] in OWN_CONDITIONS],
        }
        current = w.pod.get("status") or {}
        try:
            if current.get("podIPs") and current["podIPs"] != status.get("podIPs"):
                # IP lists merge by ip under a strategic patch: replace them whole first.
                ips = {k: status.get(k) for k in ("podIP", "podIPs")}
                await w.ctx.kube.patch(
                    PODS, meta["name"], {"status": ips}, meta["namespace"], sub="status"
                )
            await w.ctx.kube.patch(
                PODS,
                meta["name"],
                {"status": body},
                meta["namespace"],
                sub="status",
                content_type=STRATEGIC_PATCH,
            )
        except ApiError as exc:
            if exc.not_found:
                return
            raise
        self._last = status


def seed_record(container: Obj, pod: Obj, init: bool, default_reason: str) -> ContainerRecord:
    """A record for the container, continuing what an earlier agent run reported."""
    rec = ContainerRecord(
        name=container["name"], image=container.get("image", ""), reason=default_reason
    )
    key = "initContainerStatuses" if init else "containerStatuses"
    for old in pod.get("status", {}).get(key) or []:
        if old.get("name") != rec.name:
            continue
        rec.restart_count = int(old.get("restartCount") or 0)
        rec.last_state = old.get("lastState") or {}
        state = old.get("state") or {}
        term = state.get("terminated") or {}
        policy = pod["spec"].get("restartPolicy") or "Always"
        keep = (term.get("exitCode") == 0 and (init or policy != "Always")) or (
            term and not init and policy == "Never"
        )
        if keep:
            rec.state, rec.reason = "terminated", term.get("reason", "Completed")
            rec.exit_code = int(term.get("exitCode") or 0)
            rec.started_at = term.get("startedAt") or ""
            rec.finished_at = term.get("finishedAt") or ""
            rec.container_id = old.get("containerID", "")
            rec.image_id = old.get("imageID", "")
        elif "running" in state or "terminated" in state:
            # Its process died with the previous agent: this start counts as a restart.
            rec.restart_count += 1
            rec.last_state = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "Error",
                    "message": "the node agent restarted",
                    "startedAt": (state.get("running") or state.get("terminated") or {}).get(
                        "startedAt"
                    ),
                    "finishedAt": rfc3339(),
                    "containerID": old.get("containerID"),
                }
            }
    return rec

"""One Node: its registration and heartbeats, and a pod worker per Pod bound to it.

Registration creates (or updates) the Node with the labels, addresses, capacity and kubelet
endpoint a kubelet reports. Heartbeats renew the Lease in kube-node-lease every 10 s and post
the Ready condition every minute, so the node lifecycle controller keeps the Node Ready. Pods
come from a list-and-watch on `spec.nodeName=<node>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

from controller.clients.kube import LEASES, PODS, ApiError
from nodeagent.context import AgentContext
from nodeagent.events import EventRecorder
from nodeagent.ipam import IpPool
from nodeagent.kinds import NODES
from nodeagent.podworker import PodWorker
from nodeagent.status import rfc3339
from nodeagent.watch import list_and_watch

log = logging.getLogger(__name__)
Obj = dict[str, Any]
LEASE_DURATION = 40
LEASE_RENEW = 10.0
STATUS_EVERY = 60.0
RUNTIME_VERSION = "nodeagent://0.1.0"


class Node:
    def __init__(self, ctx: AgentContext, index: int):
        self.ctx = ctx
        self.index = index
        self.name = ctx.config.node_name(index)
        self.host_ip = "127.0.0.1"
        self.port = ctx.config.kubelet_port(index)
        self.ipam = IpPool(ctx.config.node_subnet(index))
        self.events = EventRecorder(ctx.kube, self.name)
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: set[str] = set()
        self._uid = ""
        self.synced = False  # listed its pods at least once (see agent.collect_garbage)

    async def run(self) -> None:
        await self._register()
        await asyncio.gather(self._heartbeat(), self._watch_pods())

    async def shutdown(self, cap: float) -> None:
        """Stops every pod's processes and sandbox (within `cap` seconds each)."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*(t for t in self._tasks.values()), return_exceptions=True)
        await asyncio.gather(
            *(w.shutdown(cap) for w in self.workers.values()), return_exceptions=True
        )

    def find_pod(self, namespace: str, name: str) -> PodWorker | None:
        for worker in self.workers.values():
            meta = worker.pod["metadata"]
            if meta["namespace"] == namespace and meta["name"] == name:
                return worker
        return None

    # --- pods ----------------------------------------------------------------------------

    async def _watch_pods(self) -> None:
        selector = f"spec.nodeName={self.name}"
        async for change in list_and_watch(self.ctx.kube, PODS, field_selector=selector):
            if change.type == "SYNC":
                seen = {p["metadata"]["uid"] for p in change.objects}
                for pod in change.objects:
                    self._observe(pod)
                for uid, worker in list(self.workers.items()):
                    if uid not in seen:
                        worker.vanished()
                self.synced = True
            elif change.type == "DELETED":
                gone = self.workers.get(change.obj["metadata"]["uid"])
                if gone is not None:
                    gone.vanished()
            else:
                self._observe(change.obj)

    def _observe(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        if uid in self._finished:
            return
        existing = self.workers.get(uid)
        if existing is not None:
            existing.update(pod)
            return
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        log.info("%s: pod %s (%s) bound here", self.name, worker.key, uid)
        if pod["metadata"].get("deletionTimestamp"):
            worker.update(pod)
        task = asyncio.create_task(self._supervise(worker), name=f"pod-{uid}")
        self._tasks[uid] = task

    async def _supervise(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The next event about the pod starts a fresh worker.
            log.exception("pod worker %s failed; its processes are stopped", worker.key)
            with contextlib.suppress(Exception):
                await worker.shutdown(5.0)
        else:
            self._finished.add(worker.uid)
            if len(self._finished) > 10000:
                self._finished.clear()
        self.workers.pop(worker.uid, None)
        self._tasks.pop(worker.uid, None)

    # --- the Node object -----------------------------------------------------------------

    async def _register(self) -> None:
        delay = 1.0
        while True:
            try:
                self._uid = await self._create_or_update()
                await self._post_status()
                log.info("%s registered (kubelet port %d)", self.name, self.port)
                return
            except Exception as exc:  # the API server may not be up yet
                log.warning("%s: registering: %s", self.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

    def _labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _arch(),
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": _arch(),
            **self.ctx.config.extra_labels,
        }

    async def _create_or_update(self) -> str:
        cidr = str(self.ctx.config.node_subnet(self.index))
        spec: Obj = {"podCIDR": cidr, "podCIDRs": [cidr]}
        if self.ctx.config.taints:
            spec["taints"] = [dict(t) for t in self.ctx.config.taints]
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": self._labels(),
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": spec,
        }
        try:
            created = await self.ctx.kube.create(NODES, node)
            return str(created["metadata"]["uid"])
        except ApiError as exc:
            if not exc.conflict:
                raise
        patch = {"metadata": {"labels": self._labels()}, "spec": {"unschedulable": None}}
        updated = await self.ctx.kube.patch(NODES, self.name, patch)
        return str(updated["metadata"]["uid"])

    async def _heartbeat(self) -> None:
        last_status = time.monotonic()
        while True:
            try:
                await self._renew_lease()
                if time.monotonic() - last_status >= STATUS_EVERY:
                    await self._post_status()
                    last_status = time.monotonic()
            except Exception as exc:  # retried at the next beat
                log.warning("%s: heartbeat: %s", self.name, exc)
            await asyncio.sleep(LEASE_RENEW)

    async def _renew_lease(self) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_DURATION,
            "renewTime": now,
        }
        kube = self.ctx.kube
        try:
            lease = await kube.get(LEASES, self.name, "kube-node-lease")
        except ApiError as exc:
            if not exc.not_found:
                raise
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self._uid}
            await kube.create(
                LEASES,
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "namespace": "kube-node-lease",
                        "ownerReferences": [owner] if self._uid else [],
                    },
                    "spec": spec,
                },
            )
            return
        lease["spec"] = {**lease.get("spec", {}), **spec}
        await kube.replace(LEASES, lease)

    async def _post_status(self) -> None:
        try:
            current = await self.ctx.kube.get(NODES, self.name)
        except ApiError as exc:
            if exc.not_found:  # someone deleted the Node: register again
                self._uid = await self._create_or_update()
                current = {}
            else:
                raise
        previous = {c["type"]: c for c in current.get("status", {}).get("conditions") or []}
        now = rfc3339()

        def cond(ctype: str, status: str, reason: str, message: str) -> Obj:
            old = previous.get(ctype)
            since = old["lastTransitionTime"] if old and old.get("status") == status else now
            return {
                "type": ctype,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": since,
            }

        resources = self.ctx.node_allocatable
        status = {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": self.host_ip},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            # The API server then sends `kubectl exec` WebSockets here as they are (no SPDY).
            "declaredFeatures": ["ExtendWebSocketsToKubelet"],
            "nodeInfo": _node_info(self.ctx.config.root),
        }
        await self.ctx.kube.patch(NODES, self.name, {"status": status}, sub="status")


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _node_info(root: Path) -> Obj:
    kube_version = "v0.0.0"
    for line in _read(str(root / "hack" / "versions.env")).splitlines():
        if line.startswith("KUBE_VERSION="):
            kube_version = line.split("=", 1)[1].strip().strip('"')
    os_image = "Linux"
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_image = line.split("=", 1)[1].strip('"')
    machine_id = _read("/etc/machine-id") or "0" * 32
    return {
        "machineID": machine_id,
        "systemUUID": machine_id,
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": os.uname().release,
        "osImage": os_image,
        "containerRuntimeVersion": RUNTIME_VERSION,
        "kubeletVersion": kube_version,
        "operatingSystem": "linux",
        "architecture": _arch(),
    }

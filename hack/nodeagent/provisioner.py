"""A dynamic volume provisioner for the local cluster: one host directory per claim.

For each pending PVC whose StorageClass names this provisioner it creates a directory under
`root` and a hostPath PV pre-bound to the claim (`claimRef` with the claim's uid); the real
PV controller in kube-controller-manager then binds the pair. With WaitForFirstConsumer it
waits for the scheduler's `volume.kubernetes.io/selected-node`. When a PV it made is Released
and its reclaim policy is Delete, it removes the directory and the PV; Retain keeps both.

All "nodes" of the local cluster share this machine's filesystem, so the PVs carry no node
affinity, and a directory outlives its pods: a pod recreated on the same claim finds its data.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from controller.clients.kube import PVCS, ApiError, KubeClient, Obj, Resource
from nodeagent.kinds import PVS, STORAGE_CLASSES
from nodeagent.watch import list_and_watch

log = logging.getLogger(__name__)

PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
RESYNC_SECONDS = 30.0


def storage_class(name: str, provisioner: str, *, default: bool = False) -> Obj:
    meta: Obj = {"name": name}
    if default:
        meta["annotations"] = {DEFAULT_CLASS: "true"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": provisioner,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def volume_dir(root: Path, pvc: Obj) -> Path:
    meta = pvc["metadata"]
    return root / f"pvc-{meta['uid']}_{meta['namespace']}_{meta['name']}"


def wants_volume(pvc: Obj, sc: Obj | None, provisioner: str) -> bool:
    """A claim this provisioner should serve now (pure: the decision, not the action)."""
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    if sc is None or sc.get("provisioner") != provisioner:
        return False
    if spec.get("volumeName") or status.get("phase", "Pending") != "Pending":
        return False
    if pvc["metadata"].get("deletionTimestamp"):
        return False
    if sc.get("volumeBindingMode") == "WaitForFirstConsumer":
        return bool((pvc["metadata"].get("annotations") or {}).get(SELECTED_NODE))
    return True


def persistent_volume(pvc: Obj, sc: Obj, path: Path, provisioner: str) -> Obj:
    """The PV for a claim, pre-bound to it."""
    meta, spec = pvc["metadata"], pvc.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{meta['uid']}",
            "annotations": {PROVISIONED_BY: provisioner},
            "labels": {"etcd-operator.local/provisioner": "hostpath"},
        },
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "storageClassName": sc["metadata"]["name"],
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion", ""),
            },
        },
    }


def reclaimable(pv: Obj, provisioner: str) -> bool:
    """A PV of ours whose claim is gone and whose policy says delete it."""
    annotations = pv["metadata"].get("annotations") or {}
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    return (
        annotations.get(PROVISIONED_BY) == provisioner
        and status.get("phase") in ("Released", "Failed")
        and spec.get("persistentVolumeReclaimPolicy", "Delete") == "Delete"
    )


class LocalProvisioner:
    def __init__(
        self, kube: KubeClient, root: Path, name: str = "etcd-operator.local/hostpath"
    ) -> None:
        self.kube = kube
        self.root = root
        self.name = name
        self._stores: dict[str, dict[str, Obj]] = {}
        self._wake = asyncio.Event()

    async def run(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        await self.ensure_storage_classes()
        tasks = [
            asyncio.create_task(self._watch(res), name=f"provisioner-watch-{res.plural}")
            for res in (STORAGE_CLASSES, PVCS, PVS)
        ]
        try:
            await asyncio.gather(self._loop(), *tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def ensure_storage_classes(self) -> None:
        """`standard` (the default class) and `rbd` (the seed's class), created only if missing."""
        classes = [
            storage_class("standard", self.name, default=True),
            storage_class("rbd", self.name),
        ]
        delay = 0.5
        while classes:
            try:
                await self.kube.create(STORAGE_CLASSES, classes[0])
                log.info("created StorageClass %s", classes[0]["metadata"]["name"])
            except ApiError as exc:
                if not exc.conflict:
                    raise
            except Exception as exc:  # API not reachable yet: the agent may start first
                log.warning("cannot create StorageClasses yet: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            classes.pop(0)

    async def _watch(self, res: Resource) -> None:
        async for change in list_and_watch(self.kube, res):
            self._stores[res.plural] = change.apply(self._stores.get(res.plural, {}), _key)
            self._wake.set()

    async def _loop(self) -> None:
        """One pass over everything after each change (and periodically): small clusters."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), RESYNC_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            if len(self._stores) < 3:
                continue
            try:
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("provisioner pass failed; retrying")
                await asyncio.sleep(2)
                self._wake.set()

    async def _reconcile(self) -> None:
        classes = self._stores[STORAGE_CLASSES.plural]
        pvs = self._stores[PVS.plural]
        for pvc in list(self._stores[PVCS.plural].values()):
            sc = classes.get((pvc.get("spec") or {}).get("storageClassName") or "")
            if sc is not None and wants_volume(pvc, sc, self.name):
                if f"pvc-{pvc['metadata']['uid']}" not in pvs:
                    await self._provision(pvc, sc)
        for pv in list(pvs.values()):
            # Each instance reclaims only what lies under its own root (tests run their own).
            if reclaimable(pv, self.name) and _under(_host_path(pv), self.root):
                await self._delete(pv)

    async def _provision(self, pvc: Obj, sc: Obj) -> None:
        path = volume_dir(self.root, pvc)
        await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
        pv = persistent_volume(pvc, sc, path, self.name)
        try:
            created = await self.kube.create(PVS, pv)
        except ApiError as exc:
            if not exc.conflict:
                raise
            # Already provisioned (by us before a restart, or by another instance): drop the
            # directory just made unless it is the one the existing PV uses.
            existing = await self.kube.get(PVS, pv["metadata"]["name"])
            if Path(existing["spec"].get("hostPath", {}).get("path", "")) != path:
                await asyncio.to_thread(_remove_if_empty, path)
            return
        self._stores[PVS.plural][created["metadata"]["name"]] = created
        meta = pvc["metadata"]
        log.info(
            "provisioned %s for %s/%s at %s",
            pv["metadata"]["name"],
            meta["namespace"],
            meta["name"],
            path,
        )

    async def _delete(self, pv: Obj) -> None:
        path = _host_path(pv)
        if _under(path, self.root):  # never anything else, whatever a PV object claims
            await asyncio.to_thread(shutil.rmtree, path, True)
        if pv["metadata"].get("deletionTimestamp"):
            return  # already being deleted (waits for its protection finalizer)
        try:
            await self.kube.delete(PVS, pv["metadata"]["name"])
        except ApiError as exc:
            if not exc.not_found:
                raise
        self._stores[PVS.plural].pop(pv["metadata"]["name"], None)
        log.info("deleted released volume %s (%s)", pv["metadata"]["name"], path)


def _host_path(pv: Obj) -> Path:
    return Path(((pv.get("spec") or {}).get("hostPath") or {}).get("path") or "/")


def _under(path: Path, root: Path) -> bool:
    return path.is_relative_to(root) and path != root and ".." not in path.parts


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])

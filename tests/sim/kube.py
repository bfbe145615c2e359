"""The simulated API server: member pods, their PVCs and the cluster's Services.

It answers like the real one where the executor can tell: creating an existing name (a
terminating object's too) is 409 AlreadyExists, deleting a missing one 404 NotFound. A
deleted pod terminates (its etcd process stops at once) and is gone, its emptyDir with it, at
the next `reap`; a PVC deleted while a pod still mounts it waits for that pod (the
pvc-protection finalizer), and observe does not see it meanwhile (it skips objects being
deleted). A created pod has no IP and no process: the world starts it later, and only once
its PVC exists.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.clients.kube import ApiError, Resource
from controller.common.ownership import BY_CLUSTER, owning_cluster
from controller.common.resources import (
    ETCD_BACKUPS,
    ETCD_RESTORES,
    PDBS,
    PODS,
    PVCS,
    SECRETS,
    SERVICES,
)
from controller.etcdcluster.observe import OPERATOR_CA, OPERATOR_CERT, OPERATOR_KEY
from controller.etcdcluster.resources import ETCD_CONTAINER, data_claim_name
from controller.runtime.store import Obj, join_key

DELETED_AT = "2026-01-01T00:00:00Z"  # any deletionTimestamp: observe only tests presence
JOURNAL_KIND = {
    PODS: "pod",
    PVCS: "pvc",
    SERVICES: "service",
    PDBS: "budget",
}  # ("pod-create", name), ...


@dataclass
class DataDir:
    """An etcd --data-dir: the member it was initialised as, and how far its log goes."""

    member_id: int | None = None
    revision: int = 0

    def destroy(self) -> None:
        """The volume is gone (an emptyDir with its pod, a deleted PVC): nothing is left."""
        self.member_id, self.revision = None, 0


@dataclass
class SimPod:
    name: str
    obj: Obj  # as the executor created it
    claim: str | None  # its PVC; None for an emptyDir
    initial_state: str  # --initial-cluster-state: "new" or "existing"
    peer_url: str  # --initial-advertise-peer-urls
    empty_dir: DataDir = field(default_factory=DataDir)  # lives as long as the pod
    ip: str | None = None  # assigned when it is first scheduled
    running: bool = False  # its etcd process
    crash_loop: str | None = None  # why its process keeps exiting (CrashLoopBackOff)
    evicted: bool = False  # phase Failed: its containers stopped for good, emptyDir removed
    terminating: bool = False


@dataclass
class SimPVC:
    name: str
    obj: Obj
    data: DataDir = field(default_factory=DataDir)  # outlives the pods that mount it
    terminating: bool = False


def etcd_flag(pod: Obj, flag: str) -> str:
    """The value of `--flag=` on the pod's etcd command line."""
    container = next(c for c in pod["spec"]["containers"] if c["name"] == ETCD_CONTAINER)
    prefix = f"--{flag}="
    return next(a[len(prefix) :] for a in container["command"] if a.startswith(prefix))


def _conflict(kind: str, name: str) -> ApiError:
    message = f'{kind} "{name}" already exists'
    return ApiError(409, {"reason": "AlreadyExists", "message": message})


def _not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, {"reason": "NotFound", "message": f'{kind} "{name}" not found'})


class SimKube:
    """The executor's `Kube`. `journal` gets an entry (e.g. ("pvc-delete", name)) for every
    change the API accepted, in order; `before_pod_create` sees each new pod first, and
    `stop` is called on a pod being deleted (the kubelet's SIGTERM to its process)."""

    def __init__(
        self,
        journal: list[tuple[str, str]],
        before_pod_create: Callable[[SimPod], None],
        stop: Callable[[SimPod], None],
    ):
        self.pods: dict[str, SimPod] = {}
        self.pvcs: dict[str, SimPVC] = {}
        self.services: dict[str, Obj] = {}
        self.budgets: dict[str, Obj] = {}
        self.journal = journal
        self.before_pod_create = before_pod_create
        self.stop = stop

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        name = obj["metadata"]["name"]
        if res == PODS:
            if name in self.pods:
                raise _conflict(res.kind, name)
            pod = SimPod(
                name=name,
                obj=obj,
                claim=data_claim_name(obj),
                initial_state=etcd_flag(obj, "initial-cluster-state"),
                peer_url=etcd_flag(obj, "initial-advertise-peer-urls"),
            )
            self.before_pod_create(pod)
            self.pods[name] = pod
        elif res == PVCS:
            if name in self.pvcs:
                raise _conflict(res.kind, name)
            self.pvcs[name] = SimPVC(name, obj)
        elif res in (SERVICES, PDBS):
            store = self.services if res == SERVICES else self.budgets
            if name in store:
                raise _conflict(res.kind, name)
            store[name] = obj
        else:
            raise AssertionError(f"the executor does not create {res.kind}")
        self.journal.append((f"{JOURNAL_KIND[res]}-create", name))
        return obj

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
    ) -> Obj:
        if res == PODS:
            pod = self.pods.get(name)
            if pod is None:
                raise _not_found(res.kind, name)
            if not pod.terminating:
                pod.terminating = True
                self.stop(pod)
                self.journal.append(("pod-delete", name))
            return pod.obj
        if res == PVCS:
            pvc = self.pvcs.get(name)
            if pvc is None:
                raise _not_found(res.kind, name)
            if not pvc.terminating:
                pvc.terminating = True
                self.journal.append(("pvc-delete", name))
                self.reap()
            return pvc.obj
        raise AssertionError(f"the executor does not delete {res.kind}")

    async def patch(
        self, res: Resource, name: str, patch: Obj, namespace: str | None = None
    ) -> Obj:
        assert res == PDBS, f"the executor does not patch {res.kind}"
        budget = self.budgets.get(name)
        if budget is None:
            raise _not_found(res.kind, name)
        budget["spec"].update(patch["spec"])
        self.journal.append(("budget-patch", name))
        return budget

    def reap(self, pods: bool = False) -> None:
        """Deletions complete: terminating pods when `pods` (their grace period is over),
        then terminating PVCs no pod mounts any longer."""
        if pods:
            for pod in self.pods.values():
                if pod.terminating:
                    pod.empty_dir.destroy()
            self.pods = {n: p for n, p in self.pods.items() if not p.terminating}
        mounted = {p.claim for p in self.pods.values()}
        for name, pvc in list(self.pvcs.items()):
            if pvc.terminating and name not in mounted:
                pvc.data.destroy()
                del self.pvcs[name]

    def data_dir(self, pod: SimPod) -> DataDir | None:
        """Where the pod's etcd keeps its data; None while its PVC does not exist."""
        if pod.claim is None:
            return pod.empty_dir
        pvc = self.pvcs.get(pod.claim)
        return pvc.data if pvc is not None else None


class SimCache:
    """What observe reads of the operator's cache, rendered from the simulated API: the
    cluster's objects as the API serves them (status included) and the TLS Secrets. A
    frozen cache keeps serving the objects as they were (an informer whose watch lags)."""

    def __init__(self, kube: SimKube, ready: Callable[[SimPod], bool], secrets: dict[str, Obj]):
        self.kube = kube
        self.ready = ready
        self.secrets = secrets
        self.frozen: dict[Resource, list[Obj]] | None = None

    def freeze(self, kinds: tuple[Resource, ...] = (PODS, PVCS, SERVICES, PDBS)) -> None:
        """Serve `kinds` as they are now (the other informers go on following the API)."""
        self.frozen = {res: self._objects(res) for res in kinds}

    def thaw(self) -> None:
        self.frozen = None

    def by_index(self, res: Resource, index: str, value: str) -> list[Obj]:
        assert index == BY_CLUSTER
        frozen = self.frozen or {}
        objs = frozen[res] if res in frozen else self._objects(res)
        return [o for o in objs if owning_cluster(o) == value]

    def _objects(self, res: Resource) -> list[Obj]:
        if res == PODS:
            return [self._pod(p) for p in self.kube.pods.values()]
        if res == PVCS:
            return [self._pvc(v) for v in self.kube.pvcs.values()]
        if res == PDBS:
            return [copy.deepcopy(b) for b in self.kube.budgets.values()]
        assert res == SERVICES
        return list(self.kube.services.values())

    def list(self, res: Resource, namespace: str | None = None) -> list[Obj]:
        assert res == ETCD_BACKUPS
        return []  # the simulated world has no backups to restore

    def get(self, res: Resource, key: str) -> Obj | None:
        if res == ETCD_RESTORES:
            return None  # the simulated world has no backups to restore
        assert res == SECRETS
        return self.secrets.get(key)

    def _pod(self, pod: SimPod) -> Obj:
        meta = dict(pod.obj["metadata"])
        if pod.terminating:
            meta["deletionTimestamp"] = DELETED_AT
        ready = "True" if self.ready(pod) else "False"
        phase = "Failed" if pod.evicted else "Running" if pod.ip else "Pending"
        status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}
        if pod.evicted:
            status["reason"] = "Evicted"
        if pod.ip:
            status["podIP"] = pod.ip
        if pod.crash_loop:
            waiting = {"reason": "CrashLoopBackOff", "message": pod.crash_loop}
            status["containerStatuses"] = [{"name": ETCD_CONTAINER, "state": {"waiting": waiting}}]
        return {**pod.obj, "metadata": meta, "status": status}

    def _pvc(self, pvc: SimPVC) -> Obj:
        if not pvc.terminating:
            return pvc.obj
        return {**pvc.obj, "metadata": {**pvc.obj["metadata"], "deletionTimestamp": DELETED_AT}}


def tls_secrets(namespace: str, names: list[str]) -> dict[str, Obj]:
    """The cluster's Secrets by cache key; each carries the operator's client material
    (observe decodes it from whichever Secret the spec names as the operator's)."""
    data = {k: "UEVN" for k in (OPERATOR_CA, OPERATOR_CERT, OPERATOR_KEY)}  # base64 "PEM"
    return {
        join_key(namespace, n): {"metadata": {"name": n, "namespace": namespace}, "data": data}
        for n in names
    }

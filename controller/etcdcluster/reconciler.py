"""The EtcdCluster reconciler: observe, plan one action, apply it, write status, requeue.

Level-based: each pass starts from what the world looks like now, so a crash or a lost event
costs at most one requeue. There is no periodic resync, hence a pass asks to be called again
(soon while converging, rarely when steady) unless its action created or deleted an object
the operator watches: that object's event brings the cluster back at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from api import ClusterStatus, EtcdCluster
from controller.clients.etcd import EtcdClient
from controller.clients.kube import KubeClient
from controller.etcdcluster.events import WARNING, EventRecorder
from controller.etcdcluster.executor import Executor
from controller.etcdcluster.observe import EtcdConnector, observe
from controller.etcdcluster.planner import (
    Action,
    BadSpec,
    CreateService,
    CreateVolume,
    DeleteStrayPod,
    DeleteStrayVolume,
    Paused,
    Steady,
    Wait,
    plan,
)
from controller.etcdcluster.status import desired_status
from controller.manager import Cache
from controller.reconcile import Result, TerminalError
from controller.resources import ETCD_CLUSTERS
from controller.scope import is_managed

log = logging.getLogger(__name__)

# Seconds until the next pass.
AFTER_PROGRESS = 1.0  # an action was applied: look at its effect right away
AFTER_NOT_YET = 3.0  # waiting for members to start, a learner to catch up, a leader
AFTER_BLOCKED = 15.0  # the user or a later lifecycle step must act (Secrets are not watched)
STEADY = 30.0
# Waits a later lifecycle issue resolves; until then, look rarely.
BLOCKED_WAITS = {"VolumesWithoutPods", "MemberPodMissing", "ForeignMember"}
# Actions whose only effect is on watched objects (Services, PVCs, pods): their events requeue.
WATCHED_CHANGES = (CreateService, CreateVolume, DeleteStrayPod, DeleteStrayVolume)


class EtcdClusterReconciler:
    name = "etcdcluster"

    def __init__(
        self,
        cache: Cache,
        kube: KubeClient,
        cluster_wide: bool,
        connect: EtcdConnector = EtcdClient,
    ):
        self.cache = cache
        self.kube = kube
        self.cluster_wide = cluster_wide
        self.connect = connect
        self.events = EventRecorder(kube)
        self.executor = Executor(kube, connect, self.events)
        self._last_reason: dict[str, str] = {}

    async def reconcile(self, key: str) -> Result:
        obj = self.cache.get(ETCD_CLUSTERS, key)
        if obj is None or not is_managed(obj, self.cluster_wide):
            self._last_reason.pop(key, None)
            return Result()
        if obj["metadata"].get("deletionTimestamp"):
            return Result()  # garbage collection removes what it owns
        try:
            cluster = EtcdCluster.model_validate(obj)
        except ValidationError as exc:
            raise TerminalError(f"invalid EtcdCluster {key}: {exc}") from exc

        observed = await observe(cluster, self.cache, self.kube, self.connect)
        action = plan(observed)
        self._log(key, action)
        progressed = await self.executor.apply(observed, action) if action.mutates else True
        status = desired_status(observed, action, cluster.status, datetime.now(UTC))
        await self._write_status(cluster, status, action)
        return _result(action, progressed)

    def _log(self, key: str, action: Action) -> None:
        if action.mutates or self._last_reason.get(key) != action.reason:
            fields: dict[str, Any] = {"action": action.reason}
            if isinstance(action, Wait | BadSpec):
                fields["detail"] = action.message
            log.info("reconcile step %s", action.reason, extra=fields)
        self._last_reason[key] = action.reason

    async def _write_status(
        self, cluster: EtcdCluster, status: ClusterStatus, action: Action
    ) -> None:
        before, after = _wire(cluster.status), _wire(status)
        if before == after:
            return
        await self.kube.patch(
            ETCD_CLUSTERS, cluster.name, {"status": after}, cluster.namespace, sub="status"
        )
        if isinstance(action, BadSpec) and cluster.status.reason != status.reason:
            await self.events.record(cluster, WARNING, action.reason, action.message)


def _wire(status: ClusterStatus) -> dict[str, Any]:
    """The status as a merge patch: None fields are sent as null (removed)."""
    body = status.model_dump(mode="json", by_alias=True)
    body["conditions"] = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in status.conditions
    ]
    return body


def _result(action: Action, progressed: bool) -> Result:
    if isinstance(action, WATCHED_CHANGES):
        return Result()
    if isinstance(action, Steady):
        return Result(requeue_after=STEADY)
    if isinstance(action, Paused | BadSpec):
        return Result(requeue_after=AFTER_BLOCKED)
    if isinstance(action, Wait):
        blocked = action.reason in BLOCKED_WAITS
        return Result(requeue_after=AFTER_BLOCKED if blocked else AFTER_NOT_YET)
    return Result(requeue_after=AFTER_PROGRESS if progressed else AFTER_NOT_YET)

"""The EtcdCluster reconciler: observe, plan one action, apply it, write status, requeue.

Level-based: each pass starts from what the world looks like now, so a crash or a lost event
costs at most one requeue. There is no periodic resync, hence a pass asks to be called again
(soon while converging, rarely when steady) unless its action created or deleted an object
the operator watches: that object's event brings the cluster back at once. The status is
written only when it changed, with the resourceVersion it was computed from (a conflict
observes again), and Warning Events mark problems as they appear.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, assert_never

from pydantic import ValidationError

from api import ClusterStatus, EtcdCluster
from controller.clients.kube import KubeClient
from controller.common.resources import ETCD_CLUSTERS
from controller.common.scope import is_managed
from controller.etcdcluster.actions import (
    REPORTS,
    Action,
    AddLearner,
    AllMembersLost,
    ApplyDisruptionBudget,
    BadSpec,
    BootstrapSeed,
    CreateMemberPod,
    CreateService,
    CreateVolume,
    DeleteFailedPod,
    DeleteStrayPod,
    DeleteStrayVolume,
    FinishOperation,
    ForceDeletePod,
    MoveLeader,
    Paused,
    PromoteLearner,
    RecordOperation,
    RemoveMember,
    Requeue,
    RestartMember,
    SeedFromBackup,
    Steady,
    StopMember,
    Wait,
)
from controller.etcdcluster.executor import Applied, Executor, NotYet, Outcome, cluster_ref
from controller.etcdcluster.maintainer import Maintainer, report_events
from controller.etcdcluster.observe import observe
from controller.etcdcluster.planner import DEFAULT_POLICY, plan
from controller.etcdcluster.recovery import RecoveryPolicy
from controller.etcdcluster.status import desired_status, status_events
from controller.runtime.cache import Cache
from controller.runtime.events import EventRecorder
from controller.runtime.faults import fault_point
from controller.runtime.reconcile import Result, TerminalError
from controller.runtime.status import StaleObject, patch_status

log = logging.getLogger(__name__)


class EtcdClusterReconciler:
    name = "etcdcluster"

    def __init__(
        self,
        cache: Cache,
        kube: KubeClient,
        etcd: Any,
        events: EventRecorder,
        cluster_wide: bool,
        recovery: RecoveryPolicy = DEFAULT_POLICY,
        operator_image: str = "",
        maintainer: Maintainer | None = None,
    ):
        self.cache = cache
        self.kube = kube
        self.etcd = etcd
        self.events = events
        self.cluster_wide = cluster_wide
        self.recovery = recovery
        self.executor = Executor(kube, etcd, events, operator_image)
        self.maintainer = maintainer  # spec.maintenance (defragmentation, NOSPACE)
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

        if self.maintainer is not None:
            ended = self.maintainer.ended(key)
            for type_, reason, message in report_events(ended) if ended else []:
                await self.events.record(cluster_ref(cluster), type_, reason, message)
            if self.maintainer.running(key):
                return Result()  # a member being defragmented is not to heal; the end enqueues
        observed = await observe(cluster, self.cache, self.etcd)
        now = datetime.now(UTC)
        action = plan(observed, now, self.recovery)
        self._log(key, action)
        outcome = await self.executor.apply(observed, action)
        if isinstance(outcome, NotYet):
            log.info("%s not applied yet: %s", action.reason, outcome.why)
        status = desired_status(observed, action, cluster.status, now)
        try:
            await self._write_status(cluster, status, action)
        except StaleObject as exc:
            log.info("status not written, observing again: %s", exc)
            return Result(requeue=True)
        if isinstance(action, RecordOperation):
            fault_point("after-operation-record")  # the decision is durable from here on
        result = requeue(action, outcome)
        if self.maintainer is not None:
            again = self.maintainer.start_if_due(key, observed, action)
            if again is not None and (result.requeue_after is None or again < result.requeue_after):
                result = Result(requeue_after=again)  # fragmentation raises no Kubernetes event
        return result

    def _log(self, key: str, action: Action) -> None:
        """Logs every change applied, and a report (steady, waiting) when it changes."""
        if self._last_reason.get(key) != action.reason or not isinstance(action, REPORTS):
            fields: dict[str, Any] = {"action": action.reason}
            if isinstance(action, Wait | BadSpec):
                fields["detail"] = action.message
            log.info("reconcile step %s", action.reason, extra=fields)
        self._last_reason[key] = action.reason

    async def _write_status(
        self, cluster: EtcdCluster, status: ClusterStatus, action: Action
    ) -> None:
        before, after = wire_status(cluster.status), wire_status(status)
        if before == after:
            return
        await patch_status(
            self.kube,
            ETCD_CLUSTERS,
            cluster.namespace,
            cluster.name,
            cluster.metadata.resource_version,
            after,
            cache=self.cache,
        )
        for type_, reason, message in status_events(cluster.status, status, action):
            await self.events.record(cluster_ref(cluster), type_, reason, message)


def wire_status(status: ClusterStatus) -> dict[str, Any]:
    """The status as a merge patch: None fields are sent as null (removed)."""
    body = status.model_dump(mode="json", by_alias=True)
    body["conditions"] = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in status.conditions
    ]
    return body


def requeue(action: Action, outcome: Outcome) -> Result:
    """When to look again after `action` had `outcome`."""
    match action:
        case (
            CreateService()
            | CreateVolume()
            | DeleteStrayPod()
            | DeleteStrayVolume()
            | DeleteFailedPod()
            | ForceDeletePod()
            | RestartMember()
            | SeedFromBackup()
            | StopMember()
            | RecordOperation()
            | FinishOperation()
            | ApplyDisruptionBudget()
        ):
            return _after(Requeue.ON_EVENT)  # the created/deleted object's event
        case Steady():
            return _after(Requeue.STEADY)
        case Paused() | BadSpec() | AllMembersLost():
            return _after(Requeue.BLOCKED)
        case Wait(why=why):
            return _after(why.requeue)
        case (
            BootstrapSeed()
            | CreateMemberPod()
            | AddLearner()
            | PromoteLearner()
            | RemoveMember()
            | MoveLeader()
        ):
            # NotYet: etcd refused for now (a learner still syncing, a new voter not yet
            # counted as active), which lasts a moment: ask again soon.
            return _after(Requeue.PROGRESS if isinstance(outcome, Applied) else Requeue.SOON)
        case _:
            assert_never(action)


def _after(when: Requeue) -> Result:
    return Result() if when.value is None else Result(requeue_after=when.value)

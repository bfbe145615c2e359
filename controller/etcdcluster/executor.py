"""Applies one planned action to the world: Kubernetes objects and etcd membership.

Every step is idempotent (AlreadyExists on create and NotFound on delete count as done) and
ordered so that a crash between two steps leaves a state the planner recognises and finishes:
a member is added to etcd before its pod exists (the peer URL records the pod's name), removed
from etcd before its pod and volume are deleted, and a pod is created before its volume.
Named fault points (controller.runtime.faults) sit between the steps.

etcd's "not yet" answers (a learner still catching up, a change refused right after a
promotion while etcd counts the new voter as unproven) come back as `NotYet`: the planner
will choose the same action again shortly. Every other failure raises, and the work queue
retries with back-off (counted in controller_runtime_reconcile_errors_total).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, assert_never

from api import EtcdCluster
from controller.clients.etcd import (
    EtcdClient,
    EtcdClientError,
    LearnerNotReady,
    MemberNotFound,
    TooManyLearners,
    UnhealthyCluster,
)
from controller.clients.kube import ApiError, Resource
from controller.common.resources import PDBS, PODS, PVCS, SERVICES
from controller.etcdcluster import naming, resources
from controller.etcdcluster.actions import (
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
    Peers,
    PromoteLearner,
    RecordOperation,
    RemoveMember,
    RestartMember,
    SeedFromBackup,
    Steady,
    StopMember,
    Wait,
)
from controller.etcdcluster.observe import Observed, endpoint_of
from controller.runtime.events import NORMAL, ObjectRef
from controller.runtime.faults import fault_point
from controller.runtime.store import Obj

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    pass


@dataclass(frozen=True)
class NotYet:
    """etcd refused for now; the same action will be planned again."""

    why: str


Outcome = Applied | NotYet


class Kube(Protocol):
    """What the executor needs of the API (controller.clients.kube.KubeClient has it)."""

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj: ...

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
    ) -> Obj: ...

    async def patch(
        self, res: Resource, name: str, patch: Obj, namespace: str | None = None
    ) -> Obj: ...


class Etcd(Protocol):
    """What the executor needs of etcd (controller.clients.etcd.EtcdPool has it)."""

    async def client(self, endpoint: object, tls: object) -> EtcdClient: ...


class Events(Protocol):
    async def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None: ...


def cluster_ref(cluster: EtcdCluster) -> ObjectRef:
    return ObjectRef(
        api_version=cluster.api_version,
        kind="EtcdCluster",
        name=cluster.name,
        namespace=cluster.namespace,
        uid=cluster.metadata.uid,
        resource_version=cluster.metadata.resource_version,
    )


class Executor:
    def __init__(self, kube: Kube, etcd: Etcd, events: Events, operator_image: str = ""):
        self.kube = kube
        self.etcd = etcd
        self.events = events
        self.operator_image = operator_image  # runs a restore's fetch init container

    async def apply(self, obs: Observed, action: Action) -> Outcome:
        cluster = obs.cluster
        match action:
            case (
                Steady()
                | Paused()
                | Wait()
                | BadSpec()
                | AllMembersLost()
                | RecordOperation()
                | FinishOperation()
            ):
                return Applied()  # nothing to apply here: the status write is the action
            case CreateService(which="headless"):
                await self._create(SERVICES, resources.headless_service(cluster))
            case CreateService():
                await self._create(SERVICES, resources.client_service(cluster))
            case CreateVolume(pvc=pvc):
                await self._create_volume(cluster, pvc)
            case BootstrapSeed(pod=pod):
                await self._bootstrap(obs, pod)
            case CreateMemberPod(pod=pod, peers=peers):
                log.info("creating pod of member %s", pod)
                await self._create_member(obs, pod, peers)
            case RestartMember(pod=pod, peers=peers, force_new_cluster=force):
                log.info("recreating the pod of member %s on its volume", pod)
                trust = obs.tls.trust
                built = resources.member_pod(cluster, pod, peers, "existing", force, trust)
                await self._create(PODS, built)
                fault_point("after-member-restart")
                flag = " with --force-new-cluster" if force else ""
                await self._event(
                    cluster, "MemberRestarted", f"pod of member {pod} recreated{flag}"
                )
            case StopMember(pod=pod, why=why):
                log.info("deleting the pod of member %s to restart it %s", pod, why)
                await self._delete(PODS, cluster, pod)
                fault_point("after-member-stop")
                if why:
                    await self._event(cluster, "MemberRolling", f"{pod}: {why}")
            case SeedFromBackup(pod=pod, source=source):
                log.info("creating seed member %s to restore %s", pod, source.url)
                image = self.operator_image
                built = resources.restore_seed_pod(cluster, pod, source, image, obs.tls.trust)
                await self._create(PODS, built)
                fault_point("after-restore-seed-create")
                await self._create_volume(cluster, pod)
                await self._event(cluster, "RestoreSeedCreated", f"{pod} restores {source.url}")
            case ApplyDisruptionBudget(min_available=least):
                await self._apply_budget(cluster, least)
            case MoveLeader(to_id=to_id, to_pod=to_pod):
                await (await self._leader(obs)).move_leader(to_id)
                fault_point("after-leader-move")
                await self._event(cluster, "LeaderMoved", f"leadership moved to {to_pod}")
            case ForceDeletePod(pod=pod, node=node):
                log.info("deleting pod %s at once: its node %s is lost", pod, node)
                await self._delete(PODS, cluster, pod, grace=0)
                message = f"pod {pod} deleted: node {node} is not Ready; recreating it elsewhere"
                await self._event(cluster, "MemberNodeLost", message)
            case DeleteFailedPod(pod=pod):
                log.info("deleting failed pod %s to recreate it", pod)
                await self._delete(PODS, cluster, pod)
            case AddLearner():
                return await self._add_learner(obs, action)
            case PromoteLearner():
                return await self._promote(obs, action)
            case RemoveMember():
                await self._remove(obs, action)
            case DeleteStrayPod(pod=pod):
                log.info("deleting pod %s: not a member", pod)
                await self._delete(PODS, cluster, pod)
            case DeleteStrayVolume(pvc=pvc):
                log.info("deleting volume %s: not a member's", pvc)
                await self._delete(PVCS, cluster, pvc)
            case _:
                assert_never(action)
        return Applied()

    async def _bootstrap(self, obs: Observed, pod: str) -> None:
        cluster = obs.cluster
        url = naming.member_peer_url(cluster, pod)
        log.info("bootstrapping the cluster with seed member %s", pod)
        seed = resources.member_pod(cluster, pod, ((pod, url),), "new", trust=obs.tls.trust)
        await self._create(PODS, seed)
        fault_point("after-seed-pod-create")
        await self._create_volume(cluster, pod)
        await self._event(cluster, "ClusterBootstrapped", f"seed member {pod}")

    async def _add_learner(self, obs: Observed, action: AddLearner) -> Outcome:
        cluster = obs.cluster
        pod = naming.new_member_name(cluster.name)
        url = naming.member_peer_url(cluster, pod)
        fault_point("before-member-add")
        try:
            member = await (await self._leader(obs)).member_add([url], is_learner=True)
        except (UnhealthyCluster, TooManyLearners) as exc:
            return NotYet(str(exc))
        log.info("added learner %s (%x)", pod, member.id)
        fault_point("after-member-add")
        await self._create_member(obs, pod, (*action.peers, (pod, url)))
        await self._event(cluster, "MemberAdded", f"learner {pod} added")
        return Applied()

    async def _create_member(self, obs: Observed, pod: str, peers: Peers) -> None:
        cluster = obs.cluster
        built = resources.member_pod(cluster, pod, peers, "existing", trust=obs.tls.trust)
        await self._create(PODS, built)
        fault_point("after-pod-create")
        await self._create_volume(cluster, pod)

    async def _promote(self, obs: Observed, action: PromoteLearner) -> Outcome:
        try:
            await (await self._leader(obs)).member_promote(action.member_id)
        except LearnerNotReady:
            log.info("learner %s is not in sync with the leader yet", action.pod)
            return NotYet("learner not in sync with the leader")
        log.info("promoted learner %s (%x)", action.pod, action.member_id)
        fault_point("after-member-promote")
        await self._event(obs.cluster, "MemberPromoted", f"learner {action.pod} is a voting member")
        return Applied()

    async def _remove(self, obs: Observed, action: RemoveMember) -> None:
        cluster = obs.cluster
        try:
            await (await self._leader(obs)).member_remove(action.member_id)
        except MemberNotFound:
            pass
        log.info("removed member %s (%x)", action.pod, action.member_id)
        fault_point("after-member-remove")
        if action.pod:
            await self._delete(PODS, cluster, action.pod)
            fault_point("after-pod-delete")
            await self._delete(PVCS, cluster, action.pod)
        await self._event(cluster, "MemberRemoved", f"member {action.pod} removed")

    async def _leader(self, obs: Observed) -> EtcdClient:
        """A client of the leader (membership changes go there anyway), else any healthy one."""
        assert obs.etcd is not None
        leader = obs.etcd.leader
        views = sorted(
            (v for v in obs.etcd.voting if v.healthy), key=lambda v: v.member.id != leader
        )
        for view in views:
            pod = obs.pod(view.pod)
            if pod is not None and pod.ip:
                return await self.etcd.client(endpoint_of(obs, pod), obs.tls.client)
        raise EtcdClientError("no healthy member to send the change to")

    async def _apply_budget(self, cluster: EtcdCluster, least: int) -> None:
        budget = resources.disruption_budget(cluster, least)
        try:
            await self.kube.create(PDBS, budget)
        except ApiError as exc:
            if not exc.conflict:
                raise
            patch = {"spec": {"minAvailable": least}}
            await self.kube.patch(PDBS, cluster.name, patch, cluster.namespace)
        log.info("disruption budget: minAvailable %d", least)

    async def _event(self, cluster: EtcdCluster, reason: str, message: str) -> None:
        await self.events.record(cluster_ref(cluster), NORMAL, reason, message)

    async def _create_volume(self, cluster: EtcdCluster, pvc: str) -> None:
        if cluster.spec.pod.persistent_volume_claim_spec is None:
            return  # emptyDir members (or a spec changed since the pod was made)
        await self._create(PVCS, resources.member_pvc(cluster, pvc))

    async def _create(self, res: Resource, obj: Obj) -> None:
        try:
            await self.kube.create(res, obj)
        except ApiError as exc:
            if exc.status == 403 and "being terminated" in exc.message:
                log.info("not creating %s: its namespace is being deleted", res.kind)
                return
            if not exc.conflict:
                raise
        else:
            log.info("created %s %s", res.kind, obj["metadata"]["name"])

    async def _delete(
        self, res: Resource, cluster: EtcdCluster, name: str, grace: int | None = None
    ) -> None:
        try:
            if grace is None:
                await self.kube.delete(res, name, cluster.namespace)
            else:
                await self.kube.delete(res, name, cluster.namespace, grace_period_seconds=grace)
        except ApiError as exc:
            if not exc.not_found:
                raise

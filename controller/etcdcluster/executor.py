"""Applies one planned action to the world: Kubernetes objects and etcd membership.

Every step is idempotent (AlreadyExists on create and NotFound on delete count as done) and
ordered so that a crash between two steps leaves a state the planner recognises and finishes:
a member is added to etcd before its pod exists (the peer URL records the pod's name), removed
from etcd before its pod and volume are deleted, and a pod is created before its volume.
Named fault points (faults.py) sit between the steps.
"""

from __future__ import annotations

import logging

from api import EtcdCluster
from controller.clients.etcd import EtcdClient, EtcdClientError, LearnerNotReady, MemberNotFound
from controller.clients.kube import ApiError, KubeClient, Resource
from controller.etcdcluster import naming, resources
from controller.etcdcluster.events import NORMAL, EventRecorder
from controller.etcdcluster.faults import fault_point
from controller.etcdcluster.observe import EtcdConnector, Observed, endpoint_of
from controller.etcdcluster.planner import (
    Action,
    AddLearner,
    BootstrapSeed,
    CreateMemberPod,
    CreateService,
    CreateVolume,
    DeleteStrayPod,
    DeleteStrayVolume,
    Peers,
    PromoteLearner,
    RemoveMember,
)
from controller.resources import PODS, PVCS, SERVICES

log = logging.getLogger(__name__)


class Executor:
    def __init__(self, kube: KubeClient, connect: EtcdConnector, events: EventRecorder):
        self.kube = kube
        self.connect = connect
        self.events = events

    async def apply(self, obs: Observed, action: Action) -> bool:
        """Applies `action`; False when etcd said "not yet" (a learner still catching up, a
        member just promoted not yet counted healthy) or could not be reached: try again soon."""
        try:
            return await self._apply(obs, action)
        except EtcdClientError as exc:
            log.warning("%s not applied: %s", action.reason, exc)
            return False

    async def _apply(self, obs: Observed, action: Action) -> bool:
        cluster = obs.cluster
        if isinstance(action, CreateService):
            headless = action.which == "headless"
            build = resources.headless_service if headless else resources.client_service
            await self._create(SERVICES, build(cluster))
        elif isinstance(action, CreateVolume):
            await self._create_volume(cluster, action.pvc)
        elif isinstance(action, BootstrapSeed):
            await self._bootstrap(cluster)
        elif isinstance(action, CreateMemberPod):
            log.info("creating pod of member %s", action.pod)
            await self._create_member(cluster, action.pod, action.peers)
        elif isinstance(action, AddLearner):
            await self._add_learner(obs, action)
        elif isinstance(action, PromoteLearner):
            return await self._promote(obs, action)
        elif isinstance(action, RemoveMember):
            await self._remove(obs, action)
        elif isinstance(action, DeleteStrayPod):
            log.info("deleting pod %s: not a member", action.pod)
            await self._delete(PODS, cluster, action.pod)
        elif isinstance(action, DeleteStrayVolume):
            log.info("deleting volume %s: not a member's", action.pvc)
            await self._delete(PVCS, cluster, action.pvc)
        return True

    async def _bootstrap(self, cluster: EtcdCluster) -> None:
        # The cache may not show a seed created a moment ago: ask the API before seeding a
        # second, separate cluster.
        selector = f"{naming.CLUSTER_LABEL}={cluster.name}"
        existing = await self.kube.list(PODS, cluster.namespace, label_selector=selector)
        if any(
            naming.is_member_name(cluster.name, p["metadata"]["name"]) for p in existing["items"]
        ):
            log.info("seed member exists already; waiting for the cache")
            return
        pod = naming.new_member_name(cluster.name)
        url = resources.member_peer_url(cluster, pod)
        log.info("bootstrapping the cluster with seed member %s", pod)
        await self._create(PODS, resources.member_pod(cluster, pod, ((pod, url),), "new"))
        fault_point("after-seed-pod-create")
        await self._create_volume(cluster, pod)
        await self.events.record(cluster, NORMAL, "ClusterBootstrapped", f"seed member {pod}")

    async def _add_learner(self, obs: Observed, action: AddLearner) -> None:
        cluster = obs.cluster
        pod = naming.new_member_name(cluster.name)
        url = resources.member_peer_url(cluster, pod)
        fault_point("before-member-add")
        async with self._leader(obs) as client:
            member = await client.member_add([url], is_learner=True)
        log.info("added learner %s (%x)", pod, member.id)
        fault_point("after-member-add")
        await self._create_member(cluster, pod, (*action.peers, (pod, url)))
        await self.events.record(cluster, NORMAL, "MemberAdded", f"learner {pod} added")

    async def _create_member(self, cluster: EtcdCluster, pod: str, peers: Peers) -> None:
        await self._create(PODS, resources.member_pod(cluster, pod, peers, "existing"))
        fault_point("after-pod-create")
        await self._create_volume(cluster, pod)

    async def _promote(self, obs: Observed, action: PromoteLearner) -> bool:
        try:
            async with self._leader(obs) as client:
                await client.member_promote(action.member_id)
        except LearnerNotReady:
            log.info("learner %s is not in sync with the leader yet", action.pod)
            return False
        log.info("promoted learner %s (%x)", action.pod, action.member_id)
        fault_point("after-member-promote")
        await self.events.record(
            obs.cluster, NORMAL, "MemberPromoted", f"learner {action.pod} is a voting member"
        )
        return True

    async def _remove(self, obs: Observed, action: RemoveMember) -> None:
        cluster = obs.cluster
        try:
            async with self._leader(obs) as client:
                await client.member_remove(action.member_id)
        except MemberNotFound:
            pass
        log.info("removed member %s (%x)", action.pod, action.member_id)
        fault_point("after-member-remove")
        if action.pod:
            await self._delete(PODS, cluster, action.pod)
            fault_point("after-pod-delete")
            await self._delete(PVCS, cluster, action.pod)
        await self.events.record(cluster, NORMAL, "MemberRemoved", f"member {action.pod} removed")

    def _leader(self, obs: Observed) -> EtcdClient:
        """A client of the leader (membership changes go there anyway), else any healthy one."""
        assert obs.etcd is not None
        leader = obs.etcd.leader
        views = sorted(
            (v for v in obs.etcd.voting if v.healthy), key=lambda v: v.member.id != leader
        )
        for view in views:
            pod = obs.pod(view.pod)
            if pod is not None and pod.ip:
                return self.connect(endpoint_of(obs, pod), obs.tls.client)
        raise EtcdClientError("no healthy member to send the change to")

    async def _create_volume(self, cluster: EtcdCluster, pvc: str) -> None:
        if cluster.spec.pod.persistent_volume_claim_spec is None:
            return  # emptyDir members (or a spec changed since the pod was made)
        await self._create(PVCS, resources.member_pvc(cluster, pvc))

    async def _create(self, res: Resource, obj: resources.Obj) -> None:
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

    async def _delete(self, res: Resource, cluster: EtcdCluster, name: str) -> None:
        try:
            await self.kube.delete(res, name, cluster.namespace)
        except ApiError as exc:
            if not exc.not_found:
                raise

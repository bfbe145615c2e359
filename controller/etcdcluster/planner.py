"""The one next action for a cluster, from an observed snapshot. Pure: no I/O, no clock.

Membership changes go one step at a time, learner first, and only on a healthy cluster:

    bootstrap   no pods and no volumes → one seed member (--initial-cluster-state=new)
    resume      an etcd member whose pod does not exist and that never started → create that
                pod (a crash between MemberAdd and the pod's creation converges here)
    promote     a learner that started → MemberPromote (etcd refuses until it caught up)
    grow        voting members < size, all healthy, a leader, no learner → MemberAdd(learner)
    shrink      voting members > size, all healthy → MemberRemove one non-leader, then its
                pod and volume (removed from etcd FIRST; stray pods/volumes are cleaned after)

Anything else waits (with a reason the status shows): an unreachable or leaderless cluster is
never changed. Healing lost members, full-restart recovery and upgrades are later issues;
their cases are recognised here and reported as waits so they slot in as new actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from controller.etcdcluster import naming
from controller.etcdcluster.observe import EtcdView, MemberView, Observed

Peers = tuple[tuple[str, str], ...]  # (member name, peer URL) for --initial-cluster


@dataclass(frozen=True)
class Action:
    """Base of every action; `reason` is a CamelCase word the status and events use."""

    # False for the actions that only report (steady, paused, waiting): nothing to apply.
    mutates: ClassVar[bool] = True

    @property
    def reason(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Steady(Action):
    mutates = False


@dataclass(frozen=True)
class Paused(Action):
    mutates = False


@dataclass(frozen=True)
class Wait(Action):
    """Nothing safe to do until the world changes."""

    mutates = False
    why: str = "Waiting"
    message: str = ""

    @property
    def reason(self) -> str:
        return self.why


@dataclass(frozen=True)
class BadSpec(Action):
    """The user must fix something (e.g. a missing Secret); nothing is changed meanwhile."""

    mutates = False
    why: str
    message: str

    @property
    def reason(self) -> str:
        return self.why


@dataclass(frozen=True)
class CreateService(Action):
    which: Literal["headless", "client"]


@dataclass(frozen=True)
class CreateVolume(Action):
    """A member pod's data claim is missing (created pod first, or deleted underneath it)."""

    pvc: str


@dataclass(frozen=True)
class BootstrapSeed(Action):
    """Create the first member, alone in its --initial-cluster. The executor names it."""


@dataclass(frozen=True)
class CreateMemberPod(Action):
    """etcd already knows this member (it was added); create its pod and volume."""

    pod: str
    peers: Peers


@dataclass(frozen=True)
class AddLearner(Action):
    """MemberAdd(isLearner) of a newly named member, then its pod with these peers + itself."""

    peers: Peers


@dataclass(frozen=True)
class PromoteLearner(Action):
    member_id: int
    pod: str | None


@dataclass(frozen=True)
class RemoveMember(Action):
    """MemberRemove, then delete the member's pod and volume."""

    member_id: int
    pod: str | None


@dataclass(frozen=True)
class DeleteStrayPod(Action):
    """A member pod etcd no longer (or never) lists, e.g. after a crash during shrink."""

    pod: str


@dataclass(frozen=True)
class DeleteStrayVolume(Action):
    pvc: str


def plan(obs: Observed) -> Action:
    cluster = obs.cluster
    if cluster.spec.paused:
        return Paused()
    if obs.tls.missing_secrets:
        return BadSpec(
            "TLSSecretMissing", f"missing TLS secrets: {', '.join(obs.tls.missing_secrets)}"
        )
    if cluster.name not in obs.services:
        return CreateService("headless")
    if naming.client_service_name(cluster.name) not in obs.services:
        return CreateService("client")
    for pod in obs.live_pods:
        if pod.claim and pod.claim not in obs.pvcs:
            return CreateVolume(pod.claim)
    if obs.etcd is None:
        return _without_etcd(obs)
    return _with_etcd(obs, obs.etcd)


def _without_etcd(obs: Observed) -> Action:
    if obs.pods:
        return Wait("EtcdUnreachable", obs.etcd_error or "waiting for members to start")
    if obs.pvcs:
        # Never bootstrap a new cluster over member volumes: they may hold the data.
        return Wait(
            "VolumesWithoutPods",
            "member volumes exist but no member pods; full-restart recovery is not supported yet",
        )
    return BootstrapSeed()


def _with_etcd(obs: Observed, etcd: EtcdView) -> Action:
    size = obs.cluster.spec.size
    peers = tuple((m.pod or m.member.name, m.member.peer_urls[0]) for m in etcd.members)
    for view in etcd.members:
        pod = obs.pod(view.pod)
        if pod is not None and not pod.terminating:
            continue
        if view.pod is None:
            return Wait("ForeignMember", f"member {view.member.id:x} has no pod of this cluster")
        if view.member.started:
            return Wait("MemberPodMissing", f"started member {view.pod} has no pod")
        if pod is None:
            return CreateMemberPod(view.pod, peers)
        return Wait("MemberPodTerminating", f"pod {view.pod} is terminating")

    for view in etcd.learners:
        if view.status is None:
            return Wait("LearnerStarting", f"learner {view.pod} is starting")
        return PromoteLearner(view.member.id, view.pod)

    unhealthy = [v.pod or f"{v.member.id:x}" for v in etcd.voting if not v.healthy]
    if unhealthy or not etcd.leader:
        detail = f"unhealthy members: {', '.join(unhealthy)}" if unhealthy else "no leader"
        return Wait("Unhealthy", detail)

    members = {v.pod for v in etcd.members}
    for pod in obs.live_pods:
        if pod.name not in members:
            return DeleteStrayPod(pod.name)
    pod_names = {p.name for p in obs.pods}
    for pvc in obs.pvcs:
        if pvc not in members and pvc not in pod_names:
            return DeleteStrayVolume(pvc)

    terminating = [p.name for p in obs.pods if p.terminating]
    if terminating:  # let the last change settle before the next one
        return Wait("PodTerminating", f"pods terminating: {', '.join(terminating)}")
    voting = len(etcd.voting)
    if voting < size:
        return AddLearner(peers)
    if voting > size:
        victim = removal_candidate(etcd)
        if victim is None or not keeps_quorum(etcd, victim):
            return Wait("ShrinkUnsafe", "removing a member now would risk quorum")
        return RemoveMember(victim.member.id, victim.pod)
    return Steady()


def removal_candidate(etcd: EtcdView) -> MemberView | None:
    """The member to remove: never the leader (no election needed); the last by name."""
    others = [v for v in etcd.voting if v.member.id != etcd.leader]
    return sorted(others, key=lambda v: v.pod or "")[-1] if others else None


def keeps_quorum(etcd: EtcdView, victim: MemberView) -> bool:
    """After removing `victim`, healthy voters still form a majority of the smaller cluster."""
    remaining = [v for v in etcd.voting if v.member.id != victim.member.id]
    healthy = sum(1 for v in remaining if v.healthy)
    return bool(remaining) and healthy >= len(remaining) // 2 + 1

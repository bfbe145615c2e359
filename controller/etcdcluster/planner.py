"""The one next action for a cluster, from an observed snapshot. Pure: no I/O, no clock
but the `now` it is given.

Membership changes go one step at a time, learner first, and only on a healthy cluster:

    bootstrap   no pods and no volumes, never ran → one seed member (--initial-cluster-state=new)
    resume      an etcd member whose pod does not exist and that never started → create that
                pod (a crash between MemberAdd and the pod's creation converges here)
    heal        a started member whose pod is gone (deleted, evicted, failed) → its pod again,
                on its own PVC: the same member (name, ID, data), no remove/re-add; without
                its data (emptyDir, PVC lost) → remove it (quorum-checked), growth replaces it
    node lost   a member pod on a Node not Ready for --node-lost-grace-period → delete it at
                once (grace 0); then heal: elsewhere on its PVC, or — a local volume bound to
                that Node — removed and replaced
    restart     no quorum and member volumes without pods (every pod deleted, nodes
                rebooted) → each member's pod again on its volume; the members find each
                other from their own data. Never a new cluster over existing volumes.
    recover     a majority of members lost their data: quorum-loss recovery from the
                survivor with the highest revision (controller.etcdcluster.recovery).
    restore     a verified EtcdRestore of the cluster, or every member lost with its data
                and a backup of the cluster taken: every member replaced by a seed
                restored from the backup, then grown (controller.etcdcluster.restore).
    promote     a learner that started → MemberPromote (etcd refuses until it caught up)
    grow        voting members < size, all healthy, a leader, no learner → MemberAdd(learner)
    budget      at size: a PodDisruptionBudget with minAvailable = a majority (drains keep
                quorum), then rolling to the current spec (controller.etcdcluster.rolling)
    shrink      voting members > size, all healthy → MemberRemove one non-leader, then its
                pod and volume (removed from etcd FIRST; stray pods/volumes are cleaned after)

"All voting members healthy with a leader" is the quorum check of every membership
change: removing one of n healthy members leaves n-1 healthy of n-1, a majority. Anything
else waits, with a reason the status shows: an unreachable or leaderless cluster is never
changed. A recorded operation (status.operation) is continued before anything else.

The actions (controller.etcdcluster.actions) form a closed set, `Action`, re-exported here.
"""

from __future__ import annotations

from datetime import datetime

from controller.etcdcluster import naming, recovery, restore, rolling
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
    ForceDeletePod,
    MoveLeader,
    Paused,
    Peers,
    PromoteLearner,
    RemoveMember,
    Requeue,
    RestartMember,
    Steady,
    Wait,
    WaitReason,
)
from controller.etcdcluster.observe import EtcdView, MemberView, Observed, PodView, majority
from controller.etcdcluster.recovery import RecoveryPolicy

DEFAULT_POLICY = RecoveryPolicy()


def plan(obs: Observed, now: datetime, policy: RecoveryPolicy = DEFAULT_POLICY) -> Action:
    cluster = obs.cluster
    if cluster.spec.paused:
        return Paused()
    if obs.tls.missing_secrets:
        return BadSpec(
            "TLSSecretMissing", f"missing TLS secrets: {', '.join(obs.tls.missing_secrets)}"
        )
    refusal = rolling.refused_step(rolling.current_version(obs), cluster.spec.etcd_version)
    if refusal is not None:  # before growth too: new members would run the refused version
        return BadSpec("UpgradeRefused", refusal)
    operation = cluster.status.operation
    if operation is None or operation.type != restore.RESTORE:
        asked = restore.request(obs, now)  # the user's restore supersedes a recovery
        if asked is not None:
            return asked
    if operation is not None:  # a recorded decision is continued before anything else
        if operation.type == restore.RESTORE:
            return restore.resume(obs, operation, now)
        if operation.type != recovery.QUORUM_RECOVERY:
            message = f"cannot continue operation {operation.type}"
            return Wait(WaitReason.UNKNOWN_OPERATION, message)
        step = recovery.resume(obs, operation, now, policy)
        if step is not None:
            return step
    if cluster.name not in obs.services:
        return CreateService("headless")
    if naming.client_service_name(cluster.name) not in obs.services:
        return CreateService("client")
    lost = lost_nodes(obs, now, policy)
    for pod in obs.pods:
        if pod.node in lost:
            return ForceDeletePod(pod.name, pod.node)
    for pod in obs.live_pods:
        if pod.claim and pod.claim not in obs.pvcs and _volume_never_used(obs, pod.name):
            return CreateVolume(pod.claim)
    for pod in obs.live_pods:
        if pod.phase == "Failed":
            return DeleteFailedPod(pod.name)
    stuck = [p for p in obs.live_pods if p.stuck]
    if obs.etcd is None:
        return _without_etcd(obs, stuck, now)
    return _with_etcd(obs, obs.etcd, stuck, lost)


def lost_nodes(obs: Observed, now: datetime, policy: RecoveryPolicy) -> frozenset[str]:
    """The member pods' Nodes that have not been Ready for the grace period (a reboot
    shorter than that is waited out: the member comes back where it was)."""
    return frozenset(
        name
        for name, node in obs.nodes.items()
        if not node.ready and node.since is not None and now - node.since >= policy.node_grace
    )


def cannot_start(pods: list[PodView]) -> Wait:
    return Wait(WaitReason.MEMBER_CANNOT_START, "; ".join(f"{p.name}: {p.stuck}" for p in pods))


def _without_etcd(obs: Observed, stuck: list[PodView], now: datetime) -> Action:
    """No member answers with the member list: only pods on existing volumes, or a seed."""
    cluster = obs.cluster
    orphans = obs.podless_volumes
    if orphans and obs.on_volumes:
        # The members' data dirs hold the membership; --initial-cluster only has to name
        # them all (every volume is a member's, or a removed one's that etcd will refuse).
        names = sorted({*obs.pvcs, *(p.name for p in obs.live_pods)})
        peers = tuple((n, naming.member_peer_url(cluster, n)) for n in names)
        return RestartMember(orphans[0], peers)
    lost = recovery.detect(obs, now) if ran_before(obs) else None
    if lost is not None:
        return lost
    if stuck:
        return cannot_start(stuck)
    if obs.pods:
        message = obs.etcd_error or "waiting for members to start"
        starting = WaitReason.ETCD_UNREACHABLE if ran_before(obs) else WaitReason.MEMBERS_STARTING
        return Wait(starting, message)
    if obs.pvcs:
        # Never bootstrap a new cluster over member volumes: they may hold the data.
        return Wait(
            WaitReason.VOLUMES_WITHOUT_PODS,
            "member volumes exist but the spec has no persistentVolumeClaimSpec to use them",
        )
    if ran_before(obs):
        return restore.from_backup(obs, now) or AllMembersLost()
    return BootstrapSeed(naming.seed_member_name(cluster))


def _volume_never_used(obs: Observed, pod: str) -> bool:
    """Whether the pod's missing volume may be made anew, empty: only when its member never
    started, i.e. the executor made the pod and stopped before the volume (pod first). A
    started member's volume held its data: missing, it was deleted, and the watch of Pods
    may lag the one of PVCs (seen under load: the pod still Running in the cache). An empty
    volume then would let that member vote again having forgotten its log."""
    if obs.etcd is None:
        return not ran_before(obs)  # the seed of a cluster that never served
    view = next((v for v in obs.etcd.members if v.pod == pod), None)
    return view is not None and not view.member.started


def ran_before(obs: Observed) -> bool:
    """The status says members existed: an empty world now means they were lost."""
    status = obs.cluster.status
    return bool(status.members.ready or status.members.unready)


def _with_etcd(
    obs: Observed, etcd: EtcdView, stuck: list[PodView], lost: frozenset[str] = frozenset()
) -> Action:
    size = obs.cluster.spec.size
    peers = tuple((m.pod or m.member.name, m.member.peer_urls[0]) for m in etcd.members)
    for view in etcd.members:
        pod = obs.pod(view.pod)
        if pod is not None and not pod.terminating:
            continue
        if view.pod is None:
            return Wait(
                WaitReason.FOREIGN_MEMBER, f"member {view.member.id:x} has no pod of this cluster"
            )
        if pod is not None:
            return Wait(WaitReason.MEMBER_POD_TERMINATING, f"pod {view.pod} is terminating")
        if not view.member.started:
            return CreateMemberPod(view.pod, peers)
        if view.pod in obs.pvcs and obs.claim_nodes.get(view.pod) not in lost:
            return RestartMember(view.pod, peers)
        # Its data is gone, or on a volume bound to a lost Node: replace it.
        if keeps_quorum(etcd, view):
            return RemoveMember(view.member.id, view.pod)
        down = [v.label for v in etcd.voting if not v.healthy]
        return Wait(WaitReason.QUORUM_AT_RISK, f"members without data: {', '.join(down)}")

    # A pod etcd does not list (a removed member's, crash-looping as etcd refuses it) is
    # not a member that cannot start: it is cleaned up below as a stray.
    members = {v.pod for v in etcd.members}
    stuck_members = [p for p in stuck if p.name in members]
    if stuck_members:
        return cannot_start(stuck_members)
    for view in etcd.learners:
        if view.status is None:
            return Wait(WaitReason.LEARNER_STARTING, f"learner {view.pod} is starting")
        return PromoteLearner(view.member.id, view.pod)

    unhealthy = [v.label for v in etcd.voting if not v.healthy]
    if unhealthy or not etcd.leader:
        detail = f"unhealthy members: {', '.join(unhealthy)}" if unhealthy else "no leader"
        return Wait(WaitReason.UNHEALTHY, detail)

    for pod in obs.live_pods:
        if pod.name not in members:
            return DeleteStrayPod(pod.name)
    pod_names = {p.name for p in obs.pods}
    for pvc in obs.pvcs:
        if pvc not in members and pvc not in pod_names:
            return DeleteStrayVolume(pvc)

    terminating = [p.name for p in obs.pods if p.terminating]
    if terminating:  # let the last change settle before the next one
        return Wait(WaitReason.POD_TERMINATING, f"pods terminating: {', '.join(terminating)}")
    voting = len(etcd.voting)
    if voting < size:
        return AddLearner(peers)
    stale = rolling.outdated_members(obs, etcd)
    if voting > size:
        if stale and all(v.member.id == etcd.leader for v in stale):
            fresh = next(v for v in etcd.voting if v not in stale)
            return MoveLeader(fresh.member.id, fresh.pod)  # the leader is rolled last
        victim = removal_candidate(etcd, frozenset(v.member.id for v in stale))
        return RemoveMember(victim.member.id, victim.pod)
    if obs.budget != majority(size):  # before any roll: a drain must not take a majority away
        return ApplyDisruptionBudget(majority(size))
    return rolling.next_roll(obs, etcd, peers, stale) or Steady()


def removal_candidate(etcd: EtcdView, outdated: frozenset[int] = frozenset()) -> MemberView:
    """The member to remove: never the leader (no election needed); an outdated one first
    (an emptyDir rollout shrinks after its surge), else the last by name.

    Called with more voting members than wanted (so at least two) and a leader among them.
    """
    others = [v for v in etcd.voting if v.member.id != etcd.leader]
    return sorted(others, key=lambda v: (v.member.id in outdated, v.pod or ""))[-1]


def keeps_quorum(etcd: EtcdView, victim: MemberView) -> bool:
    """After removing `victim`, healthy voters still form a majority of the smaller cluster
    (what the planner's all-healthy rule guarantees; the simulated world checks it)."""
    remaining = [v for v in etcd.voting if v.member.id != victim.member.id]
    healthy = sum(1 for v in remaining if v.healthy)
    return bool(remaining) and healthy >= majority(len(remaining))


__all__ = [
    "REPORTS",
    "Action",
    "AddLearner",
    "AllMembersLost",
    "BadSpec",
    "BootstrapSeed",
    "CreateMemberPod",
    "CreateService",
    "CreateVolume",
    "DeleteFailedPod",
    "DeleteStrayPod",
    "DeleteStrayVolume",
    "Paused",
    "Peers",
    "PromoteLearner",
    "RemoveMember",
    "Requeue",
    "RestartMember",
    "Steady",
    "Wait",
    "WaitReason",
    "keeps_quorum",
    "plan",
    "removal_candidate",
]

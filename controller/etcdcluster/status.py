"""The status a cluster should show, and the Events its changes deserve. Pure.

phase: Creating until the cluster first reaches `size` healthy voting members with a leader,
then Running at size; after that Scaling while membership moves towards spec.size on a
healthy cluster, Degraded while something is wrong (a member missing, unhealthy or unable to
start, or quorum lost — a degraded cluster never reads Scaling); Failed while the user must
act (a missing Secret, every member lost with its data).

Conditions: Available (a leader serves; QuorumLost once it ran), Progressing (what the
operator is changing: ScalingUp, ScalingDown, MemberPromoting, Recovering, Restoring),
Degraded (what is wrong, naming the members). The reconciler writes the status only when it
differs, and posts `status_events` for the problems that appear.
"""

from __future__ import annotations

from datetime import datetime

from api import (
    ClusterConditionType,
    ClusterPhase,
    ClusterStatus,
    Condition,
    ConditionStatus,
    Operation,
    find_condition,
    remove_condition,
    set_condition,
)
from controller.etcdcluster import naming, rolling
from controller.etcdcluster.actions import (
    Action,
    AllMembersLost,
    BadSpec,
    DeleteFailedPod,
    FinishOperation,
    ForceDeletePod,
    Paused,
    PromoteLearner,
    RecordOperation,
    RestartMember,
    Wait,
    WaitReason,
)
from controller.etcdcluster.maintenance import no_space_message, state_from
from controller.etcdcluster.observe import Observed
from controller.etcdcluster.recovery import DETECTED
from controller.etcdcluster.restore import RESTORE
from controller.runtime.events import NORMAL, WARNING

AVAILABLE = ClusterConditionType.AVAILABLE.value
PROGRESSING = ClusterConditionType.PROGRESSING.value
DEGRADED = ClusterConditionType.DEGRADED.value
# Phases of a cluster that reached its size once (Creating never comes back after them).
RAN = frozenset(ClusterPhase) - {ClusterPhase.NONE, ClusterPhase.CREATING, ClusterPhase.FAILED}
Problem = tuple[str, str]  # (reason, message)
UNHEALTHY, POD_MISSING = "MemberUnhealthy", "MemberPodMissing"
# What the last member of a rollout looks like between its old pod and its new one answering.
ROLL_GAPS = frozenset({UNHEALTHY, POD_MISSING})


def desired_status(
    obs: Observed, action: Action, previous: ClusterStatus, now: datetime
) -> ClusterStatus:
    cluster = obs.cluster
    status = previous.model_copy(deep=True)
    status.control_paused = isinstance(action, Paused)
    status.observed_generation = cluster.metadata.generation
    status.service_name = naming.client_service_name(cluster.name)
    status.client_port = naming.CLIENT_PORT
    if not isinstance(action, AllMembersLost):
        _members(obs, status)  # else keep who the members were: that the cluster ran is a fact
    conditions = status.conditions
    if isinstance(action, RecordOperation):
        status.operation = action.operation
    elif isinstance(action, FinishOperation):
        status.operation = None
        status.restored_from = action.restored_from or status.restored_from

    etcd = obs.etcd
    available = etcd is not None and bool(etcd.leader)
    ran = previous.phase in RAN
    if isinstance(action, BadSpec | AllMembersLost):
        message = action.message if isinstance(action, BadSpec) else _lost_message(previous)
        status.phase, status.reason = ClusterPhase.FAILED, message
        available_status = ConditionStatus.TRUE if available else ConditionStatus.FALSE
        set_condition(conditions, AVAILABLE, available_status, action.reason, message, now)
        remove_condition(conditions, PROGRESSING)
        return status
    status.reason = None

    problem = degradation(obs, action, ran)
    _true_or_absent(conditions, DEGRADED, problem, now)

    if available:
        set_condition(
            conditions, AVAILABLE, ConditionStatus.TRUE, "ClusterAvailable", "a leader serves", now
        )
    else:
        # QuorumLost only when members answer without one; unreachable is not the same.
        reason = "QuorumLost" if ran and obs.local is not None else action.reason
        message = obs.etcd_error or "no member answers with a leader"
        set_condition(conditions, AVAILABLE, ConditionStatus.FALSE, reason, message, now)

    reached = at_size(obs)
    roll = rollout(obs, status)
    progress = roll if reached and roll else progressing(obs, action, status.operation)
    _true_or_absent(conditions, PROGRESSING, progress, now)

    recovering = status.operation is not None and status.operation.phase != DETECTED
    # The one member being rolled is expected to be down for a moment; two are a problem.
    # The last one rolled is made from the current spec already (no roll left to report)
    # once its old pod is gone: the rollout ends when its new pod answers.
    finishing = roll is None and previous.phase == ClusterPhase.UPGRADING
    rolling_on = roll is not None or finishing
    expected = problem is None or (
        rolling_on and _one_voter_down(obs) and (roll is not None or problem[0] in ROLL_GAPS)
    )
    if recovering:
        status.phase = ClusterPhase.RECOVERING
    elif reached and problem is None and roll is None:
        status.phase = ClusterPhase.RUNNING
    elif not ran:
        status.phase = ClusterPhase.CREATING
    elif rolling_on and expected and not (finishing and problem is None):
        status.phase = ClusterPhase.UPGRADING
    elif problem is not None:
        status.phase = ClusterPhase.DEGRADED
    else:
        status.phase = ClusterPhase.SCALING
    return status


def _true_or_absent(
    conditions: list[Condition], type_: str, cause: Problem | None, now: datetime
) -> None:
    """Degraded and Progressing are True with their cause, or absent."""
    if cause is None:
        remove_condition(conditions, type_)
    else:
        set_condition(conditions, type_, ConditionStatus.TRUE, *cause, now)


def _one_voter_down(obs: Observed) -> bool:
    """Exactly one voting member is unhealthy or without its pod (quorum holds)."""
    etcd = obs.etcd
    if etcd is None:
        return False
    live = {p.name for p in obs.live_pods}
    return sum(1 for v in etcd.voting if not v.healthy or v.pod not in live) == 1


def rollout(obs: Observed, status: ClusterStatus) -> Problem | None:
    """("Upgrading" | "Rolling", message) while members run another spec than the current."""
    etcd = obs.etcd
    stale = rolling.outdated_members(obs, etcd) if etcd is not None else []
    if status.target_version is not None:
        want = obs.cluster.spec.etcd_version
        return "Upgrading", f"{status.current_version} → {want}: {len(stale)} members to go"
    if stale:
        names = ", ".join(v.pod or "?" for v in stale)
        return "Rolling", f"members made from an older spec: {names}"
    return None


def _members(obs: Observed, status: ClusterStatus) -> None:
    """size, members ready/unready and versions: etcd's answer when there is one."""
    etcd = obs.etcd
    if etcd is not None:
        # Ready = a voting member that answered this pass without a problem (etcd's answer,
        # not the pod's readiness probe, which lags by up to its period).
        live = {p.name for p in obs.live_pods}
        ready = [v.label for v in etcd.voting if v.healthy and v.pod in live]
        unready = [v.label for v in etcd.members if v.label not in ready]
        status.size = len(etcd.members)
    else:  # no quorum, or nothing answers: no member serves
        ready, unready = [], [p.name for p in obs.live_pods]
        status.size = len(unready)
    status.set_members(ready=ready, unready=unready)
    # The version every member runs: known only when every member answers (a member
    # restarting on a new version keeps the rollout going until it does).
    answers = [v.status for v in etcd.members] if etcd else []
    versions = {a.version for a in answers if a is not None}
    if answers and None not in answers and len(versions) == 1:
        status.current_version = versions.pop()
    want = obs.cluster.spec.etcd_version
    status.target_version = want if status.current_version not in (None, want) else None


def at_size(obs: Observed) -> bool:
    """size healthy voting members, no learner, a leader."""
    etcd = obs.etcd
    return (
        etcd is not None
        and bool(etcd.leader)
        and not etcd.learners
        and len(etcd.voting) == obs.cluster.spec.size
        and all(v.healthy for v in etcd.voting)
    )


def degradation(obs: Observed, action: Action, ran: bool) -> Problem | None:
    """What is wrong, naming the members; None when nothing is."""
    if isinstance(action, Wait) and action.why is WaitReason.MEMBER_CANNOT_START:
        return action.reason, action.message
    etcd = obs.etcd
    if etcd is None:
        if not ran:
            return None  # still creating
        down = sorted({*(p.name for p in obs.pods if not p.ready), *obs.podless_volumes})
        if obs.local is None:
            return "EtcdUnreachable", obs.etcd_error or "no member answers"
        return "QuorumLost", f"no quorum; members not answering: {', '.join(down) or 'all'}"
    live = {p.name for p in obs.live_pods}
    missing = [v.label for v in etcd.members if v.member.started and v.pod not in live]
    if missing:
        return POD_MISSING, f"members without a pod: {', '.join(missing)}"
    unhealthy = [v.label for v in etcd.voting if not v.healthy]
    if unhealthy:
        return UNHEALTHY, f"unhealthy members: {', '.join(unhealthy)}"
    full = no_space_message(state_from((v.member, v.status) for v in etcd.members))
    return ("NoSpace", full) if full else None


def progressing(obs: Observed, action: Action, operation: Operation | None) -> Problem | None:
    """What the operator is changing while the cluster is not at size."""
    if operation is not None:
        word = "Restoring" if operation.type == RESTORE else "Recovering"
        return word, operation.message or operation.type
    if isinstance(action, ForceDeletePod):
        return "Recovering", f"node {action.node} lost: moving member {action.pod}"
    if isinstance(action, RestartMember | DeleteFailedPod):
        return "Recovering", f"recreating the pod of member {action.pod}"
    etcd = obs.etcd
    if etcd is None:
        return None
    voting, size = len(etcd.voting), obs.cluster.spec.size
    if isinstance(action, PromoteLearner) or etcd.learners:
        return "MemberPromoting", f"promoting learner towards {size} members"
    if voting < size:
        return "ScalingUp", f"{voting} of {size} members"
    if voting > size:
        return "ScalingDown", f"{voting} members, want {size}"
    return None


def _lost_message(previous: ClusterStatus) -> str:
    members = sorted(previous.members.ready + previous.members.unready)
    return (
        f"every member ({', '.join(members)}) was lost with its data; "
        "restore from a backup (EtcdRestore) or delete and recreate the cluster"
    )


def status_events(
    previous: ClusterStatus, current: ClusterStatus, action: Action | None = None
) -> list[tuple[str, str, str]]:
    """Events (type, reason, message) for what the status write just made true: a decision
    recorded or an operation finished, the cluster Failed for a new reason, a new Degraded
    reason or message (Warnings)."""
    events = []
    if isinstance(action, RecordOperation):
        op = action.operation
        type_ = WARNING if op.phase == DETECTED else NORMAL
        reason = "QuorumLost" if op.phase == DETECTED else f"{op.type}{op.phase}"
        events.append((type_, reason, action.event))
    elif isinstance(action, FinishOperation) and previous.operation is not None:
        events.append((NORMAL, f"{previous.operation.type}Finished", action.message))
    if current.phase == ClusterPhase.FAILED and (
        previous.phase != ClusterPhase.FAILED or previous.reason != current.reason
    ):
        failed = find_condition(current.conditions, AVAILABLE)
        events.append((WARNING, (failed and failed.reason) or "Failed", current.reason or ""))
    before = find_condition(previous.conditions, DEGRADED)
    after = find_condition(current.conditions, DEGRADED)
    if after is not None and (before is None or before.message != after.message):
        events.append((WARNING, after.reason or DEGRADED, after.message or ""))
    return events

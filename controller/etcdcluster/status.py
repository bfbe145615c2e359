"""The status a cluster should show, and the Events its changes deserve. Pure.

phase: Creating until `size` members are started and voting with a leader, then Running;
Scaling while membership differs from spec.size after that; Failed while the user must fix the
spec. Conditions: Available (a leader answers), Scaling (reason ScalingUp/ScalingDown/
MemberPromoting, absent at size), Degraded (MemberCannotStart: a member pod that cannot pull
its image or keeps crashing, with the pod's message). The reconciler writes the status only
when it differs, and posts `status_events` for what changed.
"""

from __future__ import annotations

from datetime import datetime

from api import (
    ClusterConditionType,
    ClusterPhase,
    ClusterStatus,
    ConditionStatus,
    find_condition,
    remove_condition,
    set_condition,
)
from controller.etcdcluster import naming
from controller.etcdcluster.observe import Observed
from controller.etcdcluster.planner import (
    Action,
    BadSpec,
    Paused,
    PromoteLearner,
    Wait,
    WaitReason,
)
from controller.runtime.events import WARNING

AVAILABLE = ClusterConditionType.AVAILABLE.value
SCALING = ClusterConditionType.SCALING.value
DEGRADED = ClusterConditionType.DEGRADED.value


def desired_status(
    obs: Observed, action: Action, previous: ClusterStatus, now: datetime
) -> ClusterStatus:
    cluster = obs.cluster
    status = previous.model_copy(deep=True)
    status.control_paused = isinstance(action, Paused)
    status.observed_generation = cluster.metadata.generation
    status.service_name = naming.client_service_name(cluster.name)
    status.client_port = naming.CLIENT_PORT
    etcd = obs.etcd

    if etcd is not None:
        member_pods = {v.pod for v in etcd.members}
        pods = [p for p in obs.pods if p.name in member_pods]
        status.size = len(etcd.members)
    else:
        pods = list(obs.live_pods)
        status.size = len(pods)
    status.set_members(
        ready=[p.name for p in pods if p.ready], unready=[p.name for p in pods if not p.ready]
    )

    versions = {v.status.version for v in etcd.members if v.status} if etcd else set()
    if len(versions) == 1:
        status.current_version = versions.pop()
    want = cluster.spec.etcd_version
    status.target_version = want if status.current_version not in (None, want) else None

    conditions = status.conditions
    stuck = isinstance(action, Wait) and action.why is WaitReason.MEMBER_CANNOT_START
    if stuck:
        assert isinstance(action, Wait)
        set_condition(
            conditions, DEGRADED, ConditionStatus.TRUE, action.reason, action.message, now
        )
    else:
        remove_condition(conditions, DEGRADED)

    available = etcd is not None and bool(etcd.leader)
    reached = (
        etcd is not None
        and available
        and not etcd.learners
        and len(etcd.voting) == cluster.spec.size
        and all(v.healthy for v in etcd.voting)
    )
    if isinstance(action, BadSpec):
        status.phase, status.reason = ClusterPhase.FAILED, action.message
        available_status = ConditionStatus.TRUE if available else ConditionStatus.FALSE
        set_condition(conditions, AVAILABLE, available_status, action.reason, action.message, now)
        return status
    status.reason = None
    if reached:
        status.phase = ClusterPhase.RUNNING
    elif previous.phase in (ClusterPhase.RUNNING, ClusterPhase.SCALING):
        status.phase = ClusterPhase.SCALING
    else:
        status.phase = ClusterPhase.CREATING

    if available:
        set_condition(
            conditions, AVAILABLE, ConditionStatus.TRUE, "ClusterAvailable", "a leader serves", now
        )
    else:
        message = obs.etcd_error or "no member answers with a leader"
        set_condition(conditions, AVAILABLE, ConditionStatus.FALSE, action.reason, message, now)

    if etcd is None or reached:
        remove_condition(conditions, SCALING)
    else:
        reason, message = _scaling(obs, action)
        set_condition(conditions, SCALING, ConditionStatus.TRUE, reason, message, now)
    return status


def _scaling(obs: Observed, action: Action) -> tuple[str, str]:
    """The Scaling condition's reason and message while membership is not at spec.size."""
    assert obs.etcd is not None
    voting, size = len(obs.etcd.voting), obs.cluster.spec.size
    if isinstance(action, PromoteLearner) or obs.etcd.learners:
        return "MemberPromoting", f"promoting learner towards {size} members"
    if voting < size:
        return "ScalingUp", f"{voting} of {size} members"
    if voting > size:
        return "ScalingDown", f"{voting} members, want {size}"
    return action.reason, "waiting for members to become healthy"


def status_events(previous: ClusterStatus, current: ClusterStatus) -> list[tuple[str, str, str]]:
    """Warning Events (type, reason, message) for problems that appeared or changed:
    the cluster Failed for a new reason, a member that cannot start."""
    events = []
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

"""The status a cluster should show, from the snapshot and the chosen action. Pure.

phase: Creating until `size` members are started and voting with a leader, then Running;
Scaling while membership differs from spec.size after that; Failed while the user must fix the
spec. Conditions: Available (a leader answers), Scaling (reason ScalingUp/ScalingDown/
MemberPromoting, absent at size). The reconciler writes it only when it differs.
"""

from __future__ import annotations

from datetime import datetime

from api import (
    ClusterConditionType,
    ClusterPhase,
    ClusterStatus,
    ConditionStatus,
    remove_condition,
    set_condition,
)
from controller.etcdcluster import naming
from controller.etcdcluster.observe import Observed
from controller.etcdcluster.planner import Action, BadSpec, Paused, PromoteLearner

AVAILABLE = ClusterConditionType.AVAILABLE.value
SCALING = ClusterConditionType.SCALING.value


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

    available = etcd is not None and bool(etcd.leader)
    reached = (
        etcd is not None
        and available
        and not etcd.learners
        and len(etcd.voting) == cluster.spec.size
        and all(v.healthy for v in etcd.voting)
    )
    conditions = status.conditions
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
        voting, size = len(etcd.voting), cluster.spec.size
        if isinstance(action, PromoteLearner) or etcd.learners:
            reason, message = "MemberPromoting", f"promoting learner towards {size} members"
        elif voting < size:
            reason, message = "ScalingUp", f"{voting} of {size} members"
        elif voting > size:
            reason, message = "ScalingDown", f"{voting} members, want {size}"
        else:
            reason, message = action.reason, "waiting for members to become healthy"
        set_condition(conditions, SCALING, ConditionStatus.TRUE, reason, message, now)
    return status

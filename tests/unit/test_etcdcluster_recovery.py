"""Quorum-loss recovery's decisions: detected and recorded at once, the grace period waited
out, the survivor with the highest revision chosen and recorded before anything is deleted,
then the steps continued from the record — never decided again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from api import Operation
from controller.etcdcluster.actions import (
    AddLearner,
    DeleteStrayPod,
    DeleteStrayVolume,
    FinishOperation,
    RecordOperation,
    RestartMember,
    StopMember,
    Wait,
    WaitReason,
)
from controller.etcdcluster.observe import EtcdView, MemberView, Observed
from controller.etcdcluster.planner import plan
from controller.etcdcluster.recovery import (
    DETECTED,
    FORCE_NEW_CLUSTER,
    QUORUM_RECOVERY,
    REGROWING,
    RESTARTING,
    RecoveryPolicy,
)
from tests.unit.test_etcdcluster_planner import (
    EMPTY_DIR,
    IDS,
    A,
    B,
    C,
    D,
    bare,
    member,
    observed,
    peer,
    pod,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = RecoveryPolicy(grace=timedelta(seconds=60))
RAN: Mapping[str, object] = {"status.members.ready": [A, B, C]}


def answering(name: str, revision: int) -> MemberView:
    """A voting member answering without quorum (no leader) at `revision`."""
    view = member(name, leader=0)
    assert view.status is not None
    return replace(view, status=replace(view.status, revision=revision))


def silent(name: str) -> MemberView:
    return member(name, up=False, leader=0)


def other(view: MemberView, name: str, member_id: int) -> MemberView:
    """`view` as another member (name, ID, peer URL)."""
    m = replace(view.member, id=member_id, name=name, peer_urls=(peer(name),))
    return replace(view, member=m, pod=name)


def no_quorum(obs: Observed, *local: MemberView) -> Observed:
    return replace(obs, etcd=None, local=EtcdView(local), etcd_error="no quorum")


def recorded(obs: Observed, phase: str, started: datetime, **inputs: str) -> Observed:
    op = Operation(type=QUORUM_RECOVERY, phase=phase, started_at=started, inputs=inputs)
    cluster = obs.cluster.model_copy(deep=True)
    cluster.status.operation = op
    return replace(obs, cluster=cluster)


# Two of three members' pods and volumes destroyed: A survives alone, without quorum.
LOST_TWO = no_quorum(
    observed(pods=(pod(A),), pvcs=(A,), fields=RAN), answering(A, 40), silent(B), silent(C)
)


def test_quorum_lost_for_good_is_recorded_at_once_naming_the_lost() -> None:
    action = plan(LOST_TWO, NOW, POLICY)
    assert isinstance(action, RecordOperation)
    op = action.operation
    assert (op.type, op.phase, op.started_at) == (QUORUM_RECOVERY, DETECTED, NOW)
    assert op.inputs == {"lost": f"{B},{C}"} and B in action.event and C in action.event


def test_members_that_kept_their_volumes_are_restarted_not_recovered_from() -> None:
    kept = no_quorum(observed(pods=(pod(A),), pvcs=(A, B, C), fields=RAN), answering(A, 40))
    assert plan(kept, NOW, POLICY) == RestartMember(B, ((A, peer(A)), (B, peer(B)), (C, peer(C))))


def test_one_lost_of_three_is_not_quorum_loss() -> None:
    obs = no_quorum(
        observed(pods=(pod(A), pod(B)), pvcs=(A, B), fields=RAN), answering(A, 4), silent(C)
    )
    action = plan(obs, NOW, POLICY)
    assert isinstance(action, Wait) and action.why is WaitReason.ETCD_UNREACHABLE


def test_the_grace_period_is_waited_out_and_quorum_coming_back_ends_it() -> None:
    waiting = recorded(LOST_TWO, DETECTED, NOW - timedelta(seconds=20), lost=f"{B},{C}")
    action = plan(waiting, NOW, POLICY)
    assert isinstance(action, Wait) and action.why is WaitReason.QUORUM_LOST
    assert "40s" in action.message
    back = replace(waiting, etcd=EtcdView((member(A), member(B), member(C))), local=None)
    assert isinstance(plan(back, NOW, POLICY), FinishOperation)


def test_the_survivor_with_the_highest_revision_is_recorded_before_any_deletion() -> None:
    obs = no_quorum(
        observed(size=5, pods=(pod(A), pod(B)), pvcs=(A, B), fields=RAN),
        answering(A, 40),
        answering(B, 41),
        silent(C),
        silent(D),
        other(silent(D), "example-eeeeeeeeee", 0xE),
    )
    due = recorded(obs, DETECTED, NOW - timedelta(seconds=61), lost="c,d,e")
    action = plan(due, NOW, POLICY)
    assert isinstance(action, RecordOperation)
    assert action.operation.phase == FORCE_NEW_CLUSTER
    assert action.operation.inputs["survivor"] == B and action.operation.inputs["revision"] == "41"


def test_a_silent_member_holding_data_is_waited_for() -> None:
    obs = no_quorum(
        observed(pods=(pod(A), pod(B, ready=False)), pvcs=(A, B), fields=RAN),
        answering(A, 40),
        silent(B),
        silent(C),
    )
    due = recorded(obs, DETECTED, NOW - timedelta(hours=1), lost=C)
    action = plan(due, NOW, POLICY)
    assert isinstance(action, Wait) and B in action.message


def test_emptydir_survivors_are_not_restarted_the_user_is_told_to_restore() -> None:
    obs = no_quorum(
        observed(pods=(bare(A),), fields={**RAN, **EMPTY_DIR}),
        answering(A, 9),
        silent(B),
        silent(C),
    )
    assert isinstance(plan(obs, NOW, POLICY), RecordOperation)
    due = recorded(obs, DETECTED, NOW - timedelta(hours=1), lost=f"{B},{C}")
    action = plan(due, NOW, POLICY)
    assert isinstance(action, Wait) and action.why is WaitReason.QUORUM_LOST
    assert "EtcdRestore" in action.message


def test_the_recorded_survivor_is_forced_then_restarted_normally() -> None:
    inputs = {"lost": f"{B},{C}", "survivor": A, "revision": "40"}
    base = observed(pods=(pod(A), pod(B)), pvcs=(A, B, C), fields=RAN)
    forcing = recorded(base, FORCE_NEW_CLUSTER, NOW, **inputs)
    assert plan(forcing, NOW, POLICY) == DeleteStrayPod(B)  # never the survivor's
    forcing = replace(forcing, pods=(pod(A),))
    assert plan(forcing, NOW, POLICY) == DeleteStrayVolume(B)
    forcing = replace(forcing, pvcs=(A,))
    assert plan(forcing, NOW, POLICY) == StopMember(A)  # its pod runs without the flag
    forcing = replace(forcing, pods=())
    assert plan(forcing, NOW, POLICY) == RestartMember(A, ((A, peer(A)),), force_new_cluster=True)
    forced = replace(forcing, pods=(replace(pod(A), forced=True),))
    waiting = plan(forced, NOW, POLICY)
    assert isinstance(waiting, Wait) and waiting.why is WaitReason.RECOVERING
    alone = replace(forced, etcd=EtcdView((member(A),)))
    step = plan(alone, NOW, POLICY)
    assert isinstance(step, RecordOperation) and step.operation.phase == RESTARTING
    assert step.operation.inputs["survivor"] == A  # the record carries the decision on

    restarting = recorded(alone, RESTARTING, NOW, **inputs)
    assert plan(restarting, NOW, POLICY) == StopMember(A)
    assert plan(replace(restarting, pods=()), NOW, POLICY) == RestartMember(A, ((A, peer(A)),))
    serving = replace(restarting, pods=(pod(A),))
    regrow = plan(serving, NOW, POLICY)
    assert isinstance(regrow, RecordOperation) and regrow.operation.phase == REGROWING

    regrowing = recorded(serving, REGROWING, NOW, **inputs)
    assert isinstance(plan(regrowing, NOW, POLICY), AddLearner)  # ordinary growth
    at_size = replace(
        regrowing,
        pods=(pod(A), pod(B), pod(C)),
        pvcs=(A, B, C),
        etcd=EtcdView((member(A), member(B), member(C))),
    )
    finished = plan(at_size, NOW, POLICY)
    assert isinstance(finished, FinishOperation) and A in finished.message


def test_ids_are_kept_by_the_helpers() -> None:
    assert answering(A, 1).member.id == IDS[A]

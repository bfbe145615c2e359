"""The planner's quorum-loss recovery (controller/etcdcluster/recovery.py) to the letter: which
members count as lost, and the exact waits and records of each step. Surviving mutants showed
the tests checked that a Wait came, not which one (its reason decides when to look again)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from controller.etcdcluster.actions import FinishOperation, RecordOperation, Wait, WaitReason
from controller.etcdcluster.observe import EtcdView, MemberView, Observed
from controller.etcdcluster.planner import plan
from controller.etcdcluster.recovery import (
    DETECTED,
    FORCE_NEW_CLUSTER,
    REGROWING,
    RESTARTING,
    lost_members,
)
from tests.unit.test_etcdcluster_planner import EMPTY_DIR, A, B, C, bare, member, observed, pod
from tests.unit.test_etcdcluster_recovery import (
    LOST_TWO,
    NOW,
    POLICY,
    RAN,
    answering,
    recorded,
    silent,
)

THREE = EtcdView((answering(A, 40), silent(B), silent(C)))
INPUTS = {"lost": f"{B},{C}", "survivor": A, "revision": "40"}


def test_lost_means_no_live_pod_and_no_volume_to_restart_from() -> None:
    on_volumes = observed(pods=(pod(A),), pvcs=(B,), fields=RAN)  # A runs, B has its volume
    assert lost_members(on_volumes, THREE) == [C]
    without_volume = observed(pods=(pod(A),), pvcs=(), fields=RAN)  # A runs, but has no PVC
    assert lost_members(without_volume, THREE) == [B, C]
    # a PVC is no data
    empty_dir = observed(pods=(bare(A),), pvcs=(B,), fields={**RAN, **EMPTY_DIR})
    assert lost_members(empty_dir, THREE) == [B, C]


def test_detection_names_the_lost_in_the_record_and_the_event() -> None:
    action = plan(LOST_TWO, NOW, POLICY)
    assert isinstance(action, RecordOperation)
    words = f"quorum lost: members {B}, {C} lost their data"
    assert action.operation.message == words and action.event == words


def test_forcing_waits_name_the_step() -> None:
    base = recorded(observed(pvcs=(A,), fields=RAN), FORCE_NEW_CLUSTER, NOW, **INPUTS)
    terminating = replace(base, pods=(replace(pod(A), terminating=True),))
    assert plan(terminating, NOW, POLICY) == Wait(WaitReason.RECOVERING, f"pod {A} is terminating")
    forced = replace(base, pods=(replace(pod(A), forced=True),))
    assert plan(forced, NOW, POLICY) == Wait(
        WaitReason.RECOVERING, f"{A} is starting as a one-member cluster"
    )
    alone = replace(forced, etcd=EtcdView((member(A),)))
    step = plan(alone, NOW, POLICY)
    assert isinstance(step, RecordOperation)
    assert step.event == f"{A} serves alone; restarting it normally"


def test_restarting_waits_name_the_step() -> None:
    base = recorded(observed(pvcs=(A,), fields=RAN), RESTARTING, NOW, **INPUTS)
    terminating = replace(base, pods=(replace(pod(A), terminating=True),))
    assert plan(terminating, NOW, POLICY) == Wait(WaitReason.RECOVERING, f"pod {A} is terminating")
    starting = replace(base, pods=(pod(A),), etcd=None)  # no answer yet
    assert plan(starting, NOW, POLICY) == Wait(WaitReason.RECOVERING, f"{A} is restarting")
    serving = replace(base, pods=(pod(A),), etcd=EtcdView((member(A),)))
    step = plan(serving, NOW, POLICY)
    assert isinstance(step, RecordOperation) and step.operation.phase == REGROWING
    assert step.event == f"{A} serves; growing back to size"


def test_the_finish_names_survivor_and_revision() -> None:
    at_size = observed(
        pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C)), fields=RAN
    )
    done = plan(recorded(at_size, REGROWING, NOW, **INPUTS), NOW, POLICY)
    assert done == FinishOperation(f"recovered from {A} at revision 40")
    unknown = {k: v for k, v in INPUTS.items() if k != "revision"}
    done = plan(recorded(at_size, REGROWING, NOW, **unknown), NOW, POLICY)
    assert done == FinishOperation(f"recovered from {A} at revision ?")


def test_the_grace_period_counts_from_the_record() -> None:
    waiting = recorded(LOST_TWO, DETECTED, NOW - timedelta(seconds=20), lost=f"{B},{C}")
    assert plan(waiting, NOW, POLICY) == Wait(
        WaitReason.QUORUM_LOST, f"members {B},{C} lost; recovering in 40s"
    )


def due(obs: Observed, **inputs: str) -> Observed:
    return recorded(obs, DETECTED, NOW - POLICY.grace, **inputs)


def test_deciding_the_survivor_to_the_letter() -> None:
    on_volumes = observed(pods=(pod(A), pod(B)), pvcs=(A, B), fields=RAN)
    back = replace(LOST_TWO, etcd=EtcdView((member(A), member(B), member(C))))
    assert plan(due(back, lost=C), NOW, POLICY) == FinishOperation(
        "quorum came back before the grace period ended"
    )
    nobody = replace(on_volumes, etcd=None, local=None)
    assert plan(due(nobody, lost=C), NOW, POLICY) == Wait(
        WaitReason.QUORUM_LOST, "no surviving member answers"
    )
    holds_data = replace(on_volumes, etcd=None, local=EtcdView((answering(A, 9), silent(B))))
    assert plan(due(holds_data, lost=C), NOW, POLICY) == Wait(
        WaitReason.QUORUM_LOST, f"waiting for {B} (they hold data) to answer"
    )
    pod_only = replace(holds_data, pvcs=(A,))  # B's pod runs (no PVC): it may hold data too
    assert isinstance(plan(due(pod_only, lost=C), NOW, POLICY), Wait)
    no_volume = replace(
        on_volumes, pods=(pod(A),), pvcs=(), etcd=None, local=EtcdView((answering(A, 9),))
    )
    assert plan(due(no_volume, lost=C), NOW, POLICY) == Wait(
        WaitReason.QUORUM_LOST, "no member with data answers"
    )


def test_the_survivor_is_the_highest_revision_with_data_then_the_last_name() -> None:
    def decide(*views: MemberView, pvcs: tuple[str, ...] = (A, B)) -> RecordOperation:
        obs = replace(
            observed(pods=(pod(A), pod(B)), pvcs=pvcs, fields=RAN),
            etcd=None,
            local=EtcdView(views),
        )
        action = plan(due(obs, lost=C), NOW, POLICY)
        assert isinstance(action, RecordOperation) and action.operation.phase == FORCE_NEW_CLUSTER
        return action

    first = decide(answering(A, 41), answering(B, 40), silent(C))
    assert first.operation.inputs["survivor"] == A  # the revision wins over the name
    assert first.operation.message == f"recovering from {A} at revision 41"
    assert first.event == f"recovering from {A} (revision 41) with --force-new-cluster"
    tie = decide(answering(A, 40), answering(B, 40), silent(C))
    assert tie.operation.inputs["survivor"] == B
    without_pvc = decide(answering(A, 50), answering(B, 40), silent(C), pvcs=(B,))
    assert without_pvc.operation.inputs["survivor"] == B  # A's newer data has no volume


def test_the_grace_period_ends_exactly_on_time() -> None:
    exactly = recorded(LOST_TWO, DETECTED, NOW - POLICY.grace, lost=f"{B},{C}")
    action = plan(exactly, NOW, POLICY)
    assert not (isinstance(action, Wait) and "recovering in" in action.message)


# --- every Wait of the planner, reason and message: the reason decides when to look again -------
def waits() -> list[tuple[str, Observed, Wait]]:
    from tests.unit.test_etcdcluster_planner import D

    stuck_a = pod(A, ready=False, stuck="etcd: ErrImagePull: no such image")
    stuck_b = pod(B, ready=False, stuck="etcd: CrashLoopBackOff: exit 1")
    foreign = replace(member(B), pod=None)
    return [
        (
            "seed starting",
            observed(pods=(pod(A, ready=False),)),
            Wait(WaitReason.MEMBERS_STARTING, "waiting for members to start"),
        ),
        (
            "no answer, with the error",
            replace(observed(pods=(pod(A, ready=False),)), etcd_error="connection refused"),
            Wait(WaitReason.MEMBERS_STARTING, "connection refused"),
        ),
        (
            "no answer after it ran",
            replace(
                observed(pods=(pod(A, ready=False),), fields={"status.members.ready": [A]}),
                etcd_error="connection refused",
            ),
            Wait(WaitReason.ETCD_UNREACHABLE, "connection refused"),
        ),
        (
            "volumes an emptyDir spec cannot use",
            observed(pvcs=(A,), fields=EMPTY_DIR),
            Wait(
                WaitReason.VOLUMES_WITHOUT_PODS,
                "member volumes exist but the spec has no persistentVolumeClaimSpec to use them",
            ),
        ),
        (
            "members that cannot start, each named",
            observed(pods=(stuck_a, stuck_b)),
            Wait(
                WaitReason.MEMBER_CANNOT_START,
                f"{A}: etcd: ErrImagePull: no such image; {B}: etcd: CrashLoopBackOff: exit 1",
            ),
        ),
        (
            "a member of no pod of ours",
            observed(pods=(pod(A),), members=(member(A), foreign)),
            Wait(WaitReason.FOREIGN_MEMBER, "member b has no pod of this cluster"),
        ),
        (
            "a member's pod terminating",
            observed(pods=(pod(A), pod(B, terminating=True)), members=(member(A), member(B))),
            Wait(WaitReason.MEMBER_POD_TERMINATING, f"pod {B} is terminating"),
        ),
        (
            "a member without data while another is down",
            observed(
                pods=(pod(A), pod(B)),
                pvcs=(A, B),
                members=(member(A), member(B, up=False), member(C)),
            ),
            Wait(WaitReason.QUORUM_AT_RISK, f"members without data: {B}"),
        ),
        (
            "a learner starting",
            observed(
                pods=(pod(A), pod(B, ready=False)),
                members=(member(A), member(B, learner=True, started=False)),
            ),
            Wait(WaitReason.LEARNER_STARTING, f"learner {B} is starting"),
        ),
        (
            "a member down",
            observed(pods=(pod(A), pod(B)), members=(member(A), member(B, up=False))),
            Wait(WaitReason.UNHEALTHY, f"unhealthy members: {B}"),
        ),
        (
            "no leader",
            observed(pods=(pod(A), pod(B)), members=(member(A, leader=0), member(B, leader=0))),
            Wait(WaitReason.UNHEALTHY, "no leader"),
        ),
        (
            "a stray pod terminating",
            observed(
                pods=(pod(A), pod(B), pod(C), pod(D, terminating=True)),
                members=(member(A), member(B), member(C)),
            ),
            Wait(WaitReason.POD_TERMINATING, f"pods terminating: {D}"),
        ),
    ]


def test_every_wait_to_the_letter() -> None:
    for name, obs, want in waits():
        assert plan(obs, NOW, POLICY) == want, name


def test_an_unknown_recovery_phase_waits_and_regrowing_needs_an_answer() -> None:
    odd = recorded(observed(pods=(pod(A),), fields=RAN), "Sideways", NOW, **INPUTS)
    assert plan(odd, NOW, POLICY) == Wait(
        WaitReason.UNKNOWN_OPERATION, "unknown QuorumRecovery phase Sideways"
    )
    silent_cluster = recorded(
        observed(pods=(pod(A),), pvcs=(A,), fields=RAN), REGROWING, NOW, **INPUTS
    )
    assert not isinstance(plan(silent_cluster, NOW, POLICY), FinishOperation)

"""The EtcdCluster status to the letter: each condition's status, reason, message and time,
the phase in each situation, and the previous status left untouched. Surviving mutants showed
the tests checked phases and reasons but rarely messages, times or the less common phases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from api import ClusterPhase, ClusterStatus, Operation, find_condition
from controller.etcdcluster.actions import (
    BadSpec,
    FinishOperation,
    RecordOperation,
    Steady,
    Wait,
    WaitReason,
)
from controller.etcdcluster.observe import EtcdView
from controller.etcdcluster.status import desired_status
from tests.unit.test_etcdcluster_planner import A, B, C, member, observed, pod

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
AT_SIZE = observed(pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C)))
RUNNING = ClusterStatus(phase=ClusterPhase.RUNNING)


def cond(status: ClusterStatus, kind: str) -> tuple[str, str | None, str | None] | None:
    found = find_condition(status.conditions, kind)
    if found is None:
        return None
    assert found.last_transition_time == NOW and found.last_update_time == NOW
    return found.status, found.reason, found.message


def test_running_reads_available_from_a_leader_and_leaves_the_previous_status_alone() -> None:
    previous = desired_status(observed(), Wait(WaitReason.ETCD_UNREACHABLE), ClusterStatus(), NOW)
    before = previous.model_copy(deep=True)
    status = desired_status(AT_SIZE, Steady(), previous, NOW)
    assert previous == before  # a copy was changed, not the cached object's status
    assert status.phase == ClusterPhase.RUNNING
    assert cond(status, "Available") == ("True", "ClusterAvailable", "a leader serves")
    assert cond(status, "Progressing") is None and cond(status, "Degraded") is None


def test_creating_without_an_answer_says_why() -> None:
    seed = observed(pods=(pod(A, ready=False),))
    status = desired_status(seed, Wait(WaitReason.ETCD_UNREACHABLE), ClusterStatus(), NOW)
    assert status.phase == ClusterPhase.CREATING and status.size == 1
    assert cond(status, "Available") == (
        "False",
        "EtcdUnreachable",
        "no member answers with a leader",
    )
    assert cond(status, "Degraded") is None  # still creating: nothing is wrong yet
    refused = replace(seed, etcd_error="connection refused")
    status = desired_status(refused, Wait(WaitReason.ETCD_UNREACHABLE), ClusterStatus(), NOW)
    assert cond(status, "Available") == ("False", "EtcdUnreachable", "connection refused")


def test_quorum_lost_after_running() -> None:
    down = replace(
        observed(pods=(pod(A), pod(B, ready=False)), pvcs=(A, B, C)),
        local=EtcdView((member(A, leader=0), member(B, up=False), member(C, up=False))),
    )
    status = desired_status(down, Wait(WaitReason.ETCD_UNREACHABLE), RUNNING, NOW)
    assert status.phase == ClusterPhase.DEGRADED
    assert cond(status, "Available") == ("False", "QuorumLost", "no member answers with a leader")
    assert cond(status, "Degraded") == (
        "True",
        "QuorumLost",
        f"no quorum; members not answering: {B}, {C}",
    )


def test_a_bad_spec_fails_while_a_leader_still_serves() -> None:
    assert AT_SIZE.etcd is not None
    previous = desired_status(
        observed(size=5, pods=AT_SIZE.pods, members=AT_SIZE.etcd.members),
        Steady(),
        RUNNING,
        NOW,
    )
    assert cond(previous, "Progressing") is not None
    bad = BadSpec("TLSSecretMissing", "missing TLS secrets: s")
    status = desired_status(AT_SIZE, bad, previous, NOW)
    assert status.phase == ClusterPhase.FAILED and status.reason == "missing TLS secrets: s"
    assert cond(status, "Available") == ("True", "TLSSecretMissing", "missing TLS secrets: s")
    assert cond(status, "Progressing") is None


def test_an_operation_is_recorded_shown_as_recovering_then_cleared() -> None:
    detected = Operation(type="QuorumRecovery", phase="Detected", started_at=NOW)
    status = desired_status(AT_SIZE, RecordOperation(detected, "lost"), RUNNING, NOW)
    assert status.operation == detected and status.phase == ClusterPhase.RUNNING
    forcing = detected.model_copy(update={"phase": "ForceNewCluster"})
    status = desired_status(AT_SIZE, RecordOperation(forcing, "go"), status, NOW)
    assert status.operation == forcing and status.phase == ClusterPhase.RECOVERING
    status = desired_status(AT_SIZE, FinishOperation("done"), status, NOW)
    assert status.operation is None and status.phase == ClusterPhase.RUNNING


def test_an_upgrade_reads_upgrading_with_one_member_down_and_degraded_with_two() -> None:
    upgrade = {"spec.version": "3.7.3"}
    old = [replace(pod(n), template=None) for n in (A, B, C)]
    assert AT_SIZE.etcd is not None
    rolling = observed(pods=tuple(old), members=AT_SIZE.etcd.members, fields=upgrade)
    status = desired_status(rolling, Steady(), RUNNING, NOW)
    assert status.phase == ClusterPhase.UPGRADING
    assert cond(status, "Progressing") == ("True", "Upgrading", "3.6.16 → 3.7.3: 3 members to go")
    one_down = replace(rolling, pods=(old[0], old[1]))  # C is being rolled
    status = desired_status(one_down, Wait(WaitReason.UNHEALTHY), status, NOW)
    assert status.phase == ClusterPhase.UPGRADING  # the member being rolled is expected down
    two_down = replace(one_down, pods=(old[0],))
    status = desired_status(two_down, Wait(WaitReason.UNHEALTHY), status, NOW)
    assert status.phase == ClusterPhase.DEGRADED


def test_members_from_an_older_spec_are_named_while_rolling() -> None:
    stale = replace(pod(B), template="an-older-template")
    assert AT_SIZE.etcd is not None
    obs = observed(pods=(pod(A), stale, pod(C)), members=AT_SIZE.etcd.members)
    obs = replace(obs, pods=(replace(pod(A), template=obs.template), stale, pod(C)))
    status = desired_status(obs, Steady(), RUNNING, NOW)
    assert cond(status, "Progressing") == (
        "True",
        "Rolling",
        f"members made from an older spec: {B}",
    )
    assert status.phase == ClusterPhase.UPGRADING


def test_the_version_is_known_only_when_every_member_answers() -> None:
    silent_c = observed(pods=AT_SIZE.pods, members=(member(A), member(B), member(C, up=False)))
    status = desired_status(silent_c, Wait(WaitReason.UNHEALTHY), ClusterStatus(), NOW)
    assert status.current_version is None
    status = desired_status(AT_SIZE, Steady(), ClusterStatus(), NOW)
    assert status.current_version == "3.6.16" and status.target_version is None


def test_degraded_names_every_member_and_quorum_loss_of_all() -> None:
    from controller.etcdcluster.status import status_events

    two_down = observed(
        pods=AT_SIZE.pods, members=(member(A), member(B, up=False), member(C, up=False))
    )
    status = desired_status(two_down, Wait(WaitReason.UNHEALTHY), RUNNING, NOW)
    assert cond(status, "Degraded") == ("True", "MemberUnhealthy", f"unhealthy members: {B}, {C}")
    assert status_events(RUNNING, status) == [
        ("Warning", "MemberUnhealthy", f"unhealthy members: {B}, {C}")
    ]
    podless = observed(pods=(pod(A),), members=(member(A), member(B), member(C)))
    status = desired_status(podless, Wait(WaitReason.UNHEALTHY), RUNNING, NOW)
    assert cond(status, "Degraded") == (
        "True",
        "MemberPodMissing",
        f"members without a pod: {B}, {C}",
    )
    gone = replace(observed(pvcs=()), local=EtcdView(()))
    status = desired_status(gone, Wait(WaitReason.ETCD_UNREACHABLE), RUNNING, NOW)
    assert cond(status, "Degraded") == (
        "True",
        "QuorumLost",
        "no quorum; members not answering: all",
    )
    unreachable = observed(pvcs=())  # no member answers at all: not known to be quorum loss
    status = desired_status(unreachable, Wait(WaitReason.ETCD_UNREACHABLE), RUNNING, NOW)
    assert cond(status, "Degraded") == ("True", "EtcdUnreachable", "no member answers")


def test_a_starting_learner_is_promoting_and_a_bad_spec_without_leader_is_unavailable() -> None:
    learning = observed(
        pods=(pod(A), pod(B, ready=False)),
        members=(member(A), member(B, learner=True, started=False)),
    )
    status = desired_status(learning, Wait(WaitReason.LEARNER_STARTING), RUNNING, NOW)
    progressing = cond(status, "Progressing")
    assert progressing is not None and progressing[1] == "MemberPromoting"
    bad = BadSpec("TLSSecretMissing", "missing TLS secrets: s")
    status = desired_status(observed(), bad, ClusterStatus(), NOW)
    assert cond(status, "Available") == ("False", "TLSSecretMissing", "missing TLS secrets: s")


def test_recovering_progress_and_the_operations_events() -> None:
    from controller.etcdcluster.status import status_events

    detected = Operation(type="QuorumRecovery", phase="Detected", started_at=NOW)
    record = RecordOperation(detected, "quorum lost: members b, c lost their data")
    recorded = desired_status(AT_SIZE, record, RUNNING, NOW)
    assert status_events(RUNNING, recorded, record) == [
        ("Warning", "QuorumLost", "quorum lost: members b, c lost their data")
    ]
    forcing = detected.model_copy(update={"phase": "ForceNewCluster", "message": "from a"})
    step = RecordOperation(forcing, "recovering from a")
    status = desired_status(observed(pvcs=(A,)), step, recorded, NOW)
    assert status_events(recorded, status, step)[0] == (
        "Normal",
        "QuorumRecoveryForceNewCluster",
        "recovering from a",
    )
    assert cond(status, "Progressing") == ("True", "Recovering", "from a")
    untold = forcing.model_copy(update={"message": None})
    status = desired_status(observed(pvcs=(A,)), RecordOperation(untold, "x"), recorded, NOW)
    assert cond(status, "Progressing") == ("True", "Recovering", "QuorumRecovery")
    finish = FinishOperation("recovered from a at revision 40")
    done = desired_status(AT_SIZE, finish, status, NOW)
    assert status_events(status, done, finish) == [
        ("Normal", "QuorumRecoveryFinished", "recovered from a at revision 40")
    ]
    assert status_events(done, done, finish) == []  # no operation to finish


def test_failed_again_for_another_reason_is_a_new_warning() -> None:
    from controller.etcdcluster.actions import AllMembersLost
    from controller.etcdcluster.status import status_events

    first = desired_status(observed(), BadSpec("TLSSecretMissing", "missing: s"), RUNNING, NOW)
    second = desired_status(observed(), BadSpec("TLSSecretMissing", "missing: t"), first, NOW)
    assert status_events(first, second) == [("Warning", "TLSSecretMissing", "missing: t")]
    ran = ClusterStatus(phase=ClusterPhase.RUNNING)
    ran.set_members(ready=[A, B], unready=[C])
    lost = desired_status(observed(), AllMembersLost(), ran, NOW)
    assert lost.reason == (
        f"every member ({A}, {B}, {C}) was lost with its data; "
        "restore from a backup (EtcdRestore) or delete and recreate the cluster"
    )

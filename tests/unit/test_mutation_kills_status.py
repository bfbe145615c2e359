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
    down = observed(pods=(pod(A), pod(B, ready=False)), pvcs=(A, B, C))
    status = desired_status(down, Wait(WaitReason.ETCD_UNREACHABLE), RUNNING, NOW)
    assert status.phase == ClusterPhase.DEGRADED
    assert cond(status, "Available") == ("False", "QuorumLost", "no member answers with a leader")
    assert cond(status, "Degraded") == (
        "True",
        "QuorumLost",
        f"no quorum; members not answering: {B}, {C}",
    )


def test_a_bad_spec_fails_while_a_leader_still_serves() -> None:
    previous = desired_status(
        observed(size=5, pods=AT_SIZE.pods, members=AT_SIZE.etcd.members),  # type: ignore[union-attr]
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
    rolling = observed(pods=tuple(old), members=AT_SIZE.etcd.members, **upgrade)  # type: ignore[union-attr]
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
    obs = observed(pods=(pod(A), stale, pod(C)), members=AT_SIZE.etcd.members)  # type: ignore[union-attr]
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

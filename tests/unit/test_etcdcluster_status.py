"""The status derived from a snapshot: phase, members, conditions, written only on change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from api import ClusterPhase, ClusterStatus, find_condition
from controller.etcdcluster.observe import EtcdView
from controller.etcdcluster.planner import (
    AddLearner,
    AllMembersLost,
    BadSpec,
    BootstrapSeed,
    Paused,
    PromoteLearner,
    RemoveMember,
    RestartMember,
    Steady,
    Wait,
    WaitReason,
)
from controller.etcdcluster.status import desired_status, status_events
from tests.unit.test_etcdcluster_planner import IDS, SEED, A, B, C, member, observed, peers, pod

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def test_new_cluster_is_creating() -> None:
    status = desired_status(observed(), BootstrapSeed(SEED), ClusterStatus(), NOW)
    assert status.phase == ClusterPhase.CREATING
    assert (status.service_name, status.client_port) == ("example-client", 2379)
    available = find_condition(status.conditions, "Available")
    assert available is not None and available.status == "False"


def test_running_at_size_with_ready_members() -> None:
    """Ready comes from etcd's answer: C's pod is not Ready yet (its probe lags), but C
    answered as a healthy voter, so it is ready; a learner and a silent member are not."""
    obs = observed(
        pods=(pod(A), pod(B), pod(C, ready=False)), members=(member(A), member(B), member(C))
    )
    status = desired_status(obs, Steady(), ClusterStatus(phase=ClusterPhase.CREATING), NOW)
    assert status.phase == ClusterPhase.RUNNING
    assert status.members.ready == [A, B, C] and status.members.unready == []
    assert status.ready_members == 3 and status.size == 3
    growing = observed(
        pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B, up=False), member(C, True))
    )
    grown = desired_status(growing, Steady(), status, NOW)
    assert grown.members.ready == [A] and grown.members.unready == [B, C]
    assert status.current_version == "3.6.16" and status.target_version is None
    assert find_condition(status.conditions, "Progressing") is None
    assert desired_status(obs, Steady(), status, NOW) == status  # nothing to write again


def test_growing_after_running_is_scaling() -> None:
    obs = observed(size=3, pods=(pod(A),), members=(member(A),))
    status = desired_status(
        obs, AddLearner(peers(A)), ClusterStatus(phase=ClusterPhase.RUNNING), NOW
    )
    assert status.phase == ClusterPhase.SCALING
    scaling = find_condition(status.conditions, "Progressing")
    assert scaling is not None and scaling.reason == "ScalingUp"
    creating = desired_status(
        obs, AddLearner(peers(A)), ClusterStatus(phase=ClusterPhase.CREATING), NOW
    )
    assert creating.phase == ClusterPhase.CREATING


def test_bad_spec_fails_with_a_reason_and_recovers() -> None:
    bad = BadSpec("TLSSecretMissing", "missing TLS secrets: x")
    failed = desired_status(observed(), bad, ClusterStatus(), NOW)
    assert failed.phase == ClusterPhase.FAILED and failed.reason == "missing TLS secrets: x"
    available = find_condition(failed.conditions, "Available")
    assert available is not None and available.reason == "TLSSecretMissing"
    fixed = desired_status(observed(), BootstrapSeed(SEED), failed, NOW)
    assert fixed.phase == ClusterPhase.CREATING and fixed.reason is None


def test_shrinking_is_scaling_down_and_promoting_is_named() -> None:
    big = observed(size=1, pods=(pod(A), pod(B)), members=(member(A), member(B)))
    status = desired_status(
        big, RemoveMember(IDS[B], B), ClusterStatus(phase=ClusterPhase.RUNNING), NOW
    )
    scaling = find_condition(status.conditions, "Progressing")
    assert scaling is not None and (scaling.reason, scaling.message) == (
        "ScalingDown",
        "2 members, want 1",
    )
    learning = observed(size=2, pods=(pod(A), pod(B)), members=(member(A), member(B, True)))
    promoting = desired_status(learning, PromoteLearner(IDS[B], B), status, NOW)
    scaling = find_condition(promoting.conditions, "Progressing")
    assert scaling is not None and scaling.reason == "MemberPromoting"


def test_paused_generation_and_versions_are_reported() -> None:
    obs = observed(pods=(pod(A),), members=(member(A),), fields={"metadata.generation": 4})
    status = desired_status(obs, Paused(), ClusterStatus(), NOW)
    assert status.control_paused and status.observed_generation == 4
    assert desired_status(obs, Steady(), status, NOW).control_paused is False
    upgrading = observed(pods=(pod(A),), members=(member(A),), fields={"spec.version": "3.7.3"})
    status = desired_status(upgrading, Steady(), ClusterStatus(), NOW)
    assert (status.current_version, status.target_version) == ("3.6.16", "3.7.3")


def test_member_that_cannot_start_degrades_with_one_event_per_change() -> None:
    stuck = Wait(WaitReason.MEMBER_CANNOT_START, f"{A}: etcd: ErrImagePull: not found")
    obs = observed(pods=(pod(A, ready=False, stuck="etcd: ErrImagePull: not found"),))
    first = desired_status(obs, stuck, ClusterStatus(), NOW)
    degraded = find_condition(first.conditions, "Degraded")
    assert degraded is not None and degraded.reason == "MemberCannotStart"
    assert "ErrImagePull" in (degraded.message or "")
    assert first.phase == ClusterPhase.CREATING
    assert status_events(ClusterStatus(), first) == [
        ("Warning", "MemberCannotStart", f"{A}: etcd: ErrImagePull: not found")
    ]
    assert status_events(first, desired_status(obs, stuck, first, NOW)) == []  # no repeat
    healed = desired_status(observed(pods=(pod(A),), members=(member(A),)), Steady(), first, NOW)
    assert find_condition(healed.conditions, "Degraded") is None


def test_failed_cluster_gets_one_warning_per_reason() -> None:
    bad = BadSpec("TLSSecretMissing", "missing TLS secrets: x")
    failed = desired_status(observed(), bad, ClusterStatus(), NOW)
    assert status_events(ClusterStatus(), failed) == [
        ("Warning", "TLSSecretMissing", "missing TLS secrets: x")
    ]
    assert status_events(failed, failed) == []


def test_a_member_without_its_pod_degrades_a_running_cluster_never_scaling() -> None:
    obs = observed(pods=(pod(A), pod(B)), members=(member(A), member(B), member(C, up=False)))
    status = desired_status(
        obs, RestartMember(C, peers(A, B, C)), ClusterStatus(phase=ClusterPhase.RUNNING), NOW
    )
    assert status.phase == ClusterPhase.DEGRADED
    degraded = find_condition(status.conditions, "Degraded")
    assert (
        degraded is not None
        and degraded.reason == "MemberPodMissing"
        and C in (degraded.message or "")
    )
    progressing = find_condition(status.conditions, "Progressing")
    assert progressing is not None and progressing.reason == "Recovering"
    assert (
        status_events(ClusterStatus(phase=ClusterPhase.RUNNING), status)[0][1] == "MemberPodMissing"
    )


def test_quorum_lost_after_running_is_reported_with_the_members_down() -> None:
    obs = replace(
        observed(pods=(pod(A, ready=False),), pvcs=(A, B, C)),
        local=EtcdView((member(A, leader=0), member(B, up=False), member(C, up=False))),
    )
    status = desired_status(
        obs, RestartMember(B, peers(A, B, C)), ClusterStatus(phase=ClusterPhase.RUNNING), NOW
    )
    assert status.phase == ClusterPhase.DEGRADED
    available = find_condition(status.conditions, "Available")
    assert available is not None and (available.status, available.reason) == ("False", "QuorumLost")
    degraded = find_condition(status.conditions, "Degraded")
    assert degraded is not None and degraded.reason == "QuorumLost"
    assert all(name in (degraded.message or "") for name in (A, B, C))


def test_every_member_lost_fails_and_says_what_to_do() -> None:
    previous = ClusterStatus(phase=ClusterPhase.RUNNING)
    previous.set_members(ready=[A, B], unready=[C])
    status = desired_status(observed(), AllMembersLost(), previous, NOW)
    assert status.phase == ClusterPhase.FAILED and "EtcdRestore" in (status.reason or "")
    assert status_events(previous, status)[0][1] == "AllMembersLost"


def test_an_operator_that_cannot_reach_etcd_does_not_claim_quorum_lost() -> None:
    obs = replace(
        observed(pods=(pod(A), pod(B), pod(C))), etcd_error="TLS: certificate not trusted"
    )
    status = desired_status(
        obs, Wait(WaitReason.ETCD_UNREACHABLE), ClusterStatus(phase=ClusterPhase.RUNNING), NOW
    )
    available = find_condition(status.conditions, "Available")
    assert available is not None and available.reason == "EtcdUnreachable"
    degraded = find_condition(status.conditions, "Degraded")
    assert degraded is not None and degraded.reason == "EtcdUnreachable"
    assert "TLS" in (degraded.message or "")


def test_a_rollout_ends_when_its_last_member_answers_not_when_its_pod_exists() -> None:
    """Every pod is made from the current spec (nothing left to roll), but the last one
    rolled is still starting: still Upgrading, not Degraded; Running once it answers. A
    member down outside a rollout is Degraded."""
    template = observed().template
    current = tuple(replace(pod(n), template=template) for n in (A, B, C))
    starting = observed(pods=current, members=(member(A), member(B), member(C, up=False)))
    upgrading = ClusterStatus(phase=ClusterPhase.UPGRADING)
    status = desired_status(starting, Wait(WaitReason.UNHEALTHY), upgrading, NOW)
    assert status.phase == ClusterPhase.UPGRADING
    answered = observed(pods=current, members=(member(A), member(B), member(C)))
    assert desired_status(answered, Steady(), status, NOW).phase == ClusterPhase.RUNNING
    gone = observed(pods=current[:2], pvcs=(A, B, C), members=(member(A), member(B), member(C)))
    between = desired_status(gone, RestartMember(C, peers(A, B, C)), upgrading, NOW)
    assert between.phase == ClusterPhase.UPGRADING  # its old pod gone, the new one not yet made
    running = ClusterStatus(phase=ClusterPhase.RUNNING)
    down = desired_status(starting, Wait(WaitReason.UNHEALTHY), running, NOW)
    assert down.phase == ClusterPhase.DEGRADED

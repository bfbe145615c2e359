"""The status derived from a snapshot: phase, members, conditions, written only on change."""

from __future__ import annotations

from datetime import UTC, datetime

from api import ClusterPhase, ClusterStatus, find_condition
from controller.etcdcluster.planner import AddLearner, BadSpec, BootstrapSeed, Steady
from controller.etcdcluster.status import desired_status
from tests.unit.test_etcdcluster_planner import SEED, A, B, C, member, observed, peers, pod

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def test_new_cluster_is_creating() -> None:
    status = desired_status(observed(), BootstrapSeed(SEED), ClusterStatus(), NOW)
    assert status.phase == ClusterPhase.CREATING
    assert (status.service_name, status.client_port) == ("example-client", 2379)
    available = find_condition(status.conditions, "Available")
    assert available is not None and available.status == "False"


def test_running_at_size_with_ready_members() -> None:
    obs = observed(
        pods=(pod(A), pod(B), pod(C, ready=False)), members=(member(A), member(B), member(C))
    )
    status = desired_status(obs, Steady(), ClusterStatus(phase=ClusterPhase.CREATING), NOW)
    assert status.phase == ClusterPhase.RUNNING
    assert status.members.ready == [A, B] and status.members.unready == [C]
    assert status.ready_members == 2 and status.size == 3
    assert status.current_version == "3.6.16" and status.target_version is None
    assert find_condition(status.conditions, "Scaling") is None
    assert desired_status(obs, Steady(), status, NOW) == status  # nothing to write again


def test_growing_after_running_is_scaling() -> None:
    obs = observed(size=3, pods=(pod(A),), members=(member(A),))
    status = desired_status(obs, AddLearner(peers(A)), ClusterStatus(phase="Running"), NOW)
    assert status.phase == ClusterPhase.SCALING
    scaling = find_condition(status.conditions, "Scaling")
    assert scaling is not None and scaling.reason == "ScalingUp"
    creating = desired_status(obs, AddLearner(peers(A)), ClusterStatus(phase="Creating"), NOW)
    assert creating.phase == ClusterPhase.CREATING


def test_bad_spec_fails_with_a_reason_and_recovers() -> None:
    bad = BadSpec("TLSSecretMissing", "missing TLS secrets: x")
    failed = desired_status(observed(), bad, ClusterStatus(), NOW)
    assert failed.phase == ClusterPhase.FAILED and failed.reason == "missing TLS secrets: x"
    available = find_condition(failed.conditions, "Available")
    assert available is not None and available.reason == "TLSSecretMissing"
    fixed = desired_status(observed(), BootstrapSeed(SEED), failed, NOW)
    assert fixed.phase == ClusterPhase.CREATING and fixed.reason is None

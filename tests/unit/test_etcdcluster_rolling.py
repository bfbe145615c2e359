"""Rolling members to the current spec: followers first, the leader last after handing over
leadership, in place on PVCs, by surge on emptyDir; one minor version at a time upwards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from api import ClusterPhase, ClusterStatus, find_condition
from controller.etcdcluster import resources
from controller.etcdcluster.actions import (
    AddLearner,
    BadSpec,
    MoveLeader,
    RemoveMember,
    Steady,
    StopMember,
    Wait,
    WaitReason,
)
from controller.etcdcluster.observe import MemberView, PodView
from controller.etcdcluster.planner import plan
from controller.etcdcluster.rolling import refused_step
from controller.etcdcluster.status import desired_status
from tests.unit.test_etcdcluster_planner import (
    EMPTY_DIR,
    IDS,
    A,
    B,
    C,
    bare,
    cluster,
    member,
    observed,
    peers,
    pod,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
UPGRADE: Mapping[str, object] = {"spec.version": "3.7.3"}


def old(view: PodView) -> PodView:
    """A pod made from the 3.6.16 spec (the helpers' pods carry version 3.6.16)."""
    return replace(view, template=resources.template_hash(cluster()))


def members(leader: int = 0xA) -> tuple[MemberView, ...]:
    return tuple(member(n, leader=leader) for n in (A, B, C))


@pytest.mark.parametrize(
    "current, target, refused",
    [
        ("3.6.16", "3.7.3", False),
        ("3.6.16", "3.6.17", False),
        ("3.6.16", "3.6.16", False),
        ("3.6.16", "3.8.0", True),  # skips 3.7
        ("3.7.3", "3.6.16", True),  # downgrade
        ("3.6.16", "4.0.0", True),
        (None, "3.7.3", False),  # nothing runs yet
    ],
)
def test_one_minor_at_a_time_upwards(current: str | None, target: str, refused: bool) -> None:
    assert (refused_step(current, target) is not None) is refused


def test_followers_are_rolled_first_in_place_on_pvcs() -> None:
    obs = observed(pods=tuple(old(pod(n)) for n in (A, B, C)), members=members(), fields=UPGRADE)
    action = plan(obs, NOW)
    assert isinstance(action, StopMember) and action.pod == B and "3.7.3" in action.why


def test_the_leader_hands_over_before_it_is_rolled() -> None:
    new = cluster(fields=UPGRADE)
    fresh = [
        replace(pod(n), version="3.7.3", template=resources.template_hash(new)) for n in (B, C)
    ]
    obs = observed(pods=(old(pod(A)), *fresh), members=members(), fields=UPGRADE)
    assert plan(obs, NOW) == MoveLeader(IDS[B], B)
    assert obs.etcd is not None
    handed = replace(obs, etcd=replace(obs.etcd, members=members(leader=0xB)))
    assert plan(handed, NOW) == StopMember(
        A, "rolling to the current spec (version 3.6.16 → 3.7.3)"
    )


def test_an_unhealthy_member_stops_the_rollout() -> None:
    obs = observed(
        pods=tuple(old(pod(n)) for n in (A, B, C)),
        members=(member(A), member(B), member(C, up=False)),
        fields=UPGRADE,
    )
    action = plan(obs, NOW)
    assert isinstance(action, Wait) and action.why is WaitReason.UNHEALTHY


def test_emptydir_members_roll_by_surge_then_shrink_of_an_outdated_one() -> None:
    pods = tuple(old(bare(n)) for n in (A, B, C))
    obs = observed(pods=pods, members=members(), fields={**UPGRADE, **EMPTY_DIR})
    assert plan(obs, NOW) == AddLearner(peers(A, B, C))
    new = cluster(fields={**UPGRADE, **EMPTY_DIR})
    d = "example-dddddddddd"
    surged = observed(
        size=3,
        pods=(*pods, replace(bare(d), version="3.7.3", template=resources.template_hash(new))),
        members=(*members(), member(d)),
        fields={**UPGRADE, **EMPTY_DIR},
    )
    assert plan(surged, NOW) == RemoveMember(IDS[C], C)  # outdated, not the leader


def test_refused_versions_fail_the_spec_and_grow_nothing() -> None:
    obs = observed(pods=(pod(A),), members=(member(A),), fields={"spec.version": "3.8.0"})
    action = plan(obs, NOW)
    assert isinstance(action, BadSpec) and action.reason == "UpgradeRefused"


def test_pods_made_before_template_hashes_roll_only_for_versions() -> None:
    obs = observed(pods=tuple(pod(n) for n in (A, B, C)), members=members())
    assert plan(obs, NOW) == Steady()


def test_a_rolling_cluster_reads_upgrading_with_the_versions() -> None:
    obs = observed(pods=tuple(old(pod(n)) for n in (A, B, C)), members=members(), fields=UPGRADE)
    status = desired_status(obs, plan(obs, NOW), ClusterStatus(phase=ClusterPhase.RUNNING), NOW)
    assert status.phase == ClusterPhase.UPGRADING
    assert (status.current_version, status.target_version) == ("3.6.16", "3.7.3")
    progressing = find_condition(status.conditions, "Progressing")
    assert progressing is not None and progressing.reason == "Upgrading"


def test_a_new_ca_in_the_member_secrets_rolls_every_member() -> None:
    made = resources.template_hash(cluster(), "old-ca")
    pods = tuple(replace(pod(n), template=made) for n in (A, B, C))
    obs = observed(pods=pods, members=members())
    same = replace(obs, tls=replace(obs.tls, trust="old-ca"))
    assert plan(same, NOW) == Steady()
    bundle = replace(obs, tls=replace(obs.tls, trust="old-and-new-ca"))
    action = plan(bundle, NOW)
    assert isinstance(action, StopMember) and "trusted CAs" in action.why

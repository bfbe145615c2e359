"""The planner's table: observed state → the one next action (learner-first, crash-safe)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from api import EtcdCluster
from controller.clients.etcd import EndpointStatus, Member, TLSMaterial
from controller.etcdcluster import naming
from controller.etcdcluster.observe import EtcdView, MemberView, Observed, PodView, TLSView
from controller.etcdcluster.planner import (
    Action,
    AddLearner,
    AllMembersLost,
    ApplyDisruptionBudget,
    BadSpec,
    BootstrapSeed,
    CreateMemberPod,
    CreateService,
    CreateVolume,
    DeleteFailedPod,
    DeleteStrayPod,
    DeleteStrayVolume,
    Paused,
    PromoteLearner,
    RemoveMember,
    RestartMember,
    Steady,
    Wait,
    WaitReason,
    keeps_quorum,
    plan,
)
from tests.seed import CLUSTER, DELETE, load_seed, set_field

A, B, C, D, E = (f"example-{c * 10}" for c in "abcde")
IDS = {A: 0xA, B: 0xB, C: 0xC, D: 0xD, E: 0xE}
FIVE = (A, B, C, D, E)
SERVICES = frozenset({"example", "example-client"})
TLS = TLSView(client=TLSMaterial(b"ca", b"cert", b"key"))
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def cluster(size: int = 3, fields: Mapping[str, object] | None = None) -> EtcdCluster:
    """The seed cluster at `size`, with `fields` (dotted path → value, or DELETE) set."""
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", "default")
    set_field(doc, "spec.size", size)
    for path, value in (fields or {}).items():
        set_field(doc, path, value)
    return EtcdCluster.model_validate(doc)


def pod(
    name: str, ready: bool = True, terminating: bool = False, stuck: str | None = None
) -> PodView:
    return PodView(name, "Running", ready, "10.213.1.9", terminating, name, "3.6.16", stuck)


def bare(name: str) -> PodView:
    """A member pod on an emptyDir (no claim)."""
    return replace(pod(name), claim=None)


EMPTY_DIR: Mapping[str, object] = {"spec.pod.persistentVolumeClaimSpec": DELETE}


def peer(name: str) -> str:
    return f"https://{name}.example.default.svc:2380"


def member(
    name: str, learner: bool = False, started: bool = True, up: bool = True, leader: int = 0xA
) -> MemberView:
    m = Member(IDS[name], name if started else "", (peer(name),), (), learner)
    status = None
    if started and up:
        status = EndpointStatus(IDS[name], leader, 10, 2, 10, "3.6.16", 1, learner, ())
    return MemberView(m, name, status)


SEED = naming.seed_member_name(cluster())


def observed(
    size: int = 3,
    pods: tuple[PodView, ...] = (),
    pvcs: tuple[str, ...] | None = None,
    members: tuple[MemberView, ...] | None = None,
    services: frozenset[str] = SERVICES,
    budget: int | None = 0,
    fields: Mapping[str, object] | None = None,
) -> Observed:
    """A snapshot; budget 0 (the default) means the right one for `size` exists."""
    return Observed(
        cluster=cluster(size, fields),
        pods=pods,
        pvcs=tuple(p.name for p in pods) if pvcs is None else pvcs,
        services=services,
        budget=size // 2 + 1 if budget == 0 else budget,
        tls=TLS,
        etcd=None if members is None else EtcdView(members),
    )


def pod_of(view: MemberView) -> str:
    """The pod a member's peer URL names (every member() here names one)."""
    assert view.pod is not None
    return view.pod


def peers(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, peer(n)) for n in names)


CASES: list[tuple[str, Observed, Action]] = [
    (
        "new cluster: headless service first",
        observed(services=frozenset()),
        CreateService("headless"),
    ),
    (
        "then the client service",
        observed(services=frozenset({"example"})),
        CreateService("client"),
    ),
    ("services exist, nothing else: seed", observed(), BootstrapSeed(SEED)),
    (
        "volumes but no pods: never bootstrap over data, restart the member on it",
        observed(pvcs=(A,)),
        RestartMember(A, peers(A)),
    ),
    (
        "volumes but a spec without volumes: never bootstrap over them, wait",
        observed(pvcs=(A,), fields=EMPTY_DIR),
        Wait(WaitReason.VOLUMES_WITHOUT_PODS),
    ),
    (
        "nothing left of a cluster that ran (emptyDir): say so, never bootstrap an empty one",
        observed(fields={"status.members.ready": [A, B, C], **EMPTY_DIR}),
        AllMembersLost(),
    ),
    (
        "seed pod starting: wait",
        observed(pods=(pod(A, ready=False),)),
        Wait(WaitReason.MEMBERS_STARTING),
    ),
    (
        "pod whose volume is missing: create the volume",
        observed(pods=(pod(A),), pvcs=()),
        CreateVolume(A),
    ),
    (
        "a learner that never started lost nothing: create its volume",
        observed(
            pods=(pod(A), pod(B)),
            pvcs=(A,),
            members=(member(A), member(B, learner=True, started=False)),
        ),
        CreateVolume(B),
    ),
    (
        "a started member's volume is gone, its pod's deletion not seen yet: no empty volume",
        observed(
            pods=(pod(A), pod(B), pod(C)), pvcs=(A, B), members=(member(A), member(B), member(C))
        ),
        Steady(),
    ),
    (
        "the volume is gone and etcd does not answer in a cluster that ran: no empty volume",
        observed(pods=(pod(A),), pvcs=(), fields={"status.members.ready": [A]}),
        Wait(WaitReason.ETCD_UNREACHABLE),
    ),
    (
        "healthy and short: add a learner",
        observed(pods=(pod(A),), members=(member(A),)),
        AddLearner(peers(A)),
    ),
    (
        "crash after MemberAdd: create that member's pod, not another member",
        observed(pods=(pod(A),), members=(member(A), member(B, learner=True, started=False))),
        CreateMemberPod(B, peers(A, B)),
    ),
    (
        "learner pod starting: wait, add nothing",
        observed(
            pods=(pod(A), pod(B, ready=False)),
            members=(member(A), member(B, learner=True, started=False)),
        ),
        Wait(WaitReason.LEARNER_STARTING),
    ),
    (
        "learner started: promote it",
        observed(
            pods=(pod(A), pod(B, ready=False)),
            members=(member(A), member(B, learner=True)),
        ),
        PromoteLearner(IDS[B], B),
    ),
    (
        "a voting member unreachable: wait, never add",
        observed(pods=(pod(A), pod(B)), members=(member(A), member(B, up=False))),
        Wait(WaitReason.UNHEALTHY),
    ),
    (
        "no leader: wait",
        observed(pods=(pod(A), pod(B)), members=(member(A, leader=0), member(B, leader=0))),
        Wait(WaitReason.UNHEALTHY),
    ),
    (
        "members disagree on the leader: wait",
        observed(pods=(pod(A), pod(B)), members=(member(A), member(B, leader=0xB))),
        Wait(WaitReason.UNHEALTHY),
    ),
    (
        "started member whose pod is gone, its volume kept: the same member again",
        observed(pods=(pod(A), pod(B)), pvcs=(A, B, C), members=(member(A), member(B), member(C))),
        RestartMember(C, peers(A, B, C)),
    ),
    (
        "started member whose pod and data are gone (emptyDir): remove it, growth replaces it",
        observed(
            pods=(bare(A), bare(B)),
            members=(member(A), member(B), member(C, up=False)),
            fields=EMPTY_DIR,
        ),
        RemoveMember(IDS[C], C),
    ),
    (
        "two of three gone with their data: removing one would lose quorum, wait",
        observed(
            pods=(bare(A),),
            members=(member(A), member(B, up=False), member(C, up=False)),
            fields=EMPTY_DIR,
        ),
        Wait(WaitReason.QUORUM_AT_RISK),
    ),
    (
        "full restart: no pods, every volume kept: each member's pod again",
        observed(pods=(), pvcs=(A, B, C)),
        RestartMember(A, peers(A, B, C)),
    ),
    (
        "two of three pods gone, no quorum: bring the missing ones back on their volumes",
        observed(pods=(pod(A, ready=False),), pvcs=(A, B, C)),
        RestartMember(B, peers(A, B, C)),
    ),
    (
        "an evicted member pod: delete it so that it comes back on its volume",
        observed(pods=(pod(A), replace(pod(B), phase="Failed")), members=(member(A), member(B))),
        DeleteFailedPod(B),
    ),
    (
        "at size: steady",
        observed(pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C))),
        Steady(),
    ),
    (
        "at size without a disruption budget: a majority must stay through drains",
        observed(
            pods=(pod(A), pod(B), pod(C)),
            members=(member(A), member(B), member(C)),
            budget=None,
        ),
        ApplyDisruptionBudget(2),
    ),
    (
        "resized from 5: the budget follows the new majority",
        observed(
            pods=(pod(A), pod(B), pod(C)),
            members=(member(A), member(B), member(C)),
            budget=3,
        ),
        ApplyDisruptionBudget(2),
    ),
    (
        "grown to 5: a drain may take two, never three",
        observed(
            size=5,
            pods=tuple(pod(n) for n in FIVE),
            members=tuple(member(n) for n in FIVE),
            budget=2,
        ),
        ApplyDisruptionBudget(3),
    ),
    (
        "paused: nothing",
        observed(pods=(pod(A),), members=(member(A),), fields={"spec.paused": True}),
        Paused(),
    ),
    (
        "too big: remove a non-leader member",
        observed(size=1, pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C))),
        RemoveMember(IDS[C], C),
    ),
    (
        "too big, the leader last by name: remove another member, never the leader",
        observed(
            size=2,
            pods=(pod(A), pod(B), pod(C)),
            members=(member(A, leader=0xC), member(B, leader=0xC), member(C, leader=0xC)),
        ),
        RemoveMember(IDS[B], B),
    ),
    (
        "seed pod cannot pull its image: say so",
        observed(pods=(pod(A, ready=False, stuck="etcd: ErrImagePull: no such image"),)),
        Wait(WaitReason.MEMBER_CANNOT_START),
    ),
    (
        "a learner pod keeps crashing: say so, do not promote or add",
        observed(
            pods=(pod(A), pod(B, ready=False, stuck="etcd: CrashLoopBackOff: back-off")),
            members=(member(A), member(B, learner=True, started=False)),
        ),
        Wait(WaitReason.MEMBER_CANNOT_START),
    ),
    (
        "too big but unhealthy: wait",
        observed(size=1, pods=(pod(A), pod(B)), members=(member(A), member(B, up=False))),
        Wait(WaitReason.UNHEALTHY),
    ),
    (
        "crash after MemberRemove: delete the pod etcd no longer lists",
        observed(size=2, pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B))),
        DeleteStrayPod(C),
    ),
    (
        "crash after the pod's deletion: delete its volume",
        observed(size=2, pods=(pod(A), pod(B)), pvcs=(A, B, C), members=(member(A), member(B))),
        DeleteStrayVolume(C),
    ),
]


@pytest.mark.parametrize("obs, want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan(obs: Observed, want: Action) -> None:
    got = plan(obs, NOW)
    if isinstance(want, Wait):
        assert isinstance(got, Wait) and got.why is want.why, got
    else:
        assert got == want


def test_missing_tls_secret_is_bad_spec_and_changes_nothing() -> None:
    obs = replace(observed(services=frozenset()), tls=TLSView(missing_secrets=("etcd-peer",)))
    got = plan(obs, NOW)
    assert isinstance(got, BadSpec) and got.reason == "TLSSecretMissing"
    assert "etcd-peer" in got.message


def test_learner_first_growth_to_three_takes_one_step_at_a_time() -> None:
    """Walk the planner through a whole scale-up, applying each action to the snapshot."""
    obs = observed(pods=(pod(A),), members=(member(A),))
    steps = []
    for new in (B, C):
        action = plan(obs, NOW)
        assert isinstance(action, AddLearner)
        assert obs.etcd is not None
        added = (*obs.etcd.members, member(new, learner=True, started=False))
        obs = replace(obs, etcd=EtcdView(added))
        action = plan(obs, NOW)
        assert action == CreateMemberPod(new, tuple((pod_of(m), peer(pod_of(m))) for m in added))
        obs = replace(obs, pods=(*obs.pods, pod(new)), pvcs=(*obs.pvcs, new))
        assert obs.etcd is not None
        started = (*obs.etcd.members[:-1], member(new, learner=True))
        obs = replace(obs, etcd=EtcdView(started))
        action = plan(obs, NOW)
        assert action == PromoteLearner(IDS[new], new)
        obs = replace(obs, etcd=EtcdView((*started[:-1], member(new))))
        steps.append(new)
    assert plan(obs, NOW) == Steady() and steps == [B, C]


def test_removal_keeps_quorum() -> None:
    healthy = EtcdView((member(A), member(B), member(C)))
    assert keeps_quorum(healthy, healthy.members[2])
    one_down = EtcdView((member(A), member(B, up=False), member(C)))
    assert not keeps_quorum(one_down, one_down.members[2])  # A alone of {A, B}
    assert not keeps_quorum(EtcdView((member(A),)), member(A))

"""The reconciler's requeue policy over the closed set of actions, and the status wire form."""

from __future__ import annotations

from typing import get_args

import pytest

from api import ClusterPhase, ClusterStatus, Operation
from controller.etcdcluster.actions import (
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
    FinishOperation,
    ForceDeletePod,
    MoveLeader,
    Paused,
    PromoteLearner,
    RecordOperation,
    RemoveMember,
    RestartMember,
    SeedFromBackup,
    Steady,
    StopMember,
    Wait,
    WaitReason,
)
from controller.etcdcluster.executor import Applied, NotYet
from controller.etcdcluster.reconciler import requeue, wire_status
from controller.etcdcluster.resources import BackupSource
from controller.runtime.reconcile import Result

# One sample of every action kind, with the pass result after it was applied.
SAMPLES: dict[type, tuple[Action, Result]] = {
    Steady: (Steady(), Result(requeue_after=30.0)),
    Paused: (Paused(), Result(requeue_after=15.0)),
    Wait: (Wait(WaitReason.UNHEALTHY, "b down"), Result(requeue_after=3.0)),
    BadSpec: (BadSpec("TLSSecretMissing", "x"), Result(requeue_after=15.0)),
    CreateService: (CreateService("client"), Result()),
    CreateVolume: (CreateVolume("a"), Result()),
    BootstrapSeed: (BootstrapSeed("a"), Result(requeue_after=1.0)),
    CreateMemberPod: (CreateMemberPod("b", ()), Result(requeue_after=1.0)),
    AddLearner: (AddLearner(()), Result(requeue_after=1.0)),
    PromoteLearner: (PromoteLearner(1, "b"), Result(requeue_after=1.0)),
    RemoveMember: (RemoveMember(1, "b"), Result(requeue_after=1.0)),
    DeleteStrayPod: (DeleteStrayPod("c"), Result()),
    DeleteStrayVolume: (DeleteStrayVolume("c"), Result()),
    RestartMember: (RestartMember("b", ()), Result()),
    DeleteFailedPod: (DeleteFailedPod("b"), Result()),
    AllMembersLost: (AllMembersLost(), Result(requeue_after=15.0)),
    StopMember: (StopMember("b"), Result()),
    RecordOperation: (RecordOperation(Operation(type="QuorumRecovery"), "lost"), Result()),
    FinishOperation: (FinishOperation("recovered"), Result()),
    MoveLeader: (MoveLeader(2, "c"), Result(requeue_after=1.0)),
    ApplyDisruptionBudget: (ApplyDisruptionBudget(2), Result()),
    SeedFromBackup: (SeedFromBackup("s", BackupSource("bucket/key")), Result()),
    ForceDeletePod: (ForceDeletePod("b", "node-2"), Result()),
}


def test_the_union_is_the_list_of_actions() -> None:
    assert set(get_args(Action)) == set(SAMPLES)


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda k: k.__name__)
def test_requeue_after_each_action(kind: type) -> None:
    action, want = SAMPLES[kind]
    assert requeue(action, Applied()) == want


def test_etcd_saying_not_yet_looks_again_soon_not_at_once() -> None:
    """etcd's refusals last a moment (a learner syncing, a voter not yet counted active):
    half a second, not the 3 s of a member starting after it ran, nor a hot loop."""
    assert requeue(AddLearner(()), NotYet("unhealthy cluster")) == Result(requeue_after=0.5)
    assert requeue(PromoteLearner(1, "b"), NotYet("not in sync")) == Result(requeue_after=0.5)


def test_waits_carry_their_requeue_class() -> None:
    blocked = Wait(WaitReason.VOLUMES_WITHOUT_PODS)
    assert requeue(blocked, Applied()) == Result(requeue_after=15.0)
    for why in WaitReason:
        assert why.word and why.word[0].isupper() and " " not in why.word


def test_status_patch_removes_cleared_fields() -> None:
    body = wire_status(ClusterStatus(phase=ClusterPhase.RUNNING))
    assert body["targetVersion"] is None and body["operation"] is None  # sent as null: removed
    assert body["phase"] == "Running" and body["conditions"] == []

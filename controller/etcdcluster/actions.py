"""The closed set of actions the EtcdCluster planner chooses from, and the waits' reasons.

`Action` is a union: the executor, the requeue policy and the status dispatch on it with
`match` and `assert_never`, so mypy proves each one is handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from api import Operation, RestoredFrom
from controller.etcdcluster.resources import BackupSource

Peers = tuple[tuple[str, str], ...]  # (member name, peer URL) for --initial-cluster


class Requeue(Enum):
    """When to look at the cluster again, in seconds (None: an event will bring it back)."""

    ON_EVENT = None  # the action changed a watched object; its event requeues the cluster
    # etcd was asked too early, or a new member is starting: nothing in Kubernetes says when
    # it is ready (a learner's pod never turns Ready), so look again at once. Measured: a 3 s
    # re-check here made a new cluster take ~2x as long as bare learner joins.
    SOON = 0.5
    PROGRESS = 1.0  # an action was applied: look at its effect right away
    NOT_YET = 3.0  # members starting, a learner catching up, a leader being elected
    BLOCKED = 15.0  # the user or a later lifecycle step must act
    STEADY = 30.0


class WaitReason(Enum):
    """Why nothing can be done now, and how soon to look again."""

    ETCD_UNREACHABLE = ("EtcdUnreachable", Requeue.NOT_YET)
    VOLUMES_WITHOUT_PODS = ("VolumesWithoutPods", Requeue.BLOCKED)
    FOREIGN_MEMBER = ("ForeignMember", Requeue.BLOCKED)
    MEMBER_POD_TERMINATING = ("MemberPodTerminating", Requeue.NOT_YET)
    MEMBER_CANNOT_START = ("MemberCannotStart", Requeue.BLOCKED)
    LEARNER_STARTING = ("LearnerStarting", Requeue.SOON)
    MEMBERS_STARTING = ("MembersStarting", Requeue.SOON)  # a new cluster's first members
    UNHEALTHY = ("Unhealthy", Requeue.NOT_YET)
    POD_TERMINATING = ("PodTerminating", Requeue.NOT_YET)
    UNKNOWN_OPERATION = ("UnknownOperation", Requeue.BLOCKED)
    ROLLING = ("Rolling", Requeue.NOT_YET)
    QUORUM_LOST = ("QuorumLost", Requeue.NOT_YET)
    RECOVERING = ("Recovering", Requeue.NOT_YET)
    QUORUM_AT_RISK = ("QuorumAtRisk", Requeue.NOT_YET)
    RESTORING = ("Restoring", Requeue.NOT_YET)

    def __init__(self, word: str, requeue: Requeue):
        self.word = word
        self.requeue = requeue


@dataclass(frozen=True)
class Steady:
    reason = "Steady"


@dataclass(frozen=True)
class Paused:
    reason = "Paused"


@dataclass(frozen=True)
class Wait:
    """Nothing safe to do until the world changes."""

    why: WaitReason
    message: str = ""

    @property
    def reason(self) -> str:
        return self.why.word


@dataclass(frozen=True)
class BadSpec:
    """The user must fix something (e.g. a missing Secret); nothing is changed meanwhile."""

    reason: str
    message: str


@dataclass(frozen=True)
class CreateService:
    which: Literal["headless", "client"]
    reason = "CreateService"


@dataclass(frozen=True)
class CreateVolume:
    """A member pod's data claim is missing (created pod first, or deleted underneath it)."""

    pvc: str
    reason = "CreateVolume"


@dataclass(frozen=True)
class BootstrapSeed:
    """Create the first member, alone in its --initial-cluster. Its name derives from the
    cluster's uid, so a repeated bootstrap (a crash, a stale cache) recreates the same seed
    instead of seeding a second, separate cluster."""

    pod: str
    reason = "BootstrapSeed"


@dataclass(frozen=True)
class CreateMemberPod:
    """etcd already knows this member (it was added); create its pod and volume."""

    pod: str
    peers: Peers
    reason = "CreateMemberPod"


@dataclass(frozen=True)
class RestartMember:
    """A started member's pod is gone but its volume holds its data: create the pod again
    (same name, --initial-cluster-state=existing); etcd resumes from its data dir. With
    force_new_cluster, it becomes a one-member cluster (quorum-loss recovery)."""

    pod: str
    peers: Peers
    force_new_cluster: bool = False
    reason = "RestartMember"


@dataclass(frozen=True)
class StopMember:
    """Delete a member's pod (its data stays on its PVC) so it restarts with other flags,
    or — rolling — with the current spec."""

    pod: str
    why: str = ""
    reason = "StopMember"


@dataclass(frozen=True)
class ApplyDisruptionBudget:
    """Create or update the cluster's PodDisruptionBudget: minAvailable = a majority."""

    min_available: int
    reason = "ApplyDisruptionBudget"


@dataclass(frozen=True)
class MoveLeader:
    """Hand leadership to another member before the leader's pod is rolled."""

    to_id: int
    to_pod: str | None
    reason = "MoveLeader"


@dataclass(frozen=True)
class RecordOperation:
    """Write this operation into status.operation (with the resourceVersion precondition)
    before the step it decides: the durable record later passes continue from."""

    operation: Operation
    event: str  # what the Event about the decision says

    @property
    def reason(self) -> str:
        return f"{self.operation.type}{self.operation.phase or ''}"


@dataclass(frozen=True)
class FinishOperation:
    """Clear status.operation: the recorded operation is done (or no longer needed). A
    finished restore also records the backup the members now come from."""

    message: str
    restored_from: RestoredFrom | None = None
    reason = "FinishOperation"


@dataclass(frozen=True)
class SeedFromBackup:
    """Create a restore's seed member on a fresh volume: its pod's init containers fetch the
    backup (verifying its checksum) and restore it with etcdutl, then it serves alone."""

    pod: str
    source: BackupSource
    reason = "SeedFromBackup"


@dataclass(frozen=True)
class ForceDeletePod:
    """A member pod on a Node that has not been Ready for the grace period: no kubelet will
    stop it or confirm that it stopped, so it is deleted at once (grace 0) and recreated
    where the scheduler finds room — the same member on its volume when the volume can
    follow, else the member is replaced."""

    pod: str
    node: str
    reason = "ForceDeletePod"


@dataclass(frozen=True)
class DeleteFailedPod:
    """A member pod that will not run again (evicted, failed): delete it so that it can be
    recreated on its volume. Its data is on the PVC (or, for emptyDir, already gone)."""

    pod: str
    reason = "DeleteFailedPod"


@dataclass(frozen=True)
class AllMembersLost:
    """Every member and its data is gone (emptyDir pods deleted): a new cluster would be
    empty, so the operator says so instead of bootstrapping one under the same name."""

    reason = "AllMembersLost"


@dataclass(frozen=True)
class AddLearner:
    """MemberAdd(isLearner) of a newly named member, then its pod with these peers + itself."""

    peers: Peers
    reason = "AddLearner"


@dataclass(frozen=True)
class PromoteLearner:
    member_id: int
    pod: str | None
    reason = "PromoteLearner"


@dataclass(frozen=True)
class RemoveMember:
    """MemberRemove, then delete the member's pod and volume."""

    member_id: int
    pod: str | None
    reason = "RemoveMember"


@dataclass(frozen=True)
class DeleteStrayPod:
    """A member pod etcd no longer (or never) lists, e.g. after a crash during shrink."""

    pod: str
    reason = "DeleteStrayPod"


@dataclass(frozen=True)
class DeleteStrayVolume:
    pvc: str
    reason = "DeleteStrayVolume"


Action = (
    Steady
    | Paused
    | Wait
    | BadSpec
    | CreateService
    | CreateVolume
    | BootstrapSeed
    | CreateMemberPod
    | RestartMember
    | StopMember
    | MoveLeader
    | ApplyDisruptionBudget
    | RecordOperation
    | FinishOperation
    | SeedFromBackup
    | ForceDeletePod
    | DeleteFailedPod
    | AllMembersLost
    | AddLearner
    | PromoteLearner
    | RemoveMember
    | DeleteStrayPod
    | DeleteStrayVolume
)
# The actions that only report: nothing to apply.
REPORTS = (Steady, Paused, Wait, BadSpec, AllMembersLost)
